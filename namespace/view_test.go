package namespace

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t))
}

func TestViewFollowsChanges(t *testing.T) {
	s := NewStore(startEtcd(t))
	ctx := testCtx(t)
	if err := s.PutShare(ctx, share("before")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutUser(ctx, "alice", "pw1"); err != nil {
		t.Fatal(err)
	}
	cl, err := s.InitCluster(ctx, "sofs")
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewView(ctx, s, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()

	// The initial load is complete before NewView returns.
	if _, ok := v.Share("BEFORE"); !ok {
		t.Fatal("initial share missing")
	}
	if h, ok := v.NTHash("Alice"); !ok || h != NTHash("pw1") {
		t.Fatal("initial user missing or wrong hash")
	}
	if c, ok := v.Cluster(); !ok || c != cl {
		t.Fatalf("Cluster = %+v, %v", c, ok)
	}

	// Every kind of change shows up within a second.
	const visible = time.Second
	if err := s.PutShare(ctx, share("after")); err != nil {
		t.Fatal(err)
	}
	waitView(t, v, visible, "new share", func() bool { _, ok := v.Share("after"); return ok })

	changed := share("after")
	changed.ReadOnly, changed.Comment = true, "now read-only"
	if err := s.PutShare(ctx, changed); err != nil {
		t.Fatal(err)
	}
	waitView(t, v, visible, "updated share", func() bool { sh, _ := v.Share("after"); return reflect.DeepEqual(sh, changed) })

	if err := s.DeleteShare(ctx, "before"); err != nil {
		t.Fatal(err)
	}
	waitView(t, v, visible, "deleted share", func() bool { _, ok := v.Share("before"); return !ok })

	if err := s.SetPassword(ctx, "alice", "pw2"); err != nil {
		t.Fatal(err)
	}
	waitView(t, v, visible, "new password", func() bool { h, _ := v.NTHash("alice"); return h == NTHash("pw2") })

	if err := s.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	waitView(t, v, visible, "deleted user", func() bool { _, ok := v.NTHash("alice"); return !ok })

	if got := v.Shares(); len(got) != 1 || !reflect.DeepEqual(got[0], changed) {
		t.Fatalf("Shares = %+v", got)
	}
	// Lookups keep working from memory after the view stops.
	v.Close()
	v.Close() // idempotent
	if _, ok := v.Share("after"); !ok {
		t.Fatal("snapshot lost on Close")
	}
}

// TestViewIgnoresBadRecord writes a corrupt record behind the Store's back:
// the view must drop it and keep serving everything else.
func TestViewIgnoresBadRecord(t *testing.T) {
	s := NewStore(startEtcd(t))
	ctx := testCtx(t)
	if err := s.PutShare(ctx, share("good")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client().Put(ctx, Prefix+"shares/broken", `{"name":"broken","path":"relative"}`); err != nil {
		t.Fatal(err)
	}
	v, err := NewView(ctx, s, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, ok := v.Share("broken"); ok {
		t.Fatal("invalid record served")
	}
	if _, err := s.Client().Put(ctx, Prefix+"shares/good", `not json`); err != nil {
		t.Fatal(err)
	}
	waitView(t, v, time.Second, "corrupted share dropped", func() bool { _, ok := v.Share("good"); return !ok })
}

// TestViewRecoversFromBrokenWatch breaks the watch stream and changes the
// namespace while the view is not watching: the view must re-list and
// pick the changes up, then follow new ones on a fresh stream.
func TestViewRecoversFromBrokenWatch(t *testing.T) {
	s := NewStore(startEtcd(t))
	ctx := testCtx(t)
	if err := s.PutShare(ctx, share("one")); err != nil {
		t.Fatal(err)
	}
	v := newView(s, testLogger(t))
	real := v.watch
	broken := make(chan clientv3.WatchResponse)
	calls := make(chan int64, 8)
	n := 0
	v.watch = func(ctx context.Context, rev int64) clientv3.WatchChan {
		calls <- rev
		n++
		if n == 1 {
			return broken
		}
		return real(ctx, rev)
	}
	rev, err := v.load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v.start(rev)
	defer v.Close()
	if got := <-calls; got != rev {
		t.Fatalf("first watch from %d, want %d (list revision + 1)", got, rev)
	}
	// Change etcd while the stream is dead, then kill it.
	if err := s.PutShare(ctx, share("two")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteShare(ctx, "one"); err != nil {
		t.Fatal(err)
	}
	close(broken)
	waitView(t, v, 5*time.Second, "re-listed state", func() bool {
		_, one := v.Share("one")
		_, two := v.Share("two")
		return !one && two
	})
	if got := <-calls; got <= rev {
		t.Fatalf("re-watch from %d, not after the re-list", got)
	}
	if err := s.PutShare(ctx, share("three")); err != nil {
		t.Fatal(err)
	}
	waitView(t, v, time.Second, "change after recovery", func() bool { _, ok := v.Share("three"); return ok })
}

// TestViewRecoversFromCompaction makes the view resume watching from a
// revision etcd has already compacted away, which a real watch reports as
// ErrCompacted: the view must re-list rather than miss the changes.
func TestViewRecoversFromCompaction(t *testing.T) {
	s := NewStore(startEtcd(t))
	ctx := testCtx(t)
	v := newView(s, testLogger(t))
	real := v.watch
	gate := make(chan struct{})
	first := true
	v.watch = func(ctx context.Context, rev int64) clientv3.WatchChan {
		if first {
			first = false
			<-gate
		}
		return real(ctx, rev)
	}
	rev, err := v.load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v.start(rev)
	defer v.Close()
	var last int64
	for _, name := range []string{"a", "b", "c"} {
		if err := s.PutShare(ctx, share(name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteShare(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Client().Get(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	last = resp.Header.Revision
	if _, err := s.Client().Compact(ctx, last, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	close(gate)
	waitView(t, v, 5*time.Second, "state after compaction", func() bool {
		_, a := v.Share("a")
		_, b := v.Share("b")
		_, c := v.Share("c")
		return a && !b && c && v.Revision() >= last
	})
}
