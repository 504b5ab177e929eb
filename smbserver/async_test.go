package smbserver

import (
	"testing"

	"sofs.io/sofs/smbserver/wire"
)

// withAsyncNotify makes CHANGE_NOTIFY go async and wait for CANCEL, as the
// change notification of issue #3 will, for the duration of the test. It
// must be called before startServer so the table is restored only after
// the server stopped.
func withAsyncNotify(t *testing.T) {
	saved := commandTable[wire.CmdChangeNotify]
	t.Cleanup(func() { commandTable[wire.CmdChangeNotify] = saved })
	commandTable[wire.CmdChangeNotify] = commandInfo{needSession: true, needTree: true, handle: func(c *conn, r *request) wire.Status {
		var req wire.ChangeNotifyRequest
		if err := req.Decode(r.msg); err != nil {
			return wire.StatusInvalidParameter
		}
		if _, st := c.lookupOpen(r, req.FileID); st != wire.StatusSuccess {
			return st
		}
		if err := c.goAsync(r); err != nil {
			return err.(wire.Status)
		}
		<-r.ctx.Done()
		return wire.StatusCancelled
	}}
}

func notifyReq(fid wire.FileID) *wire.ChangeNotifyRequest {
	return &wire.ChangeNotifyRequest{OutputBufferLength: 4096, FileID: fid, CompletionFilter: 3}
}

// An async request ([MS-SMB2] 3.3.4.2): the interim response is unsigned,
// carries the AsyncId and grants the credits; CANCEL by AsyncId completes
// it with STATUS_CANCELLED in a signed final response that grants none.
func TestAsyncInterimAndCancel(t *testing.T) {
	withAsyncNotify(t)
	ts := startServer(t, nil)
	for _, d := range rawDialects {
		t.Run(d.name, func(t *testing.T) {
			c := dialRaw(t, ts.addr, d.dialect)
			s := c.login("test", "test123")
			tid := c.treeConnect(s, "share")
			dir := c.create(s, tid, "", true)

			h := c.header(wire.CmdChangeNotify, s.id, tid)
			c.send(s.signer, message(h, notifyReq(dir)))
			interim := c.recvOne()
			ih := expect(t, interim, wire.CmdChangeNotify, wire.StatusPending)
			if ih.Flags&wire.FlagAsyncCommand == 0 || ih.AsyncID == 0 || ih.MessageID != h.MessageID {
				t.Fatalf("interim header %+v", ih)
			}
			if ih.Flags&wire.FlagSigned != 0 {
				t.Fatal("interim response signed")
			}
			if ih.Credits == 0 {
				t.Fatal("interim response grants no credits")
			}

			cancel := wire.Header{Command: wire.CmdCancel, Flags: wire.FlagAsyncCommand, AsyncID: ih.AsyncID, MessageID: h.MessageID, SessionID: s.id}
			c.send(s.signer, message(cancel, &wire.CancelRequest{}))
			final := c.recvOne()
			fh := expect(t, final, wire.CmdChangeNotify, wire.StatusCancelled)
			if fh.AsyncID != ih.AsyncID || fh.Flags&wire.FlagAsyncCommand == 0 || fh.Credits != 0 {
				t.Fatalf("final header %+v", fh)
			}
			if !s.signer.Verify(final) {
				t.Fatal("final response of an async request not signed")
			}

			// A CANCEL racing with its request (separate frames, parallel
			// workers) still cancels it, by MessageId.
			h = c.header(wire.CmdChangeNotify, s.id, tid)
			c.send(s.signer, message(h, notifyReq(dir)))
			c.send(s.signer, message(wire.Header{Command: wire.CmdCancel, MessageID: h.MessageID, SessionID: s.id}, &wire.CancelRequest{}))
			resp := c.recvOne()
			if status(resp) == wire.StatusPending {
				resp = c.recvOne()
			}
			expect(t, resp, wire.CmdChangeNotify, wire.StatusCancelled)

			// TREE_DISCONNECT completes the async requests on the tree.
			c.send(s.signer, message(c.header(wire.CmdChangeNotify, s.id, tid), notifyReq(dir)))
			expect(t, c.recvOne(), wire.CmdChangeNotify, wire.StatusPending)
			c.send(s.signer, message(c.header(wire.CmdTreeDisconnect, s.id, tid), &wire.TreeDisconnectRequest{}))
			got := map[wire.Command]wire.Status{}
			for range 2 {
				m := c.recvOne()
				got[hdrOf(t, m).Command] = status(m)
			}
			if got[wire.CmdChangeNotify] != wire.StatusCancelled || got[wire.CmdTreeDisconnect] != wire.StatusSuccess {
				t.Fatalf("after TREE_DISCONNECT: %v", got)
			}
		})
	}
}

// In a compound, only the last request (or a CREATE) may go async; the
// responses before it are sent first, in their own frame
// (smb2.compound.interim1). One in the middle fails with
// STATUS_INTERNAL_ERROR and the chain goes on (smb2.compound.interim2).
func TestAsyncInCompound(t *testing.T) {
	withAsyncNotify(t)
	ts := startServer(t, nil)
	c := dialRaw(t, ts.addr, Dialect302)
	s := c.login("test", "test123")
	tid := c.treeConnect(s, "share")
	anyFID := wire.FileID{Persistent: anyID, Volatile: anyID}
	related := func(cmd wire.Command) wire.Header {
		h := c.header(cmd, anyID, ^uint32(0))
		h.Flags |= wire.FlagRelatedOps
		return h
	}

	nh := related(wire.CmdChangeNotify)
	c.send(s.signer,
		message(c.header(wire.CmdCreate, s.id, tid), createReq("d1", true)),
		message(nh, notifyReq(anyFID)))
	expect(t, c.recvOne(), wire.CmdCreate, wire.StatusSuccess)
	interim := c.recvOne()
	ih := expect(t, interim, wire.CmdChangeNotify, wire.StatusPending)
	if ih.Flags&wire.FlagRelatedOps != 0 {
		t.Fatal("interim response sent alone is marked related")
	}
	c.send(s.signer, message(wire.Header{Command: wire.CmdCancel, MessageID: nh.MessageID, SessionID: s.id}, &wire.CancelRequest{}))
	final := c.recvOne()
	if fh := expect(t, final, wire.CmdChangeNotify, wire.StatusCancelled); fh.Flags&wire.FlagRelatedOps != 0 || !s.signer.Verify(final) {
		t.Fatalf("final response %+v (signed %v)", fh, s.signer.Verify(final))
	}

	c.send(s.signer,
		message(c.header(wire.CmdCreate, s.id, tid), createReq("d2", true)),
		message(related(wire.CmdChangeNotify), notifyReq(anyFID)),
		message(related(wire.CmdClose), &wire.CloseRequest{FileID: anyFID}))
	r := c.recvFrame()
	if len(r) != 3 {
		t.Fatalf("%d responses", len(r))
	}
	expect(t, r[0], wire.CmdCreate, wire.StatusSuccess)
	expect(t, r[1], wire.CmdChangeNotify, wire.StatusInternalError)
	expect(t, r[2], wire.CmdClose, wire.StatusSuccess)

	// LOGOFF completes the session's async requests.
	fid := c.create(s, tid, "d3", true)
	c.send(s.signer, message(c.header(wire.CmdChangeNotify, s.id, tid), notifyReq(fid)))
	expect(t, c.recvOne(), wire.CmdChangeNotify, wire.StatusPending)
	c.send(s.signer, message(c.header(wire.CmdLogoff, s.id, 0), &wire.LogoffRequest{}))
	got := map[wire.Command]wire.Status{}
	for range 2 {
		m := c.recvOne()
		got[hdrOf(t, m).Command] = status(m)
	}
	if got[wire.CmdChangeNotify] != wire.StatusCancelled || got[wire.CmdLogoff] != wire.StatusSuccess {
		t.Fatalf("after LOGOFF: %v", got)
	}
}

// Async requests give their worker slot back: more of them than there are
// workers per connection must not stall the connection.
func TestAsyncDoesNotHoldWorkers(t *testing.T) {
	withAsyncNotify(t)
	ts := startServer(t, nil)
	c := dialRaw(t, ts.addr, Dialect302)
	s := c.login("test", "test123")
	tid := c.treeConnect(s, "share")
	dir := c.create(s, tid, "", true)
	var ids []uint64
	for range maxWorkersPerConn + 8 {
		c.send(s.signer, message(c.header(wire.CmdChangeNotify, s.id, tid), notifyReq(dir)))
		ids = append(ids, hdrOf(t, c.recvOne()).AsyncID)
	}
	resp := c.roundTrip(s.signer, c.header(wire.CmdEcho, s.id, 0), &wire.EchoRequest{})
	expect(t, resp, wire.CmdEcho, wire.StatusSuccess)
	for _, id := range ids {
		c.send(s.signer, message(wire.Header{Command: wire.CmdCancel, Flags: wire.FlagAsyncCommand, AsyncID: id, SessionID: s.id}, &wire.CancelRequest{}))
		expect(t, c.recvOne(), wire.CmdChangeNotify, wire.StatusCancelled)
	}
}
