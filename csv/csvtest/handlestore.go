package csvtest

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"sofs.io/sofs/csv/openstate"
)

// TestHandleStore checks the HandleStore contract on stores made by
// newStore (each call must return an empty store). The in-memory store
// runs it in csv's tests, the etcd store in csv/etcdhandles.
func TestHandleStore(t *testing.T, newStore func(t *testing.T) openstate.HandleStore) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rec := func(owner string, id uint64) openstate.HandleRecord {
		return openstate.HandleRecord{
			Persistent: id, CreateGUID: [16]byte{byte(id), 0xc}, ClientGUID: [16]byte{0xd},
			Share: "vms", Path: fmt.Sprintf(`dir\f%d.vhdx`, id), User: "test",
			Access: 0x12019f, ShareAccess: 7, HasLease: true, LeaseKey: [16]byte{byte(id)},
			LeaseState: openstate.CacheRead | openstate.CacheHandle, LeaseVersion: 2, LeaseEpoch: 1,
			Timeout: time.Minute, Owner: owner, V2: true, IsPersistent: true,
			Locks: []openstate.LockRange{{Offset: id, Length: 1, Exclusive: true}},
		}
	}
	list := func(t *testing.T, s openstate.HandleStore, owner string) []openstate.HandleRecord {
		t.Helper()
		got, err := s.List(ctx, owner)
		if err != nil {
			t.Fatalf("List(%q): %v", owner, err)
		}
		return got
	}
	put := func(t *testing.T, s openstate.HandleStore, r openstate.HandleRecord) {
		t.Helper()
		if err := s.Put(ctx, r); err != nil {
			t.Fatalf("Put(%s %d): %v", r.Owner, r.Persistent, err)
		}
	}
	t.Run("PutListDelete", func(t *testing.T) {
		s := newStore(t)
		if got := list(t, s, "a"); len(got) != 0 {
			t.Fatalf("empty store lists %+v", got)
		}
		// Out of order, and a 16-digit id that sorts after 0x2 only
		// numerically if the key pads it.
		for _, r := range []openstate.HandleRecord{rec("a", 0x100), rec("a", 2), rec("b", 2), rec("ab", 7)} {
			put(t, s, r)
		}
		got := list(t, s, "a")
		if len(got) != 2 || !reflect.DeepEqual(got[0], rec("a", 2)) || !reflect.DeepEqual(got[1], rec("a", 0x100)) {
			t.Fatalf("List(a) = %+v", got)
		}
		// "a" must not see "ab"'s records: owners are whole segments.
		if got := list(t, s, "ab"); len(got) != 1 || got[0].Persistent != 7 {
			t.Fatalf("List(ab) = %+v", got)
		}
		if err := s.Delete(ctx, "a", 2); err != nil {
			t.Fatal(err)
		}
		if got := list(t, s, "a"); len(got) != 1 || got[0].Persistent != 0x100 {
			t.Fatalf("after Delete(a, 2): %+v", got)
		}
		if got := list(t, s, "b"); len(got) != 1 {
			t.Fatalf("Delete(a, 2) touched b: %+v", got)
		}
		if err := s.Delete(ctx, "a", 2); err != nil {
			t.Fatalf("deleting an absent record: %v", err)
		}
		if err := s.Delete(ctx, "nobody", 1); err != nil {
			t.Fatalf("deleting for an unknown owner: %v", err)
		}
	})
	t.Run("Replace", func(t *testing.T) {
		s := newStore(t)
		r := rec("a", 5)
		put(t, s, r)
		r.Disconnected = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		r.Locks = append(r.Locks, openstate.LockRange{Offset: 100, Length: 50})
		r.LeaseState = openstate.CacheRead
		put(t, s, r)
		got := list(t, s, "a")
		if len(got) != 1 || !reflect.DeepEqual(got[0], r) {
			t.Fatalf("after replace: %+v, want %+v", got, r)
		}
	})
	t.Run("RejectsMalformed", func(t *testing.T) {
		s := newStore(t)
		bad := rec("a", 1)
		bad.Owner = "x/y"
		if err := s.Put(ctx, bad); err == nil {
			t.Fatal("Put accepted an owner with a slash (it would escape its key segment)")
		}
		bad = rec("a", 0)
		if err := s.Put(ctx, bad); err == nil {
			t.Fatal("Put accepted FileId 0")
		}
		if got := list(t, s, "a"); len(got) != 0 {
			t.Fatalf("rejected records stored: %+v", got)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		s := newStore(t)
		const n = 32
		var wg sync.WaitGroup
		errs := make(chan error, 2*n)
		for i := 1; i <= n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- s.Put(ctx, rec("c", uint64(i)))
				if i%2 == 0 {
					errs <- s.Delete(ctx, "c", uint64(i))
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got := list(t, s, "c")
		if len(got) != n/2 {
			t.Fatalf("%d records left, want %d", len(got), n/2)
		}
		for i, r := range got {
			if r.Persistent != uint64(2*i+1) {
				t.Fatalf("record %d is %d, want %d (sorted odd ids)", i, r.Persistent, 2*i+1)
			}
		}
	})
	t.Run("Claim", func(t *testing.T) {
		s := newStore(t)
		put(t, s, rec("dead", 5))
		// Eight survivors race for one record: exactly one gets it.
		const n = 8
		var wg sync.WaitGroup
		won := make(chan string, n)
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				to := fmt.Sprintf("s%d", i)
				r, ok, err := s.Claim(ctx, "dead", 5, to)
				if err != nil {
					errs <- err
					return
				}
				if ok {
					if r.Owner != to || r.Epoch != 1 || r.Path != rec("dead", 5).Path || len(r.Locks) != 1 {
						errs <- fmt.Errorf("claimed record %+v", r)
					}
					won <- to
				}
			}()
		}
		wg.Wait()
		close(won)
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var winners []string
		for w := range won {
			winners = append(winners, w)
		}
		if len(winners) != 1 {
			t.Fatalf("winners %v, want exactly one", winners)
		}
		if got := list(t, s, "dead"); len(got) != 0 {
			t.Fatalf("the claimed record stayed with its old owner: %+v", got)
		}
		got := list(t, s, winners[0])
		if len(got) != 1 || got[0].Owner != winners[0] || got[0].Epoch != 1 {
			t.Fatalf("winner's records %+v", got)
		}
		// Claiming one's own record moves nothing and counts an epoch.
		if r, ok, err := s.Claim(ctx, winners[0], 5, winners[0]); err != nil || !ok || r.Epoch != 2 {
			t.Fatalf("self claim: %+v %v %v", r, ok, err)
		}
		if _, ok, err := s.Claim(ctx, "dead", 5, "late"); err != nil || ok {
			t.Fatalf("claim of a record already taken: ok=%v err=%v", ok, err)
		}
	})
}
