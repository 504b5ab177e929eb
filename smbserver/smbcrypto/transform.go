package smbcrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
)

// SMB2 TRANSFORM_HEADER layout ([MS-SMB2] 2.2.41).
const (
	// TransformHeaderSize is the size of the SMB2 TRANSFORM_HEADER.
	TransformHeaderSize = 52

	offTfSignature    = 4
	offTfNonce        = 20
	offTfOriginalSize = 36
	offTfFlags        = 42
	offTfSessionID    = 44

	// transformProtocolID is 0xFD 'S' 'M' 'B' read as a little-endian word.
	transformProtocolID uint32 = 0x424D53FD
	// transformFlagEncrypted is Flags (3.1.1) or EncryptionAlgorithm
	// (3.0, 3.0.2, where 1 means AES-128-CCM); both must be 0x0001.
	transformFlagEncrypted uint16 = 0x0001

	tagSize      = 16
	ccmNonceSize = 11 // AES_CCM_Nonce ([MS-SMB2] 2.2.41)
	gcmNonceSize = 12 // AES_GCM_Nonce
)

// SealOverhead is the room beyond the plaintext that Seal needs in dst's
// spare capacity to run without allocating: the transform header plus, for
// GCM, the 16-byte tag that cipher.AEAD appends before it is moved into
// the header.
const SealOverhead = TransformHeaderSize + tagSize

// parseTransform validates the framing of a transform message
// ([MS-SMB2] 3.3.5.2.1.1): larger than the header, the right ProtocolId,
// Flags/EncryptionAlgorithm 0x0001, and an OriginalMessageSize equal to the
// bytes that follow the header (the ciphertext is as long as the plaintext).
func parseTransform(msg []byte) (sessionID uint64, err error) {
	if len(msg) <= TransformHeaderSize {
		return 0, fmt.Errorf("%w: transform message of %d bytes", ErrMalformed, len(msg))
	}
	if binary.LittleEndian.Uint32(msg) != transformProtocolID {
		return 0, fmt.Errorf("%w: not a transform header", ErrMalformed)
	}
	if f := binary.LittleEndian.Uint16(msg[offTfFlags:]); f != transformFlagEncrypted {
		return 0, fmt.Errorf("%w: transform flags %#04x", ErrMalformed, f)
	}
	size := uint64(binary.LittleEndian.Uint32(msg[offTfOriginalSize:]))
	if size != uint64(len(msg)-TransformHeaderSize) {
		return 0, fmt.Errorf("%w: OriginalMessageSize %d but %d bytes follow the header",
			ErrMalformed, size, len(msg)-TransformHeaderSize)
	}
	return binary.LittleEndian.Uint64(msg[offTfSessionID:]), nil
}

// TransformSessionID validates the SMB2 TRANSFORM_HEADER at the start of msg
// and returns its SessionId, which selects the session whose key decrypts
// it. It returns an error wrapping ErrMalformed for anything that is not a
// well-formed transform message.
func TransformSessionID(msg []byte) (uint64, error) {
	return parseTransform(msg)
}

// Encryptor seals SMB2 messages into transform messages ([MS-SMB2]
// 3.1.4.3). Implementations are safe for concurrent use.
type Encryptor interface {
	// Seal appends to dst a transform header for sessionID and the
	// encryption of the concatenated plaintext pieces (for example a
	// response header, its body and the file data), and returns the
	// extended slice. It allocates nothing beyond the CCM stream state when
	// cap(dst)-len(dst) >= total plaintext + SealOverhead. The pieces must
	// not overlap dst's spare capacity, which Seal overwrites.
	Seal(dst []byte, sessionID uint64, plaintext ...[]byte) ([]byte, error)
	// SealInPlace encrypts a message laid out for it: frame holds
	// TransformHeaderSize bytes of room, then the plaintext, and has at
	// least tagSize (16) bytes of spare capacity. It writes the transform
	// header into the room and the ciphertext over the plaintext, and
	// returns frame (same length). Large responses are built this way so
	// that their data is never copied to be sealed.
	SealInPlace(frame []byte, sessionID uint64) ([]byte, error)
}

// Decryptor opens transform messages ([MS-SMB2] 3.3.5.2.1.1).
// Implementations are safe for concurrent use.
type Decryptor interface {
	// Open checks msg (transform header and ciphertext), decrypts it and
	// appends the plaintext to dst. On failure it returns dst unextended and
	// an error wrapping ErrMalformed or ErrAuthFailed. dst must not overlap
	// msg. It allocates nothing beyond the CCM stream state when
	// cap(dst)-len(dst) >= len(msg).
	Open(dst []byte, msg []byte) ([]byte, error)
	// OpenInPlace is Open writing the plaintext over the ciphertext: it
	// returns msg[TransformHeaderSize:] decrypted. It needs
	// cap(msg)-len(msg) >= OpenInPlaceRoom (the GCM tag is moved there,
	// after the ciphertext, where cipher.AEAD wants it) and fails with
	// ErrMalformed otherwise. On failure msg's ciphertext may be
	// destroyed.
	OpenInPlace(msg []byte) ([]byte, error)
}

// OpenInPlaceRoom is the spare capacity OpenInPlace needs after a message,
// and SealInPlaceRoom the one SealInPlace needs after a frame.
const (
	OpenInPlaceRoom = tagSize
	SealInPlaceRoom = tagSize
)

// transformCipher implements both directions for one key. Exactly one of
// gcm and ccm is set.
type transformCipher struct {
	gcm cipher.AEAD
	// fast is the same GCM key for aesgcm.go where the CPU has the
	// instructions; it then does all of gcm's work.
	fast      *gcmVec
	ccm       *ccm
	nonceSize int
	nonces    nonceSource
}

// NewEncryptor returns an Encryptor for cipher (a Cipher constant) with key
// (Session.EncryptionKey: 16 bytes for AES-128, 32 for AES-256).
func NewEncryptor(cipher uint16, key []byte) (Encryptor, error) {
	t, err := newTransformCipher(cipher, key)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// NewDecryptor returns a Decryptor for cipher with key
// (Session.DecryptionKey).
func NewDecryptor(cipher uint16, key []byte) (Decryptor, error) {
	t, err := newTransformCipher(cipher, key)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func newTransformCipher(id uint16, key []byte) (*transformCipher, error) {
	keyLen := 16
	switch id {
	case CipherAES128CCM, CipherAES128GCM:
	case CipherAES256CCM, CipherAES256GCM:
		keyLen = 32
	default:
		return nil, fmt.Errorf("smbcrypto: unknown cipher %#04x", id)
	}
	if len(key) != keyLen {
		return nil, fmt.Errorf("smbcrypto: cipher %#04x needs a %d-byte key, got %d", id, keyLen, len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("smbcrypto: cipher %#04x: %w", id, err)
	}
	t := &transformCipher{}
	if id == CipherAES128GCM || id == CipherAES256GCM {
		t.nonceSize = gcmNonceSize
		if t.gcm, err = cipher.NewGCM(b); err != nil {
			return nil, fmt.Errorf("smbcrypto: cipher %#04x: %w", id, err)
		}
		t.fast = newGCMVec(key)
	} else {
		t.nonceSize = ccmNonceSize
		if t.ccm, err = newCCM(b, newAESSchedule(key), tagSize, ccmNonceSize); err != nil {
			return nil, fmt.Errorf("smbcrypto: cipher %#04x: %w", id, err)
		}
	}
	t.nonces.init(t.nonceSize)
	return t, nil
}

// errNoncesExhausted means a key has sealed so many messages that its
// nonce counter would wrap; the session must be re-keyed.
var errNoncesExhausted = errors.New("smbcrypto: nonce space exhausted for this key")

// nonceSource issues the nonces for one key: a random 4-byte prefix chosen
// when the key is set up, then a counter that fills the rest of the
// 11-byte (CCM) or 12-byte (GCM) nonce.
//
// A counter guarantees that one Encryptor never repeats a nonce, which
// random nonces only make likely: 88 or 96 random bits reach a real
// collision risk long before a busy session ends (NIST SP800-38D 8.3 caps
// random-nonce GCM at 2^32 messages per key), and a repeated GCM nonce
// leaks the authentication key. The counter is also one atomic add instead
// of a crypto/rand read per message. The random prefix covers the one case
// a counter cannot: two Encryptors built for the same key (for example
// after a connection is rebuilt around existing session keys) would
// otherwise both start at zero.
type nonceSource struct {
	prefix [4]byte
	limit  uint64 // largest counter value that fits the nonce
	ctr    atomic.Uint64
}

func (n *nonceSource) init(size int) {
	rand.Read(n.prefix[:])
	n.limit = 1<<(8*(size-len(n.prefix))) - 1 // 2^56-1 for CCM, 2^64-1 for GCM
}

// next writes a fresh nonce into dst (len(dst) is the nonce size).
func (n *nonceSource) next(dst []byte) error {
	c := n.ctr.Add(1)
	if c == 0 || c > n.limit {
		n.ctr.Store(n.limit) // stay exhausted even after wrapping
		return errNoncesExhausted
	}
	copy(dst, n.prefix[:])
	var word [8]byte
	binary.LittleEndian.PutUint64(word[:], c)
	copy(dst[len(n.prefix):], word[:])
	return nil
}

// maxOriginalSize is the largest plaintext a transform header can describe
// (OriginalMessageSize is 32 bits).
const maxOriginalSize = 1<<32 - 1

// Seal implements Encryptor.
func (t *transformCipher) Seal(dst []byte, sessionID uint64, plaintext ...[]byte) ([]byte, error) {
	var nonce [16]byte
	if err := t.nonces.next(nonce[:t.nonceSize]); err != nil {
		return dst, err
	}
	return t.sealWithNonce(dst, sessionID, &nonce, plaintext...)
}

// sealWithNonce is Seal with a caller-chosen nonce field; tests use it to
// reproduce published vectors.
func (t *transformCipher) sealWithNonce(dst []byte, sessionID uint64, nonce *[16]byte, plaintext ...[]byte) ([]byte, error) {
	total := 0
	for _, p := range plaintext {
		total += len(p)
	}
	if total == 0 || total > maxOriginalSize || (t.ccm != nil && total > t.ccm.maxLen()) {
		return dst, fmt.Errorf("%w: cannot seal a %d-byte message", ErrMalformed, total)
	}
	start := len(dst)
	dst = slices.Grow(dst, TransformHeaderSize+total+tagSize)
	dst = dst[:start+TransformHeaderSize]
	for _, p := range plaintext {
		dst = append(dst, p...)
	}
	if err := t.sealFrame(dst[start:], sessionID, nonce); err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// SealInPlace implements Encryptor.
func (t *transformCipher) SealInPlace(frame []byte, sessionID uint64) ([]byte, error) {
	total := len(frame) - TransformHeaderSize
	if total <= 0 || total > maxOriginalSize || (t.ccm != nil && total > t.ccm.maxLen()) {
		return frame, fmt.Errorf("%w: cannot seal a %d-byte message", ErrMalformed, max(total, 0))
	}
	if cap(frame)-len(frame) < tagSize {
		return frame, fmt.Errorf("%w: no room for the tag after the message", ErrMalformed)
	}
	var nonce [16]byte
	if err := t.nonces.next(nonce[:t.nonceSize]); err != nil {
		return frame, err
	}
	return frame, t.sealFrame(frame, sessionID, &nonce)
}

// sealFrame writes the transform header into frame[:TransformHeaderSize]
// and encrypts frame[TransformHeaderSize:] in place; frame needs tagSize
// bytes of spare capacity for GCM's tag on its way into the header.
func (t *transformCipher) sealFrame(frame []byte, sessionID uint64, nonce *[16]byte) error {
	hdr := frame[:TransformHeaderSize]
	body := frame[TransformHeaderSize:]
	total := len(body)
	binary.LittleEndian.PutUint32(hdr, transformProtocolID)
	clear(hdr[offTfSignature:offTfNonce])
	copy(hdr[offTfNonce:offTfOriginalSize], nonce[:])
	binary.LittleEndian.PutUint32(hdr[offTfOriginalSize:], uint32(total))
	binary.LittleEndian.PutUint16(hdr[offTfOriginalSize+4:], 0) // Reserved
	binary.LittleEndian.PutUint16(hdr[offTfFlags:], transformFlagEncrypted)
	binary.LittleEndian.PutUint64(hdr[offTfSessionID:], sessionID)
	aad := hdr[offTfNonce:TransformHeaderSize]
	n := hdr[offTfNonce : offTfNonce+t.nonceSize]
	if t.fast != nil {
		t.fast.sealInPlace((*[blockSize]byte)(hdr[offTfSignature:offTfNonce]), n, body, aad)
		return nil
	}
	if t.gcm != nil {
		// Seal in place; the tag lands in spare capacity and moves into
		// the header's Signature field.
		out := t.gcm.Seal(body[:0], n, body, aad)
		copy(hdr[offTfSignature:offTfNonce], out[total:])
		return nil
	}
	if err := t.ccm.sealInPlace(hdr[offTfSignature:offTfNonce], n, body, aad); err != nil {
		return fmt.Errorf("smbcrypto: seal: %w", err)
	}
	return nil
}

// Open implements Decryptor.
func (t *transformCipher) Open(dst []byte, msg []byte) ([]byte, error) {
	if _, err := parseTransform(msg); err != nil {
		return dst, err
	}
	ct := msg[TransformHeaderSize:]
	tag := msg[offTfSignature:offTfNonce]
	aad := msg[offTfNonce:TransformHeaderSize]
	// The nonce is the leading bytes of the 16-byte field; the rest is
	// authenticated (it is in the AAD) but otherwise ignored.
	n := msg[offTfNonce : offTfNonce+t.nonceSize]
	start := len(dst)
	if t.fast != nil {
		dst = append(dst, ct...)
		if !t.fast.openInPlace(tag, n, dst[start:], aad) {
			return dst[:start], ErrAuthFailed
		}
		return dst, nil
	}
	if t.gcm != nil {
		// cipher.AEAD wants ciphertext||tag contiguous, so rebuild that in
		// dst and open it in place.
		dst = slices.Grow(dst, len(ct)+tagSize)
		dst = append(dst, ct...)
		dst = append(dst, tag...)
		if _, err := t.gcm.Open(dst[start:start], n, dst[start:], aad); err != nil {
			clear(dst[start:])
			return dst[:start], ErrAuthFailed
		}
		return dst[:start+len(ct)], nil
	}
	dst = append(dst, ct...)
	if err := t.ccm.openInPlace(tag, n, dst[start:], aad); err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// OpenInPlace implements Decryptor.
func (t *transformCipher) OpenInPlace(msg []byte) ([]byte, error) {
	if _, err := parseTransform(msg); err != nil {
		return nil, err
	}
	tag := msg[offTfSignature:offTfNonce]
	aad := msg[offTfNonce:TransformHeaderSize]
	n := msg[offTfNonce : offTfNonce+t.nonceSize]
	ct := msg[TransformHeaderSize:]
	if t.gcm != nil {
		if cap(msg)-len(msg) < tagSize {
			return nil, fmt.Errorf("%w: no room to open in place", ErrMalformed)
		}
		if t.fast != nil {
			// The room is not needed here, but the contract is the same
			// on every CPU.
			if !t.fast.openInPlace(tag, n, ct, aad) {
				return nil, ErrAuthFailed
			}
			return ct, nil
		}
		// cipher.AEAD wants ciphertext||tag: the tag is copied into the
		// spare capacity after the ciphertext, which is then opened over
		// itself (the AAD before it is only read).
		sealed := msg[TransformHeaderSize : len(msg)+tagSize]
		copy(sealed[len(ct):], tag)
		if _, err := t.gcm.Open(ct[:0], n, sealed, aad); err != nil {
			return nil, ErrAuthFailed
		}
		return ct, nil
	}
	if err := t.ccm.openInPlace(tag, n, ct, aad); err != nil {
		return nil, err
	}
	return ct, nil
}
