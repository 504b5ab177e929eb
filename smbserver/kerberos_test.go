package smbserver

import (
	"context"
	"encoding/asn1"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
	"github.com/rs/zerolog"

	"sofs.io/sofs/auth/krb5"
	"sofs.io/sofs/auth/spnego"
	"sofs.io/sofs/smbserver/wire"
)

// These tests drive SESSION_SETUP with Kerberos tokens built in-process
// (gokrb5's KDC-side helpers and a keytab made from a password), for what
// needs no PAC: the hint, mechanism selection and the refusals. Logons
// with real tickets and PACs run against Samba's AD DC in
// integration/kerberos_test.go and auth/krb5/dc_test.go.

const testRealm = "SOFS.TEST"

// writeKeytabFile writes a keytab holding service's key and returns its
// path.
func writeKeytabFile(t testing.TB, service, password string) string {
	t.Helper()
	kt := keytab.New()
	if err := kt.AddEntry(service, testRealm, password, time.Now(), 2, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	b, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "keytab")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// kerberosServer starts a server whose keytab holds cifs/sofs1's key.
func kerberosServer(t *testing.T, disableNTLM bool) *testServer {
	t.Helper()
	keys, err := krb5.OpenKeytab(writeKeytabFile(t, "cifs/sofs1", "service password"))
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, func(c *Config) { c.KerberosKeys, c.DisableNTLM = keys, disableNTLM })
}

// apReq returns a GSS-API Kerberos token for a ticket to cifs/sofs1
// encrypted with the key of password (no PAC: in-process KDCs have none).
func apReq(t *testing.T, password string) []byte {
	t.Helper()
	kt := keytab.New()
	if err := kt.AddEntry("cifs/sofs1", testRealm, password, time.Now(), 2, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "alice")
	tkt, skey, err := messages.NewTicket(cname, testRealm, types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "cifs/sofs1"), testRealm,
		types.NewKrbFlags(), kt, etypeID.AES256_CTS_HMAC_SHA1_96, 2, now, now, now.Add(time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	auth, err := types.NewAuthenticator(testRealm, cname)
	if err != nil {
		t.Fatal(err)
	}
	ck := make([]byte, 24)
	ck[0], ck[20] = 16, 2 // Lgth 16, GSS_C_MUTUAL_FLAG
	auth.Cksum = types.Checksum{CksumType: chksumtype.GSSAPI, Checksum: ck}
	req, err := messages.NewAPReq(tkt, skey, auth)
	if err != nil {
		t.Fatal(err)
	}
	types.SetFlag(&req.APOptions, flags.APOptionMutualRequired)
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	oid, _ := asn1.Marshal(krb5.OIDKerberos5)
	inner := append(append(oid, 0x01, 0x00), b...)
	gss, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassApplication, Tag: 0, IsCompound: true, Bytes: inner})
	return gss
}

// negTokenInit wraps mechToken in a client's GSS NegTokenInit listing
// mechs (RFC 4178 4.2.1).
func negTokenInit(t testing.TB, mechToken []byte, mechs ...asn1.ObjectIdentifier) []byte {
	t.Helper()
	type init struct {
		MechTypes []asn1.ObjectIdentifier `asn1:"explicit,tag:0"`
		MechToken []byte                  `asn1:"explicit,optional,tag:2"`
	}
	seq, err := asn1.Marshal(init{MechTypes: mechs, MechToken: mechToken})
	if err != nil {
		t.Fatal(err)
	}
	ctx0, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: seq})
	oid, _ := asn1.Marshal(spnego.OIDSPNEGO)
	gss, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassApplication, Tag: 0, IsCompound: true, Bytes: append(oid, ctx0...)})
	return gss
}

// setup sends one SESSION_SETUP with buf and returns the response.
func setup(c *rawConn, buf []byte) ([]byte, wire.SessionSetupResponse) {
	c.t.Helper()
	req := wire.SessionSetupRequest{SecurityMode: wire.NegotiateSigningEnabled, SecurityBuffer: buf}
	resp := c.roundTrip(nil, c.header(wire.CmdSessionSetup, 0, 0), &req)
	var ss wire.SessionSetupResponse
	if status(resp) == wire.StatusSuccess || status(resp) == wire.StatusMoreProcessingRequired {
		if err := ss.Decode(resp); err != nil {
			c.t.Fatal(err)
		}
	}
	return resp, ss
}

func TestKerberosNegotiateHint(t *testing.T) {
	for _, c := range []struct {
		name        string
		keytab      bool
		disableNTLM bool
		want        []asn1.ObjectIdentifier
	}{
		{"NTLM only", false, false, []asn1.ObjectIdentifier{spnego.OIDNTLMSSP}},
		{"Kerberos first", true, false, []asn1.ObjectIdentifier{spnego.OIDMSKerberos5, spnego.OIDKerberos5, spnego.OIDNTLMSSP}},
		{"Kerberos only", true, true, []asn1.ObjectIdentifier{spnego.OIDMSKerberos5, spnego.OIDKerberos5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var ts *testServer
			if c.keytab {
				ts = kerberosServer(t, c.disableNTLM)
			} else {
				ts = startServer(t, nil)
			}
			tok, err := spnego.Decode(ts.srv.negotiateHint())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(tok.MechTypes, c.want, func(a, b asn1.ObjectIdentifier) bool { return a.Equal(b) }) {
				t.Errorf("hint offers %v, want %v", tok.MechTypes, c.want)
			}
		})
	}
}

func TestKerberosSessionSetupRefusals(t *testing.T) {
	ts := kerberosServer(t, true)
	krbOnly := []asn1.ObjectIdentifier{spnego.OIDMSKerberos5, spnego.OIDKerberos5}
	cases := []struct {
		name string
		buf  []byte
		want wire.Status
	}{
		// A GSS token whose AP-REQ does not decode.
		{"malformed", negTokenInit(t, []byte{0x60, 0x05, 0x06, 0x03, 0x2a, 0x86, 0x48}, krbOnly...), wire.StatusInvalidParameter},
		// A ticket encrypted in a key the server does not hold.
		{"wrong service key", negTokenInit(t, apReq(t, "another password"), krbOnly...), wire.StatusLogonFailure},
		// A good ticket without a PAC names no domain SIDs.
		{"no PAC", negTokenInit(t, apReq(t, "service password"), krbOnly...), wire.StatusLogonFailure},
		// NTLM is turned off.
		{"NTLM", negTokenInit(t, ntlmtestClient("test", "test123").Negotiate(), spnego.OIDNTLMSSP), wire.StatusNotSupported},
		{"raw NTLM", ntlmtestClient("test", "test123").Negotiate(), wire.StatusLogonFailure},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn := dialRaw(t, ts.addr, Dialect302)
			resp, _ := setup(conn, c.buf)
			if st := status(resp); st != c.want {
				t.Errorf("status %v, want %v", st, c.want)
			}
			// The connection survives a refused logon.
			conn.roundTrip(nil, conn.header(wire.CmdEcho, 0, 0), &wire.EchoRequest{})
		})
	}

	// A client preferring NTLM but also offering Kerberos is steered to
	// Kerberos (RFC 4178 4.2.2: accept-incomplete naming the mechanism,
	// no token).
	conn := dialRaw(t, ts.addr, Dialect302)
	resp, ss := setup(conn, negTokenInit(t, ntlmtestClient("test", "test123").Negotiate(), spnego.OIDNTLMSSP, spnego.OIDKerberos5))
	if st := status(resp); st != wire.StatusMoreProcessingRequired {
		t.Fatalf("NTLM-first client: %v, want MORE_PROCESSING_REQUIRED", st)
	}
	tok, err := spnego.Decode(ss.SecurityBuffer)
	if err != nil || tok.NegState != spnego.AcceptIncomplete || !tok.SupportedMech.Equal(spnego.OIDKerberos5) || tok.MechToken != nil {
		t.Errorf("steering answer %+v, %v; want accept-incomplete naming Kerberos", tok, err)
	}
}

func TestKeytabRotation(t *testing.T) {
	path := writeKeytabFile(t, "SOFS1$", "old password")
	kf, err := krb5.OpenKeytab(path)
	if err != nil {
		t.Fatal(err)
	}
	sname := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "cifs/sofs1")
	if _, err := kf.Key(sname, testRealm, 3, etypeID.AES256_CTS_HMAC_SHA1_96); err == nil {
		t.Fatal("kvno 3 found before the rotation")
	}
	// The rotated keytab holds the new kvno beside the old, as
	// exportkeytab writes after a password change.
	kt := keytab.New()
	for kvno, pw := range map[uint8]string{2: "old password", 3: "new password"} {
		if err := kt.AddEntry("SOFS1$", testRealm, pw, time.Now(), kvno, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := kt.Marshal()
	if err := os.WriteFile(path+".new", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	for _, kvno := range []int{2, 3} {
		if _, err := kf.Key(sname, testRealm, kvno, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
			t.Errorf("kvno %d after rotation: %v", kvno, err)
		}
	}
	if got := kf.Principals(); !slices.Equal(got, []string{"SOFS1$@" + testRealm + " kvno 2", "SOFS1$@" + testRealm + " kvno 3"}) {
		t.Errorf("Principals() = %q", got)
	}
	// A half-written keytab does not take the keys away.
	if err := os.WriteFile(path, []byte{5, 2}, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := kf.Key(sname, testRealm, 3, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Errorf("after a truncated keytab: %v", err)
	}
}

// FuzzKerberosSessionSetup feeds arbitrary mechanism tokens, wrapped in a
// NegTokenInit naming Kerberos, and arbitrary whole security buffers
// through SESSION_SETUP on a server with a keytab: nothing may panic and
// nothing may log on.
func FuzzKerberosSessionSetup(f *testing.F) {
	f.Add(true, []byte{0x60, 0x05, 0x06, 0x03, 0x2a, 0x86, 0x48})
	f.Add(false, []byte{0xa1, 0x03, 0x30, 0x01, 0x00})
	f.Add(true, []byte{0x6e, 0x82, 0xff, 0xff})
	keys, err := krb5.OpenKeytab(writeKeytabFile(f, "cifs/sofs1", "service password"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, wrap bool, b []byte) {
		logs := &syncBuffer{}
		srv, err := New(Config{
			Logger:       zerolog.New(logs).Level(zerolog.ErrorLevel),
			Shares:       staticShares{{Name: "share", Path: t.TempDir()}},
			Users:        staticUsers{"test": "test123"},
			KerberosKeys: keys,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		a, p := net.Pipe()
		defer p.Close()
		go io.Copy(io.Discard, p)
		c := srv.newConn(context.Background(), a)
		defer c.close()
		c.negotiated, c.dialect, c.maxFrame = true, Dialect210, 1<<20
		c.credits.grant(c.srv.cfg.MaxCredits)
		buf := b
		if wrap {
			buf = negTokenInit(t, b, spnego.OIDKerberos5)
		}
		req := wire.SessionSetupRequest{SecurityMode: wire.NegotiateSigningEnabled, SecurityBuffer: buf}
		_ = c.handleFrame(buildMessage(wire.CmdSessionSetup, 1, 0, 0, 0, req.AppendTo(make([]byte, wire.HeaderSize))[wire.HeaderSize:]))
		if strings.Contains(logs.String(), "panic") {
			t.Fatalf("SESSION_SETUP panicked on %x:\n%s", buf, logs.String())
		}
		for _, s := range c.srv.sessions.m {
			if s.state == sessionValid {
				t.Fatalf("a fuzzed token logged on: %x", buf)
			}
		}
	})
}
