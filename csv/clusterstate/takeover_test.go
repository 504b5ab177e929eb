package clusterstate

import (
	"errors"
	"testing"

	"sofs.io/sofs/csv/openstate"
)

// A lost node's persistent handle keeps its share mode, lease and locks
// until a survivor adopts it by superseding its entry; the adopter then
// holds all three without a moment in which another open could slip in.
func TestPersistentEntryOutlivesItsNodeUntilAdopted(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	lease := &openstate.LeaseRequest{Key: openstate.LeaseKey{Key: [16]byte{7}}, State: openstate.CacheRead | openstate.CacheHandle | openstate.CacheWrite, Version: 2}
	// Node 3: a persistent exclusive open of file 40 with an RWH lease
	// and a lock; also an ordinary open of file 41.
	g, err := tc.table(3).Acquire(ctx, 40, &openstate.OpenEntry{ID: 5, Access: rw, ShareAccess: shareNone, Lease: lease, Persistent: true})
	if err != nil || g.Lease == nil {
		t.Fatalf("persistent open: %v %+v", err, g)
	}
	if _, err := tc.table(3).Lock(ctx, 40, 6, []openstate.LockRange{{Offset: 10, Length: 5, Exclusive: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.table(3).Acquire(ctx, 41, &openstate.OpenEntry{ID: 8, Access: rw, ShareAccess: shareNone}); err != nil {
		t.Fatal(err)
	}
	oldOpen, oldOwner := tc.table(3).Global(5), tc.table(3).Global(6)

	tc.nodes[2].Close()
	tc.setView(t, 1, 1, map[uint16]string{1: tc.addrs[1], 2: tc.addrs[2]})

	if _, err := tc.table(2).Acquire(ctx, 41, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareNone}); err != nil {
		t.Fatalf("the lost node's ordinary open was not released: %v", err)
	}
	// The conflicting open meets the handle's lease first (a break
	// nobody can acknowledge) and its share mode behind it.
	var bw *openstate.BreakWait
	if _, err := tc.table(2).Acquire(ctx, 40, &openstate.OpenEntry{ID: 2, Access: rw, ShareAccess: shareAll}); !errors.As(err, &bw) && !errors.Is(err, openstate.ErrSharingViolation) {
		t.Fatalf("open against the lost node's persistent handle: %v, want a break wait or sharing violation", err)
	}
	if _, err := tc.table(2).Acquire(ctx, 40, &openstate.OpenEntry{ID: 2, Access: rw, ShareAccess: shareAll, Retry: true}); !errors.As(err, &bw) && !errors.Is(err, openstate.ErrSharingViolation) {
		t.Fatalf("second try against the lost node's persistent handle: %v, want a break wait or sharing violation", err)
	}
	if _, err := tc.table(2).Lock(ctx, 40, 99, []openstate.LockRange{{Offset: 12, Length: 1}}); !errors.Is(err, openstate.ErrLockConflict) {
		t.Fatalf("the lost node's persistent handle's lock: %v, want conflict", err)
	}

	// Node 2 adopts it: same lease key, superseding the old entry.
	g, err = tc.table(2).Acquire(ctx, 40, &openstate.OpenEntry{ID: 3, Access: rw, ShareAccess: shareNone, Lease: lease, Persistent: true, Supersedes: oldOpen})
	if err != nil {
		t.Fatalf("adoption: %v", err)
	}
	if g.Lease == nil || g.Lease.State&openstate.CacheHandle == 0 {
		t.Fatalf("adopted lease %+v, want it to keep handle caching", g.Lease)
	}
	moved, err := tc.table(2).TransferLocks(ctx, 40, oldOwner, 4)
	if err != nil || len(moved) != 1 || moved[0].Offset != 10 {
		t.Fatalf("lock transfer: %v %+v", err, moved)
	}
	if err := tc.table(2).CheckIO(40, tc.table(2).Global(4), 12, 1, true); err != nil {
		t.Fatalf("the adopter's own lock: %v", err)
	}
	if _, err := tc.table(1).Lock(ctx, 40, 98, []openstate.LockRange{{Offset: 12, Length: 1}}); !errors.Is(err, openstate.ErrLockConflict) {
		t.Fatalf("the adopted lock seen from node 1: %v, want conflict", err)
	}
	if _, err := tc.table(1).Acquire(ctx, 40, &openstate.OpenEntry{ID: 9, Access: rw, ShareAccess: shareAll}); !errors.As(err, &bw) && !errors.Is(err, openstate.ErrSharingViolation) {
		t.Fatalf("open against the adopted handle: %v, want a break wait or sharing violation", err)
	}
	// The adopted open closes like any other: the file is free.
	if err := tc.table(2).ReleaseOwner(ctx, 40, 4); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tc.table(2).Release(ctx, 40, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.table(1).Acquire(ctx, 40, &openstate.OpenEntry{ID: 10, Access: rw, ShareAccess: shareNone}); err != nil {
		t.Fatalf("open after the adopted handle closed: %v", err)
	}
}

// A node that leaves must not take the survivors' opens of the same file
// with it (the count-only arithmetic in purge).
func TestLostNodeLeavesSharedObjectsOpen(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	if _, err := tc.table(3).Acquire(ctx, 50, &openstate.OpenEntry{ID: 1, Access: 0x1, ShareAccess: shareAll}); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.table(2).Acquire(ctx, 50, &openstate.OpenEntry{ID: 2, Access: rw, ShareAccess: openstate.ShareRead}); err != nil {
		t.Fatal(err)
	}
	tc.nodes[2].Close()
	tc.setView(t, 1, 1, map[uint16]string{1: tc.addrs[1], 2: tc.addrs[2]})
	if _, err := tc.table(1).Acquire(ctx, 50, &openstate.OpenEntry{ID: 3, Access: rw, ShareAccess: shareAll}); !errors.Is(err, openstate.ErrSharingViolation) {
		t.Fatalf("the survivor's open lost its share mode with the other node: %v", err)
	}
}

// A persistent handle held through the coordinator itself has no replica
// on a holder; its standby keeps one, so when the coordinator is lost the
// handle still keeps its share mode, lease and lock until a survivor
// adopts it, as a lost non-coordinator's does. Without the standby the
// new coordinator would know nothing of it and grant a conflicting open.
func TestCoordinatorsPersistentEntryOutlivesIt(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	lease := &openstate.LeaseRequest{Key: openstate.LeaseKey{Key: [16]byte{8}}, State: openstate.CacheRead | openstate.CacheHandle | openstate.CacheWrite, Version: 2}
	if _, err := tc.table(1).Acquire(ctx, 60, &openstate.OpenEntry{ID: 5, Access: rw, ShareAccess: shareNone, Lease: lease, Persistent: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.table(1).Lock(ctx, 60, 6, []openstate.LockRange{{Offset: 10, Length: 5, Exclusive: true}}); err != nil {
		t.Fatal(err)
	}
	// An ordinary exclusive open through the coordinator goes with it.
	if _, err := tc.table(1).Acquire(ctx, 61, &openstate.OpenEntry{ID: 7, Access: rw, ShareAccess: shareNone}); err != nil {
		t.Fatal(err)
	}
	oldOpen, oldOwner := tc.table(1).Global(5), tc.table(1).Global(6)

	tc.nodes[0].Close()
	tc.setView(t, 2, 3, map[uint16]string{2: tc.addrs[2], 3: tc.addrs[3]})

	if _, err := tc.table(2).Acquire(ctx, 61, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareNone}); err != nil {
		t.Fatalf("the lost coordinator's ordinary open was not released: %v", err)
	}
	var bw *openstate.BreakWait
	for slot := 2; slot <= 3; slot++ {
		if _, err := tc.table(slot).Acquire(ctx, 60, &openstate.OpenEntry{ID: 2, Access: rw, ShareAccess: shareAll}); !errors.As(err, &bw) && !errors.Is(err, openstate.ErrSharingViolation) {
			t.Fatalf("open through node %d against the lost coordinator's persistent handle: %v, want a break wait or sharing violation", slot, err)
		}
		if _, err := tc.table(slot).Lock(ctx, 60, 99, []openstate.LockRange{{Offset: 12, Length: 1}}); !errors.Is(err, openstate.ErrLockConflict) {
			t.Fatalf("lock through node %d against the lost coordinator's persistent handle: %v, want conflict", slot, err)
		}
	}

	// Node 2 adopts it, superseding the kept entry, and takes its lock.
	if _, err := tc.table(2).Acquire(ctx, 60, &openstate.OpenEntry{ID: 3, Access: rw, ShareAccess: shareNone, Lease: lease, Persistent: true, Supersedes: oldOpen}); err != nil {
		t.Fatalf("adoption: %v", err)
	}
	if moved, err := tc.table(2).TransferLocks(ctx, 60, oldOwner, 4); err != nil || len(moved) != 1 {
		t.Fatalf("lock transfer: %v %+v", err, moved)
	}
	// Closed, the file is free: no copy anywhere brings the entry back.
	if err := tc.table(2).ReleaseOwner(ctx, 60, 4); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tc.table(2).Release(ctx, 60, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.table(3).Acquire(ctx, 60, &openstate.OpenEntry{ID: 10, Access: rw, ShareAccess: shareNone}); err != nil {
		t.Fatalf("open after the adopted handle closed: %v", err)
	}
}

// The standby's copy follows the entry: once the persistent handle
// through the coordinator closes, no node keeps it, so a later loss of
// the coordinator brings nothing back.
func TestStandbyCopyDroppedWithTheHandle(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	if _, err := tc.table(1).Acquire(ctx, 70, &openstate.OpenEntry{ID: 5, Access: rw, ShareAccess: shareNone, Persistent: true}); err != nil {
		t.Fatal(err)
	}
	held := func() int {
		n := 0
		for _, nd := range tc.nodes[1:] {
			nd.repMu.Lock()
			if nd.reps["/vol"][70] != nil {
				n++
			}
			nd.repMu.Unlock()
		}
		return n
	}
	if n := held(); n != 1 {
		t.Fatalf("%d nodes keep a copy of the coordinator's persistent entry, want its one standby", n)
	}
	if _, _, err := tc.table(1).Release(ctx, 70, 5); err != nil {
		t.Fatal(err)
	}
	if n := held(); n != 0 {
		t.Fatalf("%d nodes still keep a copy after the handle closed", n)
	}
	tc.nodes[0].Close()
	tc.setView(t, 2, 2, map[uint16]string{2: tc.addrs[2], 3: tc.addrs[3]})
	if _, err := tc.table(3).Acquire(ctx, 70, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareNone}); err != nil {
		t.Fatalf("open after the coordinator's loss: %v", err)
	}
}

// A lost standby is replaced: after node 2 (the standby) and then the
// coordinator are lost, node 3 still knows the coordinator's persistent
// handle.
func TestStandbyReplacedWhenLost(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	if _, err := tc.table(1).Acquire(ctx, 80, &openstate.OpenEntry{ID: 5, Access: rw, ShareAccess: shareNone, Persistent: true}); err != nil {
		t.Fatal(err)
	}
	tc.nodes[1].Close()
	tc.setView(t, 1, 1, map[uint16]string{1: tc.addrs[1], 3: tc.addrs[3]})
	tc.nodes[0].Close()
	tc.setView(t, 2, 3, map[uint16]string{3: tc.addrs[3]})
	if _, err := tc.table(3).Acquire(ctx, 80, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareAll}); !errors.Is(err, openstate.ErrSharingViolation) {
		t.Fatalf("open after the standby and then the coordinator were lost: %v, want sharing violation", err)
	}
}
