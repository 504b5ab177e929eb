package smbserver

import (
	"bytes"
	"testing"
	"time"

	"sofs.io/sofs/smbserver/smbcrypto"
	"sofs.io/sofs/smbserver/wire"
)

// bind binds s (authenticated on another connection) to c and returns
// the new channel's signer ([MS-SMB2] 3.3.5.5: the binding is signed with
// the session's key, its final response with the channel's).
func (c *rawConn) bind(s *rawSession, user, pass string) smbcrypto.Signer {
	c.t.Helper()
	cl := ntlmtestClient(user, pass)
	req := wire.SessionSetupRequest{Flags: wire.SessionFlagBinding, SecurityMode: wire.NegotiateSigningEnabled, SecurityBuffer: cl.Negotiate()}
	resp := c.roundTrip(s.signer, c.header(wire.CmdSessionSetup, s.id, 0), &req)
	expect(c.t, resp, wire.CmdSessionSetup, wire.StatusMoreProcessingRequired)
	if !s.signer.Verify(resp) {
		c.t.Fatal("binding MORE_PROCESSING_REQUIRED not signed with the session's key")
	}
	var ss wire.SessionSetupResponse
	if err := ss.Decode(resp); err != nil {
		c.t.Fatal(err)
	}
	auth, key, err := cl.Authenticate(ss.SecurityBuffer)
	if err != nil {
		c.t.Fatal(err)
	}
	req.SecurityBuffer = auth
	resp = c.roundTrip(s.signer, c.header(wire.CmdSessionSetup, s.id, 0), &req)
	expect(c.t, resp, wire.CmdSessionSetup, wire.StatusSuccess)
	sg, err := smbcrypto.NewSigner(c.dialect, smbcrypto.SigningAESCMAC, smbcrypto.DeriveKeys(c.dialect, key, nil, 0).Signing)
	if err != nil {
		c.t.Fatal(err)
	}
	if !sg.Verify(resp) {
		c.t.Fatal("final binding response not signed with the channel's key")
	}
	return sg
}

// waitConns waits until the server has n connections (it processes a
// closed socket asynchronously).
func waitConns(t *testing.T, ts *testServer, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ts.srv.connMu.Lock()
		got := len(ts.srv.conns)
		ts.srv.connMu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server has %d connections, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readAt(t *testing.T, c *rawConn, sg smbcrypto.Signer, sid uint64, tid uint32, fid wire.FileID) []byte {
	t.Helper()
	resp := c.roundTrip(sg, c.header(wire.CmdRead, sid, tid), &wire.ReadRequest{Length: 64, FileID: fid})
	expect(t, resp, wire.CmdRead, wire.StatusSuccess)
	var rr wire.ReadResponse
	if err := rr.Decode(resp); err != nil {
		t.Fatal(err)
	}
	return rr.Data
}

// A session bound to a second connection serves its tree connects and
// opens there with the channel's own signing key, outlives the loss of its
// first connection, and is logged off on every channel by one LOGOFF.
func TestMultichannelBindAndFailover(t *testing.T) {
	ts := startServer(t, nil)
	a := dialRaw(t, ts.addr, Dialect302)
	s := a.login("test", "test123")
	tid := a.treeConnect(s, "share")
	fid := a.create(s, tid, "mc.dat", false)
	resp := a.roundTrip(s.signer, a.header(wire.CmdWrite, s.id, tid), &wire.WriteRequest{FileID: fid, Data: []byte("channel one")})
	expect(t, resp, wire.CmdWrite, wire.StatusSuccess)

	b := dialRaw(t, ts.addr, Dialect302)
	sg2 := b.bind(s, "test", "test123")
	if got := readAt(t, b, sg2, s.id, tid, fid); !bytes.Equal(got, []byte("channel one")) {
		t.Fatalf("read on channel 2: %q", got)
	}
	// Each channel verifies with its own key: channel 1's key is no
	// good on channel 2.
	resp = b.roundTrip(s.signer, b.header(wire.CmdRead, s.id, tid), &wire.ReadRequest{Length: 64, FileID: fid})
	expect(t, resp, wire.CmdRead, wire.StatusAccessDenied)
	// A second binding of the same connection is refused: the request is
	// signed with the session's key, which is not this channel's.
	resp = b.roundTrip(s.signer, b.header(wire.CmdSessionSetup, s.id, 0), &wire.SessionSetupRequest{Flags: wire.SessionFlagBinding, SecurityBuffer: ntlmtestClient("test", "test123").Negotiate()})
	expect(t, resp, wire.CmdSessionSetup, wire.StatusAccessDenied)

	// Channel 1 goes away: the session, its tree connect and open stay.
	a.nc.Close()
	waitConns(t, ts, 1)
	resp = b.roundTrip(sg2, b.header(wire.CmdWrite, s.id, tid), &wire.WriteRequest{FileID: fid, Offset: 8, Data: []byte("two")})
	expect(t, resp, wire.CmdWrite, wire.StatusSuccess)
	if got := readAt(t, b, sg2, s.id, tid, fid); !bytes.Equal(got, []byte("channel two")) {
		t.Fatalf("read after losing channel 1: %q", got)
	}

	// A third channel, then LOGOFF on it ends the session everywhere.
	c := dialRaw(t, ts.addr, Dialect302)
	sg3 := c.bind(s, "test", "test123")
	resp = c.roundTrip(sg3, c.header(wire.CmdLogoff, s.id, 0), &wire.LogoffRequest{})
	expect(t, resp, wire.CmdLogoff, wire.StatusSuccess)
	if !sg3.Verify(resp) {
		t.Fatal("LOGOFF response not signed with the channel's key")
	}
	resp = b.roundTrip(sg2, b.header(wire.CmdRead, s.id, tid), &wire.ReadRequest{Length: 64, FileID: fid})
	expect(t, resp, wire.CmdRead, wire.StatusUserSessionDeleted)
	if ts.srv.opens.get(fid.Volatile) != nil {
		t.Fatal("the open survived LOGOFF on another channel")
	}
}

// Binding checks ([MS-SMB2] 3.3.5.5): another user cannot bind, the
// dialect must be the session's, an unsigned binding is refused, and a
// failed binding leaves the session alone.
func TestMultichannelBindRefusals(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Users = staticUsers{"test": "test123", "other": "pw2"}
	})
	a := dialRaw(t, ts.addr, Dialect302)
	s := a.login("test", "test123")

	// Another user: the authentication succeeds, the binding does not.
	b := dialRaw(t, ts.addr, Dialect302)
	cl := ntlmtestClient("other", "pw2")
	req := wire.SessionSetupRequest{Flags: wire.SessionFlagBinding, SecurityBuffer: cl.Negotiate()}
	resp := b.roundTrip(s.signer, b.header(wire.CmdSessionSetup, s.id, 0), &req)
	expect(t, resp, wire.CmdSessionSetup, wire.StatusMoreProcessingRequired)
	var ss wire.SessionSetupResponse
	ss.Decode(resp)
	auth, _, err := cl.Authenticate(ss.SecurityBuffer)
	if err != nil {
		t.Fatal(err)
	}
	req.SecurityBuffer = auth
	resp = b.roundTrip(s.signer, b.header(wire.CmdSessionSetup, s.id, 0), &req)
	expect(t, resp, wire.CmdSessionSetup, wire.StatusAccessDenied)
	// ... and leaves no channel behind.
	resp = b.roundTrip(s.signer, b.header(wire.CmdEcho, s.id, 0), &wire.EchoRequest{})
	expect(t, resp, wire.CmdEcho, wire.StatusUserSessionDeleted)

	// Wrong password.
	cl = ntlmtestClient("test", "wrong")
	req = wire.SessionSetupRequest{Flags: wire.SessionFlagBinding, SecurityBuffer: cl.Negotiate()}
	resp = b.roundTrip(s.signer, b.header(wire.CmdSessionSetup, s.id, 0), &req)
	ss.Decode(resp)
	auth, _, _ = cl.Authenticate(ss.SecurityBuffer)
	req.SecurityBuffer = auth
	resp = b.roundTrip(s.signer, b.header(wire.CmdSessionSetup, s.id, 0), &req)
	expect(t, resp, wire.CmdSessionSetup, wire.StatusLogonFailure)
	if !s.signer.Verify(resp) {
		t.Fatal("LOGON_FAILURE of a binding not signed with the session's key")
	}

	// Unsigned.
	req = wire.SessionSetupRequest{Flags: wire.SessionFlagBinding, SecurityBuffer: ntlmtestClient("test", "test123").Negotiate()}
	resp = b.roundTrip(nil, b.header(wire.CmdSessionSetup, s.id, 0), &req)
	expect(t, resp, wire.CmdSessionSetup, wire.StatusInvalidParameter)

	// Another dialect (3.0 against a 3.0.2 session).
	d := dialRaw(t, ts.addr, Dialect300)
	resp = d.roundTrip(s.signer, d.header(wire.CmdSessionSetup, s.id, 0), &req)
	expect(t, resp, wire.CmdSessionSetup, wire.StatusInvalidParameter)

	// An unknown session.
	resp = d.roundTrip(s.signer, d.header(wire.CmdSessionSetup, s.id^0xFF, 0), &req)
	expect(t, resp, wire.CmdSessionSetup, wire.StatusUserSessionDeleted)

	// The session is untouched, and can still bind properly.
	resp = a.roundTrip(s.signer, a.header(wire.CmdEcho, s.id, 0), &wire.EchoRequest{})
	expect(t, resp, wire.CmdEcho, wire.StatusSuccess)
	sg := b.bind(s, "test", "test123")
	resp = b.roundTrip(sg, b.header(wire.CmdEcho, s.id, 0), &wire.EchoRequest{})
	expect(t, resp, wire.CmdEcho, wire.StatusSuccess)
}

// An oplock break goes to a live channel of the holder's session when the
// connection that opened the file is gone ([MS-SMB2] 3.3.4.6).
func TestMultichannelBreakOnLiveChannel(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.RequireSigning = false })
	a := olConnect(t, ts, Dialect302)
	cr := a.createOK(olCreate("brk.txt", wire.OplockLevelBatch, rw, shareAll))
	if cr.OplockLevel != wire.OplockLevelBatch {
		t.Fatalf("granted %#x, want batch", cr.OplockLevel)
	}
	b := dialRaw(t, ts.addr, Dialect302)
	sg := b.bind(a.s, "test", "test123")
	a.nc.Close()
	waitConns(t, ts, 1)

	o := olConnect(t, ts, Dialect302)
	mid := o.sendCreate(olCreate("brk.txt", 0, readOnly, shareAll))
	if h := expect(t, o.recvOne(), wire.CmdCreate, wire.StatusPending); h.MessageID != mid {
		t.Fatalf("interim for %d, want %d", h.MessageID, mid)
	}
	brk := b.recvOne()
	if !isBreak(t, brk) {
		t.Fatalf("channel 2 got %+v, want the break", hdrOf(t, brk))
	}
	var n wire.OplockBreakNotification
	if err := n.Decode(brk); err != nil || n.FileID != cr.FileID {
		t.Fatalf("break %+v %v", n, err)
	}
	ack := wire.OplockBreakAcknowledgment{OplockLevel: wire.OplockLevelII, FileID: cr.FileID}
	resp := b.roundTrip(sg, b.header(wire.CmdOplockBreak, a.s.id, a.tid), &ack)
	expect(t, resp, wire.CmdOplockBreak, wire.StatusSuccess)
	expect(t, o.recvOne(), wire.CmdCreate, wire.StatusSuccess)
}

// With multichannel off the capability is not advertised.
func TestMultichannelCapability(t *testing.T) {
	for _, off := range []bool{false, true} {
		ts := startServer(t, func(c *Config) { c.DisableMultiChannel = off })
		c := dialRaw(t, ts.addr, Dialect302)
		if got := c.serverCaps&wire.GlobalCapMultiChannel != 0; got == off {
			t.Errorf("DisableMultiChannel=%v: MULTI_CHANNEL advertised=%v", off, got)
		}
		c21 := dialRaw(t, ts.addr, Dialect210)
		if c21.serverCaps&wire.GlobalCapMultiChannel != 0 {
			t.Error("MULTI_CHANNEL advertised on 2.1")
		}
	}
}

// A CREATE waiting for a break survives the loss of its channel while the
// session has another: a replay there finds it pending, then the open it
// made ([MS-SMB2] 3.3.5.9.10; smbtorture replay.dhv2-pending2*).
func TestMultichannelPendingCreateSurvivesChannel(t *testing.T) {
	ts := startServer(t, nil)
	holder := dialRaw(t, ts.addr, Dialect302)
	hs := holder.login("test", "test123")
	htid := holder.treeConnect(hs, "share")
	resp := holder.roundTrip(hs.signer, holder.header(wire.CmdCreate, hs.id, htid), olCreate("pc.dat", wire.OplockLevelBatch, rw, shareAll))
	expect(t, resp, wire.CmdCreate, wire.StatusSuccess)
	var hc wire.CreateResponse
	hc.Decode(resp)

	client := guid()
	a := dialRawGUID(t, ts.addr, Dialect302, client)
	s := a.login("test", "test123")
	tid := a.treeConnect(s, "share")
	b := dialRawGUID(t, ts.addr, Dialect302, client)
	sg2 := b.bind(s, "test", "test123")

	g := guid()
	req := withDH2Q(olCreate("pc.dat", 0, rw, shareAll), 0, g)
	a.send(s.signer, message(a.header(wire.CmdCreate, s.id, tid), req))
	expect(t, a.recvOne(), wire.CmdCreate, wire.StatusPending)
	if !isBreak(t, holder.recvOne()) {
		t.Fatal("holder got no break")
	}
	a.nc.Close()
	// Wait until the server has cancelled the lost connection.
	deadline := time.Now().Add(5 * time.Second)
	for liveConns(ts) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("server has %d live connections, want 2", liveConns(ts))
		}
		time.Sleep(5 * time.Millisecond)
	}

	replay := func() []byte {
		h := b.header(wire.CmdCreate, s.id, tid)
		h.Flags |= wire.FlagReplayOperation
		return b.roundTrip(sg2, h, req)
	}
	expect(t, replay(), wire.CmdCreate, wire.StatusFileNotAvailable)
	ack := wire.OplockBreakAcknowledgment{OplockLevel: wire.OplockLevelII, FileID: hc.FileID}
	expect(t, holder.roundTrip(hs.signer, holder.header(wire.CmdOplockBreak, hs.id, htid), &ack), wire.CmdOplockBreak, wire.StatusSuccess)
	// The original completes on the server without a connection to
	// answer on; the replay sees it pending until then.
	deadline = time.Now().Add(5 * time.Second)
	for {
		resp = replay()
		if status(resp) != wire.StatusFileNotAvailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pending CREATE never completed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	expect(t, resp, wire.CmdCreate, wire.StatusSuccess)
	var cr wire.CreateResponse
	cr.Decode(resp)
	if o := ts.srv.opens.get(cr.FileID.Volatile); o == nil || o.sess == nil || o.sess.id != s.id {
		t.Fatal("the replay did not return an open of the session")
	}
	if cr.CreateAction != 1 { // FILE_OPENED
		t.Fatalf("create action %d", cr.CreateAction)
	}
}

// liveConns counts the server's connections not yet cancelled.
func liveConns(ts *testServer) int {
	ts.srv.connMu.Lock()
	defer ts.srv.connMu.Unlock()
	n := 0
	for c := range ts.srv.conns {
		if c.ctx.Err() == nil {
			n++
		}
	}
	return n
}
