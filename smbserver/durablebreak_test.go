package smbserver

import (
	"testing"
	"time"

	"sofs.io/sofs/smbserver/wire"
)

// TestDurableBreakOutWhenConnectionLost: a durable lease holder whose
// connection drops after the break of a conflicting open was sent, but
// before it acknowledged it, is closed at once; the waiting open then gets
// the full lease instead of waiting out the break timeout and getting RH
// (smbtorture smb2.durable-open.lease, which raced so under load).
func TestDurableBreakOutWhenConnectionLost(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.RequireSigning = false
		// Long enough that a wait for the timeout fails the test below.
		c.OplockBreakTimeout = time.Minute
	})
	a := duConnect(t, ts, guid())
	b := duConnect(t, ts, guid())
	keyA, keyB := [16]byte{0xa}, [16]byte{0xb}
	cr := a.createOK(withDHnQ(withLease(olCreate("dl.txt", 0, rw, shareAll), wire.Lease{LeaseKey: keyA, LeaseState: 7})))
	if l := leaseOf(t, cr); l.LeaseState != 7 || hasContext(cr, wire.CreateContextDurableHandle) == nil {
		t.Fatalf("first open: lease %+v, contexts %v", l, cr.Contexts)
	}

	b.sendCreate(withDHnQ(withLease(olCreate("dl.txt", 0, rw, shareAll), wire.Lease{LeaseKey: keyB, LeaseState: 7})))
	expect(t, b.recvOne(), wire.CmdCreate, wire.StatusPending)
	if brk := a.recvOne(); !isBreak(t, brk) {
		t.Fatal("the first holder got no lease break")
	}
	// The holder goes away without acknowledging.
	a.nc.Close()

	start := time.Now()
	resp := b.recvOne()
	expect(t, resp, wire.CmdCreate, wire.StatusSuccess)
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("the open waited %v: the orphaned break was left to time out", d)
	}
	var got wire.CreateResponse
	if err := got.Decode(resp); err != nil {
		t.Fatal(err)
	}
	if l := leaseOf(t, got); l.LeaseState != 7 {
		t.Fatalf("second open got lease state %#x, want RWH (the first open must be gone)", l.LeaseState)
	}
	if all, _ := ts.srv.dh.count(); all != 1 {
		t.Fatalf("%d durable opens, want 1 (the orphaned one closed)", all)
	}
}
