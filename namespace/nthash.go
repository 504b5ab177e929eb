package namespace

import (
	"unicode/utf16"

	"golang.org/x/crypto/md4" //nolint:staticcheck // NTOWF is defined as MD4; there is no choice.
)

// NTHash returns NTOWFv1(password) = MD4(UNICODE(password)) ([MS-NLMP]
// 3.3.1), the only form of a password the namespace stores. NTLMv2 derives
// its response key from it ([MS-NLMP] 3.3.2), so the server never needs the
// clear text.
func NTHash(password string) [16]byte {
	u := utf16.Encode([]rune(password))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i] = byte(c)
		b[2*i+1] = byte(c >> 8)
	}
	h := md4.New()
	h.Write(b)
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}
