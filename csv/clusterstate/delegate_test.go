package clusterstate

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sofs.io/sofs/csv/openstate"
)

// callCounter counts a node's calls to other nodes, by method.
type callCounter struct {
	mu    sync.Mutex
	calls map[string]int
}

func (c *callCounter) Call(method string, _ time.Duration, _ error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = make(map[string]int)
	}
	c.calls[method]++
}

func (c *callCounter) RemoteBreaks(int) {}

func (c *callCounter) count(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[method]
}

// watch makes cc count node slot's calls from now on.
func (tc *testCluster) watch(slot int, cc *callCounter) {
	n := tc.nodes[slot-1]
	n.tr.mu.Lock()
	n.tr.obs = cc
	for _, p := range n.tr.peers {
		p.obs = cc
	}
	n.tr.mu.Unlock()
}

func (tc *testCluster) delegated(slot int, obj uint64) bool {
	_, o := tc.nodes[slot-1].dl.lookup("/vol", obj)
	return o != nil && !o.gone.Load()
}

func leaseKey(b byte) openstate.LeaseKey {
	var k openstate.LeaseKey
	k.Key[0] = b
	return k
}

const rwh = openstate.CacheRead | openstate.CacheWrite | openstate.CacheHandle

// After its first open, an object used through one node only is owned
// there: opens, closes, locks and I/O checks cost no call to another node.
func TestDelegationToSoleUser(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	tab := tc.table(2)
	// Read and write caching: a conflicting open is refused at once (with
	// handle caching it would wait for the break of H first).
	const rw2 = openstate.CacheRead | openstate.CacheWrite
	lease := func() *openstate.LeaseRequest {
		return &openstate.LeaseRequest{Key: leaseKey(1), State: rw2, Version: 2}
	}
	g, err := tab.Acquire(ctx, 100, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: openstate.ShareRead, Lease: lease()})
	if err != nil || g.Lease == nil || g.Lease.State != rw2 {
		t.Fatalf("first open: %+v %v", g, err)
	}
	if !tc.delegated(2, 100) {
		t.Fatal("the object's only user did not get it delegated")
	}
	cc := &callCounter{}
	tc.watch(2, cc)
	for i := uint64(2); i < 12; i++ {
		if _, _, err := tab.Release(ctx, 100, i-1); err != nil {
			t.Fatal(err)
		}
		g, err := tab.Acquire(ctx, 100, &openstate.OpenEntry{ID: i, Access: rw, ShareAccess: openstate.ShareRead, Lease: lease()})
		if err != nil || g.Lease == nil || g.Lease.State != rw2 {
			t.Fatalf("open %d: %+v %v", i, g, err)
		}
		r := openstate.LockRange{Offset: 0, Length: 10, Exclusive: true}
		if _, err := tab.Lock(ctx, 100, i, []openstate.LockRange{r}); err != nil {
			t.Fatal(err)
		}
		if err := tab.CheckIO(100, i+100, 5, 1, false); !errors.Is(err, openstate.ErrLockConflict) {
			t.Fatalf("read through another open under the lock: %v", err)
		}
		if err := tab.Unlock(ctx, 100, i, r); err != nil {
			t.Fatal(err)
		}
	}
	if n := cc.count("op") + cc.count("wait") + cc.count("lock_wait"); n != 0 {
		t.Fatalf("%d calls to the coordinator for a delegated object, want none", n)
	}
	// The state is the cluster's: a share-mode conflict through another
	// node recalls it and is refused.
	if _, err := tc.table(3).Acquire(ctx, 100, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareAll}); !errors.Is(err, openstate.ErrSharingViolation) {
		t.Fatalf("write open through node 3 of a file node 2 opened sharing read only: %v", err)
	}
	if tc.delegated(2, 100) {
		t.Fatal("still delegated after another node's open")
	}
	// The lease key is the cluster's too.
	if _, err := tc.table(3).Acquire(ctx, 101, &openstate.OpenEntry{ID: 2, Access: rw, ShareAccess: shareAll, Lease: lease()}); !errors.Is(err, openstate.ErrLeaseKeyInUse) {
		t.Fatalf("the lease key of node 2's object on another object: %v, want ErrLeaseKeyInUse", err)
	}
}

// A lease break started on the delegate crosses a recall: its waiter
// wakes, the acknowledgment goes to the coordinator, and the other node's
// open waits for it.
func TestRecallWithLeaseBreakInProgress(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	tab := tc.table(2)
	if _, err := tab.Acquire(ctx, 110, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareAll,
		Lease: &openstate.LeaseRequest{Key: leaseKey(1), State: rwh, Version: 2}}); err != nil {
		t.Fatal(err)
	}
	if !tc.delegated(2, 110) {
		t.Fatal("not delegated")
	}
	// A second lease on node 2 breaks the first one there: locally.
	_, err := tab.Acquire(ctx, 110, &openstate.OpenEntry{ID: 2, Access: rw, ShareAccess: shareAll,
		Lease: &openstate.LeaseRequest{Key: leaseKey(1), State: openstate.CacheRead, Version: 2}})
	if err != nil {
		// The same key: no break. Use another key below.
		t.Fatal(err)
	}
	_, err = tab.Acquire(ctx, 110, &openstate.OpenEntry{ID: 3, Access: rw, ShareAccess: shareAll,
		Lease: &openstate.LeaseRequest{Key: leaseKey(2), State: openstate.CacheRead, Version: 2}})
	var bw *openstate.BreakWait
	if err == nil || !errors.As(err, &bw) {
		// A new key is checked by the coordinator (recall, then a new
		// delegation is impossible while the break is in progress).
		t.Fatalf("open with a second lease key on node 2: %v, want a break wait", err)
	}
	if len(bw.Breaks) != 1 || !bw.Breaks[0].IsLease {
		t.Fatalf("node 2's break: %+v", bw.Breaks)
	}
	if tc.delegated(2, 110) {
		t.Fatal("delegated while a break is in progress")
	}
	waited := make(chan error, 1)
	go func() { waited <- tab.Wait(ctx, 110, bw.Gen) }()
	// Node 3's open waits for the same break.
	_, err = tc.table(3).Acquire(ctx, 110, &openstate.OpenEntry{ID: 4, Access: 0x1, ShareAccess: shareAll})
	var bw3 *openstate.BreakWait
	if !errors.As(err, &bw3) {
		t.Fatalf("node 3's open during node 2's break: %v, want a break wait", err)
	}
	waited3 := make(chan error, 1)
	go func() { waited3 <- tc.table(3).Wait(ctx, 110, bw3.Gen) }()
	if _, err := tab.AckLease(ctx, 110, leaseKey(1), openstate.CacheRead|openstate.CacheHandle); err != nil {
		t.Fatalf("acknowledgment: %v", err)
	}
	for i, ch := range []chan error{waited, waited3} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatalf("waiter %d: %v", i, err)
			}
		case <-ctx.Done():
			t.Fatalf("waiter %d not woken by the acknowledgment", i)
		}
	}
	if _, err := tc.table(3).Acquire(ctx, 110, &openstate.OpenEntry{ID: 4, Access: 0x1, ShareAccess: shareAll, Retry: true}); err != nil {
		t.Fatalf("node 3's retry: %v", err)
	}
}

// A delegated object is recalled by another node's open: a share-mode
// conflict is refused, the delegate's own caching is broken through the
// coordinator, and a blocking lock waiting on the delegate wakes.
func TestRecallOnSecondNodeOpen(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	tab := tc.table(2)
	if _, err := tab.Acquire(ctx, 120, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: openstate.ShareRead,
		Lease: &openstate.LeaseRequest{Key: leaseKey(7), State: openstate.CacheRead | openstate.CacheWrite, Version: 2}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Acquire(ctx, 120, &openstate.OpenEntry{ID: 2, Access: 0x1, ShareAccess: openstate.ShareRead | openstate.ShareWrite,
		Lease: &openstate.LeaseRequest{Key: leaseKey(7), State: openstate.CacheRead | openstate.CacheWrite, Version: 2}}); err != nil {
		t.Fatal(err)
	}
	if !tc.delegated(2, 120) {
		t.Fatal("not delegated")
	}
	r := openstate.LockRange{Offset: 0, Length: 10, Exclusive: true}
	if _, err := tab.Lock(ctx, 120, 1, []openstate.LockRange{r}); err != nil {
		t.Fatal(err)
	}
	ch, err := tab.Lock(ctx, 120, 2, []openstate.LockRange{r})
	if !errors.Is(err, openstate.ErrLockConflict) || ch == nil {
		t.Fatalf("conflicting lock on the delegate: %v", err)
	}
	// Node 3 asks for write access, which node 2 does not share.
	if _, err := tc.table(3).Acquire(ctx, 120, &openstate.OpenEntry{ID: 3, Access: rw, ShareAccess: shareAll}); !errors.Is(err, openstate.ErrSharingViolation) {
		t.Fatalf("write open through node 3: %v, want sharing violation", err)
	}
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatal("the blocking lock waiting on the delegate was not woken by the recall")
	}
	// Node 3's read open breaks node 2's write caching; node 2 gets the
	// break from the coordinator.
	_, err = tc.table(3).Acquire(ctx, 120, &openstate.OpenEntry{ID: 3, Access: 0x1, ShareAccess: shareAll})
	var bw *openstate.BreakWait
	if !errors.As(err, &bw) {
		t.Fatalf("read open through node 3: %v, want a break wait", err)
	}
	select {
	case got := <-tc.breaks[1]:
		if len(got) != 1 || !got[0].IsLease || got[0].Key != leaseKey(7) {
			t.Fatalf("node 2's break: %+v", got)
		}
	case <-ctx.Done():
		t.Fatal("node 2 never got the break")
	}
	if _, err := tab.AckLease(ctx, 120, leaseKey(7), openstate.CacheRead); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.table(3).Acquire(ctx, 120, &openstate.OpenEntry{ID: 3, Access: 0x1, ShareAccess: shareAll, Retry: true}); err != nil {
		t.Fatalf("node 3's retry: %v", err)
	}
	// The lock taken on the delegate holds everywhere; the waiter, now
	// waiting through the coordinator, wakes on the unlock.
	if err := tc.table(3).CheckIO(120, 3, 5, 1, false); !errors.Is(err, openstate.ErrLockConflict) {
		t.Fatalf("read through node 3 under the lock taken on the delegate: %v", err)
	}
	ch, err = tab.Lock(ctx, 120, 2, []openstate.LockRange{r})
	if !errors.Is(err, openstate.ErrLockConflict) || ch == nil {
		t.Fatalf("conflicting lock after the recall: %v", err)
	}
	if err := tab.Unlock(ctx, 120, 1, r); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatal("the blocking lock was not woken by the unlock")
	}
	if _, err := tab.Lock(ctx, 120, 2, []openstate.LockRange{r}); err != nil {
		t.Fatalf("lock after the wake: %v", err)
	}
}

// The delegate's state survives the coordinator's loss: it goes to the
// new coordinator with the rejoin.
func TestCoordinatorLossWhileDelegated(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	tab := tc.table(2)
	if _, err := tab.Acquire(ctx, 130, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareAll}); err != nil {
		t.Fatal(err)
	}
	if !tc.delegated(2, 130) {
		t.Fatal("not delegated")
	}
	// Applied on node 2 alone: the coordinator has never seen these.
	if _, err := tab.Acquire(ctx, 130, &openstate.OpenEntry{ID: 2, Access: rw, ShareAccess: shareNone}); !errors.Is(err, openstate.ErrSharingViolation) {
		t.Fatalf("share-none open over a read-write open: %v", err)
	}
	if _, _, err := tab.Release(ctx, 130, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Acquire(ctx, 130, &openstate.OpenEntry{ID: 2, Access: rw, ShareAccess: shareNone}); err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Lock(ctx, 130, 2, []openstate.LockRange{{Offset: 50, Length: 1, Exclusive: true}}); err != nil {
		t.Fatal(err)
	}
	tc.nodes[0].Close()
	tc.setView(t, 2, 3, map[uint16]string{2: tc.addrs[2], 3: tc.addrs[3]})
	if tc.delegated(2, 130) {
		t.Fatal("still delegated in the new epoch")
	}
	if _, err := tc.table(3).Acquire(ctx, 130, &openstate.OpenEntry{ID: 9, Access: 0x1, ShareAccess: shareAll}); !errors.Is(err, openstate.ErrSharingViolation) {
		t.Fatalf("open after the coordinator's loss of a file node 2 holds share-none: %v", err)
	}
	if err := tc.table(3).CheckIO(130, 9, 50, 1, false); !errors.Is(err, openstate.ErrLockConflict) {
		t.Fatalf("node 2's lock on the new coordinator: %v", err)
	}
	if _, _, err := tab.Release(ctx, 130, 2); err != nil {
		t.Fatalf("close through the new coordinator: %v", err)
	}
	if err := tab.ReleaseOwner(ctx, 130, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.table(3).Acquire(ctx, 130, &openstate.OpenEntry{ID: 9, Access: rw, ShareAccess: shareNone}); err != nil {
		t.Fatalf("open after node 2's close: %v", err)
	}
}

// A delegate's loss releases its opens and locks of the objects it
// owned; nothing of the coordinator's stale copy comes back.
func TestDelegateLossReleasesOpens(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	tab := tc.table(3)
	if _, err := tab.Acquire(ctx, 140, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareAll}); err != nil {
		t.Fatal(err)
	}
	if !tc.delegated(3, 140) {
		t.Fatal("not delegated")
	}
	if _, err := tab.Acquire(ctx, 140, &openstate.OpenEntry{ID: 2, Access: rw, ShareAccess: shareAll}); err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Lock(ctx, 140, 2, []openstate.LockRange{{Offset: 0, Length: 1, Exclusive: true}}); err != nil {
		t.Fatal(err)
	}
	if err := tab.SetDeletePending(ctx, 140, true, openstate.ParentKey{}); err != nil {
		t.Fatal(err)
	}
	tc.nodes[2].Close()
	tc.setView(t, 1, 1, map[uint16]string{1: tc.addrs[1], 2: tc.addrs[2]})
	if _, err := tc.table(2).Acquire(ctx, 140, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareNone}); err != nil {
		t.Fatalf("open of a file owned by a node that left: %v", err)
	}
	if _, err := tc.table(2).Lock(ctx, 140, 1, []openstate.LockRange{{Offset: 0, Length: 1, Exclusive: true}}); err != nil {
		t.Fatalf("lock held by a node that left: %v", err)
	}
}

// A persistent open is never delegated, and one made on a delegate
// brings the object back to the coordinator first: its entry must
// outlive the node.
func TestPersistentOpenNeverDelegated(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	tab := tc.table(3)
	if _, err := tab.Acquire(ctx, 150, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareNone, Persistent: true}); err != nil {
		t.Fatal(err)
	}
	if tc.delegated(3, 150) {
		t.Fatal("an object with a persistent open was delegated")
	}
	if _, err := tab.Acquire(ctx, 151, &openstate.OpenEntry{ID: 2, Access: rw, ShareAccess: shareAll}); err != nil {
		t.Fatal(err)
	}
	if !tc.delegated(3, 151) {
		t.Fatal("not delegated")
	}
	if _, err := tab.Acquire(ctx, 151, &openstate.OpenEntry{ID: 3, Access: rw, ShareAccess: shareNone, Persistent: true}); !errors.Is(err, openstate.ErrSharingViolation) {
		t.Fatalf("persistent share-none open over a read-write open: %v", err)
	}
	if _, _, err := tab.Release(ctx, 151, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Acquire(ctx, 151, &openstate.OpenEntry{ID: 3, Access: rw, ShareAccess: shareNone, Persistent: true}); err != nil {
		t.Fatal(err)
	}
	if tc.delegated(3, 151) {
		t.Fatal("still delegated after a persistent open")
	}
	tc.nodes[2].Close()
	tc.setView(t, 1, 1, map[uint16]string{1: tc.addrs[1], 2: tc.addrs[2]})
	for _, obj := range []uint64{150, 151} {
		if _, err := tc.table(2).Acquire(ctx, obj, &openstate.OpenEntry{ID: 9, Access: rw, ShareAccess: shareAll}); !errors.Is(err, openstate.ErrSharingViolation) {
			t.Fatalf("object %d: open over the lost node's persistent handle: %v, want sharing violation", obj, err)
		}
	}
}

// Idle delegations beyond the bound go back to the coordinator, which
// then forgets them; busy ones stay.
func TestIdleDelegationsHandedBack(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	n2 := tc.nodes[1]
	tab := tc.table(2)
	// Object 200 stays open; 201..209 are opened and closed.
	if _, err := tab.Acquire(ctx, 200, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareNone}); err != nil {
		t.Fatal(err)
	}
	for obj := uint64(201); obj < 210; obj++ {
		if _, err := tab.Acquire(ctx, obj, &openstate.OpenEntry{ID: obj, Access: rw, ShareAccess: shareAll}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := tab.Release(ctx, obj, obj); err != nil {
			t.Fatal(err)
		}
	}
	if !tc.delegated(2, 205) {
		t.Fatal("an idle delegation within the bound was not kept")
	}
	n2.returnIdle(1, 2)
	n2.dl.mu.Lock()
	held := n2.dl.count
	n2.dl.mu.Unlock()
	if held != 2 {
		t.Fatalf("%d delegations kept, want 2", held)
	}
	if !tc.delegated(2, 200) {
		t.Fatal("the open object's delegation was handed back")
	}
	returned := 0
	for obj := uint64(201); obj < 210; obj++ {
		if tc.delegated(2, obj) {
			continue // the one idle delegation kept
		}
		returned++
		n2.repMu.Lock()
		stale := n2.reps["/vol"][obj]
		n2.repMu.Unlock()
		if stale != nil {
			t.Fatalf("node 2 keeps the grant's replica of object %d, which it handed back: %+v", obj, stale)
		}
	}
	if returned != 8 {
		t.Fatalf("%d idle delegations handed back, want 8", returned)
	}
	c := tc.nodes[0].coord
	c.mu.Lock()
	cv := c.vols["/vol"]
	coordDeleg, coordObjs := len(cv.deleg), len(cv.objects.Objects())
	c.mu.Unlock()
	if coordDeleg != 2 || coordObjs > 2 {
		t.Fatalf("coordinator: %d delegations, %d objects; want 2 and at most 2", coordDeleg, coordObjs)
	}
	// What was handed back is nobody's: another node opens it at once,
	// and the share-none open of 200 still holds.
	for obj := uint64(201); obj < 210; obj++ {
		if _, err := tc.table(3).Acquire(ctx, obj, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareNone}); err != nil {
			t.Fatalf("object %d after the hand-back: %v", obj, err)
		}
	}
	if _, err := tc.table(3).Acquire(ctx, 200, &openstate.OpenEntry{ID: 2, Access: 0x1, ShareAccess: shareAll}); !errors.Is(err, openstate.ErrSharingViolation) {
		t.Fatalf("open of the object still open share-none on node 2: %v", err)
	}
}

// A sweep is started by the grant that passes the bound.
func TestDelegationBoundStartsSweep(t *testing.T) {
	tc := startCluster(t, 2)
	ctx := testCtx(t)
	n2 := tc.nodes[1]
	n2.maxDeleg = 4
	swept := make(chan struct{}, 100)
	n2.dl.mu.Lock()
	n2.dl.swept = func() { swept <- struct{}{} }
	n2.dl.mu.Unlock()
	cc := &callCounter{}
	tc.watch(2, cc)
	for obj := uint64(300); obj < 320; obj++ {
		if _, err := tc.table(2).Acquire(ctx, obj, &openstate.OpenEntry{ID: obj, Access: rw, ShareAccess: shareAll}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := tc.table(2).Release(ctx, obj, obj); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-swept:
	case <-ctx.Done():
		t.Fatal("no sweep after passing the bound")
	}
	n2.dl.mu.Lock()
	held := n2.dl.count
	n2.dl.mu.Unlock()
	if cc.count("give_back") == 0 || held >= 20 {
		t.Fatalf("%d delegations held after %d hand-backs", held, cc.count("give_back"))
	}
}

// BenchmarkOpenClose measures an Acquire and Release of one object
// through a node that does not coordinate, with the object delegated to
// it and without delegation (a round trip each).
func BenchmarkOpenClose(b *testing.B) {
	for _, deleg := range []bool{true, false} {
		name := "Delegated"
		if !deleg {
			name = "Remote"
		}
		b.Run(name, func(b *testing.B) {
			tc := startCluster(b, 2)
			tc.nodes[0].noDeleg = !deleg
			tab := tc.table(2)
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				id := uint64(i + 1)
				if _, err := tab.Acquire(ctx, 1, &openstate.OpenEntry{ID: id, Access: rw, ShareAccess: shareAll}); err != nil {
					b.Fatal(err)
				}
				if _, _, err := tab.Release(ctx, 1, id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A recall that overtakes its grant leaves a tombstone: the late grant is
// not installed, since the coordinator went on from its own copy.
func TestRecallBeforeGrantArrives(t *testing.T) {
	tc := startCluster(t, 2)
	n2 := tc.nodes[1]
	rep, err := n2.recalled(1, recallRequest{Epoch: 1, Vol: "/vol", Obj: 400, Dgen: 99})
	if err != nil || rep.Held {
		t.Fatalf("recall of a delegation not installed: %+v %v, want not held", rep, err)
	}
	st := openstate.FileState{Opens: 1, Entries: []openstate.OpenRecord{{ID: n2.global(1), Access: rw, ShareAccess: shareAll}}}
	n2.takeDelegation(1, "/vol", &opReply{Deleg: 99, Replica: &replica{Vol: "/vol", Obj: 400, Epoch: 1, Version: 1, State: &st}})
	if tc.delegated(2, 400) {
		t.Fatal("a grant recalled before it arrived was installed")
	}
	n2.takeDelegation(1, "/vol", &opReply{Deleg: 100, Replica: &replica{Vol: "/vol", Obj: 400, Epoch: 1, Version: 2, State: &st}})
	if !tc.delegated(2, 400) {
		t.Fatal("the next grant was not installed")
	}
	if _, err := n2.recalled(2, recallRequest{Epoch: 1, Vol: "/vol", Obj: 400, Dgen: 100}); !errors.Is(err, errWrongEpoch) {
		t.Fatalf("recall from a node that does not coordinate: %v", err)
	}
}

// Opens that exclude each other, from goroutines on two nodes, move the
// object back and forth between them (each becomes its only user in
// turn): never two at once, and nothing left at the end.
func TestDelegationUnderContention(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	const perNode, rounds = 3, 40
	cc := &callCounter{}
	tc.watch(1, cc)
	var inside atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, 2*perNode)
	for slot := 2; slot <= 3; slot++ {
		for g := range perNode {
			wg.Add(1)
			go func(tab *Table, base uint64) {
				defer wg.Done()
				for i := range uint64(rounds) {
					id := base + i
					for {
						if ctx.Err() != nil {
							errs <- ctx.Err()
							return
						}
						_, err := tab.Acquire(ctx, 500, &openstate.OpenEntry{ID: id, Access: rw, ShareAccess: shareNone})
						if errors.Is(err, openstate.ErrSharingViolation) {
							runtime.Gosched()
							continue
						}
						if err != nil {
							errs <- err
							return
						}
						break
					}
					if n := inside.Add(1); n != 1 {
						errs <- fmt.Errorf("%d share-none opens at once", n)
						return
					}
					inside.Add(-1)
					if _, _, err := tab.Release(ctx, 500, id); err != nil {
						errs <- err
						return
					}
				}
			}(tc.table(slot), uint64(g+1)*1000)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if cc.count("recall") == 0 {
		t.Fatal("the object never moved between the nodes")
	}
	t.Logf("%d recalls", cc.count("recall"))
	for slot := 1; slot <= 3; slot++ {
		if _, err := tc.table(slot).Acquire(ctx, 500, &openstate.OpenEntry{ID: 9, Access: rw, ShareAccess: shareNone}); err != nil {
			t.Fatalf("share-none open on node %d after every close: %v", slot, err)
		}
		if _, _, err := tc.table(slot).Release(ctx, 500, 9); err != nil {
			t.Fatal(err)
		}
	}
}

// A node the coordinator released stops applying transitions of the
// objects it owned as soon as it learns it (ErrFenced), even if its view
// still shows it a member.
func TestFencedNodeDropsDelegations(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	if _, err := tc.table(3).Acquire(ctx, 600, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareNone}); err != nil {
		t.Fatal(err)
	}
	if !tc.delegated(3, 600) {
		t.Fatal("not delegated")
	}
	tc.nodes[2].onFenced = func() {}
	tc.setView(t, 1, 1, map[uint16]string{1: tc.addrs[1], 2: tc.addrs[2]})
	if _, err := tc.table(2).Acquire(ctx, 600, &openstate.OpenEntry{ID: 2, Access: rw, ShareAccess: shareNone}); err != nil {
		t.Fatalf("open after node 3 was dropped: %v", err)
	}
	tc.setView(t, 1, 1, tc.addrs)
	if _, err := tc.table(3).Acquire(ctx, 601, &openstate.OpenEntry{ID: 3, Access: rw, ShareAccess: shareAll}); !errors.Is(err, ErrFenced) {
		t.Fatalf("call from the node that came back: %v, want ErrFenced", err)
	}
	if tc.delegated(3, 600) {
		t.Fatal("a fenced node still owns an object the coordinator gave to another node")
	}
	if _, err := tc.table(3).Acquire(ctx, 600, &openstate.OpenEntry{ID: 4, Access: rw, ShareAccess: shareNone}); err == nil {
		t.Fatal("a fenced node opened share-none a file another node holds share-none")
	}
}

// A break the delegate started alone crosses a recall: the break came
// back to the delegate's caller (its own open's lease), its waiter wakes
// at the recall, the other node's open waits for the same
// acknowledgment, and the acknowledgment, now at the coordinator, lets
// both through.
func TestLocalBreakCrossesRecall(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	tab := tc.table(2)
	k := leaseKey(3)
	if _, err := tab.Acquire(ctx, 700, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareAll,
		Lease: &openstate.LeaseRequest{Key: k, State: rwh, Version: 2}}); err != nil {
		t.Fatal(err)
	}
	if !tc.delegated(2, 700) {
		t.Fatal("not delegated")
	}
	cc := &callCounter{}
	tc.watch(2, cc)
	// A writer without a lease on node 2 breaks the lease's write
	// caching there, with no round trip, and waits for it.
	_, err := tab.Acquire(ctx, 700, &openstate.OpenEntry{ID: 2, Access: rw, ShareAccess: shareAll})
	var bw *openstate.BreakWait
	if !errors.As(err, &bw) {
		t.Fatalf("writer on node 2: %v, want a break wait", err)
	}
	if len(bw.Breaks) != 1 || !bw.Breaks[0].IsLease || bw.Breaks[0].Key != k {
		t.Fatalf("the break of node 2's own lease: %+v", bw.Breaks)
	}
	if n := cc.count("op"); n != 0 {
		t.Fatalf("%d calls for a break on a delegated object", n)
	}
	waited := make(chan error, 1)
	go func() { waited <- tab.Wait(ctx, 700, bw.Gen) }()
	// Node 3's reader recalls the object and waits for the same break.
	_, err = tc.table(3).Acquire(ctx, 700, &openstate.OpenEntry{ID: 3, Access: 0x1, ShareAccess: shareAll})
	var bw3 *openstate.BreakWait
	if !errors.As(err, &bw3) {
		t.Fatalf("reader on node 3 during node 2's break: %v, want a break wait", err)
	}
	select {
	case err := <-waited:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("node 2's local break wait was not woken by the recall")
	}
	waited3 := make(chan error, 1)
	go func() { waited3 <- tc.table(3).Wait(ctx, 700, bw3.Gen) }()
	if _, err := tab.AckLease(ctx, 700, k, openstate.CacheRead|openstate.CacheHandle); err != nil {
		t.Fatalf("acknowledgment after the recall: %v", err)
	}
	select {
	case err := <-waited3:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("node 3's wait was not woken by the acknowledgment")
	}
	if _, err := tab.Acquire(ctx, 700, &openstate.OpenEntry{ID: 2, Access: rw, ShareAccess: shareAll, Retry: true}); err != nil {
		t.Fatalf("node 2's writer after the acknowledgment: %v", err)
	}
	if _, err := tc.table(3).Acquire(ctx, 700, &openstate.OpenEntry{ID: 3, Access: 0x1, ShareAccess: shareAll, Retry: true}); err != nil {
		t.Fatalf("node 3's reader after the acknowledgment: %v", err)
	}
}

// A node that does not say it can own objects (an earlier version,
// during a rolling upgrade) is never given one: it would not answer the
// recall.
func TestNoDelegationToNodeThatCannotOwn(t *testing.T) {
	tc := startCluster(t, 2)
	c := tc.nodes[0].coord
	e := &openstate.OpenEntry{ID: tc.nodes[1].global(1), Access: rw, ShareAccess: shareAll}
	rep, err := c.apply(testCtx(t), 2, &opRequest{Epoch: 1, Vol: "/vol", Kind: opAcquire, Obj: 800, Entry: e})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Deleg != 0 {
		t.Fatalf("delegation %d granted to a node that did not ask", rep.Deleg)
	}
	e2 := &openstate.OpenEntry{ID: tc.nodes[1].global(2), Access: rw, ShareAccess: shareAll}
	rep, err = c.apply(testCtx(t), 2, &opRequest{Epoch: 1, Vol: "/vol", Kind: opAcquire, Obj: 801, Entry: e2, CanOwn: true})
	if err != nil || rep.Deleg == 0 {
		t.Fatalf("no delegation to a node that can own: %+v %v", rep, err)
	}
}
