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
	// wide picks ghashAVX512; otherwise ghashAVX2 runs.
	wide bool
}

// newGHASHKey returns the table for H, or nil when this CPU has neither
// loop.
func newGHASHKey(h fieldElement) *ghashKey {
	switch {
	case haveGHASHAVX512:
		return newGHASHKeyFor(h, true)
	case haveVec256:
		return newGHASHKeyFor(h, false)
	}
	return nil
}

// newGHASHKeyFor builds the table for the 512-bit loop (wide) or the
// 256-bit one; tests use it to run both where the CPU has both.
func newGHASHKeyFor(h fieldElement, wide bool) *ghashKey {
	k := &ghashKey{wide: wide}
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
	k.finish(dst, &acc, aad, len(aad), mask)
}

// gmacTagUnsigned is gmacTag of an SMB2 message as if its Signature field
// were zero, which is what a signature covers: a verifier hashes the
// field as a zero block instead of correcting for it afterwards. len(msg)
// must be at least headerSize.
func (k *ghashKey) gmacTagUnsigned(dst *[blockSize]byte, msg []byte, mask *[blockSize]byte) {
	var acc, zero [blockSize]byte
	k.blocks(&acc, msg[:offSignature])
	k.blocks(&acc, zero[:])
	k.finish(dst, &acc, msg[offSignature+signatureSize:], len(msg), mask)
}

// finish folds rest, then the length block of an n-byte message, into acc
// and sets dst to the result XOR mask.
func (k *ghashKey) finish(dst, acc *[blockSize]byte, rest []byte, n int, mask *[blockSize]byte) {
	full := len(rest) &^ (blockSize - 1)
	k.blocks(acc, rest[:full])
	// The partial last block, padded, and the length block.
	var tail [2 * blockSize]byte
	end := blockSize
	if copy(tail[:], rest[full:]) > 0 {
		end = 2 * blockSize
	}
	binary.BigEndian.PutUint64(tail[end-blockSize:], uint64(n)*8)
	k.blocks(acc, tail[:end])
	for i := range dst {
		dst[i] = acc[i] ^ mask[i]
	}
}

// blocks folds data (whole blocks) into acc.
func (k *ghashKey) blocks(acc *[blockSize]byte, data []byte) {
	if k.wide {
		ghashAVX512(&k.table, acc, data)
		return
	}
	ghashAVX2(&k.table, acc, data)
}
