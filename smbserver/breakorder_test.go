package smbserver

import (
	"testing"

	"sofs.io/sofs/smbserver/wire"
)

// TestBreakFollowsGrantResponse: a break of a lease whose CREATE response
// has not gone out yet waits for that response ([MS-SMB2] 3.2.5.19.2: a
// client drops a break naming a lease it does not know, and the open
// that caused it would then wait out the break timeout). A compound
// [CREATE f with lease K1, CREATE f with lease K2] makes the second
// CREATE break K1 while the first response is still unsent.
func TestBreakFollowsGrantResponse(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.RequireSigning = false })
	a := olConnect(t, ts, Dialect302)
	k1, k2 := [16]byte{0x11}, [16]byte{0x22}
	first := message(a.header(wire.CmdCreate, a.s.id, a.tid), withLease(olCreate("bo.txt", 0, rw, shareAll), wire.Lease{LeaseKey: k1, LeaseState: 7}))
	second := message(a.header(wire.CmdCreate, a.s.id, a.tid), withLease(olCreate("bo.txt", 0, rw, shareAll), wire.Lease{LeaseKey: k2, LeaseState: 7}))
	a.send(nil, first, second)

	msgs := a.recvFrame()
	if isBreak(t, msgs[0]) {
		t.Fatal("the lease break arrived before the response that granted the lease")
	}
	expect(t, msgs[0], wire.CmdCreate, wire.StatusSuccess)
	var cr wire.CreateResponse
	if err := cr.Decode(msgs[0]); err != nil {
		t.Fatal(err)
	}
	if l := leaseOf(t, cr); l.LeaseKey != k1 || l.LeaseState != 7 {
		t.Fatalf("first grant %+v", l)
	}
	// Then the break and the second CREATE's interim response, in either
	// order, and after the acknowledgment its final response.
	sawBreak, sawInterim := false, false
	for range 2 {
		m := a.recvOne()
		switch {
		case isBreak(t, m):
			var n wire.LeaseBreakNotification
			if err := n.Decode(m); err != nil || n.LeaseKey != k1 || n.NewLeaseState != 3 {
				t.Fatalf("break %+v %v", n, err)
			}
			sawBreak = true
		default:
			expect(t, m, wire.CmdCreate, wire.StatusPending)
			sawInterim = true
		}
	}
	if !sawBreak || !sawInterim {
		t.Fatalf("break %v, interim %v", sawBreak, sawInterim)
	}
	ack := wire.LeaseBreakAcknowledgment{LeaseKey: k1, LeaseState: 3}
	a.send(nil, message(a.header(wire.CmdOplockBreak, a.s.id, a.tid), &ack))
	// The ack's response and the second CREATE's final response.
	for range 2 {
		m := a.recvOne()
		if h := hdrOf(t, m); h.Command == wire.CmdCreate {
			expect(t, m, wire.CmdCreate, wire.StatusSuccess)
		} else {
			expect(t, m, wire.CmdOplockBreak, wire.StatusSuccess)
		}
	}
}
