package ntlm

import (
	"crypto/hmac"
	"crypto/rc4"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
)

// ErrBadSignature reports a message whose NTLMSSP_MESSAGE_SIGNATURE does not
// verify, or whose sequence number is not the next expected one.
var ErrBadSignature = errors.New("ntlm: bad message signature")

// SignatureLen is the length of an NTLMSSP_MESSAGE_SIGNATURE ([MS-NLMP]
// 2.2.2.9.1).
const SignatureLen = 16

// Security is the session security of an authenticated exchange
// ([MS-NLMP] 3.4): signing and sealing with extended session security, one
// RC4 handle and sequence number per direction that persist across
// messages, as GSS_WrapEx and GSS_GetMICEx use them for DCE/RPC packet
// integrity and privacy. It is safe for concurrent use; each direction is
// serialised, as its sequence numbers require.
type Security struct {
	flags uint32

	inMu     sync.Mutex
	inSign   []byte
	inSeal   []byte
	inHandle *rc4.Cipher
	inSeq    uint32

	outMu     sync.Mutex
	outSign   []byte
	outSeal   []byte
	outHandle *rc4.Cipher
	outSeq    uint32
}

// Security returns the session security of a successful, non-anonymous
// Authenticate with extended session security. Call it once: the RC4
// handles start at the beginning of their key streams.
func (e *Exchange) Security() (*Security, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.authed || e.keys.flags&flagExtendedSec == 0 {
		return nil, fmt.Errorf("session security: %w", errNoSessionSecurity)
	}
	in, err1 := rc4.NewCipher(e.keys.clientSeal)
	out, err2 := rc4.NewCipher(e.keys.serverSeal)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("session security: %w", err)
	}
	return &Security{
		flags:  e.keys.flags,
		inSign: e.keys.clientSign, inHandle: in, inSeal: e.keys.clientSeal,
		outSign: e.keys.serverSign, outHandle: out, outSeal: e.keys.serverSeal,
	}, nil
}

// ResetHandles restarts both RC4 handles from their keys, keeping the
// sequence numbers. SPNEGO does this once the mechListMIC exchange ends,
// so that the messages after it start a fresh key stream: Windows and
// Samba (gensec_may_reset_crypto) both do, and a peer that does not is
// out of step from its first signed message on.
func (s *Security) ResetHandles() {
	s.inMu.Lock()
	s.inHandle, _ = rc4.NewCipher(s.inSeal)
	s.inMu.Unlock()
	s.outMu.Lock()
	s.outHandle, _ = rc4.NewCipher(s.outSeal)
	s.outMu.Unlock()
}

// checksum is the first eight bytes of HMAC_MD5(SignKey, SeqNum || msg).
func checksum(signKey []byte, seq uint32, msg []byte) []byte {
	var seqb [4]byte
	binary.LittleEndian.PutUint32(seqb[:], seq)
	return hmacMD5(signKey, seqb[:], msg)[:8]
}

func (s *Security) signature(sum []byte, seq uint32) []byte {
	sig := make([]byte, SignatureLen)
	binary.LittleEndian.PutUint32(sig[0:], 1)
	copy(sig[4:12], sum)
	binary.LittleEndian.PutUint32(sig[12:], seq)
	return sig
}

// Sign returns the signature of an outgoing message (GSS_GetMICEx,
// [MS-NLMP] 3.4.4.2) and advances the outgoing sequence.
func (s *Security) Sign(msg []byte) []byte {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	seq := s.outSeq
	s.outSeq++
	sum := checksum(s.outSign, seq, msg)
	if s.flags&flagKeyExch != 0 {
		s.outHandle.XORKeyStream(sum, sum)
	}
	return s.signature(sum, seq)
}

// Seal encrypts data in place and returns the signature over signed, which
// holds data's plaintext (GSS_WrapEx, [MS-NLMP] 3.4.3): for DCE/RPC, data
// is the stub and padding and signed the whole PDU before the signature.
// The checksum is taken before data is encrypted, and RC4 runs over data
// first and the checksum next, the order the key stream must be used in.
func (s *Security) Seal(signed, data []byte) []byte {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	seq := s.outSeq
	s.outSeq++
	sum := checksum(s.outSign, seq, signed)
	s.outHandle.XORKeyStream(data, data)
	if s.flags&flagKeyExch != 0 {
		s.outHandle.XORKeyStream(sum, sum)
	}
	return s.signature(sum, seq)
}

// Verify checks an incoming message's signature (GSS_VerifyMICEx) and
// advances the incoming sequence only if it verifies.
func (s *Security) Verify(msg, sig []byte) error {
	s.inMu.Lock()
	defer s.inMu.Unlock()
	if len(sig) != SignatureLen {
		return fmt.Errorf("signature of %d bytes: %w", len(sig), ErrBadSignature)
	}
	sum := checksum(s.inSign, s.inSeq, msg)
	got := append([]byte(nil), sig[4:12]...)
	if s.flags&flagKeyExch != 0 {
		// Decrypt a copy of the handle's key stream position: a failed
		// check must not advance the stream.
		h := *s.inHandle
		h.XORKeyStream(got, got)
		if !hmac.Equal(got, sum) || binary.LittleEndian.Uint32(sig[12:]) != s.inSeq {
			return fmt.Errorf("sequence %d, expected %d: %w", binary.LittleEndian.Uint32(sig[12:]), s.inSeq, ErrBadSignature)
		}
		*s.inHandle = h
	} else if !hmac.Equal(got, sum) || binary.LittleEndian.Uint32(sig[12:]) != s.inSeq {
		return fmt.Errorf("sequence %d, expected %d: %w", binary.LittleEndian.Uint32(sig[12:]), s.inSeq, ErrBadSignature)
	}
	s.inSeq++
	return nil
}

// Unseal decrypts data in place and verifies the signature over signed,
// which holds data (GSS_UnwrapEx). On failure the message must be
// discarded and the connection dropped: the key stream has moved on.
func (s *Security) Unseal(signed, data, sig []byte) error {
	s.inMu.Lock()
	defer s.inMu.Unlock()
	if len(sig) != SignatureLen {
		return fmt.Errorf("signature of %d bytes: %w", len(sig), ErrBadSignature)
	}
	s.inHandle.XORKeyStream(data, data)
	sum := checksum(s.inSign, s.inSeq, signed)
	got := append([]byte(nil), sig[4:12]...)
	if s.flags&flagKeyExch != 0 {
		s.inHandle.XORKeyStream(got, got)
	}
	if !hmac.Equal(got, sum) || binary.LittleEndian.Uint32(sig[12:]) != s.inSeq {
		return fmt.Errorf("sequence %d, expected %d: %w", binary.LittleEndian.Uint32(sig[12:]), s.inSeq, ErrBadSignature)
	}
	s.inSeq++
	return nil
}

// MICDue reports whether the server must send a SPNEGO mechListMIC: the
// AUTHENTICATE_MESSAGE carried an NTLM MIC or the client sent one
// ([MS-SPNG] 3.2.5.1).
func MICDue(res Result, clientSentMIC bool) bool { return res.MIC || clientSentMIC }
