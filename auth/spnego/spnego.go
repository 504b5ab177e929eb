// Package spnego frames GSS-API tokens for SMB2 SESSION_SETUP: the
// Simple and Protected GSS-API Negotiation Mechanism of RFC 4178 with the
// Microsoft extensions of [MS-SPNG]. It encodes the server's NegTokenInit2
// hint and its NegTokenResp replies, and decodes what clients send, by
// hand with strict length checks.
package spnego

import (
	"encoding/asn1"
	"errors"
)

// Mechanism object identifiers.
var (
	// OIDSPNEGO is the SPNEGO mechanism itself (RFC 4178 3).
	OIDSPNEGO = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 2}
	// OIDNTLMSSP is NTLM ([MS-NLMP] 1.9).
	OIDNTLMSSP = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 2, 10}
	// OIDKerberos5 is Kerberos V5 (RFC 4121).
	OIDKerberos5 = asn1.ObjectIdentifier{1, 2, 840, 113554, 1, 2, 2}
	// OIDMSKerberos5 is the legacy Microsoft Kerberos OID ([MS-KILE] 3.1.5.13).
	OIDMSKerberos5 = asn1.ObjectIdentifier{1, 2, 840, 48018, 1, 2, 2}
)

// ErrMalformed reports a token that could not be decoded.
var ErrMalformed = errors.New("spnego: malformed token")

// maxToken caps the tokens Decode accepts: SMB2 carries them in a
// SecurityBuffer whose length is a uint16.
const maxToken = 64 << 10

// maxMechTypes caps the MechTypeList; clients offer two to five.
const maxMechTypes = 32

// hintName is the negHints hintName Windows and Samba send ([MS-SPNG]
// 3.2.5.2); clients ignore it, as its text says.
const hintName = "not_defined_in_RFC4178@please_ignore"

// NegState is the negState of a NegTokenResp (RFC 4178 4.2.2).
type NegState int

// NegState values. NegStateAbsent is not on the wire: Decode reports it
// when a token carries no negState.
const (
	AcceptCompleted  NegState = 0
	AcceptIncomplete NegState = 1
	Reject           NegState = 2
	RequestMIC       NegState = 3
	NegStateAbsent   NegState = -1
)

// String returns the RFC 4178 name of s.
func (s NegState) String() string {
	switch s {
	case AcceptCompleted:
		return "accept-completed"
	case AcceptIncomplete:
		return "accept-incomplete"
	case Reject:
		return "reject"
	case RequestMIC:
		return "request-mic"
	case NegStateAbsent:
		return "absent"
	}
	return "invalid"
}

// Token is what a client sends in a SESSION_SETUP SecurityBuffer: a
// NegTokenInit on the first leg, a NegTokenResp on later legs, or a bare
// NTLMSSP message from clients that skip SPNEGO. Its byte slices are
// copies, so a Token outlives the buffer it was decoded from.
type Token struct {
	// Init is set for a NegTokenInit.
	Init bool
	// Raw is set when the buffer was a bare NTLMSSP message, returned
	// whole as MechToken.
	Raw bool
	// MechTypes is the client's MechTypeList, most preferred first.
	MechTypes []asn1.ObjectIdentifier
	// MechTypesDER is the DER MechTypeList SEQUENCE, over which
	// mechListMIC is computed (RFC 4178 5).
	MechTypesDER []byte
	// MechToken is the mechanism token: mechToken of a NegTokenInit or
	// responseToken of a NegTokenResp.
	MechToken []byte
	// MechListMIC is the client's mechListMIC, if any.
	MechListMIC []byte
	// NegState is the NegTokenResp negState, NegStateAbsent otherwise.
	NegState NegState
	// SupportedMech is the NegTokenResp supportedMech, if any.
	SupportedMech asn1.ObjectIdentifier
}

// InitialToken returns the server's NegTokenInit2 ([MS-SPNG] 2.2.1) for
// the NEGOTIATE response SecurityBuffer ([MS-SMB2] 3.3.5.4): the GSS-API
// header with the SPNEGO OID, the mechanisms given (NTLMSSP when none
// are), and negHints with the hintName Windows and Samba send.
func InitialToken(mechs ...asn1.ObjectIdentifier) []byte {
	if len(mechs) == 0 {
		mechs = []asn1.ObjectIdentifier{OIDNTLMSSP}
	}
	var list []byte
	for _, m := range mechs {
		list = append(list, oidTLV(m)...)
	}
	hints := appendTLV(nil, tagCtx0, appendTLV(nil, tagGeneralString, []byte(hintName)))
	var body []byte
	body = appendTLV(body, tagCtx0, appendTLV(nil, tagSequence, list))
	body = appendTLV(body, tagCtx3, appendTLV(nil, tagSequence, hints))
	inner := oidTLV(OIDSPNEGO)
	inner = appendTLV(inner, tagCtx0, appendTLV(nil, tagSequence, body))
	return appendTLV(nil, tagGSSApp, inner)
}

// EncodeResp returns a NegTokenResp (RFC 4178 4.2.2) with negState state,
// and supportedMech, responseToken and mechListMIC when they are non-nil.
// NegStateAbsent omits negState, as Windows initiators do on their second
// leg.
// Tokens are bounded by SMB's 64 KiB buffers, well inside the 16 MiB the
// encoder's lengths can express.
func EncodeResp(state NegState, supportedMech asn1.ObjectIdentifier, responseToken, mechListMIC []byte) []byte {
	var body []byte
	if state != NegStateAbsent {
		body = appendTLV(body, tagCtx0, appendTLV(nil, tagEnumerated, []byte{byte(state)}))
	}
	if supportedMech != nil {
		body = appendTLV(body, tagCtx1, oidTLV(supportedMech))
	}
	if responseToken != nil {
		body = appendTLV(body, tagCtx2, appendTLV(nil, tagOctetString, responseToken))
	}
	if mechListMIC != nil {
		body = appendTLV(body, tagCtx3, appendTLV(nil, tagOctetString, mechListMIC))
	}
	return appendTLV(nil, tagCtx1, appendTLV(nil, tagSequence, body))
}
