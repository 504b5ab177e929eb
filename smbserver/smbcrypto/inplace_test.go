package smbcrypto

import (
	"bytes"
	"errors"
	"testing"
)

// TestInPlaceInterop: what SealInPlace produces opens with Open, what Seal
// produces opens with OpenInPlace, for every cipher; the plaintext comes
// back where the ciphertext was, and the header is the one Seal writes.
func TestInPlaceInterop(t *testing.T) {
	plain := make([]byte, 3*4096+5)
	for i := range plain {
		plain[i] = byte(i*31 + 7)
	}
	for _, c := range allCiphers {
		enc, _ := NewEncryptor(c, cipherKey(c))
		dec, _ := NewDecryptor(c, cipherKey(c))

		frame := make([]byte, TransformHeaderSize+len(plain), TransformHeaderSize+len(plain)+tagSize)
		copy(frame[TransformHeaderSize:], plain)
		sealed, err := enc.SealInPlace(frame, 0x1122)
		if err != nil {
			t.Fatalf("cipher %d: SealInPlace: %v", c, err)
		}
		if bytes.Contains(sealed, plain[:64]) {
			t.Fatalf("cipher %d: plaintext still visible after SealInPlace", c)
		}
		if sid, err := TransformSessionID(sealed); err != nil || sid != 0x1122 {
			t.Fatalf("cipher %d: session id %#x, %v", c, sid, err)
		}
		got, err := dec.Open(nil, sealed)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("cipher %d: Open of SealInPlace output: %v", c, err)
		}

		msg, err := enc.Seal(make([]byte, 0, len(plain)+SealOverhead+OpenInPlaceRoom), 7, plain[:100], plain[100:])
		if err != nil {
			t.Fatal(err)
		}
		out, err := dec.OpenInPlace(msg)
		if err != nil || !bytes.Equal(out, plain) {
			t.Fatalf("cipher %d: OpenInPlace: %v", c, err)
		}
		if &out[0] != &msg[TransformHeaderSize] {
			t.Fatalf("cipher %d: OpenInPlace did not decrypt in place", c)
		}
	}
}

// TestInPlaceRejects: tampering is caught, and missing room is an error,
// not a write past the slice.
func TestInPlaceRejects(t *testing.T) {
	plain := bytes.Repeat([]byte("sofs"), 1000)
	for _, c := range allCiphers {
		enc, _ := NewEncryptor(c, cipherKey(c))
		dec, _ := NewDecryptor(c, cipherKey(c))
		msg, _ := enc.Seal(make([]byte, 0, len(plain)+SealOverhead+OpenInPlaceRoom), 7, plain)
		for _, at := range []int{offTfSignature, offTfNonce, offTfSessionID, TransformHeaderSize + 10, len(msg) - 1} {
			bad := append(make([]byte, 0, len(msg)+OpenInPlaceRoom), msg...)
			bad[at] ^= 0x40
			if _, err := dec.OpenInPlace(bad); err == nil {
				t.Errorf("cipher %d: flipped byte %d opened", c, at)
			}
		}
		if _, err := dec.OpenInPlace(msg[:TransformHeaderSize]); !errors.Is(err, ErrMalformed) {
			t.Errorf("cipher %d: empty message: %v", c, err)
		}
		if _, err := enc.SealInPlace(make([]byte, TransformHeaderSize), 1); !errors.Is(err, ErrMalformed) {
			t.Errorf("cipher %d: empty frame sealed: %v", c, err)
		}
	}
	enc, _ := NewEncryptor(CipherAES128GCM, cipherKey(CipherAES128GCM))
	dec, _ := NewDecryptor(CipherAES128GCM, cipherKey(CipherAES128GCM))
	tight := make([]byte, TransformHeaderSize+10)
	if _, err := enc.SealInPlace(tight, 1); !errors.Is(err, ErrMalformed) {
		t.Errorf("SealInPlace without tag room: %v", err)
	}
	msg, _ := enc.Seal(nil, 1, plain)
	msg = msg[:len(msg):len(msg)]
	if _, err := dec.OpenInPlace(msg); !errors.Is(err, ErrMalformed) {
		t.Errorf("OpenInPlace without room: %v", err)
	}
}

// TestInPlaceAllocs: GCM in place allocates nothing.
func TestInPlaceAllocs(t *testing.T) {
	enc, _ := NewEncryptor(CipherAES128GCM, cipherKey(CipherAES128GCM))
	dec, _ := NewDecryptor(CipherAES128GCM, cipherKey(CipherAES128GCM))
	frame := make([]byte, TransformHeaderSize+65536, TransformHeaderSize+65536+tagSize)
	if a := testing.AllocsPerRun(20, func() {
		if _, err := enc.SealInPlace(frame, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := dec.OpenInPlace(frame); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("in-place seal+open allocates %v times", a)
	}
}
