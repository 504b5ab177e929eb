package smbcrypto

import (
	"crypto/cipher"
	"encoding/binary"
)

// blockSize is the AES block size; CMAC, CCM and GHASH all work in 16-byte
// blocks.
const blockSize = 16

// xorBlock sets x ^= p for one 16-byte block using two 64-bit words, which
// is cheaper than a byte loop on the CBC-MAC hot path.
func xorBlock(x *[blockSize]byte, p []byte) {
	_ = p[blockSize-1]
	a := binary.LittleEndian.Uint64(x[:8]) ^ binary.LittleEndian.Uint64(p[:8])
	b := binary.LittleEndian.Uint64(x[8:]) ^ binary.LittleEndian.Uint64(p[8:16])
	binary.LittleEndian.PutUint64(x[:8], a)
	binary.LittleEndian.PutUint64(x[8:], b)
}

const (
	// cbcChunk is how much the standard library's CBC encrypter processes
	// per call; its output is scratch, only the last block is kept.
	cbcChunk = 4096
	// cbcMinLen is the length below which calling Block.Encrypt per
	// block beats setting up the CBC encrypter.
	cbcMinLen = 128
)

// cbcChain computes CBC-MAC chains (x = E(x ^ block) per block), the core
// of both CMAC (RFC 4493) and CCM (RFC 3610). For long inputs it drives
// crypto/cipher's CBC encrypter, whose loop avoids an interface call per
// block and measured about 35% faster than calling Block.Encrypt per block
// on amd64; the ciphertext goes to a scratch buffer and only the last
// block, which is the chain value, is kept. A cbcChain is not safe for
// concurrent use: callers take one from a pool.
type cbcChain struct {
	// sched, when set, runs the whole chain in cbcMACAESNI instead.
	sched *aesSchedule
	b     cipher.Block
	mode  cipher.BlockMode
	setIV func([]byte)
	out   [cbcChunk]byte
}

func newCBCChain(b cipher.Block, sched *aesSchedule) *cbcChain {
	c := &cbcChain{b: b, sched: sched}
	var zero [blockSize]byte
	m := cipher.NewCBCEncrypter(b, zero[:])
	if s, ok := m.(interface{ SetIV([]byte) }); ok {
		c.mode, c.setIV = m, s.SetIV
	}
	return c
}

// blocks runs the chain state x over the whole blocks of p. len(p) must be
// a multiple of blockSize.
func (c *cbcChain) blocks(x *[blockSize]byte, p []byte) {
	if c.sched != nil {
		cbcMACAESNI(&c.sched.rk, c.sched.rounds, x, p)
		return
	}
	if c.setIV == nil || len(p) < cbcMinLen {
		for len(p) >= blockSize {
			xorBlock(x, p)
			c.b.Encrypt(x[:], x[:])
			p = p[blockSize:]
		}
		return
	}
	c.setIV(x[:])
	n := 0
	for len(p) > 0 {
		n = min(len(p), cbcChunk)
		c.mode.CryptBlocks(c.out[:n], p[:n])
		p = p[n:]
	}
	copy(x[:], c.out[n-blockSize:n])
}
