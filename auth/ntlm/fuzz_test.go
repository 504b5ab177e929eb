package ntlm

import (
	"bytes"
	"errors"
	"testing"

	"sofs.io/sofs/auth/ntlm/ntlmtest"
)

// fuzzChallenge is the fixed server challenge of the fuzz servers, so
// seeds built against it stay valid across runs.
var fuzzChallenge = []byte{1, 2, 3, 4, 5, 6, 7, 8}

// repeatReader returns the same bytes forever; it makes every challenge
// in a fuzz run identical.
type repeatReader []byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r[i%len(r)]
	}
	return len(p), nil
}

func fuzzServer(guest bool) *Server {
	s := newTestServer(guest)
	s.cfg.Rand = repeatReader(fuzzChallenge)
	return s
}

func FuzzNegotiate(f *testing.F) {
	f.Add(ntlmtest.NewClient("alice", "SOFS", "x").Negotiate())
	c := ntlmtest.NewClient("alice", "SOFS", "x")
	c.OEM = true
	f.Add(c.Negotiate())
	f.Add([]byte("NTLMSSP\x00\x01\x00\x00\x00\x01\x02\x00\x00"))
	f.Add(unhex(f, specNegotiate))
	s := fuzzServer(false)
	f.Fuzz(func(t *testing.T, msg []byte) {
		ch, err := s.NewExchange().Negotiate(msg)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		// Whatever was accepted yields a CHALLENGE the test client reads.
		if _, err := field(ch, 40, challengeFixedLen, "TargetInfo"); err != nil {
			t.Fatalf("own CHALLENGE undecodable: %v", err)
		}
	})
}

func FuzzAuthenticate(f *testing.F) {
	neg := ntlmtest.NewClient("alice", "SOFS", "x").Negotiate()
	seed := func(c *ntlmtest.Client) {
		e := fuzzServer(true).NewExchange()
		ch, err := e.Negotiate(c.Negotiate())
		if err != nil {
			f.Fatal(err)
		}
		auth, _, err := c.Authenticate(ch)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(auth)
	}
	seed(ntlmtest.NewClient("alice", "SOFS", "S3cret!"))
	seed(ntlmtest.NewClient("bob", "", "hunter2"))
	seed(ntlmtest.NewClient("", "", ""))
	noMIC := ntlmtest.NewClient("alice", "SOFS", "S3cret!")
	noMIC.NoMIC, noMIC.NoKeyExch, noMIC.OEM = true, true, true
	seed(noMIC)
	f.Add(unhex(f, specAuthenticate))

	s := fuzzServer(true)
	f.Fuzz(func(t *testing.T, msg []byte) {
		e := s.NewExchange()
		if _, err := e.Negotiate(neg); err != nil {
			t.Fatal(err)
		}
		orig := bytes.Clone(msg)
		res, err := e.Authenticate(msg)
		if !bytes.Equal(orig, msg) {
			t.Fatal("Authenticate modified its input")
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrLogonFailure) {
				t.Fatalf("error %v is neither ErrMalformed nor ErrLogonFailure", err)
			}
			return
		}
		if !res.Anonymous && len(res.SessionKey) != 16 {
			t.Fatalf("success with a %d-byte session key", len(res.SessionKey))
		}
		_ = e.MakeMIC(msg)
		_ = e.VerifyMIC(msg, msg)
	})
}
