package spnego

import (
	"encoding/asn1"
	"fmt"
)

// DER tags used by SPNEGO ([MS-SPNG] 2.2, RFC 4178 4.2, RFC 2743 3.1).
const (
	tagEnumerated    = 0x0a
	tagOctetString   = 0x04
	tagOID           = 0x06
	tagGeneralString = 0x1b
	tagSequence      = 0x30
	tagGSSApp        = 0x60 // [APPLICATION 0] constructed: InitialContextToken
	tagCtx0          = 0xa0 // [0] constructed
	tagCtx1          = 0xa1
	tagCtx2          = 0xa2
	tagCtx3          = 0xa3
	tagCtx4          = 0xa4
)

// maxLenBytes bounds the long-form length octets: three bytes describe up
// to 16 MiB, far beyond maxToken, so longer forms are never legitimate.
const maxLenBytes = 3

// readTLV splits the first DER element off b. It accepts only low tag
// numbers (every SPNEGO tag is one) and definite lengths, and checks the
// length against the bytes present before slicing.
func readTLV(b []byte) (tag byte, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, fmt.Errorf("%w: truncated element", ErrMalformed)
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, nil, nil, fmt.Errorf("%w: high tag number", ErrMalformed)
	}
	n, off := int(b[1]), 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 {
			return 0, nil, nil, fmt.Errorf("%w: indefinite length", ErrMalformed)
		}
		if k > maxLenBytes || len(b) < 2+k {
			return 0, nil, nil, fmt.Errorf("%w: %d length octets", ErrMalformed, k)
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		off += k
	}
	if n > len(b)-off {
		return 0, nil, nil, fmt.Errorf("%w: element of %d bytes with %d left", ErrMalformed, n, len(b)-off)
	}
	return tag, b[off : off+n], b[off+n:], nil
}

// readOnly parses b as exactly one element with the given tag.
func readOnly(b []byte, want byte, what string) ([]byte, error) {
	tag, content, rest, err := readTLV(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if tag != want {
		return nil, fmt.Errorf("%w: %s has tag %#02x, want %#02x", ErrMalformed, what, tag, want)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after %s", ErrMalformed, len(rest), what)
	}
	return content, nil
}

// maxOIDLen bounds an OBJECT IDENTIFIER's contents; real mechanism OIDs
// are 6 to 10 bytes.
const maxOIDLen = 64

// parseOID decodes OBJECT IDENTIFIER contents (X.690 8.19). Sub-identifiers
// are limited to 28 bits (four base-128 octets) so they fit an int anywhere.
func parseOID(b []byte) (asn1.ObjectIdentifier, error) {
	if len(b) == 0 || len(b) > maxOIDLen {
		return nil, fmt.Errorf("%w: OID of %d bytes", ErrMalformed, len(b))
	}
	oid := make(asn1.ObjectIdentifier, 0, len(b)+1)
	for len(b) > 0 {
		v, i := 0, 0
		for {
			if i == len(b) || i == 4 {
				return nil, fmt.Errorf("%w: bad OID sub-identifier", ErrMalformed)
			}
			c := b[i]
			i++
			v = v<<7 | int(c&0x7f)
			if c&0x80 == 0 {
				break
			}
		}
		b = b[i:]
		if len(oid) == 0 {
			// The first sub-identifier packs the first two arcs.
			switch {
			case v < 40:
				oid = append(oid, 0, v)
			case v < 80:
				oid = append(oid, 1, v-40)
			default:
				oid = append(oid, 2, v-80)
			}
			continue
		}
		oid = append(oid, v)
	}
	return oid, nil
}

// appendOIDContents encodes oid's contents (X.690 8.19). Callers pass
// well-formed OIDs (at least two arcs, non-negative).
func appendOIDContents(dst []byte, oid asn1.ObjectIdentifier) []byte {
	if len(oid) < 2 {
		return dst
	}
	dst = appendBase128(dst, oid[0]*40+oid[1])
	for _, v := range oid[2:] {
		dst = appendBase128(dst, v)
	}
	return dst
}

func appendBase128(dst []byte, v int) []byte {
	if v < 0 {
		v = 0
	}
	var tmp [10]byte
	i := len(tmp) - 1
	tmp[i] = byte(v & 0x7f)
	for v >>= 7; v > 0; v >>= 7 {
		i--
		tmp[i] = byte(v&0x7f) | 0x80
	}
	return append(dst, tmp[i:]...)
}

// appendTLV appends one DER element with a minimal length encoding.
func appendTLV(dst []byte, tag byte, content []byte) []byte {
	dst = append(dst, tag)
	n := len(content)
	switch {
	case n < 0x80:
		dst = append(dst, byte(n))
	case n <= 0xff:
		dst = append(dst, 0x81, byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x82, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, content...)
}

// oidTLV returns the complete DER OBJECT IDENTIFIER element for oid.
func oidTLV(oid asn1.ObjectIdentifier) []byte {
	return appendTLV(nil, tagOID, appendOIDContents(nil, oid))
}
