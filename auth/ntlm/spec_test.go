package ntlm

import (
	"bytes"
	"crypto/rc4"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"sofs.io/sofs/auth/ntlm/ntlmtest"
)

// unhex decodes a hex string that may contain spaces and newlines.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The [MS-NLMP] 4.2.4 example: user "User", domain "Domain", password
// "Password", server challenge 0123456789abcdef, client challenge aa..aa,
// time 0, RandomSessionKey 55..55.
const (
	specServerChallenge = "0123456789abcdef"
	// specAuthenticate is the AUTHENTICATE_MESSAGE of [MS-NLMP] 4.2.4.3.
	specAuthenticate = `
		4e544c4d535350000300000018001800 6c00000054005400840000000c000c00
		48000000080008005400000010001000 5c00000010001000d8000000358288e2
		0501280a0000000f44006f006d006100 69006e00550073006500720043004f00
		4d005000550054004500520086c35097 ac9cec102554764a57cccc19aaaaaaaa
		aaaaaaaa68cd0ab851e51c96aabc927b ebef6a1c010100000000000000000000
		00000000aaaaaaaaaaaaaaaa00000000 02000c0044006f006d00610069006e00
		01000c00530065007200760065007200 0000000000000000c5dad2544fc97990
		94ce1ce90bc9d03e`
	// specNegotiate is a NEGOTIATE_MESSAGE asking for the flags the 4.2.4
	// CHALLENGE grants (33 82 8a e2 minus the server-only bits).
	specNegotiate = "4e544c4d5353500001000000378208e2000000000000000000000000000000000601b01d0000000f"
)

func TestNTOWFv2SpecVector(t *testing.T) {
	// [MS-NLMP] 4.2.4.1.1 and 4.2.4.2.2.
	h := ntlmtest.NTHash("Password")
	if got, want := hex.EncodeToString(h[:]), "a4f49c406510bdcab6824ee7c30fd852"; got != want {
		t.Fatalf("NT hash = %s, want %s", got, want)
	}
	key := ntowfv2(h, "User", "Domain")
	if got, want := hex.EncodeToString(key), "0c868a403bfd7a93a3001ef22ef02e3f"; got != want {
		t.Fatalf("NTOWFv2 = %s, want %s", got, want)
	}
	if lower := ntowfv2(h, "user", "Domain"); !bytes.Equal(lower, key) {
		t.Error("NTOWFv2 must upper-case the user name")
	}
	if dom := ntowfv2(h, "User", "DOMAIN"); bytes.Equal(dom, key) {
		t.Error("NTOWFv2 must keep the domain's case")
	}
	temp := unhex(t, `01010000000000000000000000000000aaaaaaaaaaaaaaaa00000000
		02000c0044006f006d00610069006e0001000c005300650072007600650072000000000000000000`)
	proof := hmacMD5(key, unhex(t, specServerChallenge), temp)
	if got, want := hex.EncodeToString(proof), "68cd0ab851e51c96aabc927bebef6a1c"; got != want {
		t.Fatalf("NTProofStr = %s, want %s", got, want)
	}
	if got, want := hex.EncodeToString(hmacMD5(key, proof)), "8de40ccadbc14a82f15cb0ad0de95ca3"; got != want {
		t.Fatalf("SessionBaseKey = %s, want %s", got, want)
	}
	enc := unhex(t, "c5dad2544fc9799094ce1ce90bc9d03e")
	if got := rc4Once(hmacMD5(key, proof), enc); !bytes.Equal(got, bytes.Repeat([]byte{0x55}, 16)) {
		t.Fatalf("decrypted RandomSessionKey = %x", got)
	}
}

// specServer returns a server whose next challenge is the spec's.
func specServer(t testing.TB, users Credentials) *Exchange {
	t.Helper()
	s := NewServer(Config{
		NetBIOSDomain: "Domain", NetBIOSComputer: "Server",
		Users: users,
		Rand:  bytes.NewReader(unhex(t, specServerChallenge)),
		Now:   func() time.Time { return time.Unix(0, 0) },
	})
	e := s.NewExchange()
	if _, err := e.Negotiate(unhex(t, specNegotiate)); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestSpecAuthenticateMessage(t *testing.T) {
	e := specServer(t, ntlmtest.Users{"USER": "Password"})
	res, err := e.Authenticate(unhex(t, specAuthenticate))
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if res.User != "User" || res.Domain != "Domain" || res.Workstation != "COMPUTER" || res.Anonymous {
		t.Errorf("result names = %+v", res)
	}
	if !bytes.Equal(res.SessionKey, bytes.Repeat([]byte{0x55}, 16)) {
		t.Errorf("SessionKey = %x, want the 4.2.4 RandomSessionKey 55..55", res.SessionKey)
	}
	// The spec example carries no MsvAvFlags, so no MIC; the session keys
	// are still those of 4.2.4.4.
	if got := hex.EncodeToString(e.keys.clientSign); got != "4788dc861b4782f35d43fd98fe1a2d39" {
		t.Errorf("client signing key = %s", got)
	}
	if got := hex.EncodeToString(e.keys.clientSeal); got != "59f600973cc4960a25480a7c196e4c58" {
		t.Errorf("client sealing key = %s", got)
	}
}

func TestSpecAuthenticateWrongPassword(t *testing.T) {
	e := specServer(t, ntlmtest.Users{"user": "password"})
	if _, err := e.Authenticate(unhex(t, specAuthenticate)); !errors.Is(err, ErrLogonFailure) {
		t.Fatalf("err = %v, want ErrLogonFailure", err)
	}
}

func TestSpecAuthenticateWrongChallenge(t *testing.T) {
	s := NewServer(Config{Users: ntlmtest.Users{"user": "Password"}})
	e := s.NewExchange()
	if _, err := e.Negotiate(unhex(t, specNegotiate)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Authenticate(unhex(t, specAuthenticate)); !errors.Is(err, ErrLogonFailure) {
		t.Fatalf("a response to another challenge: err = %v, want ErrLogonFailure", err)
	}
}

// TestSpecSealVectors reproduces [MS-NLMP] 4.2.4.4 (GSS_WrapEx with
// extended session security, 128-bit, KEY_EXCH) for both directions:
// sealing "Plaintext" then signing it with the same RC4 handle. This pins
// SIGNKEY, SEALKEY and the MAC that mechListMIC uses.
func TestSpecSealVectors(t *testing.T) {
	flags := uint32(flagExtendedSec | flag128 | flagKeyExch | flagSign | flagSeal)
	k := deriveKeys(bytes.Repeat([]byte{0x55}, 16), flags)
	plain := utf16le("Plaintext")
	for _, tc := range []struct {
		name            string
		sign, seal      []byte
		sealed, sigWant string
	}{
		{"client", k.clientSign, k.clientSeal, "54e50165bf1936dc996020c1811b0f06fb5f", "010000007fb38ec5c55d497600000000"},
		{"server", k.serverSign, k.serverSeal, "160871b730ba74e946c453d7465b54278dd0", "01000000b298b847ce7c580700000000"},
	} {
		h, err := rc4.NewCipher(tc.seal)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, len(plain))
		h.XORKeyStream(out, plain)
		if got := hex.EncodeToString(out); got != tc.sealed {
			t.Errorf("%s sealed = %s, want %s", tc.name, got, tc.sealed)
		}
		if got := hex.EncodeToString(mac(flags, tc.sign, h, 0, plain)); got != tc.sigWant {
			t.Errorf("%s signature = %s, want %s", tc.name, got, tc.sigWant)
		}
	}
}
