package smbcrypto

import (
	"crypto/subtle"
	"encoding/binary"
)

// AES-GCM for the transform (encrypted) messages, with 512-bit AES and
// carry-less multiply instructions where the CPU has them.
//
// Go's AES-GCM interleaves AES-NI rounds and PCLMULQDQ on 128-bit
// registers: 4.8 GB/s sealing and 4.4 GB/s opening 1 MiB on the machine
// of docs/performance.md, about a third of the whole machine during an
// encrypted sequential transfer (server and client). Here a message is
// processed in chunks that stay in the L1 cache: each is encrypted in
// counter mode sixteen blocks at a time (aesCTRAVX512) and then hashed
// (ghashAVX512), or hashed and then decrypted. Without the instructions
// crypto/cipher does everything, as before.

// gcmChunk is how much of a message is encrypted before it is hashed: well
// inside a 32 KiB L1 data cache, so the hash reads what the cipher wrote
// from there.
const gcmChunk = 16 << 10

// gcmVec is one AES-GCM key (16-byte tags, 12-byte nonces) for
// aesCTRAVX512 and ghashAVX512.
type gcmVec struct {
	aesSchedule
	ghash *ghashKey
	wide  bool // 512-bit loops; otherwise the 256-bit ones
}

// newGCMVec returns the key's GCM, or nil when this CPU has neither the
// 512-bit nor the 256-bit loops. key is 16 or 32 bytes.
func newGCMVec(key []byte) *gcmVec {
	switch {
	case len(key) != 16 && len(key) != 32:
		return nil
	case haveGCMAVX512:
		return newGCMVecFor(key, true)
	case haveVec256:
		return newGCMVecFor(key, false)
	}
	return nil
}

// newGCMVecFor builds the key for the 512-bit loops (wide) or the 256-bit
// ones; tests use it to run both where the CPU has both.
func newGCMVecFor(key []byte, wide bool) *gcmVec {
	g := &gcmVec{wide: wide}
	g.rounds = expandKey(key, &g.rk)
	// H = E_K(0^128): the keystream of the all-zero counter block.
	var zero, h [blockSize]byte
	g.aesCTR(&zero, h[:], h[:])
	g.ghash = newGHASHKeyFor(loadElement(h[:]), wide)
	return g
}

// aesCTR XORs the counter-mode keystream from ctr into src (whole blocks)
// and writes dst, advancing ctr.
func (g *gcmVec) aesCTR(ctr *[blockSize]byte, dst, src []byte) {
	aesCTR(&g.aesSchedule, g.wide, ctr, dst, src)
}

// aesCTR runs the 512-bit (wide) or 256-bit counter-mode loop.
func aesCTR(s *aesSchedule, wide bool, ctr *[blockSize]byte, dst, src []byte) {
	if wide {
		aesCTRAVX512(&s.rk, s.rounds, ctr, dst, src)
		return
	}
	aesCTRAVX2(&s.rk, s.rounds, ctr, dst, src)
}

// start sets j0 to J0 = nonce || 0^31 || 1 advanced past its own block
// (the first counter of the data, inc32(J0)), and mask to E_K(J0).
func (g *gcmVec) start(nonce []byte, ctr, mask *[blockSize]byte) {
	copy(ctr[:12], nonce)
	binary.BigEndian.PutUint32(ctr[12:], 1)
	clear(mask[:])
	g.aesCTR(ctr, mask[:], mask[:])
}

// hashPadded folds b into acc, its last partial block zero-padded.
func (g *gcmVec) hashPadded(acc *[blockSize]byte, b []byte) {
	full := len(b) &^ (blockSize - 1)
	g.ghash.blocks(acc, b[:full])
	if full < len(b) {
		var last [blockSize]byte
		copy(last[:], b[full:])
		g.ghash.blocks(acc, last[:])
	}
}

// xorPartial XORs the keystream of the counter block ctr into b, which is
// shorter than a block (the message's tail).
func (g *gcmVec) xorPartial(ctr *[blockSize]byte, b []byte) {
	var ks [blockSize]byte
	g.aesCTR(ctr, ks[:], ks[:])
	subtle.XORBytes(b, b, ks[:len(b)])
}

// finish folds in the length block and sets tag to the result XOR mask.
func (g *gcmVec) finish(tag, acc, mask *[blockSize]byte, aadLen, textLen int) {
	var l [blockSize]byte
	binary.BigEndian.PutUint64(l[:8], uint64(aadLen)*8)
	binary.BigEndian.PutUint64(l[8:], uint64(textLen)*8)
	g.ghash.blocks(acc, l[:])
	subtle.XORBytes(tag[:], acc[:], mask[:])
}

// sealInPlace encrypts text in place under nonce (12 bytes) with aad and
// writes the 16-byte tag to tag. It does not allocate.
func (g *gcmVec) sealInPlace(tag *[blockSize]byte, nonce, text, aad []byte) {
	var ctr, mask, acc [blockSize]byte
	g.start(nonce, &ctr, &mask)
	g.hashPadded(&acc, aad)
	for rest := text; len(rest) > 0; {
		c := rest[:min(len(rest), gcmChunk)]
		g.crypt(&ctr, c)
		g.hashPadded(&acc, c)
		rest = rest[len(c):]
	}
	g.finish(tag, &acc, &mask, len(aad), len(text))
}

// openInPlace checks tag (16 bytes) over text and aad under nonce and
// decrypts text in place. When the tag does not match it returns false
// and text is zeroed, never left as unauthenticated plaintext. It does
// not allocate.
func (g *gcmVec) openInPlace(tag, nonce, text, aad []byte) bool {
	var ctr, mask, acc, want [blockSize]byte
	g.start(nonce, &ctr, &mask)
	g.hashPadded(&acc, aad)
	for rest := text; len(rest) > 0; {
		c := rest[:min(len(rest), gcmChunk)]
		g.hashPadded(&acc, c)
		g.crypt(&ctr, c)
		rest = rest[len(c):]
	}
	g.finish(&want, &acc, &mask, len(aad), len(text))
	if subtle.ConstantTimeCompare(want[:], tag) != 1 {
		clear(text)
		return false
	}
	return true
}

// crypt XORs the keystream from ctr into c in place and advances ctr;
// only the message's last chunk may end in a partial block.
func (g *gcmVec) crypt(ctr *[blockSize]byte, c []byte) {
	full := len(c) &^ (blockSize - 1)
	g.aesCTR(ctr, c[:full], c[:full])
	if full < len(c) {
		g.xorPartial(ctr, c[full:])
	}
}
