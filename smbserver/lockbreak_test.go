package smbserver

import (
	"testing"

	"sofs.io/sofs/smbserver/wire"
)

// TestLockBreaksReadCaching: a byte-range lock request breaks every level
// II oplock (the locker's own too) and the other clients' read leases to
// none, without an acknowledgment, as a write does ([MS-FSA] 2.1.5.7,
// 2.1.4.12; smbtorture smb2.oplock.brl1/brl3, smb2.lease.lock1). The
// locker's own lease keeps its state.
func TestLockBreaksReadCaching(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.RequireSigning = false })
	a := olConnect(t, ts, Dialect302)
	b := olConnect(t, ts, Dialect302)
	// b holds a level II oplock, a a read lease (no H next to an
	// oplock).
	crb := b.createOK(olCreate("lk.txt", wire.OplockLevelII, rw, shareAll))
	if crb.OplockLevel != wire.OplockLevelII {
		t.Fatalf("b's oplock %#x, want level II", crb.OplockLevel)
	}
	keyA := [16]byte{0xa1}
	cra := a.createOK(withLease(olCreate("lk.txt", 0, rw, shareAll), wire.Lease{LeaseKey: keyA, LeaseState: 3}))
	if l := leaseOf(t, cra); l.LeaseState != 1 {
		t.Fatalf("a's lease %#x, want R", l.LeaseState)
	}

	// b locks: its own level II breaks and a's lease loses R. The
	// locker's own break and the LOCK response may come in either order:
	// the open is registered for breaks once its CREATE response is
	// written, which can be after the client has read it and sent LOCK.
	lock := wire.LockRequest{FileID: crb.FileID, Locks: []wire.LockElement{{Offset: 0, Length: 4, Flags: wire.LockFlagExclusiveLock | wire.LockFlagFailImmediately}}}
	b.send(b.s.signer, message(b.header(wire.CmdLock, b.s.id, b.tid), &lock))
	var gotBreak, gotLock bool
	for i := 0; i < 2; i++ {
		m := b.recvOne()
		if isBreak(t, m) {
			var n wire.OplockBreakNotification
			if err := n.Decode(m); err != nil || n.FileID != crb.FileID || n.OplockLevel != wire.OplockLevelNone || gotBreak {
				t.Fatalf("own break %+v %v (twice: %v)", n, err, gotBreak)
			}
			gotBreak = true
			continue
		}
		expect(t, m, wire.CmdLock, wire.StatusSuccess)
		gotLock = true
	}
	if !gotBreak || !gotLock {
		t.Fatalf("locker got break %v, LOCK response %v; want both", gotBreak, gotLock)
	}
	brk := a.recvOne()
	if !isBreak(t, brk) {
		t.Fatalf("lease holder got %+v, want a break", hdrOf(t, brk))
	}
	var ln wire.LeaseBreakNotification
	if err := ln.Decode(brk); err != nil || ln.LeaseKey != keyA || ln.CurrentLeaseState != 1 || ln.NewLeaseState != 0 || ln.Flags&wire.LeaseBreakFlagAckRequired != 0 {
		t.Fatalf("lease break %+v %v", ln, err)
	}

	// a locks with its lease gone: no holder is left, no break.
	lock.FileID, lock.Locks[0].Offset = cra.FileID, 8
	resp := a.roundTrip(a.s.signer, a.header(wire.CmdLock, a.s.id, a.tid), &lock)
	expect(t, resp, wire.CmdLock, wire.StatusSuccess)
}
