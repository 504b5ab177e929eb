package smbcrypto

import "encoding/binary"

// A GMAC signature of a large READ or WRITE is one GHASH pass over the
// whole message. Go's AES-GCM hashes additional data 8 blocks at a time
// with 128-bit carry-less multiplies (about 3.3 GB/s on the machine of
// docs/performance.md); where the CPU has 512-bit ones, ghashAVX512 does
// 16 blocks per reduction instead. Everything else about GMAC (nonce,
// E_K(J0), the comparisons) stays here in Go.

// ghashTableSize is the key table of ghashAVX512: H^16 down to H^1.
const ghashTableSize = 16 * blockSize

// ghashKey is the precomputed form of one GHASH key H.
type ghashKey struct {
	table [ghashTableSize]byte
}

// newGHASHKey returns the table for H, or nil when this CPU cannot use it.
func newGHASHKey(h fieldElement) *ghashKey {
	if !haveGHASHAVX512 {
		return nil
	}
	k := new(ghashKey)
	p := h
	for i := 15; i >= 0; i-- {
		shiftedForm(p, k.table[i*blockSize:(i+1)*blockSize])
		p = gfMul(p, h)
	}
	return k
}

// shiftedForm stores e as the multiply in ghash_amd64.s wants its key:
// the element as one 128-bit integer (the byte-reversed block), doubled
// and reduced by GCM's constant, low quadword first. Doubling the key
// once cancels the one-bit offset of a carry-less product of two
// bit-reversed operands.
func shiftedForm(e fieldElement, b []byte) {
	carry := e.hi >> 63
	hi := e.hi<<1 | e.lo>>63
	lo := e.lo << 1
	hi ^= 0xc200000000000000 & -carry
	lo ^= carry
	binary.LittleEndian.PutUint64(b[:8], lo)
	binary.LittleEndian.PutUint64(b[8:16], hi)
}

// gmacTag sets dst to GCM's tag for additional data aad and no plaintext,
// given mask = E_K(J0): GHASH(aad, zero-padded to a block || len(aad) in
// bits || 0^64) XOR mask. It does not allocate.
func (k *ghashKey) gmacTag(dst *[blockSize]byte, aad []byte, mask *[blockSize]byte) {
	var acc [blockSize]byte
	full := len(aad) &^ (blockSize - 1)
	ghashAVX512(&k.table, &acc, aad[:full])
	// The partial last block, padded, and the length block.
	var tail [2 * blockSize]byte
	n := copy(tail[:], aad[full:])
	end := blockSize
	if n > 0 {
		end = 2 * blockSize
	}
	binary.BigEndian.PutUint64(tail[end-blockSize:], uint64(len(aad))*8)
	ghashAVX512(&k.table, &acc, tail[:end])
	for i := range dst {
		dst[i] = acc[i] ^ mask[i]
	}
}
