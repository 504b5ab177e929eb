package krb5

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/common"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
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

// Sealed PDUs ([MS-RPCE] 2.2.2.11 at privacy with Kerberos) carry RFC
// 4121 wrap tokens made the DCE way, as gss_wrap_iov makes them for Samba
// and Windows: the PDU's stub and padding are encrypted in place; its
// header before them and its sec_trailer after them are only signed; the
// auth_value is the token's header and, rotated in front of the stub
// (RRC), the encrypted filler and header copy, the checksum and the
// encrypted confounder. The filler is one cipher block (EC 16), as MIT's
// gss_wrap_iov makes it for DCE style: Samba's client sends 76-byte
// verifiers with AES.
const (
	wrapHeaderLen = 16
	flagSealed    = 0x02
	sealEC        = 16
)

// SealLen is the auth_value length of a sealed PDU, 0 when the context's
// encryption type cannot seal here (only the RFC 3962 AES types can).
func (r *Result) SealLen() int {
	switch r.key.KeyType {
	case etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96:
	default:
		return 0
	}
	et, err := crypto.GetEtype(r.key.KeyType)
	if err != nil {
		return 0
	}
	return wrapHeaderLen + et.GetConfounderByteSize() + sealRRC(et, sealEC)
}

// sealRRC is the rotation of a sealed token with ec filler bytes: the
// encrypted filler and header copy and the checksum move in front of the
// stub, which stays in place. The token's RRC field says ec less: in DCE
// style Windows rotates by EC+RRC, and MIT and Heimdal follow it.
func sealRRC(et etype.EType, ec int) int { return ec + wrapHeaderLen + et.GetHMACBitLength()/8 }

// split returns the parts of signed before and after data, which must be
// a sub-slice of it (the PDU up to its auth_value, and the stub with its
// padding inside it).
func split(signed, data []byte) (pre, post []byte, err error) {
	off := cap(signed) - cap(data)
	if off < 0 || off+len(data) > len(signed) || (len(data) > 0 && &signed[off] != &data[0]) {
		return nil, nil, fmt.Errorf("%w: sealed data is not inside the signed PDU", ErrMalformed)
	}
	return signed[:off], signed[off+len(data):], nil
}

// Seal encrypts data (a sub-slice of signed) in place with the next
// sequence number and returns the auth_value.
func (r *Result) Seal(signed, data []byte) ([]byte, error) {
	flags := byte(gssapi.MICTokenFlagSentByAcceptor | flagSealed)
	if r.acceptorSubkey {
		flags |= gssapi.MICTokenFlagAcceptorSubkey
	}
	return r.seal(signed, data, keyusage.GSSAPI_ACCEPTOR_SEAL, flags)
}

// seal is Seal with the key usage and token flags of a side.
func (r *Result) seal(signed, data []byte, usage uint32, flags byte) ([]byte, error) {
	n := r.SealLen()
	if n == 0 {
		return nil, fmt.Errorf("krb5: no sealing with encryption type %d", r.key.KeyType)
	}
	pre, post, err := split(signed, data)
	if err != nil {
		return nil, err
	}
	et, _ := crypto.GetEtype(r.key.KeyType)
	r.seqMu.Lock()
	seq := r.nextSeq
	r.nextSeq++
	r.seqMu.Unlock()
	hdr := make([]byte, wrapHeaderLen)
	hdr[0], hdr[1], hdr[2], hdr[3] = 0x05, 0x04, flags, 0xFF
	binary.BigEndian.PutUint16(hdr[4:], sealEC)
	binary.BigEndian.PutUint64(hdr[8:], seq)
	copyHdr := append([]byte(nil), hdr...) // RRC 0 in the encrypted copy
	binary.BigEndian.PutUint16(hdr[6:], uint16(sealRRC(et, sealEC)-sealEC))
	conf := make([]byte, et.GetConfounderByteSize())
	if _, err := rand.Read(conf); err != nil {
		return nil, fmt.Errorf("krb5: confounder: %w", err)
	}
	tail := append(make([]byte, sealEC), copyHdr...) // filler and header copy
	cipher, mac, err := r.sealParts(et, usage, conf, pre, data, post, tail)
	if err != nil {
		return nil, err
	}
	c := len(conf)
	sig := make([]byte, 0, n)
	sig = append(sig, hdr...)
	sig = append(sig, cipher[c+len(data):]...) // the encrypted filler and header copy
	sig = append(sig, mac...)
	sig = append(sig, cipher[:c]...) // the encrypted confounder
	copy(data, cipher[c:c+len(data)])
	return sig, nil
}

// sealParts encrypts conf|data|tail (CTS over the whole; tail is the
// filler and the header copy) and checksums conf|pre|data|post|tail, the
// RFC 3961 encryption over gss_wrap_iov's buffers.
func (r *Result) sealParts(et etype.EType, usage uint32, conf, pre, data, post, copyHdr []byte) (cipher, mac []byte, err error) {
	ke, err := et.DeriveKey(r.key.KeyValue, common.GetUsageKe(usage))
	if err != nil {
		return nil, nil, fmt.Errorf("krb5: seal key: %w", err)
	}
	plain := make([]byte, 0, len(conf)+len(data)+len(copyHdr))
	plain = append(append(append(plain, conf...), data...), copyHdr...)
	_, cipher, err = et.EncryptData(ke, plain)
	if err != nil {
		return nil, nil, fmt.Errorf("krb5: seal: %w", err)
	}
	mac, err = common.GetIntegrityHash(signedParts(conf, pre, data, post, copyHdr), r.key.KeyValue, usage, et)
	if err != nil {
		return nil, nil, fmt.Errorf("krb5: seal checksum: %w", err)
	}
	return cipher, mac, nil
}

func signedParts(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// Unseal checks the initiator's sealed PDU: sig is its auth_value, data
// (a sub-slice of signed) its encrypted stub and padding, decrypted in
// place when the checksum verifies.
func (r *Result) Unseal(signed, data, sig []byte) error {
	n := r.SealLen()
	if n == 0 || len(sig) != n {
		return fmt.Errorf("%w: %d-byte sealed verifier, want %d", ErrMIC, len(sig), n)
	}
	pre, post, err := split(signed, data)
	if err != nil {
		return err
	}
	et, _ := crypto.GetEtype(r.key.KeyType)
	hdr := sig[:wrapHeaderLen]
	if hdr[0] != 0x05 || hdr[1] != 0x04 || hdr[3] != 0xFF || hdr[2]&gssapi.MICTokenFlagSentByAcceptor != 0 || hdr[2]&flagSealed == 0 {
		return fmt.Errorf("%w: wrap token header % x", ErrMIC, hdr[:4])
	}
	ec, rrc := int(binary.BigEndian.Uint16(hdr[4:])), int(binary.BigEndian.Uint16(hdr[6:]))
	if ec != sealEC || ec+rrc != sealRRC(et, ec) {
		return fmt.Errorf("%w: wrap token EC %d RRC %d, want %d and %d", ErrMIC, ec, rrc, sealEC, sealRRC(et, sealEC)-sealEC)
	}
	c, h := et.GetConfounderByteSize(), et.GetHMACBitLength()/8
	// In place the token is header | rotated body; the stub is the
	// body's middle, so the rotated part ahead of it is the encrypted
	// filler and header copy, the checksum, then the encrypted
	// confounder.
	rot := sig[wrapHeaderLen:]
	encTail, mac, encConf := rot[:ec+wrapHeaderLen], rot[ec+wrapHeaderLen:ec+wrapHeaderLen+h], rot[ec+wrapHeaderLen+h:]
	if len(encConf) != c {
		return fmt.Errorf("%w: sealed verifier layout", ErrMIC)
	}
	cipher := signedParts(encConf, data, encTail)
	ke, err := et.DeriveKey(r.key.KeyValue, common.GetUsageKe(keyusage.GSSAPI_INITIATOR_SEAL))
	if err != nil {
		return fmt.Errorf("krb5: unseal key: %w", err)
	}
	plain, err := et.DecryptData(ke, cipher)
	if err != nil || len(plain) != len(cipher) {
		return fmt.Errorf("%w: decrypt: %v", ErrMIC, err)
	}
	conf, pdata, tail := plain[:c], plain[c:c+len(data)], plain[c+len(data):]
	want := append([]byte(nil), hdr...)
	want[6], want[7] = 0, 0
	if !hmac.Equal(tail[ec:], want) {
		return fmt.Errorf("%w: encrypted header copy differs", ErrMIC)
	}
	got, err := common.GetIntegrityHash(signedParts(conf, pre, pdata, post, tail), r.key.KeyValue, keyusage.GSSAPI_INITIATOR_SEAL, et)
	if err != nil || !hmac.Equal(got, mac) {
		return fmt.Errorf("%w: sealed PDU checksum", ErrMIC)
	}
	copy(data, pdata)
	return nil
}
