package ntlm

import (
	"bytes"
	"crypto/rc4"
	"errors"
	"testing"
)

// mirrored returns the server's Security and a client-side one (directions
// swapped) for keys derived from one exported session key.
func mirrored(t *testing.T, flags uint32) (server, client *Security) {
	t.Helper()
	k := deriveKeys(bytes.Repeat([]byte{7}, 16), flags)
	mk := func(inSign, inSeal, outSign, outSeal []byte) *Security {
		in, _ := rc4.NewCipher(inSeal)
		out, _ := rc4.NewCipher(outSeal)
		return &Security{flags: flags, inSign: inSign, inSeal: inSeal, inHandle: in,
			outSign: outSign, outSeal: outSeal, outHandle: out}
	}
	return mk(k.clientSign, k.clientSeal, k.serverSign, k.serverSeal),
		mk(k.serverSign, k.serverSeal, k.clientSign, k.clientSeal)
}

func TestSecuritySealRoundTrip(t *testing.T) {
	for _, flags := range []uint32{flagExtendedSec | flag128 | flagKeyExch, flagExtendedSec | flag128} {
		srv, cli := mirrored(t, flags)
		for i := range 3 {
			pdu := []byte("header|the stub to protect|trailer")
			plain := append([]byte(nil), pdu...)
			data := pdu[7:27]
			sig := cli.Seal(pdu, data)
			if bytes.Equal(pdu, plain) {
				t.Fatal("Seal left the data in clear")
			}
			if err := srv.Unseal(pdu, data, sig); err != nil {
				t.Fatalf("flags %#x message %d: %v", flags, i, err)
			}
			if !bytes.Equal(pdu, plain) {
				t.Fatalf("unsealed %q, want %q", pdu, plain)
			}
			msg := []byte("signed only")
			if err := cli.Verify(msg, srv.Sign(msg)); err != nil {
				t.Fatalf("flags %#x sign %d: %v", flags, i, err)
			}
		}
	}
}

// TestSecurityRejects checks that a changed byte, a replayed signature and a
// reordered message all fail, and that a failed Verify does not advance the
// sequence, so the genuine message still verifies.
func TestSecurityRejects(t *testing.T) {
	srv, cli := mirrored(t, flagExtendedSec|flag128|flagKeyExch)
	m1, m2 := []byte("first"), []byte("second")
	s1, s2 := cli.Sign(m1), cli.Sign(m2)
	if err := srv.Verify([]byte("firsT"), s1); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered message: %v", err)
	}
	if err := srv.Verify(m2, s2); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("out of order message: %v", err)
	}
	if err := srv.Verify(m1, s1); err != nil {
		t.Fatalf("genuine message after failures: %v", err)
	}
	if err := srv.Verify(m1, s1); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("replayed message: %v", err)
	}
	if err := srv.Verify(m2, s2[:8]); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("short signature: %v", err)
	}
}
