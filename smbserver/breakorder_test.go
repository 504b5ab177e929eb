package smbserver

import (
	"fmt"
	"testing"

	"sofs.io/sofs/smbserver/fscc"
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
	// The ack's response and the second CREATE's final response.
	ackThenComplete(t, a, k1, 3, wire.CmdCreate)
}

// TestBreakNotHeldAfterGrantResponse (smb2.lease.rename_wait): once a
// CREATE's response is on its way, a break for the open it granted goes
// out at once. A client that has the response and at once renames
// another open of the file (which breaks this lease's H and waits) and
// then opens the rename target must see the break before that open's
// answer. When the open was registered only after its response had been
// written, the rename could arrive first, its break was held, and the
// next CREATE was answered ahead of it (about half the time). Repeated to
// catch that window; every iteration must see the order.
func TestBreakNotHeldAfterGrantResponse(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.RequireSigning = false })
	a := olConnect(t, ts, Dialect302)
	const rh = 3
	for i := range 20 {
		k1, k2 := [16]byte{0x31, byte(i)}, [16]byte{0x32, byte(i)}
		src, dst := fmt.Sprintf("rw%d.src", i), fmt.Sprintf("rw%d.dst", i)
		h1 := a.createOK(withLease(olCreate(src, 0, rw|accessDelete, shareAll), wire.Lease{LeaseKey: k1, LeaseState: rh}))
		req := withLease(olCreate(src, 0, readOnly, shareAll), wire.Lease{LeaseKey: k2, LeaseState: rh})
		req.CreateDisposition = 1 // FILE_OPEN
		h2 := a.createOK(req)
		if l := leaseOf(t, h2); l.LeaseState != rh {
			t.Fatalf("iteration %d: second lease %#x", i, l.LeaseState)
		}
		si := wire.SetInfoRequest{InfoType: wire.InfoFile, FileInfoClass: fscc.FileRenameInformation, FileID: h1.FileID, Buffer: renameBuf(dst, true)}
		a.send(nil, message(a.header(wire.CmdSetInfo, a.s.id, a.tid), &si))
		open := olCreate(dst, 0, readOnly, shareAll)
		open.CreateDisposition = 1
		a.sendCreate(open)
		// The break, the rename's interim response and the target's
		// NOT_FOUND, in any order but the break before the NOT_FOUND.
		sawBreak, sawInterim, sawCreate := false, false, false
		for range 3 {
			m := a.recvOne()
			switch h := hdrOf(t, m); {
			case isBreak(t, m):
				var n wire.LeaseBreakNotification
				if err := n.Decode(m); err != nil || n.LeaseKey != k2 || n.NewLeaseState != 1 {
					t.Fatalf("iteration %d: break %+v %v", i, n, err)
				}
				sawBreak = true
			case h.Command == wire.CmdSetInfo:
				expect(t, m, wire.CmdSetInfo, wire.StatusPending)
				sawInterim = true
			case h.Command == wire.CmdCreate:
				if !sawBreak {
					t.Fatalf("iteration %d: the CREATE of the rename target was answered before the break (interim seen: %v)", i, sawInterim)
				}
				expect(t, m, wire.CmdCreate, wire.StatusObjectNameNotFound)
				sawCreate = true
			default:
				t.Fatalf("iteration %d: unexpected %v", i, h.Command)
			}
		}
		if !sawBreak || !sawInterim || !sawCreate {
			t.Fatalf("iteration %d: break %v, interim %v, create %v", i, sawBreak, sawInterim, sawCreate)
		}
		ackThenComplete(t, a, k2, 1, wire.CmdSetInfo)
		a.close(h1.FileID)
		a.close(h2.FileID)
	}
}

// ackThenComplete acknowledges a lease break to state and expects, in
// either order, the acknowledgment's response and the successful final
// response of the waiting request (command waiting).
func ackThenComplete(t *testing.T, a *olClient, key [16]byte, state uint32, waiting wire.Command) {
	t.Helper()
	ack := wire.LeaseBreakAcknowledgment{LeaseKey: key, LeaseState: state}
	a.send(nil, message(a.header(wire.CmdOplockBreak, a.s.id, a.tid), &ack))
	for range 2 {
		m := a.recvOne()
		if h := hdrOf(t, m); h.Command == waiting {
			expect(t, m, waiting, wire.StatusSuccess)
		} else {
			expect(t, m, wire.CmdOplockBreak, wire.StatusSuccess)
		}
	}
}
