package clustertls

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestJoinTokenRoundTrip(t *testing.T) {
	tok, err := NewJoinToken([32]byte{0xab, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	s := tok.String()
	got, err := ParseJoinToken("  " + s + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if got != tok {
		t.Fatalf("round trip: %+v, want %+v", got, tok)
	}
	if !SecretMatches(tok.Secret[:], tok.SecretHash()) {
		t.Fatal("secret does not match its own hash")
	}
	other := tok.Secret
	other[15] ^= 0x80
	if SecretMatches(other[:], tok.SecretHash()) || SecretMatches(tok.Secret[:], "") {
		t.Fatal("another secret or an empty hash matches")
	}
	bad := []string{
		"",
		strings.ToUpper(s),
		strings.Replace(s, "sofs1", "sofs2", 1),
		s[:len(s)-1],
		s + "0",
		strings.Replace(s, ".", "-", 1),
		s[:len(s)-1] + "g",
		strings.Repeat("a", len(s)),
		"sofs1." + strings.Repeat("0", 12) + "." + strings.Repeat("0", 33) + "." + strings.Repeat("0", 63),
	}
	for _, b := range bad {
		if _, err := ParseJoinToken(b); !errors.Is(err, ErrBadToken) {
			t.Errorf("ParseJoinToken(%q) = %v, want ErrBadToken", b, err)
		}
	}
}

// FuzzParseJoinToken: the parser never panics, accepts only its own
// layout, and what it accepts prints back to the same token.
func FuzzParseJoinToken(f *testing.F) {
	tok, _ := NewJoinToken([32]byte{7})
	f.Add(tok.String())
	f.Add("sofs1...")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseJoinToken(s)
		if err != nil {
			return
		}
		if got.String() != strings.TrimSpace(s) {
			t.Fatalf("accepted %q but prints %q", s, got.String())
		}
		if !ValidTokenID(got.ID) {
			t.Fatalf("accepted id %q", got.ID)
		}
	})
}

// TestPinnedChain: a chain from the pinned CA verifies; one from another
// CA, a chain without the CA, or a leaf that is not the CA's does not.
func TestPinnedChain(t *testing.T) {
	caDir, otherDir := t.TempDir(), t.TempDir()
	if err := NewCA(caDir, "a"); err != nil {
		t.Fatal(err)
	}
	if err := NewCA(otherDir, "b"); err != nil {
		t.Fatal(err)
	}
	a := newNode(t, caDir, "n1")
	b := newNode(t, otherDir, "evil")
	pin := HashDER(a.CA.Raw)
	good := [][]byte{a.Cert.Certificate[0], a.CA.Raw}
	if err := verifyPinned(good, pin, time.Now()); err != nil {
		t.Fatalf("own chain: %v", err)
	}
	for name, chain := range map[string][][]byte{
		"other CA":           {b.Cert.Certificate[0], b.CA.Raw},
		"no CA":              {a.Cert.Certificate[0]},
		"foreign leaf":       {b.Cert.Certificate[0], a.CA.Raw},
		"CA as its own leaf": {a.CA.Raw, a.CA.Raw},
	} {
		if err := verifyPinned(chain, pin, time.Now()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
