package smbcrypto

import "encoding/binary"

// fieldElement is an element of GCM's GF(2^128) in the bit order of NIST
// SP800-38D: hi holds bytes 0-7 and lo bytes 8-15, big-endian, and the most
// significant bit of byte 0 is the coefficient of x^0.
type fieldElement struct{ hi, lo uint64 }

func loadElement(b []byte) fieldElement {
	return fieldElement{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:16])}
}

func (e fieldElement) store(b []byte) {
	binary.BigEndian.PutUint64(b[:8], e.hi)
	binary.BigEndian.PutUint64(b[8:16], e.lo)
}

// gfMul multiplies x and y (SP800-38D 6.3, Algorithm 1). It is the plain
// bitwise method: it runs a few dozen times per verified GMAC signature,
// never per byte, so table or carry-less-multiply speedups are not worth
// their code.
func gfMul(x, y fieldElement) fieldElement {
	var z fieldElement
	v := y
	for i := 0; i < 128; i++ {
		var bit uint64
		if i < 64 {
			bit = x.hi >> (63 - i) & 1
		} else {
			bit = x.lo >> (127 - i) & 1
		}
		mask := -bit
		z.hi ^= v.hi & mask
		z.lo ^= v.lo & mask
		// v = v * x: a right shift in this bit order, reduced by
		// R = 11100001 || 0^120 when a bit falls off the end.
		carry := v.lo & 1
		v.lo = v.lo>>1 | v.hi<<63
		v.hi = v.hi>>1 ^ 0xe100000000000000&-carry
	}
	return z
}

// gfPow returns h^n for n >= 0.
func gfPow(h fieldElement, n uint64) fieldElement {
	r := fieldElement{hi: 1 << 63} // the multiplicative identity, x^0
	for ; n > 0; n >>= 1 {
		if n&1 == 1 {
			r = gfMul(r, h)
		}
		h = gfMul(h, h)
	}
	return r
}
