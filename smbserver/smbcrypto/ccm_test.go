package smbcrypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"math/rand/v2"
	"testing"

	pionccm "github.com/pion/dtls/v3/pkg/crypto/ccm"
)

// TestCCMRFC3610 checks packet vector #1 of RFC 3610 section 8 (M = 8,
// 13-byte nonce, 8 bytes of AAD).
func TestCCMRFC3610(t *testing.T) {
	b, err := aes.NewCipher(unhex(t, "C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF"))
	if err != nil {
		t.Fatal(err)
	}
	for _, sched := range []*aesSchedule{nil, newAESSchedule(unhex(t, "C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF"))} {
		testCCMRFC3610(t, b, sched)
	}
}

func testCCMRFC3610(t *testing.T, b cipher.Block, sched *aesSchedule) {
	c, err := newCCM(b, sched, 8, 13)
	if err != nil {
		t.Fatal(err)
	}
	nonce := unhex(t, "00000003020100A0A1A2A3A4A5")
	packet := unhex(t, "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E")
	want := unhex(t, `0001020304050607 588C979A61C663D2F066D0C2C0F989806D5F6B61DAC384 17E8D12CFDF926E0`)
	aad, body := packet[:8], append([]byte(nil), packet[8:]...)
	tag := make([]byte, 8)
	if err := c.sealInPlace(tag, nonce, body, aad); err != nil {
		t.Fatal(err)
	}
	got := append(append(append([]byte(nil), aad...), body...), tag...)
	if !bytes.Equal(got, want) {
		t.Fatalf("seal = %x\nwant   %x", got, want)
	}
	if err := c.openInPlace(tag, nonce, body, aad); err != nil || !bytes.Equal(body, packet[8:]) {
		t.Fatalf("open = %x, %v", body, err)
	}
}

// TestCCMMatchesPion cross-checks the SMB parameters (16-byte tag, 11-byte
// nonce, 32-byte AAD) against an independent implementation for both key
// sizes and lengths around block boundaries.
func TestCCMMatchesPion(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, keyLen := range []int{16, 32} {
		key := make([]byte, keyLen)
		fill(rng, key)
		b, _ := aes.NewCipher(key)
		mine, err := newCCM(b, nil, 16, 11)
		if err != nil {
			t.Fatal(err)
		}
		if sched := newAESSchedule(key); sched != nil && keyLen == 32 {
			// cbcMACAESNI (and aesCTRAVX512 where it runs) for the
			// AES-256 half; the AES-128 half keeps crypto/aes, and the
			// RFC vector covers AES-128 both ways.
			if mine, err = newCCM(b, sched, 16, 11); err != nil {
				t.Fatal(err)
			}
		}
		ref, err := pionccm.NewCCM(b, 16, 11)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 100, 4096, 4099} {
			nonce, aad, msg := make([]byte, 11), make([]byte, 32), make([]byte, n)
			fill(rng, nonce)
			fill(rng, aad)
			fill(rng, msg)
			want := ref.Seal(nil, nonce, msg, aad)
			buf := append([]byte(nil), msg...)
			tag := make([]byte, 16)
			if err := mine.sealInPlace(tag, nonce, buf, aad); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf, want[:n]) || !bytes.Equal(tag, want[n:]) {
				t.Fatalf("key %d len %d: ciphertext differs from reference", keyLen, n)
			}
			if err := mine.openInPlace(tag, nonce, buf, aad); err != nil || !bytes.Equal(buf, msg) {
				t.Fatalf("key %d len %d: open failed: %v", keyLen, n, err)
			}
		}
	}
}

func fill(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}
