package ntlm_test

import (
	"bytes"
	"errors"
	"testing"

	smb2 "github.com/cloudsoda/go-smb2"

	"sofs.io/sofs/auth/ntlm"
	"sofs.io/sofs/auth/ntlm/ntlmtest"
)

// TestThirdPartyClient authenticates the NTLM initiator of an independent
// Go SMB client (cloudsoda/go-smb2), so the acceptor is checked against
// code this project did not write: its AUTHENTICATE (with MIC and
// KEY_EXCH) must verify, both sides must agree on the session key, and
// its SPNEGO mechListMIC must verify.
func TestThirdPartyClient(t *testing.T) {
	srv := ntlm.NewServer(ntlm.Config{
		NetBIOSDomain: "SOFS", NetBIOSComputer: "NODE1", DNSDomain: "sofs.test", DNSComputer: "node1.sofs.test",
		Users: ntlmtest.Users{"alice": "S3cret!"},
	})
	mechTypes := []byte{0x30, 0x0c, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a}
	for _, tc := range []struct {
		user, domain, password string
		ok                     bool
	}{
		{"alice", "SOFS", "S3cret!", true},
		{"Alice", "", "S3cret!", true},
		{"alice", "SOFS", "wrong", false},
		{"nobody", "SOFS", "S3cret!", false},
	} {
		cl := &smb2.NTLMInitiator{User: tc.user, Domain: tc.domain, Password: tc.password, Workstation: "GOCLIENT"}
		neg, err := cl.InitSecContext()
		if err != nil {
			t.Fatal(err)
		}
		ex := srv.NewExchange()
		chal, err := ex.Negotiate(neg)
		if err != nil {
			t.Fatalf("Negotiate: %v", err)
		}
		auth, err := cl.AcceptSecContext(chal)
		if err != nil {
			t.Fatalf("client rejects our CHALLENGE: %v", err)
		}
		res, err := ex.Authenticate(auth)
		if !tc.ok {
			if !errors.Is(err, ntlm.ErrLogonFailure) {
				t.Errorf("%s/%s: err = %v, want ErrLogonFailure", tc.user, tc.password, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: Authenticate: %v", tc.user, err)
		}
		if res.User != tc.user || res.Workstation != "GOCLIENT" || !res.MIC {
			t.Errorf("result = %+v", res)
		}
		if !bytes.Equal(res.SessionKey, cl.SessionKey()) {
			t.Errorf("session keys differ: server %x, client %x", res.SessionKey, cl.SessionKey())
		}
		if err := ex.VerifyMIC(mechTypes, cl.Sum(mechTypes)); err != nil {
			t.Errorf("client's mechListMIC: %v", err)
		}
	}
}
