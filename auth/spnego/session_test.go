package spnego_test

import (
	"errors"
	"testing"

	"sofs.io/sofs/auth/ntlm"
	"sofs.io/sofs/auth/ntlm/ntlmtest"
	"sofs.io/sofs/auth/spnego"
)

// clientInit wraps an NTLM NEGOTIATE in a GSS NegTokenInit as a client
// would: the same bytes InitialToken produces, with mechToken [2] in place
// of negHints [3].
func clientInit(t *testing.T, negotiate []byte) []byte {
	t.Helper()
	mechTypes := []byte{0x30, 0x0c, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a}
	tlv := func(tag byte, c []byte) []byte {
		if len(c) >= 0x80 {
			return append([]byte{tag, 0x81, byte(len(c))}, c...)
		}
		return append([]byte{tag, byte(len(c))}, c...)
	}
	body := append(tlv(0xa0, mechTypes), tlv(0xa2, tlv(0x04, negotiate))...)
	spnegoOID := []byte{0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02}
	return tlv(0x60, append(spnegoOID, tlv(0xa0, tlv(0x30, body))...))
}

// TestSessionSetupLegs runs the SESSION_SETUP wire exchange of the brief
// ([MS-SPNG] 3.3.5.1): NegTokenInit(NEGOTIATE), accept-incomplete with
// the CHALLENGE, NegTokenResp(AUTHENTICATE, mechListMIC), and
// accept-completed with the server's mechListMIC.
func TestSessionSetupLegs(t *testing.T) {
	srv := ntlm.NewServer(ntlm.Config{NetBIOSDomain: "SOFS", NetBIOSComputer: "NODE1",
		Users: ntlmtest.Users{"alice": "pw"}})
	for _, password := range []string{"pw", "bad"} {
		cl := ntlmtest.NewClient("alice", "SOFS", password)
		ex := srv.NewExchange()

		tok, err := spnego.Decode(clientInit(t, cl.Negotiate()))
		if err != nil || !tok.Init || len(tok.MechTypes) != 1 || !tok.MechTypes[0].Equal(spnego.OIDNTLMSSP) {
			t.Fatalf("leg 1 decode: %+v, %v", tok, err)
		}
		mechTypesDER := tok.MechTypesDER
		chal, err := ex.Negotiate(tok.MechToken)
		if err != nil {
			t.Fatal(err)
		}
		reply, err := spnego.Decode(spnego.EncodeResp(spnego.AcceptIncomplete, spnego.OIDNTLMSSP, chal, nil))
		if err != nil || reply.NegState != spnego.AcceptIncomplete {
			t.Fatalf("leg 1 reply: %+v, %v", reply, err)
		}

		auth, _, err := cl.Authenticate(reply.MechToken)
		if err != nil {
			t.Fatal(err)
		}
		tok, err = spnego.Decode(spnego.EncodeResp(spnego.NegStateAbsent, nil, auth, cl.MakeMIC(mechTypesDER)))
		if err != nil {
			t.Fatal(err)
		}
		res, err := ex.Authenticate(tok.MechToken)
		if password == "bad" {
			if !errors.Is(err, ntlm.ErrLogonFailure) {
				t.Fatalf("bad password: err = %v", err)
			}
			continue
		}
		if err != nil || res.User != "alice" {
			t.Fatalf("Authenticate: %+v, %v", res, err)
		}
		if err := ex.VerifyMIC(mechTypesDER, tok.MechListMIC); err != nil {
			t.Fatalf("client mechListMIC: %v", err)
		}
		done, err := spnego.Decode(spnego.EncodeResp(spnego.AcceptCompleted, nil, nil, ex.MakeMIC(mechTypesDER)))
		if err != nil || done.NegState != spnego.AcceptCompleted {
			t.Fatalf("final reply: %+v, %v", done, err)
		}
		if err := cl.VerifyMIC(mechTypesDER, done.MechListMIC); err != nil {
			t.Fatalf("server mechListMIC: %v", err)
		}
	}
}
