package krb5

import (
	"fmt"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
)

// DCE-style context establishment and per-message tokens, for DCE/RPC
// ([MS-RPCE] 2.2.1.1.7 auth types 9 and 16 with Kerberos; [MS-KILE]
// 3.4.5.1). The acceptor's AP-REP goes back bare; the initiator answers
// with an AP-REP of its own, encrypted in the ticket's session key, that
// echoes the acceptor's sequence number; then each PDU carries a MIC
// token (RFC 4121 4.2.6.1), the acceptor's numbered from its AP-REP's
// sequence number on.

// AcceptDCEReply checks the initiator's AP-REP that completes a DCE-style
// context. It must decrypt with the ticket's session key and carry the
// sequence number of the acceptor's AP-REP.
func (r *Result) AcceptDCEReply(token []byte) (err error) {
	if !r.DCEStyle || r.ResponseToken == nil {
		return fmt.Errorf("%w: an AP-REP from the initiator outside a DCE-style context", ErrMalformed)
	}
	if r.dceDone {
		return fmt.Errorf("%w: a second DCE-style AP-REP", ErrMalformed)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: decoder panic: %v", ErrMalformed, p)
		}
	}()
	var rep messages.APRep
	if err := rep.Unmarshal(token); err != nil {
		return fmt.Errorf("%w: initiator's AP-REP: %v", ErrMalformed, err)
	}
	plain, err := crypto.DecryptEncPart(rep.EncPart, r.ticketKey, keyusage.AP_REP_ENCPART)
	if err != nil {
		return fmt.Errorf("%w: initiator's AP-REP: %v", ErrIntegrity, err)
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(plain); err != nil {
		return fmt.Errorf("%w: initiator's EncAPRepPart: %v", ErrMalformed, err)
	}
	if uint64(uint32(part.SequenceNumber)) != r.serverSeq {
		return fmt.Errorf("%w: initiator's AP-REP echoes sequence number %d, not %d", ErrIntegrity, part.SequenceNumber, r.serverSeq)
	}
	r.dceDone = true
	return nil
}

// MICLen is the length of the MIC tokens of Sign: the 16-byte header and
// the checksum of the context key's type.
func (r *Result) MICLen() int {
	et, err := crypto.GetEtype(r.key.KeyType)
	if err != nil {
		return 0
	}
	return 16 + et.GetHMACBitLength()/8
}

// Sign returns the acceptor's MIC token over msg with the next sequence
// number, for one message of a DCE/RPC association.
func (r *Result) Sign(msg []byte) ([]byte, error) {
	if !r.HasMIC() {
		return nil, fmt.Errorf("%w: no MIC tokens with encryption type %d", ErrMIC, r.key.KeyType)
	}
	r.seqMu.Lock()
	seq := r.nextSeq
	r.nextSeq++
	r.seqMu.Unlock()
	t := gssapi.MICToken{Flags: gssapi.MICTokenFlagSentByAcceptor, SndSeqNum: seq, Payload: msg}
	if r.acceptorSubkey {
		t.Flags |= gssapi.MICTokenFlagAcceptorSubkey
	}
	if err := t.SetChecksum(r.key, keyusage.GSSAPI_ACCEPTOR_SIGN); err != nil {
		return nil, fmt.Errorf("krb5: MIC: %w", err)
	}
	return t.Marshal()
}
