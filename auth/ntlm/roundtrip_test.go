package ntlm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
	"time"

	"sofs.io/sofs/auth/ntlm/ntlmtest"
)

var testUsers = ntlmtest.Users{"alice": "S3cret!", "bob": "hunter2"}

// mechTypesDER is a DER MechTypeList (NTLMSSP only) as SPNEGO would MIC it.
var mechTypesDER = []byte{0x30, 0x0c, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a}

var testNow = time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC)

func newTestServer(guest bool) *Server {
	return NewServer(Config{
		NetBIOSDomain: "SOFS", NetBIOSComputer: "NODE1",
		DNSDomain: "sofs.test", DNSComputer: "node1.sofs.test",
		Users: testUsers, AllowGuest: guest,
		Now: func() time.Time { return testNow },
	})
}

// run drives one exchange: NEGOTIATE, CHALLENGE, then AUTHENTICATE as
// edited by tamper (which may be nil).
func run(t *testing.T, s *Server, c *ntlmtest.Client, tamper func([]byte) []byte) (*Exchange, Result, []byte, error) {
	t.Helper()
	e := s.NewExchange()
	ch, err := e.Negotiate(c.Negotiate())
	if err != nil {
		t.Fatalf("Negotiate: %v", err)
	}
	auth, key, err := c.Authenticate(ch)
	if err != nil {
		t.Fatalf("client Authenticate: %v", err)
	}
	if tamper != nil {
		auth = tamper(auth)
	}
	res, err := e.Authenticate(auth)
	return e, res, key, err
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client func() *ntlmtest.Client
	}{
		{"mic+keyexch", func() *ntlmtest.Client { return ntlmtest.NewClient("alice", "SOFS", "S3cret!") }},
		{"user case, lower domain", func() *ntlmtest.Client { return ntlmtest.NewClient("ALICE", "sofs", "S3cret!") }},
		{"empty domain", func() *ntlmtest.Client { return ntlmtest.NewClient("bob", "", "hunter2") }},
		{"upn", func() *ntlmtest.Client { return ntlmtest.NewClient("bob@sofs.test", "", "hunter2") }},
		{"no mic", func() *ntlmtest.Client {
			c := ntlmtest.NewClient("alice", "SOFS", "S3cret!")
			c.NoMIC = true
			return c
		}},
		{"no keyexch", func() *ntlmtest.Client {
			c := ntlmtest.NewClient("alice", "SOFS", "S3cret!")
			c.NoKeyExch = true
			return c
		}},
		{"oem", func() *ntlmtest.Client {
			c := ntlmtest.NewClient("alice", "SOFS", "S3cret!")
			c.OEM = true
			return c
		}},
		{"hashed with upper domain", func() *ntlmtest.Client {
			c := ntlmtest.NewClient("alice", "sofs", "S3cret!")
			upper := "SOFS"
			c.HashDomain = &upper
			return c
		}},
		{"hashed with empty domain", func() *ntlmtest.Client {
			c := ntlmtest.NewClient("alice", "OTHER", "S3cret!")
			empty := ""
			c.HashDomain = &empty
			return c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.client()
			e, res, key, err := run(t, newTestServer(false), c, nil)
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if res.User != c.User || res.Domain != c.Domain || res.Workstation != c.Workstation || res.Anonymous {
				t.Errorf("result = %+v", res)
			}
			if res.MIC != !c.NoMIC {
				t.Errorf("Result.MIC = %v with NoMIC = %v", res.MIC, c.NoMIC)
			}
			if len(res.SessionKey) != 16 || !bytes.Equal(res.SessionKey, key) {
				t.Errorf("session key %x, client has %x", res.SessionKey, key)
			}
			// SPNEGO mechListMIC in both directions.
			if err := e.VerifyMIC(mechTypesDER, c.MakeMIC(mechTypesDER)); err != nil {
				t.Errorf("VerifyMIC of the client's MIC: %v", err)
			}
			if err := c.VerifyMIC(mechTypesDER, e.MakeMIC(mechTypesDER)); err != nil {
				t.Errorf("client rejects the server's MIC: %v", err)
			}
			bad := c.MakeMIC(mechTypesDER)
			bad[5] ^= 1
			if err := e.VerifyMIC(mechTypesDER, bad); !errors.Is(err, ErrLogonFailure) {
				t.Errorf("tampered mechListMIC: err = %v", err)
			}
			if err := e.VerifyMIC(mechTypesDER[:len(mechTypesDER)-1], c.MakeMIC(mechTypesDER)); err == nil {
				t.Error("mechListMIC over other data verified")
			}
		})
	}
}

func TestKeyExchangeMakesFreshKeys(t *testing.T) {
	s := newTestServer(false)
	_, r1, _, err1 := run(t, s, ntlmtest.NewClient("alice", "SOFS", "S3cret!"), nil)
	_, r2, _, err2 := run(t, s, ntlmtest.NewClient("alice", "SOFS", "S3cret!"), nil)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if bytes.Equal(r1.SessionKey, r2.SessionKey) {
		t.Error("two exchanges produced the same session key")
	}
}

func TestLogonFailures(t *testing.T) {
	flipAt := func(off int) func([]byte) []byte {
		return func(b []byte) []byte { b[off] ^= 0x01; return b }
	}
	// fieldOff returns the payload offset of the descriptor at pos.
	fieldOff := func(b []byte, pos int) int { return int(binary.LittleEndian.Uint32(b[pos+4:])) }
	for _, tc := range []struct {
		name   string
		client *ntlmtest.Client
		tamper func([]byte) []byte
	}{
		{"wrong password", ntlmtest.NewClient("alice", "SOFS", "wrong"), nil},
		{"other user's password", ntlmtest.NewClient("alice", "SOFS", "hunter2"), nil},
		{"unknown user", ntlmtest.NewClient("mallory", "SOFS", "S3cret!"), nil},
		{"tampered MIC", ntlmtest.NewClient("alice", "SOFS", "S3cret!"), flipAt(72)},
		{"tampered flags under MIC", ntlmtest.NewClient("alice", "SOFS", "S3cret!"), flipAt(61)},
		{"tampered workstation under MIC", ntlmtest.NewClient("alice", "SOFS", "S3cret!"),
			func(b []byte) []byte { b[fieldOff(b, 44)] ^= 1; return b }},
		{"tampered NTProofStr", ntlmtest.NewClient("alice", "SOFS", "S3cret!"),
			func(b []byte) []byte { b[fieldOff(b, 20)] ^= 1; return b }},
		{"tampered client blob", ntlmtest.NewClient("alice", "SOFS", "S3cret!"),
			func(b []byte) []byte { b[fieldOff(b, 20)+30] ^= 1; return b }},
		{"tampered encrypted key", ntlmtest.NewClient("alice", "SOFS", "S3cret!"),
			func(b []byte) []byte { b[fieldOff(b, 52)] ^= 1; return b }},
		{"NTLMv1 response", ntlmtest.NewClient("alice", "SOFS", "S3cret!"),
			func(b []byte) []byte { binary.LittleEndian.PutUint16(b[20:], 24); return b }},
		{"LM only", ntlmtest.NewClient("alice", "SOFS", "S3cret!"),
			func(b []byte) []byte { binary.LittleEndian.PutUint16(b[20:], 0); return b }},
		{"anonymous when not allowed", ntlmtest.NewClient("", "", ""), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, res, _, err := run(t, newTestServer(false), tc.client, tc.tamper)
			if !errors.Is(err, ErrLogonFailure) {
				t.Fatalf("err = %v, want ErrLogonFailure (result %+v)", err, res)
			}
		})
	}
}

// TestMICRequired checks that a MIC announced in MsvAvFlags is enforced
// even when the MIC field is all zero (a downgrade that strips the MIC
// but cannot change the NTProofStr-protected flags).
func TestMICRequired(t *testing.T) {
	zero := func(b []byte) []byte { clear(b[72:88]); return b }
	_, _, _, err := run(t, newTestServer(false), ntlmtest.NewClient("alice", "SOFS", "S3cret!"), zero)
	if !errors.Is(err, ErrLogonFailure) {
		t.Fatalf("zeroed MIC: err = %v", err)
	}
}

func TestAnonymous(t *testing.T) {
	e, res, _, err := run(t, newTestServer(true), ntlmtest.NewClient("", "", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Anonymous || res.User != "" || res.SessionKey != nil {
		t.Errorf("result = %+v", res)
	}
	if mic := e.MakeMIC(mechTypesDER); mic != nil {
		t.Errorf("anonymous exchange made a mechListMIC %x", mic)
	}
	if err := e.VerifyMIC(mechTypesDER, make([]byte, 16)); err == nil {
		t.Error("anonymous exchange verified a mechListMIC")
	}
	// An empty LmChallengeResponse is anonymous too; an NT response is not.
	noLM := func(b []byte) []byte { binary.LittleEndian.PutUint16(b[12:], 0); return b }
	if _, res, _, err := run(t, newTestServer(true), ntlmtest.NewClient("", "", ""), noLM); err != nil || !res.Anonymous {
		t.Errorf("empty LM: %+v, %v", res, err)
	}
	withNT := func(b []byte) []byte { copy(b[20:28], b[12:20]); return b } // NT = the LM byte
	if _, _, _, err := run(t, newTestServer(true), ntlmtest.NewClient("", "", ""), withNT); !errors.Is(err, ErrLogonFailure) {
		t.Errorf("anonymous with an NT response: err = %v", err)
	}
}

// AcceptAnonymous lets one Exchange take a null-session logon on a server
// that refuses them, and nothing else: named users still need their
// password, and other Exchanges still refuse anonymous.
func TestAcceptAnonymous(t *testing.T) {
	s := newTestServer(false)
	c := ntlmtest.NewClient("", "", "")
	e := s.NewExchange()
	e.AcceptAnonymous()
	ch, err := e.Negotiate(c.Negotiate())
	if err != nil {
		t.Fatal(err)
	}
	auth, _, err := c.Authenticate(ch)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Authenticate(auth)
	if err != nil || !res.Anonymous || res.SessionKey != nil {
		t.Fatalf("anonymous on an accepting exchange: %+v, %v", res, err)
	}
	if _, _, _, err := run(t, s, ntlmtest.NewClient("", "", ""), nil); !errors.Is(err, ErrLogonFailure) {
		t.Fatalf("anonymous on another exchange: err = %v", err)
	}
	e = s.NewExchange()
	e.AcceptAnonymous()
	bad := ntlmtest.NewClient("alice", "SOFS", "wrong")
	ch, err = e.Negotiate(bad.Negotiate())
	if err != nil {
		t.Fatal(err)
	}
	auth, _, err = bad.Authenticate(ch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Authenticate(auth); !errors.Is(err, ErrLogonFailure) {
		t.Fatalf("wrong password on an anonymous-accepting exchange: err = %v", err)
	}
}

func TestExchangeSingleUse(t *testing.T) {
	s := newTestServer(false)
	c := ntlmtest.NewClient("alice", "SOFS", "S3cret!")
	e := s.NewExchange()
	if _, err := e.Authenticate([]byte("NTLMSSP\x00")); !errors.Is(err, ErrLogonFailure) {
		t.Errorf("AUTHENTICATE before NEGOTIATE: err = %v", err)
	}
	e = s.NewExchange()
	ch, err := e.Negotiate(c.Negotiate())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Negotiate(c.Negotiate()); err == nil {
		t.Error("second NEGOTIATE accepted")
	}
	auth, _, err := c.Authenticate(ch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Authenticate(auth); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Authenticate(auth); err == nil {
		t.Error("replayed AUTHENTICATE accepted on the same exchange")
	}
	// The same AUTHENTICATE against another exchange's challenge.
	e2 := s.NewExchange()
	if _, err := e2.Negotiate(c.Negotiate()); err != nil {
		t.Fatal(err)
	}
	if _, err := e2.Authenticate(auth); !errors.Is(err, ErrLogonFailure) {
		t.Errorf("replay on a new challenge: err = %v", err)
	}
}

func TestMalformed(t *testing.T) {
	s := newTestServer(false)
	c := ntlmtest.NewClient("alice", "SOFS", "S3cret!")
	neg := c.Negotiate()
	for _, bad := range [][]byte{
		nil, neg[:15], []byte("NTLMSSX\x00\x01\x00\x00\x00\x00\x00\x00\x00"),
		append([]byte("NTLMSSP\x00\x03\x00\x00\x00"), make([]byte, 28)...),                             // wrong type
		append(append([]byte(nil), neg[:16]...), 1, 0, 1, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), // domain outside
		make([]byte, maxMessage+1),
	} {
		if _, err := s.NewExchange().Negotiate(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("Negotiate(%x...): err = %v, want ErrMalformed", bad[:min(len(bad), 16)], err)
		}
	}
	set16 := func(pos int, v uint16) func([]byte) []byte {
		return func(b []byte) []byte { binary.LittleEndian.PutUint16(b[pos:], v); return b }
	}
	set32 := func(pos int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { binary.LittleEndian.PutUint32(b[pos:], v); return b }
	}
	for name, tamper := range map[string]func([]byte) []byte{
		"short":               func(b []byte) []byte { return b[:63] },
		"user past end":       set32(36+4, 0xfffffff0),
		"nt length past end":  set16(20, 0xfff0),
		"field in header":     set32(28+4, 8),
		"odd unicode user":    set16(36, 3),
		"short v2 response":   set16(20, 30),
		"3-byte session key":  set16(52, 3),
		"truncated":           func(b []byte) []byte { return b[:len(b)-1] },
		"mic without room":    func(b []byte) []byte { return b[:80] },
		"not authenticate":    set32(8, 1),
		"bad signature":       func(b []byte) []byte { b[0] = 'X'; return b },
		"over the size limit": func(b []byte) []byte { return append(b, make([]byte, maxMessage)...) },
	} {
		_, _, _, err := run(t, s, ntlmtest.NewClient("alice", "SOFS", "S3cret!"), tamper)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestChallengeMessage(t *testing.T) {
	s := newTestServer(false)
	c := ntlmtest.NewClient("alice", "SOFS", "S3cret!")
	ch, err := s.NewExchange().Negotiate(c.Negotiate())
	if err != nil {
		t.Fatal(err)
	}
	if string(ch[:8]) != signature || binary.LittleEndian.Uint32(ch[8:]) != typeChallenge {
		t.Fatalf("bad header %x", ch[:12])
	}
	flags := binary.LittleEndian.Uint32(ch[20:])
	want := uint32(flagUnicode | flagRequestTarget | flagSign | flagSeal | flagNTLM | flagAlwaysSign |
		flagTargetDomain | flagExtendedSec | flagTargetInfo | flagVersion | flag128 | flagKeyExch | flag56)
	if flags != want {
		t.Errorf("flags = %#08x, want %#08x", flags, want)
	}
	tn, err := field(ch, 12, challengeFixedLen, "TargetName")
	if err != nil || !bytes.Equal(tn, utf16le("SOFS")) {
		t.Errorf("TargetName = %q, %v", tn, err)
	}
	ti, err := field(ch, 40, challengeFixedLen, "TargetInfo")
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint16][]byte{}
	var order []uint16
	for len(ti) >= 4 {
		id, n := binary.LittleEndian.Uint16(ti), int(binary.LittleEndian.Uint16(ti[2:]))
		got[id] = ti[4 : 4+n]
		order = append(order, id)
		ti = ti[4+n:]
	}
	if want := []uint16{2, 1, 4, 3, 7, 0}; !slices.Equal(order, want) {
		t.Errorf("AV pair order %v, want %v", order, want)
	}
	for id, v := range map[uint16]string{1: "NODE1", 2: "SOFS", 3: "node1.sofs.test", 4: "sofs.test"} {
		if !bytes.Equal(got[id], utf16le(v)) {
			t.Errorf("AV %d = %q, want %q", id, got[id], v)
		}
	}
	// 2026-11-22 05:00 UTC as a FILETIME (seconds since 1601 times 10^7).
	if ts := binary.LittleEndian.Uint64(got[7]); ts != 134397972000000000 {
		t.Errorf("timestamp = %d", ts)
	}

	// A minimal client gets only what it asked for.
	e := s.NewExchange()
	minimal := []byte("NTLMSSP\x00\x01\x00\x00\x00\x01\x02\x00\x00") // UNICODE|NTLM
	ch, err = e.Negotiate(minimal)
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint32(ch[20:]); got != flagUnicode|flagNTLM|flagTargetInfo|flagTargetDomain {
		t.Errorf("minimal flags = %#08x", got)
	}
	if !bytes.Equal(ch[48:56], make([]byte, 8)) {
		t.Error("Version sent without NTLMSSP_NEGOTIATE_VERSION")
	}
}

// TestMakeMICOnlyWhenDue pins when the server's mechListMIC is produced:
// after an NTLM MIC, or after the client's own mechListMIC verified, and
// not otherwise (a client that expects none rejects one).
func TestMakeMICOnlyWhenDue(t *testing.T) {
	e, _, _, err := run(t, newTestServer(false), ntlmtest.NewClient("alice", "SOFS", "S3cret!"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.MakeMIC(mechTypesDER) == nil {
		t.Error("no mechListMIC after an NTLM MIC")
	}
	c := ntlmtest.NewClient("alice", "SOFS", "S3cret!")
	c.NoMIC = true
	e, _, _, err = run(t, newTestServer(false), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if mic := e.MakeMIC(mechTypesDER); mic != nil {
		t.Errorf("mechListMIC %x made with neither NTLM MIC nor client mechListMIC", mic)
	}
	if err := e.VerifyMIC(mechTypesDER, c.MakeMIC(mechTypesDER)); err != nil {
		t.Fatal(err)
	}
	if e.MakeMIC(mechTypesDER) == nil {
		t.Error("no mechListMIC after the client's verified")
	}
}
