package spnego

import (
	"bytes"
	"errors"
	"testing"
)

func FuzzDecode(f *testing.F) {
	for _, h := range []string{capServerInit, capClientInit, capBareInit, capClientAuth, capAnonAuth,
		capServerDone, capServerChallenge, capNegoExInit} {
		f.Add(unhex(f, h))
	}
	f.Add(EncodeResp(RequestMIC, OIDKerberos5, []byte{1}, []byte{2}))
	f.Add([]byte("NTLMSSP\x00\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if tok.Raw {
			return
		}
		if tok.Init {
			// MechTypesDER must be exactly the list MechTypes came from.
			again, err := mechTypes(tok.MechTypesDER)
			if err != nil || len(again) != len(tok.MechTypes) {
				t.Fatalf("MechTypesDER %x does not re-decode: %v", tok.MechTypesDER, err)
			}
			return
		}
		// An accepted NegTokenResp survives re-encoding unchanged in meaning.
		re, err := Decode(EncodeResp(tok.NegState, tok.SupportedMech, tok.MechToken, tok.MechListMIC))
		if err != nil {
			t.Fatalf("re-encoded token does not decode: %v", err)
		}
		if re.NegState != tok.NegState || !bytes.Equal(re.MechToken, tok.MechToken) ||
			!bytes.Equal(re.MechListMIC, tok.MechListMIC) || !re.SupportedMech.Equal(tok.SupportedMech) {
			t.Fatalf("re-encoding changed %+v into %+v", tok, re)
		}
	})
}
