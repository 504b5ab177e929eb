package smbserver

import (
	"bytes"
	"fmt"
	"testing"

	"sofs.io/sofs/smbserver/wire"
)

// Regression tests for what a signing client (smbtorture's smbXcli, which
// requires every response to carry SMB2_FLAGS_SIGNED once signing is
// required) and compound processing expect of the server.

var rawDialects = []struct {
	name    string
	dialect uint16
}{{"2.1", Dialect210}, {"3.0.2", Dialect302}}

// An error response the server cannot sign (the session is gone) keeps the
// request's SIGNED flag and signature ([MS-SMB2] 3.3.4.4: the header
// matches the request's); smbtorture's smb2.connect and smb2.tcon need it.
func TestUnsignableErrorEchoesSignature(t *testing.T) {
	for _, d := range rawDialects {
		t.Run(d.name, func(t *testing.T) {
			ts := startServer(t, nil)
			c := dialRaw(t, ts.addr, d.dialect)
			s := c.login("test", "test123")

			resp := c.roundTrip(s.signer, c.header(wire.CmdLogoff, s.id, 0), &wire.LogoffRequest{})
			expect(t, resp, wire.CmdLogoff, wire.StatusSuccess)
			if !s.signer.Verify(resp) {
				t.Fatal("LOGOFF response not signed")
			}

			req := message(c.header(wire.CmdLogoff, s.id, 0), &wire.LogoffRequest{})
			c.send(s.signer, req)
			resp = c.recvOne()
			h := expect(t, resp, wire.CmdLogoff, wire.StatusUserSessionDeleted)
			if h.Flags&wire.FlagSigned == 0 {
				t.Fatal("USER_SESSION_DELETED to a signed request lacks SMB2_FLAGS_SIGNED")
			}
			signed := append([]byte(nil), req...)
			s.signer.Sign(signed)
			if !bytes.Equal(resp[wire.OffSignature:wire.HeaderSize], signed[wire.OffSignature:wire.HeaderSize]) {
				t.Fatal("signature of the request not echoed")
			}

			// An unsigned request gets an unsigned error.
			resp = c.roundTrip(nil, c.header(wire.CmdEcho, 0, 0), &wire.EchoRequest{})
			expect(t, resp, wire.CmdEcho, wire.StatusSuccess)
			resp = c.roundTrip(nil, c.header(wire.CmdTreeConnect, s.id, 0), &wire.TreeConnectRequest{Path: `\\x\share`})
			if h := expect(t, resp, wire.CmdTreeConnect, wire.StatusUserSessionDeleted); h.Flags&wire.FlagSigned != 0 {
				t.Fatal("error to an unsigned request has SMB2_FLAGS_SIGNED")
			}
		})
	}
}

// A re-authentication's intermediate SESSION_SETUP response is signed with
// the session's key ([MS-SMB2] 3.3.4.1.1); a client that requires signing
// drops it otherwise (smb2.session.reauth1).
func TestReauthResponsesSigned(t *testing.T) {
	for _, d := range rawDialects {
		t.Run(d.name, func(t *testing.T) {
			ts := startServer(t, nil)
			c := dialRaw(t, ts.addr, d.dialect)
			s := c.login("test", "test123")
			tid := c.treeConnect(s, "share")
			fid := c.create(s, tid, "f", false)

			cl := ntlmtestClient("test", "test123")
			req := wire.SessionSetupRequest{SecurityMode: wire.NegotiateSigningEnabled, SecurityBuffer: cl.Negotiate()}
			resp := c.roundTrip(s.signer, c.header(wire.CmdSessionSetup, s.id, 0), &req)
			expect(t, resp, wire.CmdSessionSetup, wire.StatusMoreProcessingRequired)
			if !s.signer.Verify(resp) {
				t.Fatal("MORE_PROCESSING_REQUIRED of a re-authentication not signed")
			}
			var ss wire.SessionSetupResponse
			if err := ss.Decode(resp); err != nil {
				t.Fatal(err)
			}
			auth, _, err := cl.Authenticate(ss.SecurityBuffer)
			if err != nil {
				t.Fatal(err)
			}
			req.SecurityBuffer = auth
			resp = c.roundTrip(s.signer, c.header(wire.CmdSessionSetup, s.id, 0), &req)
			expect(t, resp, wire.CmdSessionSetup, wire.StatusSuccess)
			if !s.signer.Verify(resp) {
				t.Fatal("re-authentication's final response not signed with the kept key")
			}
			// The open survives the re-authentication.
			resp = c.roundTrip(s.signer, c.header(wire.CmdClose, s.id, tid), &wire.CloseRequest{FileID: fid})
			expect(t, resp, wire.CmdClose, wire.StatusSuccess)
		})
	}
}

// With multichannel disabled, binding is refused with
// STATUS_REQUEST_NOT_ACCEPTED ([MS-SMB2] 3.3.5.5), signed with the bound
// session's key when the request verified with it, so that a signing
// client sees the status (on 2.x the same happens with multichannel on:
// smb2.session.bind_negative_smb202/smb210*/smb3to2*); a badly signed one
// gets an unsigned ACCESS_DENIED.
func TestBindingRefusedSigned(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.DisableMultiChannel = true })
	a := dialRaw(t, ts.addr, Dialect302)
	s := a.login("test", "test123")
	for _, d := range rawDialects {
		t.Run(d.name, func(t *testing.T) {
			b := dialRaw(t, ts.addr, d.dialect)
			bind := func() *wire.SessionSetupRequest {
				cl := ntlmtestClient("test", "test123")
				return &wire.SessionSetupRequest{Flags: wire.SessionFlagBinding, SecurityMode: wire.NegotiateSigningEnabled, SecurityBuffer: cl.Negotiate()}
			}
			resp := b.roundTrip(s.signer, b.header(wire.CmdSessionSetup, s.id, 0), bind())
			expect(t, resp, wire.CmdSessionSetup, wire.StatusRequestNotAccepted)
			if !s.signer.Verify(resp) {
				t.Fatal("binding refusal not signed with the session's key")
			}
			// A forged request gets no signature from the server.
			msg := message(b.header(wire.CmdSessionSetup, s.id, 0), bind())
			s.signer.Sign(msg)
			msg[wire.OffSignature] ^= 1
			b.send(nil, msg)
			resp = b.recvOne()
			expect(t, resp, wire.CmdSessionSetup, wire.StatusAccessDenied)
			if s.signer.Verify(resp) {
				t.Fatal("refusal of a badly signed binding request was signed")
			}
			// Without the binding flag the session is not this connection's.
			req := bind()
			req.Flags = 0
			resp = b.roundTrip(s.signer, b.header(wire.CmdSessionSetup, s.id, 0), req)
			if h := expect(t, resp, wire.CmdSessionSetup, wire.StatusUserSessionDeleted); h.Flags&wire.FlagSigned == 0 {
				t.Fatal("USER_SESSION_DELETED lacks SMB2_FLAGS_SIGNED")
			}
		})
	}
	// The session is untouched on its own connection.
	resp := a.roundTrip(s.signer, a.header(wire.CmdEcho, s.id, 0), &wire.EchoRequest{})
	expect(t, resp, wire.CmdEcho, wire.StatusSuccess)
}

// Related compounded requests ([MS-SMB2] 3.3.5.2.7.2): only a failed CREATE
// fails the requests after it; a failed WRITE does not stop a READ on the
// same handle (smb2.compound.related6); a related request after one
// without a valid session fails with STATUS_INVALID_PARAMETER
// (smb2.compound.invalid2); an unrelated request in between drops the
// inherited handle (smb2.compound.invalid3).
func TestCompoundRelated(t *testing.T) {
	ts := startServer(t, nil)
	c := dialRaw(t, ts.addr, Dialect302)
	s := c.login("test", "test123")
	tid := c.treeConnect(s, "share")
	fid := c.create(s, tid, "data", false)
	resp := c.roundTrip(s.signer, c.header(wire.CmdWrite, s.id, tid), &wire.WriteRequest{FileID: fid, Data: []byte("abc")})
	expect(t, resp, wire.CmdWrite, wire.StatusSuccess)
	c.roundTrip(s.signer, c.header(wire.CmdClose, s.id, tid), &wire.CloseRequest{FileID: fid})

	anyFID := wire.FileID{Persistent: anyID, Volatile: anyID}
	related := func(cmd wire.Command) wire.Header {
		h := c.header(cmd, anyID, ^uint32(0))
		h.Flags |= wire.FlagRelatedOps
		return h
	}

	t.Run("failed write does not propagate", func(t *testing.T) {
		cr := createReq("data", false)
		cr.DesiredAccess = 0x00120089 // read only
		c.send(s.signer,
			message(c.header(wire.CmdCreate, s.id, tid), cr),
			message(related(wire.CmdWrite), &wire.WriteRequest{FileID: anyFID, Data: []byte("x")}),
			message(related(wire.CmdRead), &wire.ReadRequest{FileID: anyFID, Length: 3}),
			message(related(wire.CmdClose), &wire.CloseRequest{FileID: anyFID}))
		r := c.recvFrame()
		if len(r) != 4 {
			t.Fatalf("%d responses", len(r))
		}
		expect(t, r[0], wire.CmdCreate, wire.StatusSuccess)
		expect(t, r[1], wire.CmdWrite, wire.StatusAccessDenied)
		expect(t, r[2], wire.CmdRead, wire.StatusSuccess)
		expect(t, r[3], wire.CmdClose, wire.StatusSuccess)
		// Responses are 8-byte aligned and each signed on its own.
		for i, m := range r {
			if i < 3 && len(m)%8 != 0 {
				t.Errorf("response %d is %d bytes, not padded to 8", i, len(m))
			}
			if !s.signer.Verify(m) {
				t.Errorf("response %d not signed", i)
			}
		}
	})

	t.Run("failed create propagates", func(t *testing.T) {
		cr := createReq("missing", false)
		cr.CreateDisposition = 1 // FILE_OPEN
		c.send(s.signer,
			message(c.header(wire.CmdCreate, s.id, tid), cr),
			message(related(wire.CmdRead), &wire.ReadRequest{FileID: anyFID, Length: 3}),
			message(related(wire.CmdClose), &wire.CloseRequest{FileID: anyFID}))
		r := c.recvFrame()
		expect(t, r[0], wire.CmdCreate, wire.StatusObjectNameNotFound)
		expect(t, r[1], wire.CmdRead, wire.StatusObjectNameNotFound)
		expect(t, r[2], wire.CmdClose, wire.StatusObjectNameNotFound)
	})

	t.Run("no session to inherit", func(t *testing.T) {
		c.send(s.signer,
			message(c.header(wire.CmdCreate, s.id, tid), createReq("data", false)),
			message(related(wire.CmdClose), &wire.CloseRequest{FileID: anyFID}),
			message(c.header(wire.CmdClose, anyID, ^uint32(0)), &wire.CloseRequest{FileID: anyFID}),
			message(related(wire.CmdClose), &wire.CloseRequest{FileID: anyFID}))
		r := c.recvFrame()
		expect(t, r[0], wire.CmdCreate, wire.StatusSuccess)
		expect(t, r[1], wire.CmdClose, wire.StatusSuccess)
		expect(t, r[2], wire.CmdClose, wire.StatusUserSessionDeleted)
		expect(t, r[3], wire.CmdClose, wire.StatusInvalidParameter)
	})

	t.Run("unrelated request drops the handle", func(t *testing.T) {
		c.send(s.signer,
			message(c.header(wire.CmdCreate, s.id, tid), createReq("data", false)),
			message(c.header(wire.CmdClose, s.id, tid), &wire.CloseRequest{FileID: anyFID}),
			message(related(wire.CmdClose), &wire.CloseRequest{FileID: anyFID}))
		r := c.recvFrame()
		expect(t, r[0], wire.CmdCreate, wire.StatusSuccess)
		expect(t, r[1], wire.CmdClose, wire.StatusFileClosed)
		expect(t, r[2], wire.CmdClose, wire.StatusFileClosed)
		var cr wire.CreateResponse
		if err := cr.Decode(r[0]); err != nil {
			t.Fatal(err)
		}
		resp := c.roundTrip(s.signer, c.header(wire.CmdClose, s.id, tid), &wire.CloseRequest{FileID: cr.FileID})
		expect(t, resp, wire.CmdClose, wire.StatusSuccess)
	})

	t.Run("unknown command", func(t *testing.T) {
		h := related(wire.Command(0xff))
		c.send(s.signer,
			message(c.header(wire.CmdEcho, s.id, 0), &wire.EchoRequest{}),
			message(h, &wire.EchoRequest{}))
		r := c.recvFrame()
		expect(t, r[0], wire.CmdEcho, wire.StatusSuccess)
		expect(t, r[1], wire.Command(0xff), wire.StatusInvalidParameter)
	})
}

// LOGOFF is processed on a session whose authentication is still in
// progress ([MS-SMB2] 3.3.5.2.9); other commands are refused on it.
func TestLogoffInProgressSession(t *testing.T) {
	ts := startServer(t, nil)
	c := dialRaw(t, ts.addr, Dialect302)
	cl := ntlmtestClient("test", "test123")
	req := wire.SessionSetupRequest{SecurityMode: wire.NegotiateSigningEnabled, SecurityBuffer: cl.Negotiate()}
	resp := c.roundTrip(nil, c.header(wire.CmdSessionSetup, 0, 0), &req)
	sid := expect(t, resp, wire.CmdSessionSetup, wire.StatusMoreProcessingRequired).SessionID
	resp = c.roundTrip(nil, c.header(wire.CmdTreeConnect, sid, 0), &wire.TreeConnectRequest{Path: `\\x\share`})
	expect(t, resp, wire.CmdTreeConnect, wire.StatusUserSessionDeleted)
	resp = c.roundTrip(nil, c.header(wire.CmdLogoff, sid, 0), &wire.LogoffRequest{})
	expect(t, resp, wire.CmdLogoff, wire.StatusSuccess)
	resp = c.roundTrip(nil, c.header(wire.CmdLogoff, sid, 0), &wire.LogoffRequest{})
	expect(t, resp, wire.CmdLogoff, wire.StatusUserSessionDeleted)
}

// Requests of separate frames resolve their FileId in arrival order: a
// QUERY_DIRECTORY or READ followed, without waiting, by the CLOSE of the
// same handle succeeds (smb2.compound_find.compound_find_close).
func TestPipelinedCloseAfterUse(t *testing.T) {
	ts := startServer(t, nil)
	c := dialRaw(t, ts.addr, Dialect302)
	s := c.login("test", "test123")
	tid := c.treeConnect(s, "share")
	c.create(s, tid, "dir", true)
	for i := range 64 {
		fid := c.create(s, tid, fmt.Sprintf(`dir\f%03d`, i), false)
		c.roundTrip(s.signer, c.header(wire.CmdWrite, s.id, tid), &wire.WriteRequest{FileID: fid, Data: []byte("data")})
		c.roundTrip(s.signer, c.header(wire.CmdClose, s.id, tid), &wire.CloseRequest{FileID: fid})
	}
	for i := range 50 {
		var first []byte
		var firstCmd wire.Command
		var fid wire.FileID
		if i%2 == 0 {
			fid = c.create(s, tid, "dir", true)
			firstCmd = wire.CmdQueryDirectory
			first = message(c.header(firstCmd, s.id, tid), &wire.QueryDirectoryRequest{
				FileInformationClass: 37, FileID: fid, FileName: "*", OutputBufferLength: 65536})
		} else {
			fid = c.create(s, tid, `dir\f001`, false)
			firstCmd = wire.CmdRead
			first = message(c.header(firstCmd, s.id, tid), &wire.ReadRequest{FileID: fid, Length: 4})
		}
		c.send(s.signer, first)
		c.send(s.signer, message(c.header(wire.CmdClose, s.id, tid), &wire.CloseRequest{FileID: fid}))
		got := map[wire.Command]wire.Status{}
		for range 2 {
			m := c.recvOne()
			got[hdrOf(t, m).Command] = status(m)
		}
		if got[firstCmd] != wire.StatusSuccess || got[wire.CmdClose] != wire.StatusSuccess {
			t.Fatalf("round %d: %v", i, got)
		}
	}
}

// A request whose signature does not verify fails with ACCESS_DENIED and
// gets no signature from the server ([MS-SMB2] 3.3.5.2.4).
func TestBadSignatureNotSigned(t *testing.T) {
	ts := startServer(t, nil)
	c := dialRaw(t, ts.addr, Dialect302)
	s := c.login("test", "test123")
	msg := message(c.header(wire.CmdEcho, s.id, 0), &wire.EchoRequest{})
	s.signer.Sign(msg)
	msg[wire.OffSignature+3] ^= 0x40
	c.send(nil, msg)
	resp := c.recvOne()
	expect(t, resp, wire.CmdEcho, wire.StatusAccessDenied)
	if s.signer.Verify(resp) {
		t.Fatal("response to a forged request signed")
	}
	// The session still works.
	resp = c.roundTrip(s.signer, c.header(wire.CmdEcho, s.id, 0), &wire.EchoRequest{})
	expect(t, resp, wire.CmdEcho, wire.StatusSuccess)
}
