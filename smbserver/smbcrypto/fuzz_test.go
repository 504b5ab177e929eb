package smbcrypto

import (
	"bytes"
	"errors"
	"testing"
)

// seedTransforms adds the published transform vectors and a freshly sealed
// message per cipher to f's corpus.
func seedTransforms(f *testing.F) {
	for _, v := range transformVectors {
		f.Add(unhex(f, v.request))
		f.Add(unhex(f, v.response))
	}
	for _, c := range allCiphers {
		e, _ := NewEncryptor(c, cipherKey(c))
		m, _ := e.Seal(nil, 42, []byte("seed message for the fuzzer, long enough for two blocks"))
		f.Add(m)
	}
	f.Add([]byte{0xFD, 'S', 'M', 'B'})
	f.Add([]byte{})
}

// FuzzTransformSessionID: arbitrary input never panics, and anything
// accepted has the framing the decoder promises.
func FuzzTransformSessionID(f *testing.F) {
	seedTransforms(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		_, err := TransformSessionID(msg)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(msg) <= TransformHeaderSize || msg[0] != 0xFD || msg[42] != 1 || msg[43] != 0 {
			t.Fatalf("accepted malformed header %x", msg[:min(len(msg), TransformHeaderSize)])
		}
	})
}

// FuzzOpen feeds arbitrary messages to a Decryptor of every cipher: it must
// never panic, must leave dst's prefix alone, and must only succeed on
// messages that carry the key's tag (in practice: the unmodified seeds).
func FuzzOpen(f *testing.F) {
	seedTransforms(f)
	var decs []Decryptor
	for _, c := range allCiphers {
		d, err := NewDecryptor(c, cipherKey(c))
		if err != nil {
			f.Fatal(err)
		}
		decs = append(decs, d)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		for _, d := range decs {
			out, err := d.Open([]byte("prefix"), msg)
			if !bytes.HasPrefix(out, []byte("prefix")) {
				t.Fatalf("dst prefix clobbered: %q", out)
			}
			if err != nil {
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrAuthFailed) {
					t.Fatalf("unexpected error %v", err)
				}
				if len(out) != len("prefix") {
					t.Fatalf("failed Open extended dst by %d bytes", len(out)-len("prefix"))
				}
				continue
			}
			if len(out)-len("prefix") != len(msg)-TransformHeaderSize {
				t.Fatalf("plaintext of %d bytes from a %d-byte message", len(out)-len("prefix"), len(msg))
			}
		}
		// OpenInPlace (the server's path) agrees with Open on every
		// input: same verdict, same plaintext, never past its room.
		for _, d := range decs {
			want, werr := d.Open(nil, msg)
			buf := make([]byte, len(msg), len(msg)+OpenInPlaceRoom)
			copy(buf, msg)
			got, gerr := d.OpenInPlace(buf)
			if (werr == nil) != (gerr == nil) || (gerr == nil && !bytes.Equal(got, want)) {
				t.Fatalf("OpenInPlace (%v) disagrees with Open (%v)", gerr, werr)
			}
			if gerr != nil && !errors.Is(gerr, ErrMalformed) && !errors.Is(gerr, ErrAuthFailed) {
				t.Fatalf("OpenInPlace: unexpected error %v", gerr)
			}
		}
	})
}

// FuzzVerify: Verify never panics on arbitrary input, rejects anything
// shorter than a header, and accepts a message right after Sign.
func FuzzVerify(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 63))
	f.Add(make([]byte, 64))
	f.Add(append([]byte{0xFE, 'S', 'M', 'B', 64, 0}, make([]byte, 130)...))
	var signers []Signer
	for _, alg := range []uint16{SigningHMACSHA256, SigningAESCMAC, SigningAESGMAC} {
		s, err := NewSigner(dialect311, alg, signKey)
		if err != nil {
			f.Fatal(err)
		}
		signers = append(signers, s)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		for _, s := range signers {
			ok := s.Verify(msg)
			if len(msg) < headerSize {
				if ok {
					t.Fatalf("%d-byte message verified", len(msg))
				}
				continue
			}
			m := append([]byte(nil), msg...)
			s.Sign(m)
			if !s.Verify(m) {
				t.Fatalf("signed message rejected")
			}
		}
	})
}
