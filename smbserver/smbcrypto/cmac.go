package smbcrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
)

// cmacKey is an AES-CMAC key (RFC 4493) with its subkeys K1 and K2
// precomputed, so computing a MAC costs only the block encryptions.
type cmacKey struct {
	b      cipher.Block
	sched  *aesSchedule // for cbcMACAESNI; nil to use b
	k1, k2 [blockSize]byte
}

// newCMAC expands key (16, 24 or 32 bytes) and derives the subkeys
// (RFC 4493 2.3: L = AES(K, 0); K1 = dbl(L); K2 = dbl(K1)).
func newCMAC(key []byte) (*cmacKey, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("smbcrypto: cmac key: %w", err)
	}
	k := &cmacKey{b: b, sched: newAESSchedule(key)}
	var l [blockSize]byte
	b.Encrypt(l[:], l[:])
	k.k1 = gfDouble(l)
	k.k2 = gfDouble(k.k1)
	return k, nil
}

// gfDouble multiplies v by x in GF(2^128) with the polynomial
// x^128 + x^7 + x^2 + x + 1, in CMAC's big-endian bit order (RFC 4493 2.3).
func gfDouble(v [blockSize]byte) [blockSize]byte {
	var out [blockSize]byte
	carry := v[0] >> 7
	for i := 0; i < blockSize-1; i++ {
		out[i] = v[i]<<1 | v[i+1]>>7
	}
	out[blockSize-1] = v[blockSize-1] << 1
	out[blockSize-1] ^= 0x87 & -carry
	return out
}

// cmacState is the running state of one CMAC computation. It holds back the
// most recent (possibly full) block, because RFC 4493 treats the last block
// specially and a streaming writer cannot know which block is last.
type cmacState struct {
	chain *cbcChain
	x     [blockSize]byte // CBC-MAC chain value
	buf   [blockSize]byte // pending bytes, not yet chained
	n     int             // bytes in buf
}

func (s *cmacState) reset() {
	s.x = [blockSize]byte{}
	s.n = 0
}

// write feeds p into the MAC.
func (s *cmacState) write(k *cmacKey, p []byte) {
	if len(p) == 0 {
		return
	}
	if s.n > 0 {
		c := copy(s.buf[s.n:], p)
		s.n += c
		p = p[c:]
		if len(p) == 0 {
			return // buf may be the last block: keep it
		}
		xorBlock(&s.x, s.buf[:])
		k.b.Encrypt(s.x[:], s.x[:])
		s.n = 0
	}
	// Chain every whole block except the final one, which stays buffered.
	full := (len(p) - 1) / blockSize * blockSize
	s.chain.blocks(&s.x, p[:full])
	s.n = copy(s.buf[:], p[full:])
}

// sum finishes the MAC into out (RFC 4493 2.4 steps 4-6).
func (s *cmacState) sum(k *cmacKey, out *[blockSize]byte) {
	if s.n == blockSize {
		xorBlock(&s.x, s.buf[:])
		xorBlock(&s.x, k.k1[:])
	} else {
		// Incomplete (or empty) last block: pad with 10...0 and use K2.
		for i := s.n; i < blockSize; i++ {
			s.buf[i] = 0
		}
		s.buf[s.n] = 0x80
		xorBlock(&s.x, s.buf[:])
		xorBlock(&s.x, k.k2[:])
	}
	k.b.Encrypt(out[:], s.x[:])
}
