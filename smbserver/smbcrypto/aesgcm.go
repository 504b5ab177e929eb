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

// aesRoundKeysSize holds the 15 round keys of AES-256 (AES-128 uses 11).
const aesRoundKeysSize = 15 * blockSize

// gcmChunk is how much of a message is encrypted before it is hashed: well
// inside a 32 KiB L1 data cache, so the hash reads what the cipher wrote
// from there.
const gcmChunk = 16 << 10

// gcmAVX512 is one AES-GCM key (16-byte tags, 12-byte nonces) for
// aesCTRAVX512 and ghashAVX512.
type gcmAVX512 struct {
	rk     [aesRoundKeysSize]byte
	rounds int
	ghash  *ghashKey
}

// newGCMAVX512 returns the key's GCM, or nil when this CPU lacks the
// instructions. key is 16 or 32 bytes.
func newGCMAVX512(key []byte) *gcmAVX512 {
	if !haveGCMAVX512 || (len(key) != 16 && len(key) != 32) {
		return nil
	}
	g := new(gcmAVX512)
	g.rounds = expandKey(key, &g.rk)
	// H = E_K(0^128): the keystream of the all-zero counter block.
	var zero, h [blockSize]byte
	aesCTRAVX512(&g.rk, g.rounds, &zero, h[:], h[:])
	g.ghash = newGHASHKey(loadElement(h[:]))
	return g
}

// start sets j0 to J0 = nonce || 0^31 || 1 advanced past its own block
// (the first counter of the data, inc32(J0)), and mask to E_K(J0).
func (g *gcmAVX512) start(nonce []byte, ctr, mask *[blockSize]byte) {
	copy(ctr[:12], nonce)
	binary.BigEndian.PutUint32(ctr[12:], 1)
	clear(mask[:])
	aesCTRAVX512(&g.rk, g.rounds, ctr, mask[:], mask[:])
}

// hashPadded folds b into acc, its last partial block zero-padded.
func (g *gcmAVX512) hashPadded(acc *[blockSize]byte, b []byte) {
	full := len(b) &^ (blockSize - 1)
	ghashAVX512(&g.ghash.table, acc, b[:full])
	if full < len(b) {
		var last [blockSize]byte
		copy(last[:], b[full:])
		ghashAVX512(&g.ghash.table, acc, last[:])
	}
}

// xorPartial XORs the keystream of the counter block ctr into b, which is
// shorter than a block (the message's tail).
func (g *gcmAVX512) xorPartial(ctr *[blockSize]byte, b []byte) {
	var ks [blockSize]byte
	aesCTRAVX512(&g.rk, g.rounds, ctr, ks[:], ks[:])
	subtle.XORBytes(b, b, ks[:len(b)])
}

// finish folds in the length block and sets tag to the result XOR mask.
func (g *gcmAVX512) finish(tag, acc, mask *[blockSize]byte, aadLen, textLen int) {
	var l [blockSize]byte
	binary.BigEndian.PutUint64(l[:8], uint64(aadLen)*8)
	binary.BigEndian.PutUint64(l[8:], uint64(textLen)*8)
	ghashAVX512(&g.ghash.table, acc, l[:])
	subtle.XORBytes(tag[:], acc[:], mask[:])
}

// sealInPlace encrypts text in place under nonce (12 bytes) with aad and
// writes the 16-byte tag to tag. It does not allocate.
func (g *gcmAVX512) sealInPlace(tag *[blockSize]byte, nonce, text, aad []byte) {
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
func (g *gcmAVX512) openInPlace(tag, nonce, text, aad []byte) bool {
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
func (g *gcmAVX512) crypt(ctr *[blockSize]byte, c []byte) {
	full := len(c) &^ (blockSize - 1)
	aesCTRAVX512(&g.rk, g.rounds, ctr, c[:full], c[:full])
	if full < len(c) {
		g.xorPartial(ctr, c[full:])
	}
}

// expandKey writes the AES encryption round keys of key (16 or 32 bytes)
// to rk, as FIPS 197 section 5.2 derives them, and returns the number of
// rounds (10 or 14). Only key setup runs it, so the S-box is computed
// rather than tabled.
func expandKey(key []byte, rk *[aesRoundKeysSize]byte) int {
	nk := len(key) / 4
	rounds := nk + 6
	words := 4 * (rounds + 1)
	var w [4 * 15]uint32
	for i := range nk {
		w[i] = binary.BigEndian.Uint32(key[4*i:])
	}
	rcon := uint32(1)
	for i := nk; i < words; i++ {
		t := w[i-1]
		switch {
		case i%nk == 0:
			t = subWord(t<<8|t>>24) ^ rcon<<24
			rcon = uint32(gfTimes2(byte(rcon)))
		case nk > 6 && i%nk == 4:
			t = subWord(t)
		}
		w[i] = w[i-nk] ^ t
	}
	clear(rk[:])
	for i := range words {
		binary.BigEndian.PutUint32(rk[4*i:], w[i])
	}
	return rounds
}

func subWord(w uint32) uint32 {
	return uint32(sbox(byte(w>>24)))<<24 | uint32(sbox(byte(w>>16)))<<16 |
		uint32(sbox(byte(w>>8)))<<8 | uint32(sbox(byte(w)))
}

// sbox is the AES S-box: the multiplicative inverse in GF(2^8) (0 for 0),
// then the affine map b ^ rotl(b,1) ^ rotl(b,2) ^ rotl(b,3) ^ rotl(b,4)
// ^ 0x63.
func sbox(x byte) byte {
	// x^254 = x^-1: square-and-multiply over the exponent's bits.
	inv, p := byte(1), x
	for e := 254; e > 0; e >>= 1 {
		if e&1 == 1 {
			inv = gfMul8(inv, p)
		}
		p = gfMul8(p, p)
	}
	b := inv
	rotl := func(v byte, n uint) byte { return v<<n | v>>(8-n) }
	return b ^ rotl(b, 1) ^ rotl(b, 2) ^ rotl(b, 3) ^ rotl(b, 4) ^ 0x63
}

// gfTimes2 multiplies by x in AES's GF(2^8) (modulo x^8+x^4+x^3+x+1).
func gfTimes2(b byte) byte {
	return b<<1 ^ 0x1b&-(b>>7)
}

func gfMul8(a, b byte) byte {
	var p byte
	for range 8 {
		p ^= a & -(b & 1)
		a = gfTimes2(a)
		b >>= 1
	}
	return p
}
