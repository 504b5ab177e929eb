package spnego

import (
	"bytes"
	"encoding/asn1"
	"fmt"
	"slices"
)

// ntlmSignature opens every NTLMSSP message ([MS-NLMP] 2.2.1).
const ntlmSignature = "NTLMSSP\x00"

// Decode parses a client's security token: a GSS-API InitialContextToken
// wrapping a NegTokenInit (RFC 2743 3.1, RFC 4178 4.2.1), a bare
// NegTokenInit ([0]) or NegTokenResp ([1]), or a raw NTLMSSP message
// (Raw set; some clients skip SPNEGO).
func Decode(b []byte) (Token, error) {
	if len(b) > maxToken {
		return Token{}, fmt.Errorf("%w: %d-byte token exceeds %d", ErrMalformed, len(b), maxToken)
	}
	if bytes.HasPrefix(b, []byte(ntlmSignature)) {
		return Token{Raw: true, MechToken: slices.Clone(b), NegState: NegStateAbsent}, nil
	}
	tag, content, rest, err := readTLV(b)
	if err != nil {
		return Token{}, err
	}
	if len(rest) != 0 {
		return Token{}, fmt.Errorf("%w: %d bytes after the token", ErrMalformed, len(rest))
	}
	switch tag {
	case tagGSSApp:
		otag, oid, inner, err := readTLV(content)
		if err != nil {
			return Token{}, fmt.Errorf("GSS header: %w", err)
		}
		if otag != tagOID || !bytes.Equal(oid, appendOIDContents(nil, OIDSPNEGO)) {
			return Token{}, fmt.Errorf("%w: GSS token is not SPNEGO", ErrMalformed)
		}
		init, err := readOnly(inner, tagCtx0, "NegotiationToken")
		if err != nil {
			return Token{}, err
		}
		return decodeInit(init)
	case tagCtx0:
		return decodeInit(content)
	case tagCtx1:
		return decodeResp(content)
	}
	return Token{}, fmt.Errorf("%w: unknown token tag %#02x", ErrMalformed, tag)
}

// fields splits a SEQUENCE's contents into its context-tagged fields,
// rejecting duplicates and elements that are not context-specific. Fields
// not listed in known are skipped, so a later revision's additions do not
// break decoding.
func fields(seq []byte, what string, known ...byte) (map[byte][]byte, error) {
	body, err := readOnly(seq, tagSequence, what)
	if err != nil {
		return nil, err
	}
	out := make(map[byte][]byte, len(known))
	for len(body) > 0 {
		tag, content, rest, err := readTLV(body)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		body = rest
		if tag&0xc0 != 0x80 {
			return nil, fmt.Errorf("%w: %s holds untagged element %#02x", ErrMalformed, what, tag)
		}
		if !slices.Contains(known, tag) {
			continue
		}
		if _, dup := out[tag]; dup {
			return nil, fmt.Errorf("%w: %s repeats field %#02x", ErrMalformed, what, tag)
		}
		out[tag] = content
	}
	return out, nil
}

// octets returns the contents of an OCTET STRING field, copied.
func octets(field []byte, what string) ([]byte, error) {
	v, err := readOnly(field, tagOctetString, what)
	if err != nil {
		return nil, err
	}
	return slices.Clone(v), nil
}

// decodeInit parses NegTokenInit (RFC 4178 4.2.1). Field [3] is
// mechListMIC in RFC 4178 but negHints in the NegTokenInit2 of [MS-SPNG]
// 2.2.1, which moves mechListMIC to [4]; the inner tag tells them apart.
func decodeInit(seq []byte) (Token, error) {
	f, err := fields(seq, "NegTokenInit", tagCtx0, tagCtx1, tagCtx2, tagCtx3, tagCtx4)
	if err != nil {
		return Token{}, err
	}
	t := Token{Init: true, NegState: NegStateAbsent}
	mt, ok := f[tagCtx0]
	if !ok {
		return Token{}, fmt.Errorf("%w: NegTokenInit without mechTypes", ErrMalformed)
	}
	if t.MechTypes, err = mechTypes(mt); err != nil {
		return Token{}, err
	}
	t.MechTypesDER = slices.Clone(mt)
	if v, ok := f[tagCtx2]; ok {
		if t.MechToken, err = octets(v, "mechToken"); err != nil {
			return Token{}, err
		}
	}
	if v, ok := f[tagCtx3]; ok && len(v) > 0 && v[0] == tagOctetString {
		if t.MechListMIC, err = octets(v, "mechListMIC"); err != nil {
			return Token{}, err
		}
	}
	if v, ok := f[tagCtx4]; ok {
		if t.MechListMIC != nil {
			return Token{}, fmt.Errorf("%w: two mechListMICs", ErrMalformed)
		}
		if t.MechListMIC, err = octets(v, "mechListMIC"); err != nil {
			return Token{}, err
		}
	}
	return t, nil
}

// mechTypes parses a MechTypeList: SEQUENCE OF OBJECT IDENTIFIER.
func mechTypes(b []byte) ([]asn1.ObjectIdentifier, error) {
	body, err := readOnly(b, tagSequence, "mechTypes")
	if err != nil {
		return nil, err
	}
	var out []asn1.ObjectIdentifier
	for len(body) > 0 {
		tag, content, rest, err := readTLV(body)
		if err != nil {
			return nil, fmt.Errorf("mechTypes: %w", err)
		}
		if tag != tagOID {
			return nil, fmt.Errorf("%w: mechTypes holds tag %#02x", ErrMalformed, tag)
		}
		if len(out) == maxMechTypes {
			return nil, fmt.Errorf("%w: more than %d mechTypes", ErrMalformed, maxMechTypes)
		}
		oid, err := parseOID(content)
		if err != nil {
			return nil, err
		}
		out = append(out, oid)
		body = rest
	}
	return out, nil
}

// decodeResp parses NegTokenResp (RFC 4178 4.2.2).
func decodeResp(seq []byte) (Token, error) {
	f, err := fields(seq, "NegTokenResp", tagCtx0, tagCtx1, tagCtx2, tagCtx3)
	if err != nil {
		return Token{}, err
	}
	t := Token{NegState: NegStateAbsent}
	if v, ok := f[tagCtx0]; ok {
		e, err := readOnly(v, tagEnumerated, "negState")
		if err != nil {
			return Token{}, err
		}
		if len(e) != 1 || e[0] > byte(RequestMIC) {
			return Token{}, fmt.Errorf("%w: negState %x", ErrMalformed, e)
		}
		t.NegState = NegState(e[0])
	}
	if v, ok := f[tagCtx1]; ok {
		o, err := readOnly(v, tagOID, "supportedMech")
		if err != nil {
			return Token{}, err
		}
		if t.SupportedMech, err = parseOID(o); err != nil {
			return Token{}, err
		}
	}
	if v, ok := f[tagCtx2]; ok {
		if t.MechToken, err = octets(v, "responseToken"); err != nil {
			return Token{}, err
		}
	}
	if v, ok := f[tagCtx3]; ok {
		if t.MechListMIC, err = octets(v, "mechListMIC"); err != nil {
			return Token{}, err
		}
	}
	return t, nil
}
