package smbserver

import (
	"bufio"
	"context"
	"crypto/rand"
	"net"
	"testing"
	"time"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/wire"
)

// dialGUID is dialRaw with a chosen ClientGuid (DH2C and leases need the
// same one on the reconnecting connection).
func dialGUID(t *testing.T, addr string, dialect uint16, guid [16]byte) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &rawConn{t: t, nc: nc, br: bufio.NewReader(nc), dialect: dialect}
	req := wire.NegotiateRequest{SecurityMode: wire.NegotiateSigningEnabled, Dialects: []uint16{dialect}, ClientGUID: guid}
	resp := c.roundTrip(nil, c.header(wire.CmdNegotiate, 0, 0), &req)
	if st := status(resp); st != wire.StatusSuccess {
		t.Fatalf("negotiate: %v", st)
	}
	return c
}

func duConnect(t *testing.T, ts *testServer, guid [16]byte) *olClient {
	t.Helper()
	c := dialGUID(t, ts.addr, Dialect302, guid)
	s := c.login("test", "test123")
	return &olClient{rawConn: c, s: s, tid: c.treeConnect(s, "share")}
}

// duServer starts a server whose durable table reports its events.
func duServer(t *testing.T) (*testServer, chan string) {
	ts := startServer(t, func(c *Config) { c.RequireSigning = false })
	ev := make(chan string, 64)
	ts.srv.dh.mu.Lock()
	ts.srv.dh.events = ev
	ts.srv.dh.mu.Unlock()
	return ts, ev
}

func waitEvent(t *testing.T, ev chan string, want string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-ev:
			if e == want {
				return
			}
		case <-timeout:
			t.Fatalf("no %q event", want)
		}
	}
}

func withDHnQ(req *wire.CreateRequest) *wire.CreateRequest {
	req.Contexts = append(req.Contexts, wire.CreateContext{Name: wire.CreateContextDurableHandle, Data: make([]byte, 16)})
	return req
}

func withDH2Q(req *wire.CreateRequest, timeoutMS uint32, guid [16]byte) *wire.CreateRequest {
	q := wire.DurableHandleRequestV2{Timeout: timeoutMS, CreateGUID: guid}
	req.Contexts = append(req.Contexts, wire.CreateContext{Name: wire.CreateContextDurableHandleV2, Data: q.Encode()})
	return req
}

func hasContext(cr wire.CreateResponse, name string) []byte {
	for _, cc := range cr.Contexts {
		if cc.Name == name {
			return cc.Data
		}
	}
	return nil
}

func guid() (g [16]byte) {
	rand.Read(g[:])
	return g
}

func (c *olClient) write(fid wire.FileID, off uint64, data []byte) {
	c.t.Helper()
	resp := c.roundTrip(c.s.signer, c.header(wire.CmdWrite, c.s.id, c.tid), &wire.WriteRequest{FileID: fid, Offset: off, Data: data})
	expect(c.t, resp, wire.CmdWrite, wire.StatusSuccess)
}

func TestDurableV1ReconnectAfterConnectionLoss(t *testing.T) {
	ts, ev := duServer(t)
	a := duConnect(t, ts, guid())
	cr := a.createOK(withDHnQ(olCreate("d1.txt", wire.OplockLevelBatch, rw, 0)))
	if cr.OplockLevel != wire.OplockLevelBatch || hasContext(cr, wire.CreateContextDurableHandle) == nil {
		t.Fatalf("oplock %#x, contexts %v: durable handle not granted", cr.OplockLevel, cr.Contexts)
	}
	a.write(cr.FileID, 0, []byte("hello"))
	a.nc.Close()
	waitEvent(t, ev, "detach")

	// The disconnected open keeps its share mode against the same
	// client... and DHnC on a new connection reclaims it.
	b := duConnect(t, ts, guid())
	req := olCreate("d1.txt", wire.OplockLevelBatch, rw, 0)
	req.Contexts = append(req.Contexts, wire.CreateContext{Name: wire.CreateContextDurableReconnect, Data: cr.FileID.AppendTo(nil)})
	rc := b.createOK(req)
	if rc.FileID != cr.FileID || rc.OplockLevel != wire.OplockLevelBatch || rc.EndOfFile != 5 {
		t.Fatalf("reconnect: %+v", rc)
	}
	b.write(rc.FileID, 5, []byte(" world"))
	// A second reconnect of a connected open fails.
	b.sendCreate(req)
	expect(t, b.recvOne(), wire.CmdCreate, wire.StatusObjectNameNotFound)
	b.close(rc.FileID)
	waitEvent(t, ev, "close")
	if all, _ := ts.srv.dh.count(); all != 0 {
		t.Fatalf("%d durable opens left", all)
	}
}

func TestDurableNotGrantedWithoutBatch(t *testing.T) {
	ts, _ := duServer(t)
	a := duConnect(t, ts, guid())
	cr := a.createOK(withDHnQ(olCreate("d2.txt", wire.OplockLevelII, rw, shareAll)))
	if hasContext(cr, wire.CreateContextDurableHandle) != nil {
		t.Fatal("durable handle granted with a level II oplock")
	}
	a.close(cr.FileID)
}

func TestDurableV2TimeoutScavenges(t *testing.T) {
	ts, ev := duServer(t)
	g, cg := guid(), guid()
	a := duConnect(t, ts, g)
	cr := a.createOK(withDH2Q(olCreate("d3.txt", wire.OplockLevelBatch, rw, 0), 1, cg))
	d := hasContext(cr, wire.CreateContextDurableHandleV2)
	if d == nil {
		t.Fatal("DH2Q not granted")
	}
	if r, err := wire.DecodeDurableHandleResponseV2(d); err != nil || r.Timeout != 1 {
		t.Fatalf("DH2Q response %+v %v", r, err)
	}
	a.nc.Close()
	waitEvent(t, ev, "detach")
	waitEvent(t, ev, "close") // the 1 ms timer fired
	// The share mode went with it.
	b := duConnect(t, ts, g)
	w := b.createOK(olCreate("d3.txt", 0, rw, 0))
	b.close(w.FileID)
	rq := olCreate("d3.txt", wire.OplockLevelBatch, rw, 0)
	rq.Contexts = append(rq.Contexts, wire.CreateContext{Name: wire.CreateContextDurableReconnectV2,
		Data: wire.DurableHandleReconnectV2{FileID: cr.FileID, CreateGUID: cg}.Encode()})
	b.sendCreate(rq)
	expect(t, b.recvOne(), wire.CmdCreate, wire.StatusObjectNameNotFound)
}

func TestDurableV2ReconnectChecksGUIDs(t *testing.T) {
	ts, ev := duServer(t)
	g, cg := guid(), guid()
	a := duConnect(t, ts, g)
	cr := a.createOK(withDH2Q(olCreate("d4.txt", wire.OplockLevelBatch, rw, 0), 0, cg))
	if r, _ := wire.DecodeDurableHandleResponseV2(hasContext(cr, wire.CreateContextDurableHandleV2)); r.Timeout != 60000 {
		t.Fatalf("default timeout %d ms", r.Timeout)
	}
	// Same CreateGuid, no replay flag: a duplicate.
	a.sendCreate(withDH2Q(olCreate("d4.txt", wire.OplockLevelBatch, rw, 0), 0, cg))
	expect(t, a.recvOne(), wire.CmdCreate, wire.StatusDuplicateObjectID)
	a.nc.Close()
	waitEvent(t, ev, "detach")

	reconnect := func(c *olClient, create [16]byte) []byte {
		rq := olCreate("d4.txt", wire.OplockLevelBatch, rw, 0)
		rq.Contexts = append(rq.Contexts, wire.CreateContext{Name: wire.CreateContextDurableReconnectV2,
			Data: wire.DurableHandleReconnectV2{FileID: cr.FileID, CreateGUID: create}.Encode()})
		c.sendCreate(rq)
		return c.recvOne()
	}
	// An oplock (not lease) open may be reclaimed under another
	// ClientGuid, but only with its CreateGuid.
	b := duConnect(t, ts, guid())
	expect(t, reconnect(b, guid()), wire.CmdCreate, wire.StatusObjectNameNotFound)
	resp := reconnect(b, cg)
	expect(t, resp, wire.CmdCreate, wire.StatusSuccess)
	var rc wire.CreateResponse
	if err := rc.Decode(resp); err != nil || rc.FileID != cr.FileID {
		t.Fatalf("reconnect %+v %v", rc, err)
	}
	b.close(rc.FileID)
}

func TestDurableConflictingOpenClosesDisconnected(t *testing.T) {
	ts, ev := duServer(t)
	a := duConnect(t, ts, guid())
	cr := a.createOK(withDHnQ(olCreate("d5.txt", wire.OplockLevelBatch, rw, shareAll)))
	a.nc.Close()
	waitEvent(t, ev, "detach")
	// The batch oplock break has nobody to go to: the open is closed and
	// the new open succeeds without waiting for the break timeout.
	b := duConnect(t, ts, guid())
	b.sendCreate(olCreate("d5.txt", 0, rw, 0))
	resp := b.recvOne()
	if status(resp) == wire.StatusPending { // interim: the break was started
		resp = b.recvOne()
	}
	expect(t, resp, wire.CmdCreate, wire.StatusSuccess)
	var w wire.CreateResponse
	if err := w.Decode(resp); err != nil {
		t.Fatal(err)
	}
	b.close(w.FileID)
	req := olCreate("d5.txt", wire.OplockLevelBatch, rw, 0)
	req.Contexts = append(req.Contexts, wire.CreateContext{Name: wire.CreateContextDurableReconnect, Data: cr.FileID.AppendTo(nil)})
	b.sendCreate(req)
	expect(t, b.recvOne(), wire.CmdCreate, wire.StatusObjectNameNotFound)
}

// Windows (and Samba) keep durable opens across LOGOFF: a new session
// reclaims them (smbtorture smb2.durable-open reopen4).
func TestDurableSurvivesLogoff(t *testing.T) {
	ts, ev := duServer(t)
	a := duConnect(t, ts, guid())
	cr := a.createOK(withDHnQ(olCreate("d6.txt", wire.OplockLevelBatch, rw, 0)))
	resp := a.roundTrip(nil, a.header(wire.CmdLogoff, a.s.id, 0), &wire.LogoffRequest{})
	expect(t, resp, wire.CmdLogoff, wire.StatusSuccess)
	waitEvent(t, ev, "detach")
	a.s = a.login("test", "test123")
	a.tid = a.treeConnect(a.s, "share")
	req := olCreate("other-name-ignored.txt", 0, 0, 0)
	req.DesiredAccess = 0
	req.Contexts = append(req.Contexts, wire.CreateContext{Name: wire.CreateContextDurableReconnect, Data: cr.FileID.AppendTo(nil)})
	rc := a.createOK(req)
	if rc.FileID != cr.FileID || hasContext(rc, wire.CreateContextDurableHandle) != nil {
		t.Fatalf("reconnect after logoff: %+v", rc)
	}
	a.close(rc.FileID)
	if all, _ := ts.srv.dh.count(); all != 0 {
		t.Fatalf("%d durable opens left", all)
	}
}

func TestPersistentOnlyOnCAShares(t *testing.T) {
	for _, ca := range []bool{false, true} {
		ts := startServer(t, func(c *Config) {
			c.RequireSigning = false
			c.Shares.(staticShares)[0].ContinuouslyAvailable = ca
		})
		ev := make(chan string, 16)
		ts.srv.dh.mu.Lock()
		ts.srv.dh.events = ev
		ts.srv.dh.mu.Unlock()
		g, cg := guid(), guid()
		a := duConnect(t, ts, g)
		req := olCreate("p.txt", 0, rw, 0)
		q := wire.DurableHandleRequestV2{Flags: wire.DurableHandleFlagPersistent, CreateGUID: cg}
		req.Contexts = append(req.Contexts, wire.CreateContext{Name: wire.CreateContextDurableHandleV2, Data: q.Encode()})
		cr := a.createOK(req)
		d := hasContext(cr, wire.CreateContextDurableHandleV2)
		if !ca {
			if d != nil {
				t.Fatal("persistent handle without oplock granted on a non-CA share")
			}
			continue
		}
		r, err := wire.DecodeDurableHandleResponseV2(d)
		if err != nil || r.Flags != wire.DurableHandleFlagPersistent {
			t.Fatalf("CA share: DH2Q response %+v %v", r, err)
		}
		// It survives the connection and comes back with DH2C.
		a.nc.Close()
		waitEvent(t, ev, "detach")
		b := duConnect(t, ts, g)
		rq := olCreate("p.txt", 0, 0, 0)
		rq.Contexts = append(rq.Contexts, wire.CreateContext{Name: wire.CreateContextDurableReconnectV2,
			Data: wire.DurableHandleReconnectV2{FileID: cr.FileID, CreateGUID: cg, Flags: wire.DurableHandleFlagPersistent}.Encode()})
		b.createOK(rq)
		store := ts.srv.handleStore().(*csv.MemoryHandleStore)
		recs, _ := store.List(context.Background(), ts.srv.cfg.ServerName)
		// Reclaimed, the record is of a connected open again: no
		// disconnect time for a restart to count from.
		if len(recs) != 1 || recs[0].Persistent != cr.FileID.Persistent || recs[0].CreateGUID != cg || !recs[0].Disconnected.IsZero() ||
			!recs[0].IsPersistent || !recs[0].V2 || recs[0].ShareAccess != 0 {
			t.Fatalf("handle records %+v", recs)
		}
		b.close(cr.FileID)
		if all, _ := ts.srv.dh.count(); all != 0 {
			t.Fatalf("%d durable opens left", all)
		}
		if n := store.Len(); n != 0 {
			t.Fatalf("%d handle records left behind after CLOSE", n)
		}

		// Scavenging removes the record too.
		cg2 := guid()
		q.CreateGUID, q.Timeout = cg2, 1
		req.Contexts = []wire.CreateContext{{Name: wire.CreateContextDurableHandleV2, Data: q.Encode()}}
		b.createOK(req)
		if n := store.Len(); n != 1 {
			t.Fatalf("%d handle records, want 1", n)
		}
		b.nc.Close()
		waitEvent(t, ev, "detach")
		waitEvent(t, ev, "close")
		if n := store.Len(); n != 0 {
			t.Fatalf("%d handle records left behind after scavenging", n)
		}
	}
}
