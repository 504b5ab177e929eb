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
// integrity (signing) and privacy (sealing); Kerberos, bare or inside
// SPNEGO, in DCE style ([MS-KILE] 3.4.5.1: AP-REQ, AP-REP, the client's
// AP-REP) up to privacy, each PDU signed with an RFC 4121 MIC token or
// sealed with a DCE-style wrap token. One security context per
// association: sofs does not multiplex security contexts.
const (
	authTypeSPNEGO   = 9  // RPC_C_AUTHN_GSS_NEGOTIATE
	authTypeNTLM     = 10 // RPC_C_AUTHN_WINNT
	authTypeKerberos = 16 // RPC_C_AUTHN_GSS_KERBEROS

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

// packetSecurity protects the PDUs of an established security context:
// signs and checks verifiers over the PDU up to the auth_value, and seals
// and unseals its stub and padding in place.
type packetSecurity interface {
	Sign(signed []byte) ([]byte, error)
	Verify(signed, sig []byte) error
	Seal(signed, data []byte) ([]byte, error)
	Unseal(signed, data, sig []byte) error
	// SigLen is the length of the auth_value of a signed (seal false)
	// or sealed PDU.
	SigLen(seal bool) int
}

// ntlmSecurity is NTLM session security as a packetSecurity.
type ntlmSecurity struct{ *ntlm.Security }

func (s ntlmSecurity) Sign(signed []byte) ([]byte, error) { return s.Security.Sign(signed), nil }
func (s ntlmSecurity) Seal(signed, data []byte) ([]byte, error) {
	return s.Security.Seal(signed, data), nil
}
func (ntlmSecurity) SigLen(bool) int { return ntlm.SignatureLen }

// KerberosAcceptor checks the AP-REQ of a client binding with Kerberos
// (auth/krb5's Acceptor, adapted where the two are wired: the DCE/RPC
// engine imports no acceptor, so its users need not either).
type KerberosAcceptor interface {
	Accept(token []byte) (KerberosContext, error)
}

// KerberosContext is an accepted Kerberos context.
type KerberosContext interface {
	// DCEStyle reports that the client asked for DCE-style establishment
	// (it then answers the AP-REP with AcceptDCEReply's token).
	DCEStyle() bool
	// ResponseToken is the AP-REP to send back (nil without mutual
	// authentication).
	ResponseToken() []byte
	// HasMIC reports whether the context makes RFC 4121 MIC tokens.
	HasMIC() bool
	// Client names the authenticated principal; HasPAC reports whether
	// the ticket carried a (verified) PAC.
	Client() string
	HasPAC() bool
	AcceptDCEReply(token []byte) error
	Sign(msg []byte) ([]byte, error)
	VerifyMIC(msg, mic []byte) error
	MICLen() int
	// Seal and Unseal protect a PDU at privacy: data, the stub and its
	// padding inside signed, is encrypted or decrypted in place. SealLen
	// is their auth_value's length, 0 when the context cannot seal.
	Seal(signed, data []byte) ([]byte, error)
	Unseal(signed, data, sig []byte) error
	SealLen() int
}

// krbSecurity is a Kerberos context as a packetSecurity: MIC tokens over
// the PDU when signing (header signing, as Windows and Samba clients
// negotiate with Kerberos), DCE-style wrap tokens when sealing.
type krbSecurity struct{ res KerberosContext }

func (s krbSecurity) Sign(signed []byte) ([]byte, error) { return s.res.Sign(signed) }
func (s krbSecurity) Verify(signed, sig []byte) error    { return s.res.VerifyMIC(signed, sig) }
func (s krbSecurity) Seal(signed, data []byte) ([]byte, error) {
	return s.res.Seal(signed, data)
}
func (s krbSecurity) Unseal(signed, data, sig []byte) error { return s.res.Unseal(signed, data, sig) }
func (s krbSecurity) SigLen(seal bool) int {
	if seal {
		return s.res.SealLen()
	}
	return s.res.MICLen()
}

// authState is an association's security context.
type authState struct {
	ex        *ntlm.Exchange
	authType  uint8
	level     uint8
	ctxID     uint32
	mechTypes []byte // SPNEGO MechTypeList DER, for mechListMIC
	// krb5 is the Kerberos acceptor (nil without a keytab); krb the
	// Kerberos context once the client's AP-REQ was accepted.
	krb5 KerberosAcceptor
	krb  KerberosContext
	// sec is set once authentication completed.
	sec  packetSecurity
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
	if !a.knowsAuthType(v.authType) {
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
		st = &authState{authType: v.authType, level: v.level, ctxID: v.ctxID, krb5: a.krb5}
		if a.ntlm != nil {
			st.ex = a.ntlm.NewExchange()
		}
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

// knowsAuthType reports whether the association can authenticate with
// authType: NTLM and SPNEGO with an NTLM server or a Kerberos acceptor,
// bare Kerberos with the latter.
func (a *assoc) knowsAuthType(authType uint8) bool {
	switch authType {
	case authTypeNTLM:
		return a.ntlm != nil
	case authTypeSPNEGO:
		return a.ntlm != nil || a.krb5 != nil
	case authTypeKerberos:
		return a.krb5 != nil
	}
	return false
}

// first answers the client's first token: a CHALLENGE_MESSAGE to NTLM's
// NEGOTIATE_MESSAGE, an AP-REP to Kerberos's AP-REQ.
func (s *authState) first(token []byte) ([]byte, error) {
	if s.authType == authTypeKerberos {
		return s.acceptKerberos(token)
	}
	if s.authType == authTypeSPNEGO {
		tok, err := spnego.Decode(token)
		if err == nil && tok.Init && !tok.Raw && isKerberosToken(tok.MechToken) {
			s.mechTypes = tok.MechTypesDER
			rep, err := s.acceptKerberos(tok.MechToken)
			if err != nil {
				return nil, err
			}
			// The answer names the mechanism the client's optimistic
			// token was for, its first choice (often MS-KRB5): a DCE-style
			// AP-REQ has no GSS-API framing to tell which OID it used,
			// and a different OID makes the client start that
			// mechanism afresh (RFC 4178 4.2.2).
			if len(tok.MechTypes) == 0 {
				return nil, fmt.Errorf("SPNEGO without mechTypes: %w", errAuth)
			}
			mech := tok.MechTypes[0]
			return spnego.EncodeResp(spnego.AcceptIncomplete, mech, rep, nil), nil
		}
	}
	if s.ex == nil {
		return nil, fmt.Errorf("NTLM is not accepted: %w", errAuth)
	}
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

// isKerberosToken reports whether a SPNEGO mechanism token is Kerberos: a
// GSS-API InitialContextToken or a bare AP-REQ; NTLMSSP messages start
// with their signature.
func isKerberosToken(b []byte) bool {
	return len(b) > 0 && (b[0] == 0x60 || b[0] == 0x6e)
}

// acceptKerberos checks the client's AP-REQ and returns the AP-REP. RPC
// clients establish DCE-style contexts; privacy needs an AES context.
func (s *authState) acceptKerberos(token []byte) ([]byte, error) {
	if s.krb5 == nil {
		return nil, fmt.Errorf("Kerberos is not accepted (no keytab): %w", errAuth)
	}
	res, err := s.krb5.Accept(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errAuth, err)
	}
	if s.level == authLevelPrivacy && res.SealLen() == 0 {
		return nil, fmt.Errorf("Kerberos privacy needs an AES context: %w", errAuth)
	}
	if !res.DCEStyle() || res.ResponseToken() == nil || !res.HasMIC() {
		// A context without the third leg or without MIC tokens (RC4)
		// cannot protect PDUs the way this server does.
		return nil, fmt.Errorf("Kerberos context not DCE style with AES (dce %v, mic %v): %w", res.DCEStyle(), res.HasMIC(), errAuth)
	}
	if !res.HasPAC() {
		return nil, fmt.Errorf("Kerberos ticket of %s without a PAC: %w", res.Client(), errAuth)
	}
	s.krb = res
	return res.ResponseToken(), nil
}

// thirdKerberos checks the client's DCE-style AP-REP (bare, or in a
// SPNEGO NegTokenResp with its mechListMIC) and completes the context.
func (s *authState) thirdKerberos(token []byte) ([]byte, error) {
	var tok spnego.Token
	if s.authType == authTypeSPNEGO {
		var err error
		if tok, err = spnego.Decode(token); err != nil || tok.Init {
			return nil, fmt.Errorf("SPNEGO last leg: %w", errAuth)
		}
		token = tok.MechToken
	}
	if err := s.krb.AcceptDCEReply(token); err != nil {
		return nil, fmt.Errorf("%w: %w", errAuth, err)
	}
	s.sec = krbSecurity{s.krb}
	s.user = s.krb.Client()
	if s.authType != authTypeSPNEGO {
		return nil, nil
	}
	if len(tok.MechListMIC) > 0 {
		if err := s.krb.VerifyMIC(s.mechTypes, tok.MechListMIC); err != nil {
			return nil, fmt.Errorf("mechListMIC: %w: %w", errAuth, err)
		}
	}
	mic, err := s.krb.Sign(s.mechTypes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errAuth, err)
	}
	return spnego.EncodeResp(spnego.AcceptCompleted, nil, nil, mic), nil
}

// third verifies the AUTHENTICATE_MESSAGE (or Kerberos's last AP-REP)
// and sets up session security. Anonymous logons are refused: they have
// no keys to sign with.
func (s *authState) third(token []byte) ([]byte, error) {
	if s.krb != nil {
		return s.thirdKerberos(token)
	}
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
	sec, err := s.ex.Security()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errAuth, err)
	}
	s.sec, s.user = ntlmSecurity{sec}, res.User
	if s.authType == authTypeNTLM {
		return nil, nil
	}
	// The mechListMICs use the session security's first sequence
	// numbers, as GSS_GetMIC on the established context does.
	if len(tok.MechListMIC) > 0 {
		if err := sec.Verify(s.mechTypes, tok.MechListMIC); err != nil {
			return nil, fmt.Errorf("mechListMIC: %w: %w", errAuth, err)
		}
	}
	var mic []byte
	if ntlm.MICDue(res, len(tok.MechListMIC) > 0) {
		mic = sec.Sign(s.mechTypes)
	}
	// SPNEGO is complete: the key streams restart for the messages that
	// follow, as on the client (Samba's gensec_may_reset_crypto).
	sec.ResetHandles()
	return spnego.EncodeResp(spnego.AcceptCompleted, nil, nil, mic), nil
}

// protection is a snapshot of an established security context, enough to
// sign or seal responses; sec is nil when responses carry no verifier.
type protection struct {
	sec             packetSecurity
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
