package smbcrypto

import "crypto/subtle"

// Splitting one large GMAC over several cores.
//
// An 8 MiB READ response or WRITE request is signed or verified in one
// AES-GMAC pass of about 1.5 ms on one core, and nothing else can happen
// to that message meanwhile. GHASH is a polynomial in H over the message's
// 16-byte blocks, so the message can be cut at block boundaries, each
// chunk MACed on its own (with the same nonce) and the results combined:
//
//	tag_i = GHASH(chunk_i || len_i) ^ E_K(J0)
//	P_i   = tag_i ^ E_K(J0) ^ len_i*H  = sum_t X_t * H^(m_i-t+2)
//	GHASH(msg || len) = (((P_0*H^m_1 + P_1)*H^m_2 + P_2)...) + len*H
//
// where m_i is chunk i's block count. The chunks cost what the single pass
// costs; the combination is a few dozen GF(2^128) products per message.

const (
	// gmacChunk is the length of every chunk but the last: a multiple of
	// the block size, so only the last chunk is padded.
	gmacChunk = 1 << 20
	// SplitSignMin is the message length from which SignSplit and
	// VerifySplit split the work; shorter messages are MACed in one pass,
	// where handing chunks to other goroutines costs more than it saves.
	SplitSignMin = 2 * gmacChunk
	// maxGMACChunks bounds the chunks of one message (16 MiB at most,
	// above any MaxRead/MaxWrite sofs offers); longer messages use longer
	// chunks.
	maxGMACChunks = 16
)

// Splitter runs work(0), ..., work(n-1), possibly on several goroutines at
// once, and returns when all have returned. A nil Splitter means "one
// after another, here".
type Splitter interface {
	Split(n int, work func(i int))
}

// SplitSigner is a Signer that can spread the work on one large message
// over a Splitter. Only AES-GMAC signers implement it.
type SplitSigner interface {
	Signer
	// SignSplit is Sign, with messages of SplitSignMin bytes or more MACed
	// in chunks run by sp.
	SignSplit(msg []byte, sp Splitter)
	// VerifySplit is Verify, split like SignSplit.
	VerifySplit(msg []byte, sp Splitter) bool
}

// gmacSplit is the pooled state of one split GMAC. work is bound once, when
// the state is made, so that handing it to a Splitter allocates nothing.
type gmacSplit struct {
	s     *gmacSigner
	msg   []byte
	chunk int
	nonce [12]byte
	tags  [maxGMACChunks][blockSize]byte
	j0    [blockSize]byte // here rather than on the stack: Encrypt is an interface call
	// unsigned makes the first chunk hash the Signature field as zero
	// (ghashKey.gmacTagUnsigned); only with ghashAVX512.
	unsigned bool
	work     func(i int)
}

func (g *gmacSplit) run(i int) {
	lo := i * g.chunk
	hi := min(len(g.msg), lo+g.chunk)
	if g.s.fast != nil {
		if i == 0 && g.unsigned {
			g.s.fast.gmacTagUnsigned(&g.tags[i], g.msg[lo:hi], &g.j0)
		} else {
			g.s.fast.gmacTag(&g.tags[i], g.msg[lo:hi], &g.j0)
		}
		return
	}
	g.s.aead.Seal(g.tags[i][:0], g.nonce[:], nil, g.msg[lo:hi])
}

// lengthBlock is GCM's final GHASH block for n bytes of additional data
// and no ciphertext: len(A) in bits, then len(C) = 0.
func lengthBlock(n int) fieldElement {
	return fieldElement{hi: uint64(n) * 8}
}

// splitTag returns the GMAC of msg (as it stands) under nonce, computed in
// chunks run by sp. len(msg) must be at least one block; with unsigned
// (only with ghashAVX512) the Signature field counts as zero.
func (s *gmacSigner) splitTag(msg []byte, nonce *[12]byte, sp Splitter, unsigned bool) fieldElement {
	g := s.splitPool.Get().(*gmacSplit)
	g.msg, g.nonce, g.unsigned = msg, *nonce, unsigned
	g.chunk = gmacChunk
	for (len(msg)+g.chunk-1)/g.chunk > maxGMACChunks {
		g.chunk *= 2
	}
	n := (len(msg) + g.chunk - 1) / g.chunk
	// E_K(J0), the mask every chunk's tag carries; the chunks need it
	// first when ghashAVX512 computes them.
	s.j0Mask(&g.j0, nonce)
	mask := loadElement(g.j0[:])
	if sp == nil {
		for i := range n {
			g.run(i)
		}
	} else {
		sp.Split(n, g.work)
	}

	hChunk := s.hChunk
	if g.chunk != gmacChunk {
		hChunk = gfPow(s.h, uint64(g.chunk/blockSize))
	}
	var acc fieldElement
	for i := range n {
		lo := i * g.chunk
		size := min(len(msg), lo+g.chunk) - lo
		t := loadElement(g.tags[i][:])
		l := gfMul(lengthBlock(size), s.h)
		p := fieldElement{t.hi ^ mask.hi ^ l.hi, t.lo ^ mask.lo ^ l.lo}
		if i > 0 {
			// Shift what came before past this chunk's blocks.
			hm := hChunk
			if size != g.chunk {
				hm = gfPow(s.h, uint64((size+blockSize-1)/blockSize))
			}
			acc = gfMul(acc, hm)
		}
		acc.hi ^= p.hi
		acc.lo ^= p.lo
	}
	l := gfMul(lengthBlock(len(msg)), s.h)
	acc.hi ^= l.hi ^ mask.hi
	acc.lo ^= l.lo ^ mask.lo

	g.msg = nil
	s.splitPool.Put(g)
	return acc
}

// SignSplit implements SplitSigner.
func (s *gmacSigner) SignSplit(msg []byte, sp Splitter) {
	if len(msg) < SplitSignMin {
		s.Sign(msg)
		return
	}
	prepareSign(msg)
	var nonce [12]byte
	gmacNonce(&nonce, msg)
	s.splitTag(msg, &nonce, sp, false).store(msg[offSignature : offSignature+signatureSize])
}

// VerifySplit implements SplitSigner: the signature that stands in msg
// while it is MACed is hashed as zero (ghashAVX512) or corrected for
// afterwards, as in Verify.
func (s *gmacSigner) VerifySplit(msg []byte, sp Splitter) bool {
	if len(msg) < SplitSignMin {
		return s.Verify(msg)
	}
	var nonce [12]byte
	gmacNonce(&nonce, msg)
	sig := msg[offSignature : offSignature+signatureSize]
	t := s.splitTag(msg, &nonce, sp, s.fast != nil)
	if s.fast == nil {
		m := uint64((len(msg) + blockSize - 1) / blockSize)
		corr := gfMul(loadElement(sig), gfPow(s.h, m-2))
		t.hi ^= corr.hi
		t.lo ^= corr.lo
	}
	var want [blockSize]byte
	t.store(want[:])
	return subtle.ConstantTimeCompare(want[:], sig) == 1
}
