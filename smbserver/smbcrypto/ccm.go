package smbcrypto

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"sync"
)

// ccm is AES in Counter with CBC-MAC mode (RFC 3610, NIST SP800-38C), as
// SMB 3.x uses it ([MS-SMB2] 3.1.4.3, [RFC4309]): 16-byte tag, 11-byte
// nonce (so a 4-byte length field). It is written here rather than taken
// from pion/dtls because that package allocates the tag and a full-size
// plaintext copy on every Open and panics on bad input; this one works in
// place in the caller's buffer and allocates only the CTR stream (and
// nothing where the vector loops run).
// The tag and nonce sizes are parameters so RFC 3610's vectors can test it.
type ccm struct {
	b         cipher.Block
	tagSize   int // M
	nonceSize int // 15 - L
	// ctr, when set, runs counter mode in aesCTRAVX512 or aesCTRAVX2:
	// with SMB's 11-byte nonce the counter field is the block's last 32
	// bits, exactly what those functions increment.
	ctr     *aesSchedule
	ctrWide bool // aesCTRAVX512 rather than aesCTRAVX2
	scratch sync.Pool
}

// ccmScratch holds the per-call blocks. They live in a pool because passing
// a stack array to cipher.Block's interface methods makes it escape.
type ccmScratch struct {
	chain       *cbcChain
	x, blk, ctr [blockSize]byte
}

var errCCMParams = errors.New("smbcrypto: bad CCM parameters")

// newCCM returns CCM over b; sched, if not nil, is b's key expanded for
// cbcMACAESNI.
func newCCM(b cipher.Block, sched *aesSchedule, tagSize, nonceSize int) (*ccm, error) {
	if b.BlockSize() != blockSize || tagSize < 4 || tagSize > 16 || tagSize%2 != 0 ||
		nonceSize < 7 || nonceSize > 13 {
		return nil, errCCMParams
	}
	c := &ccm{b: b, tagSize: tagSize, nonceSize: nonceSize}
	if (haveGCMAVX512 || haveVec256) && nonceSize == 11 {
		c.ctr, c.ctrWide = sched, haveGCMAVX512
	}
	c.scratch.New = func() any { return &ccmScratch{chain: newCBCChain(b, sched)} }
	return c, nil
}

// maxLen is the longest message the length field can describe:
// 2^(8L) - 1 bytes, capped so int arithmetic cannot overflow.
func (c *ccm) maxLen() int {
	l := 15 - c.nonceSize
	if l >= 7 {
		return 1<<62 - 1
	}
	return 1<<(8*l) - 1
}

// mac computes the CBC-MAC tag T of RFC 3610 2.2 over nonce, aad and msg
// (the plaintext) into s.x, leaving it unencrypted by S_0.
func (c *ccm) mac(s *ccmScratch, nonce, aad, msg []byte) {
	l := 15 - c.nonceSize
	// B_0 = Flags | Nonce | l(m).
	s.x = [blockSize]byte{}
	flags := byte((c.tagSize-2)/2)<<3 | byte(l-1)
	if len(aad) > 0 {
		flags |= 0x40
	}
	s.x[0] = flags
	copy(s.x[1:], nonce)
	putLen(s.x[1+c.nonceSize:], uint64(len(msg)))
	c.b.Encrypt(s.x[:], s.x[:])

	if len(aad) > 0 {
		// l(a) encoded per RFC 3610 2.2, then a, zero-padded to blocks.
		s.blk = [blockSize]byte{}
		var hdr int
		switch n := uint64(len(aad)); {
		case n < 0xff00:
			binary.BigEndian.PutUint16(s.blk[:], uint16(n))
			hdr = 2
		case n <= 0xffffffff:
			s.blk[0], s.blk[1] = 0xff, 0xfe
			binary.BigEndian.PutUint32(s.blk[2:], uint32(n))
			hdr = 6
		default:
			s.blk[0], s.blk[1] = 0xff, 0xff
			binary.BigEndian.PutUint64(s.blk[2:], n)
			hdr = 10
		}
		k := copy(s.blk[hdr:], aad)
		xorBlock(&s.x, s.blk[:])
		c.b.Encrypt(s.x[:], s.x[:])
		c.macPadded(s, aad[k:])
	}
	c.macPadded(s, msg)
}

// macPadded chains p into the CBC-MAC, zero-padding its last block.
func (c *ccm) macPadded(s *ccmScratch, p []byte) {
	full := len(p) / blockSize * blockSize
	s.chain.blocks(&s.x, p[:full])
	if rest := p[full:]; len(rest) > 0 {
		s.blk = [blockSize]byte{}
		copy(s.blk[:], rest)
		xorBlock(&s.x, s.blk[:])
		c.b.Encrypt(s.x[:], s.x[:])
	}
}

// putLen writes v big-endian into all of dst.
func putLen(dst []byte, v uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = byte(v)
		v >>= 8
	}
}

// counterBlock sets s.ctr to A_i = Flags(L-1) | Nonce | i (RFC 3610 2.3).
func (c *ccm) counterBlock(s *ccmScratch, nonce []byte, i uint64) {
	s.ctr = [blockSize]byte{}
	s.ctr[0] = byte(15 - c.nonceSize - 1)
	copy(s.ctr[1:], nonce)
	putLen(s.ctr[1+c.nonceSize:], i)
}

// sealInPlace encrypts buf in place and writes the tag (tagSize bytes) into
// tag. tag must not overlap buf or aad.
func (c *ccm) sealInPlace(tag, nonce, buf, aad []byte) error {
	if len(nonce) != c.nonceSize || len(buf) > c.maxLen() || len(tag) != c.tagSize {
		return errCCMParams
	}
	s := c.scratch.Get().(*ccmScratch)
	defer c.scratch.Put(s)
	c.mac(s, nonce, aad, buf)
	c.counterBlock(s, nonce, 0)
	c.b.Encrypt(s.blk[:], s.ctr[:]) // S_0
	subtle.XORBytes(tag, s.x[:c.tagSize], s.blk[:c.tagSize])
	c.crypt(s, nonce, buf)
	return nil
}

// crypt XORs the key stream from counter 1 into buf.
func (c *ccm) crypt(s *ccmScratch, nonce, buf []byte) {
	if len(buf) == 0 {
		return
	}
	c.counterBlock(s, nonce, 1)
	if c.ctr == nil {
		cipher.NewCTR(c.b, s.ctr[:]).XORKeyStream(buf, buf)
		return
	}
	full := len(buf) &^ (blockSize - 1)
	aesCTR(c.ctr, c.ctrWide, &s.ctr, buf[:full], buf[:full])
	if rest := buf[full:]; len(rest) > 0 {
		s.blk = [blockSize]byte{}
		aesCTR(c.ctr, c.ctrWide, &s.ctr, s.blk[:], s.blk[:])
		subtle.XORBytes(rest, rest, s.blk[:len(rest)])
	}
}

// openInPlace decrypts buf in place and checks tag. On a mismatch it zeroes
// buf, so no unauthenticated plaintext escapes, and returns ErrAuthFailed.
func (c *ccm) openInPlace(tag, nonce, buf, aad []byte) error {
	if len(nonce) != c.nonceSize || len(buf) > c.maxLen() || len(tag) != c.tagSize {
		return errCCMParams
	}
	s := c.scratch.Get().(*ccmScratch)
	defer c.scratch.Put(s)
	c.crypt(s, nonce, buf)
	c.mac(s, nonce, aad, buf)
	c.counterBlock(s, nonce, 0)
	c.b.Encrypt(s.blk[:], s.ctr[:])
	subtle.XORBytes(s.x[:c.tagSize], s.x[:c.tagSize], s.blk[:c.tagSize])
	if subtle.ConstantTimeCompare(s.x[:c.tagSize], tag) != 1 {
		clear(buf)
		return ErrAuthFailed
	}
	return nil
}
