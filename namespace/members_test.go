package namespace

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// waitMembers waits through Changed until cond holds, failing after limit.
func waitMembers(t *testing.T, m *Members, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		ch := m.Changed()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("members did not reach %s within %s: %+v", what, limit, m.Nodes())
		}
	}
}

func stateOf(m *Members, id string) string {
	n, ok := m.Node(id)
	if !ok {
		return ""
	}
	return n.State
}

func TestMembership(t *testing.T) {
	cli := startEtcd(t)
	ctx := testCtx(t)
	st := NewStore(cli)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	m, err := NewMembers(ctx, st, log)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	var mu sync.Mutex
	var fences []bool
	fenceCh := make(chan bool, 8)
	reg, err := st.Register(ctx, NodeRecord{ID: "n1", Name: "one", SMBAddresses: []string{"127.0.0.1:445"}}, RegisterOptions{
		TTL: 3 * time.Second, Logger: log,
		OnFence: func(f bool) { mu.Lock(); fences = append(fences, f); mu.Unlock(); fenceCh <- f },
	})
	if err != nil {
		t.Fatal(err)
	}
	waitMembers(t, m, 5*time.Second, "n1 joining", func() bool { return stateOf(m, "n1") == NodeJoining })
	if err := reg.SetState(ctx, NodeUp); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, m, 5*time.Second, "n1 up", func() bool { return stateOf(m, "n1") == NodeUp })
	if _, err := st.RemoveNode(ctx, "n1"); !errors.Is(err, ErrBusy) {
		t.Fatalf("remove live node: %v", err)
	}
	if err := st.DrainNode(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("drain unknown: %v", err)
	}

	// Someone revokes the lease: the node fences, re-registers, unfences.
	if _, err := cli.Revoke(ctx, clientv3.LeaseID(reg.lease)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []bool{true, false} {
		select {
		case f := <-fenceCh:
			if f != want {
				t.Fatalf("fence callback %v, want %v", f, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no fence callback %v", want)
		}
	}
	if reg.Healthy() != nil {
		t.Fatal("unhealthy after re-registration")
	}
	waitMembers(t, m, 5*time.Second, "n1 back", func() bool { n, _ := m.Node("n1"); return n.Live })

	// Drain survives the node's own SetState(up).
	if err := st.DrainNode(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, m, 5*time.Second, "n1 draining", func() bool { return stateOf(m, "n1") == NodeDraining })
	if err := reg.SetState(ctx, NodeUp); err != nil {
		t.Fatal(err)
	}
	if reg.Record().State != NodeDraining {
		t.Fatalf("SetState(up) overrode drain: %s", reg.Record().State)
	}

	// Close revokes: down at once, then removable.
	if err := reg.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, m, 5*time.Second, "n1 down", func() bool { return stateOf(m, "n1") == NodeDown })
	list, err := st.ListNodes(ctx)
	if err != nil || len(list) != 1 || list[0].State != NodeDown || list[0].Live {
		t.Fatalf("ListNodes: %+v %v", list, err)
	}
	rec, err := st.RemoveNode(ctx, "n1")
	if err != nil || rec.Name != "one" {
		t.Fatalf("remove: %+v %v", rec, err)
	}
	waitMembers(t, m, 5*time.Second, "n1 gone", func() bool { _, ok := m.Node("n1"); return !ok })
	if _, err := st.RemoveNode(ctx, "n1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove twice: %v", err)
	}
}

// fenceSlack is how late after the lease clock runs out the fence may be
// reported: a timer's scheduling delay on a loaded 2-core machine.
const fenceSlack = 250 * time.Millisecond

// TestFenceWhenEtcdUnreachable closes the client under a registration: it
// must fence before the lease's TTL has passed.
func TestFenceWhenEtcdUnreachable(t *testing.T) {
	cli := startEtcd(t)
	ctx := testCtx(t)
	c2, err := clientv3.New(clientv3.Config{Endpoints: cli.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st := NewStore(c2)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
	reg, err := st.Register(ctx, NodeRecord{ID: "n2"}, RegisterOptions{TTL: 3 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.MayServe(); err != nil {
		t.Fatalf("MayServe right after Register: %v", err)
	}
	ch := reg.Changed()
	cut := time.Now()
	remaining := reg.ServeRemaining()
	c2.Close()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("not fenced")
	}
	if took := time.Since(cut); took >= 3*time.Second || reg.Healthy() == nil {
		t.Fatalf("fenced after %s (TTL 3s), healthy=%v", took, reg.Healthy())
	}
	if err := reg.MayServe(); !errors.Is(err, ErrLeaseUnsure) {
		t.Fatalf("MayServe while fenced: %v", err)
	}
	// The fence comes when the clock runs out, not at a later renewal
	// attempt (which could be keepAliveInterval+keepAliveTimeout late).
	t.Logf("fenced %s after the clock ran out", time.Since(cut)-remaining)
	if took, limit := time.Since(cut), remaining+fenceSlack; took > limit {
		t.Fatalf("fenced %s after the cut, %s after the clock ran out (slack %s)", took, took-remaining, fenceSlack)
	}
	reg.cancel()
	<-reg.done
}

// TestLeaseLostForGood revokes the lease of a registration that has
// OnLost: it must report the loss once, stop renewing, and never serve
// again (no re-registration under a new lease).
func TestLeaseLostForGood(t *testing.T) {
	cli := startEtcd(t)
	ctx := testCtx(t)
	st := NewStore(cli)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
	lost := make(chan error, 2)
	reg, err := st.Register(ctx, NodeRecord{ID: "n3"}, RegisterOptions{
		TTL: 3 * time.Second, Logger: log, OnLost: func(err error) { lost <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.MayServe(); err != nil {
		t.Fatalf("MayServe after Register: %v", err)
	}
	if _, err := cli.Revoke(ctx, reg.Lease()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-lost:
		if err == nil {
			t.Fatal("OnLost(nil)")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnLost not called within 10s of the revoke")
	}
	select {
	case <-reg.done:
	case <-time.After(5 * time.Second):
		t.Fatal("registration still running after the loss")
	}
	if err := reg.MayServe(); !errors.Is(err, ErrLeaseUnsure) {
		t.Fatalf("MayServe after the loss: %v", err)
	}
	if reg.Healthy() == nil {
		t.Fatal("healthy after the loss")
	}
	resp, err := cli.Get(ctx, st.liveNodeKey("n3"))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 0 {
		t.Fatalf("the node re-registered after the loss: %s", resp.Kvs[0].Value)
	}
	if len(lost) != 0 {
		t.Fatal("OnLost called twice")
	}
}

// TestEndDeadNode: the death watch's revocation ends a node's membership
// only while its live record names the node-to-node address that was
// seen refusing, never a later registration's.
func TestEndDeadNode(t *testing.T) {
	cli := startEtcd(t)
	ctx := testCtx(t)
	st := NewStore(cli)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
	lost := make(chan error, 1)
	reg, err := st.Register(ctx, NodeRecord{ID: "n4", PeerAddress: "127.0.0.9:4490"}, RegisterOptions{
		TTL: 30 * time.Second, Logger: log, OnLost: func(err error) { lost <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { reg.cancel(); <-reg.done }()
	if ok, err := st.EndDeadNode(ctx, "n4", "127.0.0.9:9999"); err != nil || ok {
		t.Fatalf("EndDeadNode with another process's address: %v %v", ok, err)
	}
	if resp, err := cli.Get(ctx, st.LiveNodeKey("n4")); err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("live record after a refused end: %v %v", resp, err)
	}
	if ok, err := st.EndDeadNode(ctx, "n4", "127.0.0.9:4490"); err != nil || !ok {
		t.Fatalf("EndDeadNode: %v %v", ok, err)
	}
	if resp, err := cli.Get(ctx, st.LiveNodeKey("n4")); err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("live record after the end: %v %v", resp, err)
	}
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("the node was not told its lease is gone")
	}
	if ok, err := st.EndDeadNode(ctx, "n4", "127.0.0.9:4490"); err != nil || ok {
		t.Fatalf("EndDeadNode of a node already gone: %v %v", ok, err)
	}
}
