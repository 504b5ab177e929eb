package smbcrypto

import "encoding/binary"

// aesRoundKeysSize holds the 15 round keys of AES-256 (AES-128 uses 11).
const aesRoundKeysSize = 15 * blockSize

// aesSchedule is an expanded AES encryption key in the layout the
// assembly loads: round key i at rk[16*i:], bytes in FIPS 197 order.
type aesSchedule struct {
	rk     [aesRoundKeysSize]byte
	rounds int
}

// newAESSchedule expands a 16- or 32-byte key for cbcMACAESNI, or returns
// nil when that cannot run here (or for a 24-byte key, which SMB never
// uses), leaving the work to crypto/aes.
func newAESSchedule(key []byte) *aesSchedule {
	if !haveCBCMACAESNI || (len(key) != 16 && len(key) != 32) {
		return nil
	}
	s := new(aesSchedule)
	s.rounds = expandKey(key, &s.rk)
	return s
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
