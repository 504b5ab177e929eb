package krb5

import (
	"fmt"

	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
)

// MIC tokens (RFC 4121 4.2.6.1) carry SPNEGO's mechListMIC (RFC 4178 5).
// They exist for the RFC 3961 "newer" encryption types (AES); contexts
// with RC4 or DES keys use RFC 1964/4757 tokens, which sofs does not
// make: with those, SPNEGO goes without a MIC, as a first-choice
// mechanism may (RFC 4178 5 (a)).

// HasMIC reports whether the context can make and check MIC tokens.
func (r *Result) HasMIC() bool {
	switch r.key.KeyType {
	case etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96,
		etypeID.AES128_CTS_HMAC_SHA256_128, etypeID.AES256_CTS_HMAC_SHA384_192:
		return true
	}
	return false
}

// VerifyMIC checks the client's MIC token over msg.
func (r *Result) VerifyMIC(msg, mic []byte) error {
	if !r.HasMIC() {
		return fmt.Errorf("%w: no MIC tokens with encryption type %d", ErrMIC, r.key.KeyType)
	}
	var t gssapi.MICToken
	if err := t.Unmarshal(mic, false); err != nil {
		return fmt.Errorf("%w: %v", ErrMIC, err)
	}
	// RFC 4121 4.2.2 says an initiator sets AcceptorSubkey once the
	// acceptor sent one; some (go-smb2) do not, but key their MIC with it
	// all the same. The flag is inside the checksummed header either way,
	// so checking with the context key is what decides.
	t.Payload = msg
	if ok, err := t.Verify(r.key, keyusage.GSSAPI_INITIATOR_SIGN); !ok {
		return fmt.Errorf("%w: %v", ErrMIC, err)
	}
	return nil
}

// MakeMIC returns the acceptor's MIC token over msg, numbered with the
// sequence number the AP-REP announced.
func (r *Result) MakeMIC(msg []byte) ([]byte, error) {
	if !r.HasMIC() {
		return nil, fmt.Errorf("%w: no MIC tokens with encryption type %d", ErrMIC, r.key.KeyType)
	}
	t := gssapi.MICToken{Flags: gssapi.MICTokenFlagSentByAcceptor, SndSeqNum: r.serverSeq, Payload: msg}
	if r.acceptorSubkey {
		t.Flags |= gssapi.MICTokenFlagAcceptorSubkey
	}
	if err := t.SetChecksum(r.key, keyusage.GSSAPI_ACCEPTOR_SIGN); err != nil {
		return nil, fmt.Errorf("krb5: MIC: %w", err)
	}
	return t.Marshal()
}
