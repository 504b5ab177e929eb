package krb5

import (
	"bytes"
	"encoding/asn1"
	"fmt"
)

// GSS-API framing of Kerberos context tokens (RFC 4121 4.1, RFC 2743
// 3.1): an InitialContextToken [APPLICATION 0] holding the mechanism OID,
// then a two-byte TOK_ID and the Kerberos message.

// Mechanism OIDs a client may name for Kerberos in SPNEGO.
var (
	// OIDKerberos5 is Kerberos V5 (RFC 4121).
	OIDKerberos5 = asn1.ObjectIdentifier{1, 2, 840, 113554, 1, 2, 2}
	// OIDMSKerberos5 is the OID Windows clients list first ([MS-KILE]
	// 3.1.5.13: a server answers with the OID the client used).
	OIDMSKerberos5 = asn1.ObjectIdentifier{1, 2, 840, 48018, 1, 2, 2}
)

// Token identifiers (RFC 4121 4.1).
var (
	tokAPReq = [2]byte{0x01, 0x00}
	tokAPRep = [2]byte{0x02, 0x00}
)

// DER OID encodings, fixed: the mechanism field compares bytes.
var (
	derKerberos5   = mustOID(OIDKerberos5)
	derMSKerberos5 = mustOID(OIDMSKerberos5)
)

func mustOID(o asn1.ObjectIdentifier) []byte {
	b, err := asn1.Marshal(o)
	if err != nil {
		panic(err)
	}
	return b
}

// maxToken caps an AP-REQ token: SMB2 carries it in a SecurityBuffer
// whose length is a uint16; tickets with large PACs stay well below.
const maxToken = 64 << 10

// readHeader reads one DER tag and length from b, returning the tag, the
// content and what follows. Lengths are DER's: definite, at most four
// length bytes, and never beyond b.
func readHeader(b []byte) (tag byte, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, fmt.Errorf("%w: truncated DER header", ErrMalformed)
	}
	tag = b[0]
	n := int(b[1])
	off := 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 4 || len(b) < 2+k {
			return 0, nil, nil, fmt.Errorf("%w: bad DER length", ErrMalformed)
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		off += k
	}
	if n < 0 || n > len(b)-off {
		return 0, nil, nil, fmt.Errorf("%w: DER length %d beyond %d bytes", ErrMalformed, n, len(b)-off)
	}
	return tag, b[off : off+n], b[off+n:], nil
}

// appendHeader appends a DER tag and definite length.
func appendHeader(b []byte, tag byte, n int) []byte {
	b = append(b, tag)
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n < 0x100:
		return append(b, 0x81, byte(n))
	case n < 0x10000:
		return append(b, 0x82, byte(n>>8), byte(n))
	default:
		return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
}

// unwrapAPReq returns the AP-REQ inside a GSS-API Kerberos token and the
// mechanism OID the client used. A bare AP-REQ (tag [APPLICATION 14]),
// which some clients put in SPNEGO without the GSS header, is accepted as
// Windows does.
func unwrapAPReq(tok []byte) (apreq []byte, mech asn1.ObjectIdentifier, err error) {
	if len(tok) > maxToken {
		return nil, nil, fmt.Errorf("%w: %d-byte token", ErrMalformed, len(tok))
	}
	tag, content, rest, err := readHeader(tok)
	if err != nil {
		return nil, nil, err
	}
	if len(rest) != 0 {
		return nil, nil, fmt.Errorf("%w: %d bytes after the token", ErrMalformed, len(rest))
	}
	switch tag {
	case 0x6e: // [APPLICATION 14] AP-REQ
		return tok, OIDKerberos5, nil
	case 0x60: // [APPLICATION 0] InitialContextToken
	default:
		return nil, nil, fmt.Errorf("%w: token tag %#02x", ErrMalformed, tag)
	}
	switch {
	case bytes.HasPrefix(content, derKerberos5):
		mech, content = OIDKerberos5, content[len(derKerberos5):]
	case bytes.HasPrefix(content, derMSKerberos5):
		mech, content = OIDMSKerberos5, content[len(derMSKerberos5):]
	default:
		return nil, nil, fmt.Errorf("%w: not a Kerberos token", ErrMalformed)
	}
	if len(content) < 2 || [2]byte(content[:2]) != tokAPReq {
		return nil, nil, fmt.Errorf("%w: not an AP-REQ", ErrMalformed)
	}
	return content[2:], mech, nil
}

// wrapAPRep frames an AP-REP as the acceptor's GSS-API token, naming mech.
func wrapAPRep(aprep []byte, mech asn1.ObjectIdentifier) []byte {
	oid := derKerberos5
	if mech.Equal(OIDMSKerberos5) {
		oid = derMSKerberos5
	}
	n := len(oid) + 2 + len(aprep)
	out := appendHeader(make([]byte, 0, n+6), 0x60, n)
	out = append(out, oid...)
	out = append(out, tokAPRep[:]...)
	return append(out, aprep...)
}
