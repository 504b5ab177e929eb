package dcerpc

import (
	"encoding/binary"
	"errors"
	"fmt"

	"sofs.io/sofs/auth/ntlm"
	"sofs.io/sofs/auth/spnego"
)

// RPC authentication ([MS-RPCE] 2.2.1.1.7, 2.2.1.1.8, 2.2.2.11, 3.3.1.5.2):
// NTLMSSP, bare or inside SPNEGO, at authentication levels connect, packet,
// integrity (signing) and privacy (sealing). One security context per
// association: sofs does not multiplex security contexts.
const (
	authTypeSPNEGO = 9  // RPC_C_AUTHN_GSS_NEGOTIATE
	authTypeNTLM   = 10 // RPC_C_AUTHN_WINNT

	authLevelConnect   = 2 // RPC_C_AUTHN_LEVEL_CONNECT
	authLevelPkt       = 4 // RPC_C_AUTHN_LEVEL_PKT
	authLevelIntegrity = 5 // RPC_C_AUTHN_LEVEL_PKT_INTEGRITY
	authLevelPrivacy   = 6 // RPC_C_AUTHN_LEVEL_PKT_PRIVACY

	// secTrailerLen is sec_trailer: auth_type, auth_level,
	// auth_pad_length, auth_reserved, auth_context_id.
	secTrailerLen = 8
	// authPadAlign is the alignment of the stub plus padding before the
	// sec_trailer that sofs sends, Samba's choice (16 suits any cipher
	// block); [MS-RPCE] 2.2.2.11 requires at least 4.
	authPadAlign = 16
	// pfcSupportHeaderSign is PFC_SUPPORT_HEADER_SIGN in bind and
	// bind_ack ([MS-RPCE] 2.2.2.3). NTLM signs the whole PDU anyway.
	pfcSupportHeaderSign = 0x04
)

// Bind_nak reasons for authentication failures ([MS-RPCE] 2.2.2.5).
const (
	nakInvalidChecksum = 9
)

// errAuth reports a failed authentication leg; the call or association is
// refused with an access-denied fault or a bind_nak.
var errAuth = errors.New("rpc: authentication failed")

// verifier is a PDU's auth_verifier: its sec_trailer and auth_value.
type verifier struct {
	authType, level, padLen uint8
	ctxID                   uint32
	value                   []byte
}

// splitAuth parses the auth verifier at the end of a PDU with auth_length
// set and returns it with the offset where the sec_trailer starts; the
// body, including auth padding, ends there.
func splitAuth(h header, pdu []byte, bodyStart int) (verifier, int, error) {
	var v verifier
	trailer := len(pdu) - int(h.authLen) - secTrailerLen
	if h.authLen == 0 || trailer < bodyStart {
		return v, 0, fmt.Errorf("auth_length %d in %d-byte PDU: %w", h.authLen, len(pdu), ErrMalformed)
	}
	t := pdu[trailer:]
	v.authType, v.level, v.padLen = t[0], t[1], t[2]
	v.ctxID = binary.LittleEndian.Uint32(t[4:])
	v.value = pdu[trailer+secTrailerLen:]
	if trailer-int(v.padLen) < bodyStart {
		return v, 0, fmt.Errorf("auth_pad_length %d: %w", v.padLen, ErrMalformed)
	}
	return v, trailer, nil
}

// authState is an association's security context.
type authState struct {
	ex        *ntlm.Exchange
	authType  uint8
	level     uint8
	ctxID     uint32
	mechTypes []byte // SPNEGO MechTypeList DER, for mechListMIC
	// sec is set once authentication completed.
	sec  *ntlm.Security
	user string
	// failed is set when a third leg failed: every later call is refused.
	failed bool
}

// protects reports whether requests and responses carry verifiers.
func (s *authState) protects() bool {
	return s != nil && s.sec != nil && s.level >= authLevelPkt
}

// authLeg runs one leg of the security context negotiation carried by a
// bind, alter_context or auth3, and returns the auth_value to send back
// (nil for none).
func (a *assoc) authLeg(ptype uint8, v verifier) ([]byte, error) {
	if a.ntlm == nil {
		return nil, fmt.Errorf("no RPC authentication configured: %w", errAuth)
	}
	if v.authType != authTypeNTLM && v.authType != authTypeSPNEGO {
		return nil, fmt.Errorf("auth type %d: %w", v.authType, errAuth)
	}
	switch v.level {
	case authLevelConnect, authLevelPkt, authLevelIntegrity, authLevelPrivacy:
	default:
		return nil, fmt.Errorf("auth level %d: %w", v.level, errAuth)
	}
	st := a.auth
	if ptype == ptypeBind || st == nil {
		if ptype != ptypeBind && ptype != ptypeAlterContext {
			return nil, fmt.Errorf("auth3 without a bind: %w", errAuth)
		}
		st = &authState{ex: a.ntlm.NewExchange(), authType: v.authType, level: v.level, ctxID: v.ctxID}
		a.auth = st
		return st.first(v.value)
	}
	if v.authType != st.authType || v.level != st.level || v.ctxID != st.ctxID {
		// [MS-RPCE] 3.3.1.5.2.1: one security context per association.
		return nil, fmt.Errorf("second security context: %w", errAuth)
	}
	if st.sec != nil {
		// An alter_context on an established context adds presentation
		// contexts; there is nothing more to negotiate.
		return nil, nil
	}
	out, err := st.third(v.value)
	if err != nil {
		st.failed = true
	}
	return out, err
}

// first answers the client's NEGOTIATE_MESSAGE with a CHALLENGE_MESSAGE.
func (s *authState) first(token []byte) ([]byte, error) {
	if s.authType == authTypeNTLM {
		chal, err := s.ex.Negotiate(token)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errAuth, err)
		}
		return chal, nil
	}
	tok, err := spnego.Decode(token)
	if err != nil || !tok.Init || tok.Raw {
		return nil, fmt.Errorf("SPNEGO first leg: %w", errAuth)
	}
	// sofs offers NTLM only: a client that leads with Kerberos must have
	// sent an NTLM token anyway to continue in one round trip.
	chal, err := s.ex.Negotiate(tok.MechToken)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errAuth, err)
	}
	s.mechTypes = tok.MechTypesDER
	return spnego.EncodeResp(spnego.AcceptIncomplete, spnego.OIDNTLMSSP, chal, nil), nil
}

// third verifies the AUTHENTICATE_MESSAGE and sets up session security.
// Anonymous logons are refused: they have no keys to sign with.
func (s *authState) third(token []byte) ([]byte, error) {
	var tok spnego.Token
	if s.authType == authTypeSPNEGO {
		var err error
		if tok, err = spnego.Decode(token); err != nil || tok.Init {
			return nil, fmt.Errorf("SPNEGO last leg: %w", errAuth)
		}
		token = tok.MechToken
	}
	res, err := s.ex.Authenticate(token)
	if err != nil || res.Anonymous {
		return nil, fmt.Errorf("%w: %v", errAuth, err)
	}
	if s.sec, err = s.ex.Security(); err != nil {
		return nil, fmt.Errorf("%w: %w", errAuth, err)
	}
	s.user = res.User
	if s.authType == authTypeNTLM {
		return nil, nil
	}
	// The mechListMICs use the session security's first sequence
	// numbers, as GSS_GetMIC on the established context does.
	if len(tok.MechListMIC) > 0 {
		if err := s.sec.Verify(s.mechTypes, tok.MechListMIC); err != nil {
			return nil, fmt.Errorf("mechListMIC: %w: %w", errAuth, err)
		}
	}
	var mic []byte
	if ntlm.MICDue(res, len(tok.MechListMIC) > 0) {
		mic = s.sec.Sign(s.mechTypes)
	}
	// SPNEGO is complete: the key streams restart for the messages that
	// follow, as on the client (Samba's gensec_may_reset_crypto).
	s.sec.ResetHandles()
	return spnego.EncodeResp(spnego.AcceptCompleted, nil, nil, mic), nil
}

// protection is a snapshot of an established security context, enough to
// sign or seal responses; sec is nil when responses carry no verifier.
type protection struct {
	sec             *ntlm.Security
	authType, level uint8
	ctxID           uint32
}

// protection returns the snapshot of s for a call, or the zero value when
// responses are not protected.
func (s *authState) protection() protection {
	if !s.protects() {
		return protection{}
	}
	return protection{sec: s.sec, authType: s.authType, level: s.level, ctxID: s.ctxID}
}

// appendVerifier pads the PDU body in b to authPadAlign from bodyStart,
// appends a sec_trailer and room for an auth_value of n bytes, fixes up
// frag_length and auth_length, and returns the pad length.
func appendVerifier(b []byte, bodyStart int, authType, level uint8, ctxID uint32, n int) ([]byte, uint8) {
	pad := (authPadAlign - (len(b)-bodyStart)%authPadAlign) % authPadAlign
	b = append(b, make([]byte, pad)...)
	b = append(b, authType, level, uint8(pad), 0)
	b = binary.LittleEndian.AppendUint32(b, ctxID)
	b = append(b, make([]byte, n)...)
	binary.LittleEndian.PutUint16(b[8:], uint16(len(b)))
	binary.LittleEndian.PutUint16(b[10:], uint16(n))
	return b, uint8(pad)
}
