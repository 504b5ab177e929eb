package smbcrypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"
)

// testMessage builds an SMB2 message of n bytes (n >= 64) with a valid
// ProtocolId and pseudo-random content elsewhere.
func testMessage(rng *rand.Rand, n int) []byte {
	m := make([]byte, n)
	fill(rng, m)
	copy(m, []byte{0xFE, 'S', 'M', 'B'})
	return m
}

// zeroedSigned returns a copy of msg with SMB2_FLAGS_SIGNED set and the
// Signature field zeroed: the input every signing algorithm MACs.
func zeroedSigned(msg []byte) []byte {
	c := append([]byte(nil), msg...)
	c[16] |= 0x08
	clear(c[48:64])
	return c
}

// Reference signatures, computed the obvious way over a zeroed copy with
// the standard library (and the RFC 4493-tested CMAC), for comparison.
func refHMAC(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(zeroedSigned(msg))
	return m.Sum(nil)[:16]
}

func refCMAC(t *testing.T, key, msg []byte) []byte {
	k, err := newCMAC(key)
	if err != nil {
		t.Fatal(err)
	}
	return cmacOneShot(k, zeroedSigned(msg))
}

func refGMAC(key, msg []byte, messageID uint64, response, cancel bool) []byte {
	b, _ := aes.NewCipher(key)
	g, _ := cipher.NewGCM(b)
	nonce := make([]byte, 12)
	binary.LittleEndian.PutUint64(nonce, messageID)
	if response {
		nonce[8] |= 1
	}
	if cancel {
		nonce[8] |= 2
	}
	return g.Seal(nil, nonce, nil, zeroedSigned(msg))
}

var signKey = []byte("0123456789abcdef")

func TestSignersMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{64, 65, 79, 80, 81, 96, 111, 200, 1000, 4096} {
		msg := testMessage(rng, n)
		binary.LittleEndian.PutUint16(msg[12:], 0x0008) // READ, not CANCEL
		msg[16] &^= 0x01                                // a request
		mid := binary.LittleEndian.Uint64(msg[24:])
		for _, tc := range []struct {
			dialect, alg uint16
			want         []byte
		}{
			{dialect202, SigningAESGMAC, refHMAC(signKey, msg)}, // alg ignored below 3.0
			{0x0210, SigningHMACSHA256, refHMAC(signKey, msg)},
			{dialect300, SigningHMACSHA256, refCMAC(t, signKey, msg)}, // alg ignored for 3.0.x
			{dialect302, SigningAESGMAC, refCMAC(t, signKey, msg)},
			{dialect311, SigningHMACSHA256, refHMAC(signKey, msg)},
			{dialect311, SigningAESCMAC, refCMAC(t, signKey, msg)},
			{dialect311, SigningAESGMAC, refGMAC(signKey, msg, mid, false, false)},
		} {
			s, err := NewSigner(tc.dialect, tc.alg, signKey)
			if err != nil {
				t.Fatal(err)
			}
			m := append([]byte(nil), msg...)
			if s.Verify(m) {
				t.Fatalf("dialect %#x alg %d: random signature verified", tc.dialect, tc.alg)
			}
			s.Sign(m)
			if !bytes.Equal(m[48:64], tc.want) {
				t.Fatalf("dialect %#x alg %d len %d: signature %x, want %x", tc.dialect, tc.alg, n, m[48:64], tc.want)
			}
			if m[16]&0x08 == 0 || !bytes.Equal(m[:16], msg[:16]) || !bytes.Equal(m[17:48], msg[17:48]) || !bytes.Equal(m[64:], msg[64:]) {
				t.Fatalf("dialect %#x alg %d: Sign changed more than the flag and signature", tc.dialect, tc.alg)
			}
			before := append([]byte(nil), m...)
			if !s.Verify(m) {
				t.Fatalf("dialect %#x alg %d len %d: own signature rejected", tc.dialect, tc.alg, n)
			}
			if !bytes.Equal(before, m) {
				t.Fatalf("dialect %#x alg %d: Verify modified the message", tc.dialect, tc.alg)
			}
		}
	}
}

// TestVerifyRejectsAnyFlip flips every bit position's byte of a signed
// message (signature included) and requires Verify to fail.
func TestVerifyRejectsAnyFlip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, alg := range []uint16{SigningHMACSHA256, SigningAESCMAC, SigningAESGMAC} {
		s, _ := NewSigner(dialect311, alg, signKey)
		for _, n := range []int{64, 133} {
			m := testMessage(rng, n)
			s.Sign(m)
			for i := range m {
				m[i] ^= 0x40
				if s.Verify(m) {
					t.Fatalf("alg %d len %d: flip of byte %d verified", alg, n, i)
				}
				m[i] ^= 0x40
			}
			if !s.Verify(m) {
				t.Fatalf("alg %d: restored message rejected", alg)
			}
		}
	}
}

// TestGMACNonce checks that the GMAC signature depends on exactly the
// inputs [MS-SMB2] 3.1.4.1 puts in the nonce: the MessageId, the response
// flag and the CANCEL command.
func TestGMACNonce(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	s, _ := NewSigner(dialect311, SigningAESGMAC, signKey)
	base := testMessage(rng, 120)
	binary.LittleEndian.PutUint16(base[12:], 0x0005) // CREATE
	base[16] = 0
	for _, tc := range []struct {
		name             string
		mid              uint64
		response, cancel bool
	}{
		{"request", 7, false, false},
		{"other message id", 8, false, false},
		{"high message id", 1 << 60, false, false},
		{"response", 7, true, false},
		{"cancel", 7, false, true},
	} {
		m := append([]byte(nil), base...)
		binary.LittleEndian.PutUint64(m[24:], tc.mid)
		if tc.response {
			m[16] |= 0x01
		}
		if tc.cancel {
			binary.LittleEndian.PutUint16(m[12:], 0x000C)
		}
		s.Sign(m)
		if want := refGMAC(signKey, m, tc.mid, tc.response, tc.cancel); !bytes.Equal(m[48:64], want) {
			t.Errorf("%s: signature %x, want %x", tc.name, m[48:64], want)
		}
		// The same bytes under the wrong role must not verify: change the
		// role bit only in the reference and compare.
		if wrong := refGMAC(signKey, m, tc.mid, !tc.response, tc.cancel); bytes.Equal(m[48:64], wrong) {
			t.Errorf("%s: signature does not depend on the response bit", tc.name)
		}
	}
}

func TestSignShortMessages(t *testing.T) {
	for _, alg := range []uint16{SigningHMACSHA256, SigningAESCMAC, SigningAESGMAC} {
		s, _ := NewSigner(dialect311, alg, signKey)
		for n := 0; n < 64; n += 9 {
			m := bytes.Repeat([]byte{0xEE}, n)
			s.Sign(m)
			if !bytes.Equal(m, bytes.Repeat([]byte{0xEE}, n)) {
				t.Fatalf("alg %d: Sign changed a %d-byte message", alg, n)
			}
			if s.Verify(m) {
				t.Fatalf("alg %d: %d-byte message verified", alg, n)
			}
		}
	}
}

func TestNewSignerErrors(t *testing.T) {
	if _, err := NewSigner(dialect311, 3, signKey); err == nil {
		t.Error("unknown algorithm accepted")
	}
	if _, err := NewSigner(dialect300, 0, []byte("short")); err == nil {
		t.Error("5-byte CMAC key accepted")
	}
	if _, err := NewSigner(dialect311, SigningAESCMAC, make([]byte, 32)); err == nil {
		t.Error("32-byte CMAC key accepted (AES-128-CMAC only)")
	}
	if _, err := NewSigner(dialect311, SigningAESGMAC, make([]byte, 32)); err == nil {
		t.Error("32-byte GMAC key accepted (AES-128-GMAC only)")
	}
}

// TestSignConcurrent shares one Signer between goroutines, as the channels
// of a session do.
func TestSignConcurrent(t *testing.T) {
	for _, alg := range []uint16{SigningHMACSHA256, SigningAESCMAC, SigningAESGMAC} {
		s, _ := NewSigner(dialect311, alg, signKey)
		var wg sync.WaitGroup
		errs := make(chan string, 4)
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func(seed uint64) {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(seed, seed))
				for i := 0; i < 200; i++ {
					m := testMessage(rng, 64+rng.IntN(300))
					s.Sign(m)
					if !s.Verify(m) {
						errs <- "signature rejected"
						return
					}
				}
			}(uint64(g))
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatalf("alg %d: %s", alg, e)
		}
	}
}

func TestSignAllocs(t *testing.T) {
	msg := testMessage(rand.New(rand.NewPCG(1, 1)), 64<<10)
	for _, alg := range []uint16{SigningHMACSHA256, SigningAESCMAC, SigningAESGMAC} {
		s, _ := NewSigner(dialect311, alg, signKey)
		s.Sign(msg)
		if a := testing.AllocsPerRun(20, func() { s.Sign(msg) }); a != 0 {
			t.Errorf("alg %d: Sign allocates %v times", alg, a)
		}
		if a := testing.AllocsPerRun(20, func() { s.Verify(msg) }); a != 0 {
			t.Errorf("alg %d: Verify allocates %v times", alg, a)
		}
	}
}

// TestGFMul checks the field arithmetic behind GMAC Verify against GHASH
// as the standard library computes it: GMAC(K, N, A) for a one-block A is
// A*H^2 ^ L*H ^ E_K(J0), so two one-block messages differ by (A1^A2)*H^2.
func TestGFMul(t *testing.T) {
	b, _ := aes.NewCipher(signKey)
	g, _ := cipher.NewGCM(b)
	var h [16]byte
	b.Encrypt(h[:], h[:])
	nonce := make([]byte, 12)
	a1, a2 := bytes.Repeat([]byte{0x11}, 16), bytes.Repeat([]byte{0x7e}, 16)
	t1, t2 := g.Seal(nil, nonce, nil, a1), g.Seal(nil, nonce, nil, a2)
	var d [16]byte
	for i := range d {
		d[i] = a1[i] ^ a2[i]
	}
	var got [16]byte
	gfMul(loadElement(d[:]), gfPow(loadElement(h[:]), 2)).store(got[:])
	for i := range got {
		if got[i] != t1[i]^t2[i] {
			t.Fatalf("(A1^A2)*H^2 = %x, want %x", got, xorBytes(t1, t2))
		}
	}
	if one := gfPow(loadElement(h[:]), 0); one != (fieldElement{hi: 1 << 63}) {
		t.Fatalf("H^0 = %+v", one)
	}
}

func xorBytes(a, b []byte) []byte {
	out := make([]byte, len(a))
	for i := range a {
		out[i] = a[i] ^ b[i]
	}
	return out
}
