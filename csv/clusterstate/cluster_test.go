package clusterstate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/csv/csvtest"
	"sofs.io/sofs/csv/openstate"
	"sofs.io/sofs/namespace/clustertls"
)

var testSecret = []byte("0123456789abcdef-test-cluster-secret")

// testCluster is n real nodes on loopback: real TLS connections, real
// frames; only the membership and election are handed in directly (the
// etcd side lives in the namespace package).
type testCluster struct {
	nodes  []*Node
	addrs  map[uint16]string
	breaks []chan []openstate.Break // per node, what its break handler got
}

func startCluster(t testing.TB, n int) *testCluster {
	t.Helper()
	tc := &testCluster{addrs: make(map[uint16]string)}
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		node, err := NewNode(Config{Slot: uint16(i + 1), Secret: testSecret, Listener: ln,
			Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel), RetryLimit: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ch := make(chan []openstate.Break, 64)
		node.SetBreakHandler(func(bs []openstate.Break) { ch <- bs })
		tc.nodes = append(tc.nodes, node)
		tc.breaks = append(tc.breaks, ch)
		tc.addrs[uint16(i+1)] = ln.Addr().String()
		t.Cleanup(node.Close)
	}
	tc.setView(t, 1, 1, tc.addrs)
	return tc
}

// setView gives every node in members the same view and waits until each
// may call the coordinator.
func (tc *testCluster) setView(t testing.TB, epoch int64, coord uint16, members map[uint16]string) {
	t.Helper()
	v := View{Epoch: epoch, Coordinator: coord, Members: members}
	for s := range members {
		tc.nodes[s-1].SetView(v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for s := range members {
		if _, err := tc.nodes[s-1].current(ctx, time.Now().Add(10*time.Second)); err != nil {
			t.Fatalf("node %d not ready in epoch %d: %v", s, epoch, err)
		}
	}
}

func (tc *testCluster) table(slot int) *Table { return tc.nodes[slot-1].Table("/vol") }

func TestConformanceOnCoordinator(t *testing.T) {
	csvtest.TestObjectTable(t, func(t *testing.T) openstate.ObjectTable { return startCluster(t, 1).table(1) })
	csvtest.TestLockTable(t, func(t *testing.T) openstate.LockTable { return startCluster(t, 1).table(1) })
}

// Through a node that does not coordinate, in clusters of two and three
// nodes: each object's first call crosses the network, and the node then
// owns the object and applies the rest (delegate.go).
func TestConformanceThroughAnotherNode(t *testing.T) {
	for _, nodes := range []int{2, 3} {
		t.Run(fmt.Sprintf("%dNodes", nodes), func(t *testing.T) {
			csvtest.TestObjectTable(t, func(t *testing.T) openstate.ObjectTable { return startCluster(t, nodes).table(nodes) })
			csvtest.TestLockTable(t, func(t *testing.T) openstate.LockTable { return startCluster(t, nodes).table(nodes) })
		})
	}
}

// Without delegation every call from a node that does not coordinate
// crosses the network.
func TestConformanceThroughAnotherNodeWithoutDelegation(t *testing.T) {
	start := func(t *testing.T) *Table {
		tc := startCluster(t, 2)
		tc.nodes[0].noDeleg = true
		return tc.table(2)
	}
	csvtest.TestObjectTable(t, func(t *testing.T) openstate.ObjectTable { return start(t) })
	csvtest.TestLockTable(t, func(t *testing.T) openstate.LockTable { return start(t) })
}

const (
	rw          = 0x1 | 0x2 // FILE_READ_DATA | FILE_WRITE_DATA
	shareNone   = 0
	shareAll    = openstate.ShareRead | openstate.ShareWrite | openstate.ShareDelete
	testTimeout = 10 * time.Second
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func TestShareModesAcrossNodes(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	if _, err := tc.table(2).Acquire(ctx, 7, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareNone}); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.table(3).Acquire(ctx, 7, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareAll}); !errors.Is(err, openstate.ErrSharingViolation) {
		t.Fatalf("open on node 3 of a file open share-none on node 2: %v, want sharing violation", err)
	}
	if _, err := tc.table(1).Acquire(ctx, 7, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareAll}); !errors.Is(err, openstate.ErrSharingViolation) {
		t.Fatalf("open on the coordinator: %v, want sharing violation", err)
	}
	if _, _, err := tc.table(2).Release(ctx, 7, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.table(3).Acquire(ctx, 7, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareAll}); err != nil {
		t.Fatalf("open after the last close elsewhere: %v", err)
	}
}

func TestDeletePendingAcrossNodes(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	for slot := 2; slot <= 3; slot++ {
		if _, err := tc.table(slot).Acquire(ctx, 9, &openstate.OpenEntry{ID: 5, Access: 0x10000, ShareAccess: shareAll}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tc.table(2).SetDeletePending(ctx, 9, true, openstate.ParentKey{}); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.table(1).Acquire(ctx, 9, &openstate.OpenEntry{ID: 6, Access: rw, ShareAccess: shareAll}); !errors.Is(err, openstate.ErrDeletePending) {
		t.Fatalf("open of a delete-pending file through another node: %v", err)
	}
	last, pending, err := tc.table(2).Release(ctx, 9, 5)
	if err != nil || last {
		t.Fatalf("first close: last=%v err=%v; the other node still has it open", last, err)
	}
	last, pending, err = tc.table(3).Release(ctx, 9, 5)
	if err != nil || !last || !pending {
		t.Fatalf("last close on the other node: last=%v pending=%v err=%v, want the removal there", last, pending, err)
	}
}

func TestLocksAcrossNodes(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	for slot := 1; slot <= 3; slot++ {
		if _, err := tc.table(slot).Acquire(ctx, 11, &openstate.OpenEntry{ID: 3, Access: rw, ShareAccess: shareAll}); err != nil {
			t.Fatal(err)
		}
	}
	excl := []openstate.LockRange{{Offset: 0, Length: 10, Exclusive: true}}
	if _, err := tc.table(2).Lock(ctx, 11, 40, excl); err != nil {
		t.Fatal(err)
	}
	// READ/WRITE checks never leave the node: node 3 answers from its
	// replica, the coordinator from its table.
	if err := tc.table(3).CheckIO(11, 40, 5, 1, true); !errors.Is(err, openstate.ErrLockConflict) {
		t.Fatalf("write on node 3 under node 2's exclusive lock: %v", err)
	}
	if err := tc.table(1).CheckIO(11, 40, 5, 1, false); !errors.Is(err, openstate.ErrLockConflict) {
		t.Fatalf("read on the coordinator under node 2's exclusive lock: %v", err)
	}
	if err := tc.table(2).CheckIO(11, 40, 5, 1, true); err != nil {
		t.Fatalf("the lock's own open: %v", err)
	}
	ch, err := tc.table(3).Lock(ctx, 11, 40, []openstate.LockRange{{Offset: 5, Length: 1, Exclusive: true}})
	if !errors.Is(err, openstate.ErrLockConflict) || ch == nil {
		t.Fatalf("conflicting lock on node 3: %v", err)
	}
	select {
	case <-ch:
		t.Fatal("blocking lock woken before any release")
	default:
	}
	if err := tc.table(2).Unlock(ctx, 11, 40, excl[0]); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatal("an unlock on node 2 did not wake the blocking lock on node 3")
	}
	if _, err := tc.table(3).Lock(ctx, 11, 40, []openstate.LockRange{{Offset: 5, Length: 1, Exclusive: true}}); err != nil {
		t.Fatalf("retry after the wake: %v", err)
	}
	if err := tc.table(3).CheckIO(11, 40, 5, 1, true); err != nil {
		t.Fatalf("node 3's own lock: %v", err)
	}
	if err := tc.table(2).CheckIO(11, 40, 5, 1, false); !errors.Is(err, openstate.ErrLockConflict) {
		t.Fatalf("node 2 under node 3's lock: %v", err)
	}
}

func TestBreakGoesToTheHolderNode(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	g, err := tc.table(2).Acquire(ctx, 13, &openstate.OpenEntry{ID: 21, Access: rw, ShareAccess: shareAll, Oplock: openstate.OplockBatch})
	if err != nil || g.Oplock != openstate.OplockBatch {
		t.Fatalf("batch oplock on node 2: %+v %v", g, err)
	}
	_, err = tc.table(3).Acquire(ctx, 13, &openstate.OpenEntry{ID: 22, Access: rw, ShareAccess: shareAll})
	var bw *openstate.BreakWait
	if !errors.As(err, &bw) {
		t.Fatalf("conflicting open on node 3: %v, want a break wait", err)
	}
	if len(bw.Breaks) != 0 {
		t.Fatalf("node 3 got breaks for node 2's open: %+v", bw.Breaks)
	}
	var got []openstate.Break
	select {
	case got = <-tc.breaks[1]:
	case <-ctx.Done():
		t.Fatal("node 2 never got the break")
	}
	if len(got) != 1 || got[0].OpenID != 21 || got[0].IsLease {
		t.Fatalf("node 2's break: %+v, want the oplock break of its open 21", got)
	}
	waited := make(chan error, 1)
	go func() { waited <- tc.table(3).Wait(ctx, 13, bw.Gen) }()
	if _, err := tc.table(2).AckOplock(ctx, 13, 21, openstate.OplockLevelII); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("wait on node 3 after node 2's acknowledgment: %v", err)
	}
	if _, err := tc.table(3).Acquire(ctx, 13, &openstate.OpenEntry{ID: 22, Access: rw, ShareAccess: shareAll, Retry: true}); err != nil {
		t.Fatalf("retry after the acknowledgment: %v", err)
	}
}

func TestCoordinatorLossKeepsSurvivorsState(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	// Node 2 holds file 20 exclusively, node 3 a lock on file 21, the
	// coordinator (node 1) file 22 exclusively.
	if _, err := tc.table(2).Acquire(ctx, 20, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareNone}); err != nil {
		t.Fatal(err)
	}
	for slot := 2; slot <= 3; slot++ {
		if _, err := tc.table(slot).Acquire(ctx, 21, &openstate.OpenEntry{ID: 2, Access: rw, ShareAccess: shareAll}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tc.table(3).Lock(ctx, 21, 77, []openstate.LockRange{{Offset: 100, Length: 1, Exclusive: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.table(1).Acquire(ctx, 22, &openstate.OpenEntry{ID: 3, Access: rw, ShareAccess: shareNone}); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.table(1).Lock(ctx, 21, 78, []openstate.LockRange{{Offset: 200, Length: 1, Exclusive: true}}); err != nil {
		t.Fatal(err)
	}

	tc.nodes[0].Close()
	survivors := map[uint16]string{2: tc.addrs[2], 3: tc.addrs[3]}
	tc.setView(t, 2, 2, survivors)

	if _, err := tc.table(3).Acquire(ctx, 20, &openstate.OpenEntry{ID: 9, Access: rw, ShareAccess: shareAll}); !errors.Is(err, openstate.ErrSharingViolation) {
		t.Fatalf("node 2's exclusive open after the coordinator's loss: %v, want sharing violation", err)
	}
	if _, err := tc.table(3).Acquire(ctx, 22, &openstate.OpenEntry{ID: 9, Access: rw, ShareAccess: shareNone}); err != nil {
		t.Fatalf("the lost node's exclusive open was not released: %v", err)
	}
	if err := tc.table(2).CheckIO(21, 2, 100, 1, true); !errors.Is(err, openstate.ErrLockConflict) {
		t.Fatalf("node 3's lock after the coordinator's loss, seen from the new coordinator: %v", err)
	}
	if err := tc.table(3).CheckIO(21, 2, 200, 1, true); err != nil {
		t.Fatalf("the lost node's lock was not released: %v", err)
	}
}

func TestLostMemberReleased(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	if _, err := tc.table(3).Acquire(ctx, 30, &openstate.OpenEntry{ID: 4, Access: rw, ShareAccess: shareNone}); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.table(3).Lock(ctx, 30, 4, []openstate.LockRange{{Offset: 0, Length: 1, Exclusive: true}}); err != nil {
		t.Fatal(err)
	}
	tc.nodes[2].Close()
	tc.setView(t, 1, 1, map[uint16]string{1: tc.addrs[1], 2: tc.addrs[2]})
	if _, err := tc.table(2).Acquire(ctx, 30, &openstate.OpenEntry{ID: 4, Access: rw, ShareAccess: shareNone}); err != nil {
		t.Fatalf("open of a file held by a node that left: %v", err)
	}
	if _, err := tc.table(2).Lock(ctx, 30, 4, []openstate.LockRange{{Offset: 0, Length: 1, Exclusive: true}}); err != nil {
		t.Fatalf("lock held by a node that left: %v", err)
	}
}

func TestPeerWithoutSecretRefused(t *testing.T) {
	tc := startCluster(t, 1)
	intruder, err := newTransport(9, []byte("not-the-cluster-secret-at-all!!"), zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer intruder.close()
	if _, err := intruder.peer(testCtx(t), 1, tc.addrs[1]); err == nil {
		t.Fatalf("connection with a wrong secret: %v, want refused", err)
	}
	// Garbage instead of TLS gets nothing either.
	c, err := net.Dial("tcp", tc.addrs[1])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	buf := make([]byte, 1)
	if _, err := c.Read(buf); err == nil {
		// The TLS server answers a non-TLS hello with an alert at most.
		t.Logf("server sent a byte to a non-TLS client (TLS alert)")
	}
}

func FuzzParseFrame(f *testing.F) {
	f.Add(appendFrame(nil, frame{kind: kindCall, id: 1, method: methodOp, body: []byte(`{"kind":1}`)})[4:])
	f.Add(appendFrame(nil, frame{kind: kindReply, id: 2, body: []byte(`{}`)})[4:])
	f.Add([]byte{kindCancel, 0, 0, 0, 0, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := parseFrame(b)
		if err != nil {
			return
		}
		again, err := parseFrame(appendFrame(nil, fr)[4:])
		if err != nil || again.kind != fr.kind || again.id != fr.id || string(again.body) != string(fr.body) {
			t.Fatalf("frame does not round-trip: %+v vs %+v (%v)", fr, again, err)
		}
		// Every body a peer can send decodes or is refused, never panics.
		var req opRequest
		_ = decodeBody(fr.body, &req)
		var push pushRequest
		_ = decodeBody(fr.body, &push)
	})
}

func TestChangesReachWatchingNodes(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	got := make(chan []csv.Event, 4)
	tc.table(2).Subscribe(func(evs ...csv.Event) { got <- evs }, func(uint32) {})
	unwatched := make(chan []csv.Event, 4)
	tc.table(1).Subscribe(func(evs ...csv.Event) { unwatched <- evs }, func(uint32) {})
	var remote atomic.Uint32 // what node 3 is told the others watch for
	tc.table(3).Subscribe(func(...csv.Event) {}, remote.Store)
	if err := tc.table(2).Watching(ctx, csv.NotifyFileName, true); err != nil {
		t.Fatal(err)
	}
	// Node 3 watches nothing itself but must know what node 2 watches
	// for, as soon as node 2's watch is armed.
	if f := remote.Load(); f != csv.NotifyFileName {
		t.Fatalf("node 3 was told the others watch for %#x, want %#x", f, csv.NotifyFileName)
	}
	ev := csv.Event{Dir: "d", Name: "new.txt", Action: csv.ActionAdded, Filter: csv.NotifyFileName}
	attr := csv.Event{Dir: "d", Name: "new.txt", Action: csv.ActionModified, Filter: csv.NotifyAttributes}
	// Only what node 2 watches for is sent to it.
	tc.table(3).Forward([]csv.Event{attr})
	tc.table(3).Forward([]csv.Event{attr, ev})
	select {
	case evs := <-got:
		if len(evs) != 1 || evs[0] != ev {
			t.Fatalf("node 2 got %+v, want %+v", evs, ev)
		}
	case <-ctx.Done():
		t.Fatal("a change made through node 3 never reached node 2, which watches")
	}
	// A second watch on node 2 with another filter widens what it is
	// sent; its end narrows it again.
	if err := tc.table(2).Watching(ctx, csv.NotifyAttributes|csv.NotifyFileName, true); err != nil {
		t.Fatal(err)
	}
	if f := remote.Load(); f != csv.NotifyFileName|csv.NotifyAttributes {
		t.Fatalf("node 3 was told %#x after a second watch, want %#x", f, csv.NotifyFileName|csv.NotifyAttributes)
	}
	tc.table(3).Forward([]csv.Event{attr})
	select {
	case evs := <-got:
		if len(evs) != 1 || evs[0] != attr {
			t.Fatalf("node 2 got %+v, want %+v", evs, attr)
		}
	case <-ctx.Done():
		t.Fatal("an attribute change never reached node 2's second watch")
	}
	if err := tc.table(2).Watching(ctx, csv.NotifyAttributes|csv.NotifyFileName, false); err != nil {
		t.Fatal(err)
	}
	if f := remote.Load(); f != csv.NotifyFileName {
		t.Fatalf("node 3 was told %#x after the second watch ended, want %#x", f, csv.NotifyFileName)
	}
	// Node 1 does not watch: nothing is sent to it. Stop watching on
	// node 2: later changes are not sent there either.
	if err := tc.table(2).Watching(ctx, csv.NotifyFileName, false); err != nil {
		t.Fatal(err)
	}
	if f := remote.Load(); f != 0 {
		t.Fatalf("node 3 was told %#x once nothing watches, want 0", f)
	}
	tc.table(3).Forward([]csv.Event{ev})
	if err := tc.table(2).Watching(ctx, csv.NotifyFileName, true); err != nil {
		t.Fatal(err)
	}
	ev2 := ev
	ev2.Name = "second.txt"
	tc.table(3).Forward([]csv.Event{ev2})
	select {
	case evs := <-got:
		if evs[0].Name != "second.txt" {
			t.Fatalf("node 2 got %+v after it stopped watching, want only the change after it watched again", evs)
		}
	case <-ctx.Done():
		t.Fatal("no change after watching again")
	}
	select {
	case evs := <-unwatched:
		t.Fatalf("node 1 watches nothing but got %+v", evs)
	default:
	}
}

func TestCastReachesEveryOtherNode(t *testing.T) {
	tc := startCluster(t, 3)
	got := make(chan uint16, 3)
	for i, n := range tc.nodes {
		slot := uint16(i + 1)
		n.HandleCast("test", func(_ context.Context, body []byte) error {
			if string(body) != "hello" {
				return errors.New("bad body")
			}
			got <- slot
			return nil
		})
	}
	if err := tc.nodes[1].Cast(testCtx(t), "test", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	close(got)
	seen := map[uint16]bool{}
	for s := range got {
		seen[s] = true
	}
	if len(seen) != 2 || !seen[1] || !seen[3] || seen[2] {
		t.Fatalf("cast from node 2 reached %v, want nodes 1 and 3", seen)
	}
	if err := tc.nodes[0].Cast(testCtx(t), "unknown", nil); err == nil {
		t.Fatal("a cast nobody handles succeeded")
	}
}

func TestDirectoryLeaseHintAcrossNodes(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	if !tc.table(3).MayHoldDirectoryLeases() {
		t.Fatal("a node that has heard nothing must assume directory leases")
	}
	// Any answer from the coordinator tells node 3 there are none.
	if _, err := tc.table(3).Acquire(ctx, 50, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareAll}); err != nil {
		t.Fatal(err)
	}
	if tc.table(3).MayHoldDirectoryLeases() {
		t.Fatal("node 3 still assumes directory leases after the coordinator said there are none")
	}
	var key openstate.LeaseKey
	key.Key[0] = 9
	g, err := tc.table(2).Acquire(ctx, 51, &openstate.OpenEntry{ID: 2, Access: 0x1, ShareAccess: shareAll,
		Lease: &openstate.LeaseRequest{Key: key, State: openstate.CacheRead | openstate.CacheHandle, Version: 2, AllowDirectory: true}, Directory: true})
	if err != nil || g.Lease == nil || g.Lease.State == 0 {
		t.Fatalf("directory lease on node 2: %+v %v", g, err)
	}
	// Node 2's open was answered: node 3 must already know.
	if !tc.table(3).MayHoldDirectoryLeases() {
		t.Fatal("node 3 would skip the break of a directory lease granted through node 2")
	}
}

// A node lost between the last close of a delete-pending file and its
// removal must not leave the file delete pending for ever.
func TestLostRemoverForgotten(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	if _, err := tc.table(3).Acquire(ctx, 60, &openstate.OpenEntry{ID: 1, Access: 0x10000, ShareAccess: shareAll}); err != nil {
		t.Fatal(err)
	}
	if err := tc.table(3).SetDeletePending(ctx, 60, true, openstate.ParentKey{}); err != nil {
		t.Fatal(err)
	}
	if last, pending, err := tc.table(3).Release(ctx, 60, 1); err != nil || !last || !pending {
		t.Fatalf("last close: %v %v %v", last, pending, err)
	}
	tc.nodes[2].Close()
	tc.setView(t, 1, 1, map[uint16]string{1: tc.addrs[1], 2: tc.addrs[2]})
	if _, err := tc.table(2).Acquire(ctx, 60, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareAll}); err != nil {
		t.Fatalf("open after the remover was lost: %v, want the object forgotten", err)
	}
}

// TestCloseUnderWayAcrossNodes: an open through node 3 waits for the
// batch oplock of node 2's open; node 2's client is gone, so node 2
// closes that open, delete-on-close: delete pending, release, removal,
// forget, each a transition that wakes node 3's wait. Node 3's open
// must wait through all of them and never be refused with delete
// pending, as on one server, where the close is one step
// (smb2.durable-open.delete_on_close1 through a cluster).
func TestCloseUnderWayAcrossNodes(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	holder, opener := tc.table(2), tc.table(3)
	const obj = 61
	if _, err := holder.Acquire(ctx, obj, &openstate.OpenEntry{ID: 1, Access: rw | 0x10000, Oplock: openstate.OplockBatch}); err != nil {
		t.Fatal(err)
	}
	e := &openstate.OpenEntry{ID: 1, Access: rw | 0x10000, Oplock: openstate.OplockBatch}
	var bw *openstate.BreakWait
	if _, err := opener.Acquire(ctx, obj, e); !errors.As(err, &bw) {
		t.Fatalf("open of a file node 2 holds with a batch oplock, share none: %v, want a break wait", err)
	}
	e.Retry = true
	wait := func(step string) {
		t.Helper()
		if _, err := opener.Acquire(ctx, obj, e); !errors.As(err, &bw) || len(bw.Breaks) != 0 {
			t.Fatalf("retry through node 3 after %s: %v, want to keep waiting", step, err)
		}
	}
	if err := holder.SetDeletePending(ctx, obj, true, openstate.ParentKey{}); err != nil {
		t.Fatal(err)
	}
	wait("the holder's delete on close")
	if last, pending, err := holder.Release(ctx, obj, 1); err != nil || !last || !pending {
		t.Fatalf("the holder's close: last=%v pending=%v err=%v", last, pending, err)
	}
	wait("the holder's release")
	done := make(chan error, 1)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	go func() { done <- opener.Wait(wctx, obj, bw.Gen) }()
	if err := holder.Forget(ctx, obj); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil || wctx.Err() != nil {
		t.Fatalf("node 3's wait across node 2's Forget: %v (context: %v)", err, wctx.Err())
	}
	if _, err := opener.Acquire(ctx, obj, e); err != nil {
		t.Fatalf("open through node 3 once the removal is done: %v", err)
	}
}

// TestRemovalWaitEndsWithLostRemover: an open waiting for a removal
// another node has under way is woken when that node is lost before it
// forgets the object (the coordinator forgets it then).
func TestRemovalWaitEndsWithLostRemover(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	const obj = 62
	if _, err := tc.table(3).Acquire(ctx, obj, &openstate.OpenEntry{ID: 1, Access: 0x10000, ShareAccess: shareAll}); err != nil {
		t.Fatal(err)
	}
	if err := tc.table(3).SetDeletePending(ctx, obj, true, openstate.ParentKey{}); err != nil {
		t.Fatal(err)
	}
	if last, pending, err := tc.table(3).Release(ctx, obj, 1); err != nil || !last || !pending {
		t.Fatalf("last close: %v %v %v", last, pending, err)
	}
	var bw *openstate.BreakWait
	if _, err := tc.table(2).Acquire(ctx, obj, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareAll}); !errors.As(err, &bw) {
		t.Fatalf("open while node 3 removes the object: %v, want to wait", err)
	}
	done := make(chan error, 1)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	go func() { done <- tc.table(2).Wait(wctx, obj, bw.Gen) }()
	tc.nodes[2].Close()
	tc.setView(t, 1, 1, map[uint16]string{1: tc.addrs[1], 2: tc.addrs[2]})
	if err := <-done; err != nil || wctx.Err() != nil {
		t.Fatalf("wait across the remover's loss: %v (context: %v)", err, wctx.Err())
	}
	if _, err := tc.table(2).Acquire(ctx, obj, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareAll}); err != nil {
		t.Fatalf("open after the remover was lost: %v, want the object forgotten", err)
	}
}

// A node the coordinator released (it left the view) is refused when it
// comes back with its old opens, and told to restart.
func TestReleasedNodeIsFenced(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	if _, err := tc.table(3).Acquire(ctx, 70, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareNone}); err != nil {
		t.Fatal(err)
	}
	fenced := make(chan struct{})
	tc.nodes[2].onFenced = func() { close(fenced) }
	// Node 3 is cut off: the others drop it (its opens are released),
	// then it reappears with the same slot.
	tc.setView(t, 1, 1, map[uint16]string{1: tc.addrs[1], 2: tc.addrs[2]})
	if _, err := tc.table(2).Acquire(ctx, 70, &openstate.OpenEntry{ID: 2, Access: rw, ShareAccess: shareNone}); err != nil {
		t.Fatalf("open after node 3 was dropped: %v", err)
	}
	tc.setView(t, 1, 1, tc.addrs)
	_, err := tc.table(3).Acquire(ctx, 71, &openstate.OpenEntry{ID: 3, Access: rw, ShareAccess: shareAll})
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("call from the node that came back: %v, want ErrFenced", err)
	}
	select {
	case <-fenced:
	case <-ctx.Done():
		t.Fatal("OnFenced was not called")
	}
}

// With the cluster CA's certificates, a peer needs both a certificate the
// CA issued and the secret.
func TestMutualTLSWithClusterCA(t *testing.T) {
	bundle := func(t *testing.T, dir, name string) *clustertls.Bundle {
		if !clustertls.HasCA(dir) {
			if err := clustertls.NewCA(dir, "test"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := clustertls.EnsureNodeCert(dir, name, []string{"127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
		b, err := clustertls.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	caDir := t.TempDir()
	b1 := bundle(t, caDir, "n1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n1, err := NewNode(Config{Slot: 1, Secret: testSecret, Listener: ln, Logger: zerolog.Nop(),
		ServerTLS: b1.ServerConfig(), ClientTLS: b1.ClientConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer n1.Close()
	addr := ln.Addr().String()

	// A member: the CA's certificate and the secret.
	member, err := newTransport(2, testSecret, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer member.close()
	member.serverTLS, member.clientTLS = peerTLS(b1.ServerConfig(), b1.ClientConfig())
	if _, err := member.peer(testCtx(t), 1, addr); err != nil {
		t.Fatalf("member with the cluster's certificate: %v", err)
	}
	// The secret without a certificate from the cluster CA: refused.
	other := bundle(t, t.TempDir(), "intruder")
	intruder, err := newTransport(3, testSecret, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer intruder.close()
	intruder.serverTLS, intruder.clientTLS = peerTLS(other.ServerConfig(), other.ClientConfig())
	if _, err := intruder.peer(testCtx(t), 1, addr); err == nil {
		t.Fatal("a peer with another CA's certificate was accepted")
	}
	// And throwaway certificates (no CA at all): refused too.
	bare, err := newTransport(4, testSecret, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bare.close()
	if _, err := bare.peer(testCtx(t), 1, addr); err == nil {
		t.Fatal("a peer without a client certificate was accepted")
	}
}

// A write through a node that does not coordinate breaks the writer's own
// level II oplock too (the replica must not let it skip the coordinator).
func TestWriteBreaksOwnLevelIIThroughAnotherNode(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := testCtx(t)
	g, err := tc.table(3).Acquire(ctx, 80, &openstate.OpenEntry{ID: 1, Access: rw, ShareAccess: shareAll, Oplock: openstate.OplockLevelII})
	if err != nil || g.Oplock != openstate.OplockLevelII {
		t.Fatalf("level II oplock: %+v %v", g, err)
	}
	bs, err := tc.table(3).BreakRead(ctx, 80, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 1 || bs[0].OpenID != 1 || bs[0].To != openstate.CacheNone {
		t.Fatalf("write through node 3 by the holder itself: breaks %+v, want its own level II broken to none", bs)
	}
}
