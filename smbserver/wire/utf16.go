package wire

import "unicode/utf16"

// decodeUTF16 converts little-endian UTF-16 (as every SMB2 name is,
// [MS-SMB2] 2.2.13 "Unicode") to a Go string. Unpaired surrogates become
// U+FFFD rather than failing: the name check belongs to the server.
func decodeUTF16(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", malformed("UTF-16 string of odd length %d", len(b))
	}
	if len(b) == 0 {
		return "", nil
	}
	// Fast path for ASCII, the common case for share and file names.
	ascii := true
	for i := 0; i < len(b); i += 2 {
		if b[i+1] != 0 || b[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		s := make([]byte, len(b)/2)
		for i := range s {
			s[i] = b[2*i]
		}
		return string(s), nil
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = le.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u)), nil
}

// appendUTF16 appends s as little-endian UTF-16 without a terminator.
func appendUTF16(b []byte, s string) []byte {
	for _, r := range s {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			b = appendU16(b, uint16(r1))
			b = appendU16(b, uint16(r2))
			continue
		}
		b = appendU16(b, uint16(r))
	}
	return b
}

// utf16Len returns the encoded length of s in bytes.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 4
		} else {
			n += 2
		}
	}
	return n
}

// EncodeUTF16 returns s as little-endian UTF-16 without a terminator, the
// form of every name on the wire.
func EncodeUTF16(s string) []byte { return appendUTF16(make([]byte, 0, utf16Len(s)), s) }

// DecodeUTF16 converts little-endian UTF-16 to a string; an odd length is
// malformed.
func DecodeUTF16(b []byte) (string, error) { return decodeUTF16(b) }
