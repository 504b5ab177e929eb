package smbserver

import (
	"testing"

	"sofs.io/sofs/smbserver/wire"
)

// LOCK end to end over the raw client: fail-immediately and blocking
// locks, CANCEL, release on CLOSE, READ/WRITE conflicts. No sleeps: a
// blocking lock's interim response is read before it is released.

func (n *notifyClient) lock(fid wire.FileID, els ...wire.LockElement) wire.Header {
	h := n.c.header(wire.CmdLock, n.s.id, n.tid)
	n.c.send(n.s.signer, message(h, &wire.LockRequest{FileID: fid, Locks: els}))
	return h
}

func (n *notifyClient) lockWant(st wire.Status, fid wire.FileID, els ...wire.LockElement) {
	n.t.Helper()
	n.lock(fid, els...)
	expect(n.t, n.c.recvOne(), wire.CmdLock, st)
}

func TestLockRequests(t *testing.T) {
	ts := startServer(t, nil)
	n := newNotifyClient(t, ts, Dialect302)
	h1 := n.c.create(n.s, n.tid, "locked.txt", false)
	h2 := n.c.create(n.s, n.tid, "locked.txt", false)
	const (
		x  = wire.LockFlagExclusiveLock | wire.LockFlagFailImmediately
		s  = wire.LockFlagSharedLock | wire.LockFlagFailImmediately
		un = wire.LockFlagUnlock
	)
	el := func(off, n uint64, f uint32) wire.LockElement {
		return wire.LockElement{Offset: off, Length: n, Flags: f}
	}

	n.lockWant(wire.StatusSuccess, h1, el(0, 10, x))
	n.lockWant(wire.StatusLockNotGranted, h2, el(5, 1, s))
	n.lockWant(wire.StatusLockNotGranted, h1, el(0, 10, x))
	n.lockWant(wire.StatusInvalidParameter, h2, el(20, 1, 0))
	n.lockWant(wire.StatusInvalidParameter, h2, el(20, 1, un|wire.LockFlagSharedLock))
	n.lockWant(wire.StatusInvalidParameter, h2, el(20, 1, x), el(30, 1, wire.LockFlagExclusiveLock))
	n.lockWant(wire.StatusInvalidLockRange, h2, el(^uint64(0), 2, x))
	n.lockWant(wire.StatusRangeNotLocked, h2, el(0, 10, un))
	n.lockWant(wire.StatusRangeNotLocked, h1, el(0, 9, un))
	// All or nothing: the first range is not kept when the second fails.
	n.lockWant(wire.StatusLockNotGranted, h2, el(40, 1, x), el(9, 1, x))
	n.lockWant(wire.StatusSuccess, h1, el(40, 1, x))

	// READ and WRITE through h2 conflict with h1's exclusive lock.
	rd := n.c.roundTrip(n.s.signer, n.c.header(wire.CmdRead, n.s.id, n.tid), &wire.ReadRequest{FileID: h2, Offset: 8, Length: 4})
	expect(t, rd, wire.CmdRead, wire.StatusFileLockConflict)
	wr := n.c.roundTrip(n.s.signer, n.c.header(wire.CmdWrite, n.s.id, n.tid), &wire.WriteRequest{FileID: h2, Offset: 9, Data: []byte("x")})
	expect(t, wr, wire.CmdWrite, wire.StatusFileLockConflict)
	wr = n.c.roundTrip(n.s.signer, n.c.header(wire.CmdWrite, n.s.id, n.tid), &wire.WriteRequest{FileID: h1, Offset: 9, Data: []byte("x")})
	expect(t, wr, wire.CmdWrite, wire.StatusSuccess)

	// A blocking lock goes async and completes on the unlock.
	n.lock(h2, el(0, 1, wire.LockFlagExclusiveLock))
	expect(t, n.c.recvOne(), wire.CmdLock, wire.StatusPending)
	n.lockWant(wire.StatusSuccess, h1, el(0, 10, un))
	expect(t, n.c.recvOne(), wire.CmdLock, wire.StatusSuccess)

	// A blocking lock is cancelled by CANCEL.
	n.lock(h1, el(0, 1, wire.LockFlagSharedLock))
	ih := expect(t, n.c.recvOne(), wire.CmdLock, wire.StatusPending)
	n.c.send(n.s.signer, message(wire.Header{Command: wire.CmdCancel, Flags: wire.FlagAsyncCommand, AsyncID: ih.AsyncID, MessageID: ih.MessageID, SessionID: n.s.id}, &wire.CancelRequest{}))
	expect(t, n.c.recvOne(), wire.CmdLock, wire.StatusCancelled)

	// CLOSE releases h2's locks, which wakes a blocked lock of h1.
	n.lock(h1, el(0, 1, wire.LockFlagExclusiveLock))
	expect(t, n.c.recvOne(), wire.CmdLock, wire.StatusPending)
	// The two answers may come in either order.
	n.c.send(n.s.signer, message(n.c.header(wire.CmdClose, n.s.id, n.tid), &wire.CloseRequest{FileID: h2}))
	got := map[wire.Command]wire.Status{}
	for range 2 {
		m := n.c.recvOne()
		got[hdrOf(t, m).Command] = status(m)
	}
	if got[wire.CmdClose] != wire.StatusSuccess || got[wire.CmdLock] != wire.StatusSuccess {
		t.Fatalf("close and blocked lock: %v", got)
	}
}
