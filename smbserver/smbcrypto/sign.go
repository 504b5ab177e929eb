package smbcrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
	"sync"
)

// SMB2 header layout ([MS-SMB2] 2.2.1) as far as signing needs it.
const (
	headerSize               = 64
	offCommand               = 12
	offFlags                 = 16
	offMessageID             = 24
	offSignature             = 48
	signatureSize            = 16
	flagServerToRedir uint32 = 0x00000001 // SMB2_FLAGS_SERVER_TO_REDIR
	flagSigned        uint32 = 0x00000008 // SMB2_FLAGS_SIGNED
	commandCancel     uint16 = 0x000C     // SMB2 CANCEL
)

// Signer signs whole SMB2 messages (64-byte header and body) in the
// header's Signature field ([MS-SMB2] 3.1.4.1, 3.1.5.1). Implementations
// are safe for concurrent use.
type Signer interface {
	// Sign sets SMB2_FLAGS_SIGNED in msg's header, computes the signature of
	// msg with its Signature field (bytes 48..63) zeroed, and writes it into
	// that field. A msg shorter than an SMB2 header is left unchanged.
	Sign(msg []byte)
	// Verify reports whether msg's Signature field holds the signature of
	// msg computed with that field zeroed. It does not modify msg; a msg
	// shorter than an SMB2 header is never valid.
	Verify(msg []byte) bool
}

// NewSigner returns the Signer that dialect and the negotiated signing
// algorithm call for ([MS-SMB2] 3.1.4.1): HMAC-SHA256 truncated to 16
// bytes for 2.0.2 and 2.1, AES-128-CMAC for 3.0 and 3.0.2, and alg for
// 3.1.1 (AES-CMAC when no SMB2_SIGNING_CAPABILITIES context was
// exchanged, which the caller expresses by passing SigningAESCMAC).
func NewSigner(dialect uint16, alg uint16, signingKey []byte) (Signer, error) {
	switch {
	case dialect < dialect300:
		alg = SigningHMACSHA256
	case dialect < dialect311:
		alg = SigningAESCMAC
	}
	switch alg {
	case SigningHMACSHA256:
		return newHMACSigner(signingKey), nil
	case SigningAESCMAC:
		if len(signingKey) != 16 {
			return nil, fmt.Errorf("smbcrypto: AES-128-CMAC key is %d bytes, want 16", len(signingKey))
		}
		k, err := newCMAC(signingKey)
		if err != nil {
			return nil, fmt.Errorf("smbcrypto: signer for dialect %#04x: %w", dialect, err)
		}
		s := &cmacSigner{key: k}
		s.pool.New = func() any { return &cmacScratch{st: cmacState{chain: newCBCChain(k.b, k.sched)}} }
		return s, nil
	case SigningAESGMAC:
		return newGMACSigner(signingKey)
	default:
		return nil, fmt.Errorf("smbcrypto: unknown signing algorithm %#04x", alg)
	}
}

// zeroSignature stands in for the Signature field while a MAC runs over a
// message that must not be modified.
var zeroSignature [signatureSize]byte

// prepareSign sets SMB2_FLAGS_SIGNED and zeroes the Signature field. It
// reports false when msg is too short to be an SMB2 message.
func prepareSign(msg []byte) bool {
	if len(msg) < headerSize {
		return false
	}
	f := binary.LittleEndian.Uint32(msg[offFlags:])
	binary.LittleEndian.PutUint32(msg[offFlags:], f|flagSigned)
	clear(msg[offSignature : offSignature+signatureSize])
	return true
}

// hmacSigner signs with HMAC-SHA256 ([MS-SMB2] 3.1.4.1, dialects 2.0.2 and
// 2.1). hash.Hash is stateful, so each call takes one from a pool; HMAC's
// Reset restores the keyed state without rehashing the key.
type hmacSigner struct {
	pool sync.Pool
}

type hmacScratch struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

func newHMACSigner(key []byte) *hmacSigner {
	k := append([]byte(nil), key...)
	s := &hmacSigner{}
	s.pool.New = func() any { return &hmacScratch{h: hmac.New(sha256.New, k)} }
	return s
}

func (s *hmacSigner) mac(msg []byte) *hmacScratch {
	sc := s.pool.Get().(*hmacScratch)
	sc.h.Reset()
	sc.h.Write(msg[:offSignature])
	sc.h.Write(zeroSignature[:])
	sc.h.Write(msg[offSignature+signatureSize:])
	sc.h.Sum(sc.sum[:0])
	return sc
}

func (s *hmacSigner) Sign(msg []byte) {
	if !prepareSign(msg) {
		return
	}
	sc := s.mac(msg)
	copy(msg[offSignature:], sc.sum[:signatureSize])
	s.pool.Put(sc)
}

func (s *hmacSigner) Verify(msg []byte) bool {
	if len(msg) < headerSize {
		return false
	}
	sc := s.mac(msg)
	ok := subtle.ConstantTimeCompare(sc.sum[:signatureSize], msg[offSignature:offSignature+signatureSize]) == 1
	s.pool.Put(sc)
	return ok
}

// cmacSigner signs with AES-128-CMAC ([MS-SMB2] 3.1.4.1, dialects 3.x).
type cmacSigner struct {
	key  *cmacKey
	pool sync.Pool
}

type cmacScratch struct {
	st  cmacState
	sum [blockSize]byte
}

func (s *cmacSigner) mac(msg []byte) *cmacScratch {
	sc := s.pool.Get().(*cmacScratch)
	sc.st.reset()
	sc.st.write(s.key, msg[:offSignature])
	sc.st.write(s.key, zeroSignature[:])
	sc.st.write(s.key, msg[offSignature+signatureSize:])
	sc.st.sum(s.key, &sc.sum)
	return sc
}

func (s *cmacSigner) Sign(msg []byte) {
	if !prepareSign(msg) {
		return
	}
	sc := s.mac(msg)
	copy(msg[offSignature:], sc.sum[:])
	s.pool.Put(sc)
}

func (s *cmacSigner) Verify(msg []byte) bool {
	if len(msg) < headerSize {
		return false
	}
	sc := s.mac(msg)
	ok := subtle.ConstantTimeCompare(sc.sum[:], msg[offSignature:offSignature+signatureSize]) == 1
	s.pool.Put(sc)
	return ok
}

// gmacSigner signs with AES-128-GMAC ([MS-SMB2] 3.1.4.1, 3.1.1 with
// SMB2_SIGNING_CAPABILITIES): AES-GCM with an empty plaintext, the whole
// message as additional data and the tag as the signature.
type gmacSigner struct {
	aead  cipher.AEAD
	block cipher.Block // for E_K(J0) when a GMAC is split (gmacsplit.go)
	h     fieldElement // GHASH key H = E_K(0^128), for Verify
	// hChunk is H^(gmacChunk/16), the shift past one whole chunk.
	hChunk fieldElement
	// fast is H's table for ghashAVX512 (ghashfast.go); nil where the
	// CPU lacks it, and then aead computes every tag.
	fast      *ghashKey
	pool      sync.Pool
	splitPool sync.Pool
}

type gmacScratch struct {
	nonce [12]byte
	tag   [blockSize]byte
	mask  [blockSize]byte // E_K(J0)
	// powers caches Verify's H^(m-2) by block count m (slot m%4; m is at
	// least 4, so 0 marks an empty slot) where ghashAVX512 does not run:
	// requests of one size repeat, and the bitwise power costs a few
	// microseconds.
	powers [4]struct {
		m uint64
		p fieldElement
	}
}

// sigPower returns H^(m-2), the weight of the Signature block in the GHASH
// of an m-block message.
func (s *gmacSigner) sigPower(sc *gmacScratch, m uint64) fieldElement {
	e := &sc.powers[m%uint64(len(sc.powers))]
	if e.m != m {
		e.m, e.p = m, gfPow(s.h, m-2)
	}
	return e.p
}

func newGMACSigner(key []byte) (*gmacSigner, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("smbcrypto: gmac key: %w", err)
	}
	if len(key) != 16 {
		return nil, fmt.Errorf("smbcrypto: gmac key is %d bytes, want 16", len(key))
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("smbcrypto: gmac: %w", err)
	}
	var h [blockSize]byte
	b.Encrypt(h[:], h[:])
	s := &gmacSigner{aead: g, block: b, h: loadElement(h[:])}
	s.hChunk = gfPow(s.h, gmacChunk/blockSize)
	s.fast = newGHASHKey(s.h)
	s.pool.New = func() any { return new(gmacScratch) }
	s.splitPool.New = func() any {
		g := &gmacSplit{s: s}
		g.work = g.run
		return g
	}
	return s, nil
}

// gmacNonce builds the 12-byte nonce of [MS-SMB2] 3.1.4.1: the MessageId
// (8 bytes, little-endian) followed by a 32-bit little-endian word whose
// bit 0 marks a response (SMB2_FLAGS_SERVER_TO_REDIR) and bit 1 a CANCEL
// request. The two bits keep a request, its response and a CANCEL that
// reuses the MessageId from ever sharing a nonce under one key.
func gmacNonce(nonce *[12]byte, msg []byte) {
	copy(nonce[:8], msg[offMessageID:offMessageID+8])
	var role uint32
	if binary.LittleEndian.Uint32(msg[offFlags:])&flagServerToRedir != 0 {
		role |= 1
	}
	if binary.LittleEndian.Uint16(msg[offCommand:]) == commandCancel {
		role |= 2
	}
	binary.LittleEndian.PutUint32(nonce[8:], role)
}

func (s *gmacSigner) Sign(msg []byte) {
	if !prepareSign(msg) {
		return
	}
	sc := s.pool.Get().(*gmacScratch)
	gmacNonce(&sc.nonce, msg)
	s.tag(&sc.tag, &sc.nonce, &sc.mask, msg)
	copy(msg[offSignature:], sc.tag[:])
	s.pool.Put(sc)
}

// tag sets dst to the GMAC of aad under nonce. mask is the caller's
// scratch for E_K(J0): a block passed to the cipher through an interface
// would escape if it lived on this stack.
func (s *gmacSigner) tag(dst *[blockSize]byte, nonce *[12]byte, mask *[blockSize]byte, aad []byte) {
	if s.fast == nil {
		s.aead.Seal(dst[:0], nonce[:], nil, aad)
		return
	}
	s.j0Mask(mask, nonce)
	s.fast.gmacTag(dst, aad, mask)
}

// j0Mask sets mask to E_K(J0), J0 = nonce || 0^31 || 1: what GCM XORs
// onto the GHASH of a tag.
func (s *gmacSigner) j0Mask(mask *[blockSize]byte, nonce *[12]byte) {
	copy(mask[:12], nonce[:])
	binary.BigEndian.PutUint32(mask[12:], 1)
	s.block.Encrypt(mask[:], mask[:])
}

// Verify hashes the Signature field as a zero block where ghashAVX512
// runs. Otherwise it computes the GMAC of msg as it stands (signature
// included) and then cancels the signature's contribution instead of
// copying msg to zero it. GHASH is linear: for an AAD of m blocks followed by the length block,
// block j (1-based) contributes X_j * H^(m+2-j). The Signature field is
// exactly block 4, so the tag over the zeroed message is the tag over msg
// XOR S * H^(m-2), where S is the signature's 16 bytes.
func (s *gmacSigner) Verify(msg []byte) bool {
	if len(msg) < headerSize {
		return false
	}
	sc := s.pool.Get().(*gmacScratch)
	defer s.pool.Put(sc)
	gmacNonce(&sc.nonce, msg)
	sig := msg[offSignature : offSignature+signatureSize]
	if s.fast != nil {
		s.j0Mask(&sc.mask, &sc.nonce)
		s.fast.gmacTagUnsigned(&sc.tag, msg, &sc.mask)
		return subtle.ConstantTimeCompare(sc.tag[:], sig) == 1
	}
	s.tag(&sc.tag, &sc.nonce, &sc.mask, msg)
	m := uint64((len(msg) + blockSize - 1) / blockSize)
	corr := gfMul(loadElement(sig), s.sigPower(sc, m))
	t := loadElement(sc.tag[:])
	t.hi ^= corr.hi
	t.lo ^= corr.lo
	t.store(sc.tag[:])
	return subtle.ConstantTimeCompare(sc.tag[:], sig) == 1
}
