package smbserver

import (
	"strings"
	"testing"

	"sofs.io/sofs/smbserver/fscc"
	"sofs.io/sofs/smbserver/wire"
)

// reauth re-authenticates session s as user/pass ("" for anonymous) with
// the two NTLMSSP legs, signing each request with s's key when signed is
// set, and returns the final response.
func (c *rawConn) reauth(s *rawSession, user, pass string, signed bool) []byte {
	c.t.Helper()
	signer := s.signer
	if !signed {
		signer = nil
	}
	cl := ntlmtestClient(user, pass)
	req := wire.SessionSetupRequest{SecurityMode: wire.NegotiateSigningEnabled, SecurityBuffer: cl.Negotiate()}
	resp := c.roundTrip(signer, c.header(wire.CmdSessionSetup, s.id, 0), &req)
	expect(c.t, resp, wire.CmdSessionSetup, wire.StatusMoreProcessingRequired)
	var ss wire.SessionSetupResponse
	if err := ss.Decode(resp); err != nil {
		c.t.Fatal(err)
	}
	auth, _, err := cl.Authenticate(ss.SecurityBuffer)
	if err != nil {
		c.t.Fatal(err)
	}
	req.SecurityBuffer = auth
	return c.roundTrip(signer, c.header(wire.CmdSessionSetup, s.id, 0), &req)
}

// A session re-authenticated as anonymous keeps its keys and its opens,
// which keep their granted access, but its new identity opens nothing new
// on a share anonymous users may not connect to, and may not rename there;
// re-authenticating as the user again restores that ([MS-SMB2] 3.3.5.5.3;
// smbtorture smb2.session.reauth2, reauth3, reauth5).
func TestReauthAnonymousAndBack(t *testing.T) {
	ts := startServer(t, nil)
	c := dialRaw(t, ts.addr, Dialect302)
	s := c.login("test", "test123")
	tid := c.treeConnect(s, "share")
	fid := c.create(s, tid, "f", false)
	resp := c.roundTrip(s.signer, c.header(wire.CmdWrite, s.id, tid), &wire.WriteRequest{FileID: fid, Data: []byte("abc")})
	expect(t, resp, wire.CmdWrite, wire.StatusSuccess)

	resp = c.reauth(s, "", "", true)
	expect(t, resp, wire.CmdSessionSetup, wire.StatusSuccess)
	if !s.signer.Verify(resp) {
		t.Fatal("anonymous re-authentication's response not signed with the kept key")
	}

	// The open keeps working with the access it was granted.
	resp = c.roundTrip(s.signer, c.header(wire.CmdQueryInfo, s.id, tid), &wire.QueryInfoRequest{
		InfoType: wire.InfoFile, FileInfoClass: fscc.FilePositionInformation, OutputBufferLength: 8, FileID: fid})
	expect(t, resp, wire.CmdQueryInfo, wire.StatusSuccess)
	resp = c.roundTrip(s.signer, c.header(wire.CmdRead, s.id, tid), &wire.ReadRequest{FileID: fid, Length: 3})
	expect(t, resp, wire.CmdRead, wire.StatusSuccess)
	if !s.signer.Verify(resp) {
		t.Fatal("READ after an anonymous re-authentication not signed")
	}

	// What needs a fresh access check is refused to the anonymous user.
	resp = c.roundTrip(s.signer, c.header(wire.CmdCreate, s.id, tid), createReq("g", false))
	expect(t, resp, wire.CmdCreate, wire.StatusAccessDenied)
	rename := &wire.SetInfoRequest{InfoType: wire.InfoFile, FileInfoClass: fscc.FileRenameInformation, FileID: fid, Buffer: renameInfo("f2")}
	resp = c.roundTrip(s.signer, c.header(wire.CmdSetInfo, s.id, tid), rename)
	expect(t, resp, wire.CmdSetInfo, wire.StatusAccessDenied)
	resp = c.roundTrip(s.signer, c.header(wire.CmdTreeConnect, s.id, 0), &wire.TreeConnectRequest{Path: `\\127.0.0.1\share`})
	expect(t, resp, wire.CmdTreeConnect, wire.StatusAccessDenied)

	// Back to the user: new opens and renames work again.
	resp = c.reauth(s, "test", "test123", true)
	expect(t, resp, wire.CmdSessionSetup, wire.StatusSuccess)
	g := c.create(s, tid, "g", false)
	resp = c.roundTrip(s.signer, c.header(wire.CmdSetInfo, s.id, tid), rename)
	expect(t, resp, wire.CmdSetInfo, wire.StatusSuccess)
	for _, id := range []wire.FileID{fid, g} {
		resp = c.roundTrip(s.signer, c.header(wire.CmdClose, s.id, tid), &wire.CloseRequest{FileID: id})
		expect(t, resp, wire.CmdClose, wire.StatusSuccess)
	}
}

// A re-authentication may name another user, as on Windows; the session
// keeps its keys and takes the new identity.
func TestReauthOtherUser(t *testing.T) {
	ts := startServer(t, func(cfg *Config) { cfg.Users = staticUsers{"test": "test123", "other": "pw2"} })
	c := dialRaw(t, ts.addr, Dialect302)
	s := c.login("test", "test123")
	tid := c.treeConnect(s, "share")
	resp := c.reauth(s, "other", "pw2", true)
	expect(t, resp, wire.CmdSessionSetup, wire.StatusSuccess)
	if !s.signer.Verify(resp) {
		t.Fatal("response not signed with the kept key")
	}
	c.create(s, tid, "x", false)
	var got string
	for _, v := range ts.srv.Sessions() {
		if v.SessionID == s.id {
			got = v.User
		}
	}
	if !strings.EqualFold(got, "other") && !strings.HasSuffix(strings.ToLower(got), `\other`) {
		t.Fatalf("session user after re-authentication = %q, want other", got)
	}
}

// A change of identity must come from the holder of the session's key: an
// unsigned re-authentication as someone else is refused and the session
// is left as it was. So is any re-authentication that would turn an
// anonymous session (no keys) into a named one, and an anonymous logon
// still opens no new session without a guest share.
func TestReauthIdentityChangeNeedsKey(t *testing.T) {
	ts := startServer(t, func(cfg *Config) { cfg.RequireSigning = false })
	c := dialRaw(t, ts.addr, Dialect302)
	s := c.login("test", "test123")
	tid := c.treeConnect(s, "share")
	resp := c.reauth(s, "", "", false)
	expect(t, resp, wire.CmdSessionSetup, wire.StatusAccessDenied)
	c.create(s, tid, "still-test", false)
	// The same user unsigned is no change of identity.
	resp = c.reauth(s, "test", "test123", false)
	expect(t, resp, wire.CmdSessionSetup, wire.StatusSuccess)

	// Without a guest share an anonymous logon opens no session.
	a := dialRaw(t, ts.addr, Dialect302)
	cl := ntlmtestClient("", "")
	req := wire.SessionSetupRequest{SecurityMode: wire.NegotiateSigningEnabled, SecurityBuffer: cl.Negotiate()}
	resp = a.roundTrip(nil, a.header(wire.CmdSessionSetup, 0, 0), &req)
	sid := expect(t, resp, wire.CmdSessionSetup, wire.StatusMoreProcessingRequired).SessionID
	var ss wire.SessionSetupResponse
	if err := ss.Decode(resp); err != nil {
		t.Fatal(err)
	}
	auth, _, err := cl.Authenticate(ss.SecurityBuffer)
	if err != nil {
		t.Fatal(err)
	}
	req.SecurityBuffer = auth
	resp = a.roundTrip(nil, a.header(wire.CmdSessionSetup, sid, 0), &req)
	expect(t, resp, wire.CmdSessionSetup, wire.StatusLogonFailure)
}

// An anonymous session (possible with a guest share) cannot become a named
// one by re-authentication: it has no keys to protect the named identity.
func TestReauthAnonymousSessionStaysAnonymous(t *testing.T) {
	ts := startServer(t, func(cfg *Config) {
		cfg.RequireSigning = false
		cfg.Shares = staticShares{{Name: "share", Path: t.TempDir(), Guest: true}}
	})
	c := dialRaw(t, ts.addr, Dialect302)
	cl := ntlmtestClient("", "")
	req := wire.SessionSetupRequest{SecurityMode: wire.NegotiateSigningEnabled, SecurityBuffer: cl.Negotiate()}
	resp := c.roundTrip(nil, c.header(wire.CmdSessionSetup, 0, 0), &req)
	sid := expect(t, resp, wire.CmdSessionSetup, wire.StatusMoreProcessingRequired).SessionID
	var ss wire.SessionSetupResponse
	if err := ss.Decode(resp); err != nil {
		t.Fatal(err)
	}
	auth, _, err := cl.Authenticate(ss.SecurityBuffer)
	if err != nil {
		t.Fatal(err)
	}
	req.SecurityBuffer = auth
	resp = c.roundTrip(nil, c.header(wire.CmdSessionSetup, sid, 0), &req)
	expect(t, resp, wire.CmdSessionSetup, wire.StatusSuccess)
	s := &rawSession{id: sid}
	resp = c.reauth(s, "test", "test123", false)
	expect(t, resp, wire.CmdSessionSetup, wire.StatusAccessDenied)
	found := false
	for _, v := range ts.srv.Sessions() {
		if v.SessionID == sid {
			found = true
			if !v.Guest || v.User != "" {
				t.Fatalf("session %#x is no longer anonymous: %+v", sid, v)
			}
		}
	}
	if !found {
		t.Fatalf("session %#x gone after a refused re-authentication", sid)
	}
}
