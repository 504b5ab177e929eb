package ntlm

import (
	"crypto/hmac"
	"crypto/rc4"
	"errors"
	"fmt"
)

// errNoSessionSecurity reports a MIC request on an exchange without
// extended-session-security keys.
var errNoSessionSecurity = errors.New("ntlm: no session security for mechListMIC")

// VerifyMIC checks a client's SPNEGO mechListMIC over data (the DER
// MechTypeList) after a successful Authenticate ([MS-SPNG] 3.3.5.1). The
// MIC is GSS_GetMIC of [MS-NLMP] 3.4.4.2 with the client-to-server keys
// and sequence number 0, the first use of the client's sealing handle.
func (e *Exchange) VerifyMIC(data, mic []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.authed || e.keys.flags&flagExtendedSec == 0 {
		return fmt.Errorf("verify mechListMIC: %w", errNoSessionSecurity)
	}
	want := e.keys.sign(e.keys.clientSign, e.keys.clientSeal, data)
	if !hmac.Equal(want, mic) {
		return fmt.Errorf("%w: bad mechListMIC", ErrLogonFailure)
	}
	e.peerMIC = true
	return nil
}

// MakeMIC returns the server's mechListMIC over data with the
// server-to-client keys and sequence number 0, or nil when none is due.
// One is due when the client's mechListMIC verified or the AUTHENTICATE
// carried an NTLM MIC, as Windows does ([MS-SPNG] 3.2.5.1); a MIC the
// client does not expect makes Samba's SPNEGO initiator fail the logon
// with STATUS_INVALID_PARAMETER. It is nil too for an exchange without
// session-security keys (anonymous, failed, or without extended session
// security).
func (e *Exchange) MakeMIC(data []byte) []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.authed || e.keys.flags&flagExtendedSec == 0 || !e.peerMIC && !e.ntlmMIC {
		return nil
	}
	return e.keys.sign(e.keys.serverSign, e.keys.serverSeal, data)
}

// sign computes a sequence-0 signature with a fresh sealing handle. Each
// Exchange signs at most one message per direction (the mechListMIC), so
// the handle never needs to persist.
func (k *sessionKeys) sign(signKey, sealKey, data []byte) []byte {
	handle, err := rc4.NewCipher(sealKey)
	if err != nil {
		panic("ntlm: rc4 sealing key: " + err.Error()) // keys are 16 bytes
	}
	return mac(k.flags, signKey, handle, 0, data)
}
