package csvtest

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sofs.io/sofs/csv/openstate"
)

// TestLockTable checks the LockTable contract ([MS-FSA] 2.1.5.7, 2.1.4.2)
// on tables made by newTable (each call must return an empty table). The
// in-memory table runs it in csv's tests; an etcd-backed table must too.
func TestLockTable(t *testing.T, newTable func(t *testing.T) openstate.LockTable) {
	ctx := context.Background()
	const id, a, b = 9, 1, 2
	x := func(off, n uint64) openstate.LockRange {
		return openstate.LockRange{Offset: off, Length: n, Exclusive: true}
	}
	s := func(off, n uint64) openstate.LockRange { return openstate.LockRange{Offset: off, Length: n} }
	lock := func(tb openstate.LockTable, owner uint64, rs ...openstate.LockRange) error {
		_, err := tb.Lock(ctx, id, owner, rs)
		return err
	}
	want := func(t *testing.T, what string, err, target error) {
		t.Helper()
		if target == nil && err != nil || target != nil && !errors.Is(err, target) {
			t.Fatalf("%s: %v, want %v", what, err, target)
		}
	}
	t.Run("ExclusiveShared", func(t *testing.T) {
		tb := newTable(t)
		want(t, "a X[100,10)", lock(tb, a, x(100, 10)), nil)
		want(t, "b S[105,1)", lock(tb, b, s(105, 1)), openstate.ErrLockConflict)
		want(t, "b X[110,1)", lock(tb, b, x(110, 1)), nil)
		want(t, "a X again", lock(tb, a, x(100, 10)), openstate.ErrLockConflict)
		want(t, "a S on own X", lock(tb, a, s(100, 10)), nil)
		want(t, "b S[0,1)", lock(tb, b, s(0, 1)), nil)
		want(t, "a S[0,1) stacks", lock(tb, a, s(0, 1)), nil)
		want(t, "a X[0,1)", lock(tb, a, x(0, 1)), openstate.ErrLockConflict)
	})
	t.Run("Unlock", func(t *testing.T) {
		tb := newTable(t)
		want(t, "unlock nothing", tb.Unlock(ctx, id, a, s(0, 1)), openstate.ErrRangeNotLocked)
		want(t, "lock", lock(tb, a, x(10, 10)), nil)
		want(t, "unlock other owner", tb.Unlock(ctx, id, b, s(10, 10)), openstate.ErrRangeNotLocked)
		want(t, "unlock subrange", tb.Unlock(ctx, id, a, s(10, 5)), openstate.ErrRangeNotLocked)
		want(t, "unlock", tb.Unlock(ctx, id, a, s(10, 10)), nil)
		want(t, "unlock twice", tb.Unlock(ctx, id, a, s(10, 10)), openstate.ErrRangeNotLocked)
		want(t, "b after unlock", lock(tb, b, x(10, 10)), nil)
	})
	t.Run("ZeroLengthAndRange", func(t *testing.T) {
		tb := newTable(t)
		want(t, "a X zero", lock(tb, a, x(5, 0)), nil)
		want(t, "b X zero same", lock(tb, b, x(5, 0)), nil)
		want(t, "b X over", lock(tb, b, x(0, 10)), openstate.ErrLockConflict)
		want(t, "b X ending at it", lock(tb, b, x(0, 5)), nil)
		want(t, "a X last byte", lock(tb, a, x(math.MaxUint64, 1)), nil)
		want(t, "b X last byte", lock(tb, b, x(math.MaxUint64, 1)), openstate.ErrLockConflict)
		want(t, "wrap", lock(tb, a, x(math.MaxUint64, 2)), openstate.ErrInvalidLockRange)
		want(t, "to 2^64", lock(tb, b, x(1<<63, 1<<63-1)), nil)
	})
	t.Run("AllOrNothing", func(t *testing.T) {
		tb := newTable(t)
		want(t, "b X[50,1)", lock(tb, b, x(50, 1)), nil)
		want(t, "a two", lock(tb, a, x(0, 1), x(50, 1)), openstate.ErrLockConflict)
		want(t, "b X[0,1) free", lock(tb, b, x(0, 1)), nil)
		want(t, "a self-conflict", lock(tb, a, x(10, 2), x(11, 1)), openstate.ErrLockConflict)
		want(t, "a first again", lock(tb, a, x(10, 2)), nil)
	})
	t.Run("CheckIO", func(t *testing.T) {
		tb := newTable(t)
		want(t, "no locks", tb.CheckIO(id, a, 0, 100, true), nil)
		want(t, "a X", lock(tb, a, x(0, 10)), nil)
		want(t, "a S", lock(tb, a, s(20, 10)), nil)
		want(t, "own X read", tb.CheckIO(id, a, 0, 10, false), nil)
		want(t, "own X write", tb.CheckIO(id, a, 5, 10, true), nil)
		want(t, "other read X", tb.CheckIO(id, b, 9, 1, false), openstate.ErrLockConflict)
		want(t, "other read S", tb.CheckIO(id, b, 20, 1, false), nil)
		want(t, "own write S", tb.CheckIO(id, a, 25, 10, true), openstate.ErrLockConflict)
		want(t, "zero length", tb.CheckIO(id, b, 5, 0, true), nil)
		want(t, "beyond", tb.CheckIO(id, b, 30, 100, true), nil)
	})
	t.Run("ReleaseOwnerWakes", func(t *testing.T) {
		tb := newTable(t)
		want(t, "a", lock(tb, a, x(0, 10), x(20, 1)), nil)
		wait, err := tb.Lock(ctx, id, b, []openstate.LockRange{x(5, 1)})
		want(t, "b blocked", err, openstate.ErrLockConflict)
		if wait == nil {
			t.Fatal("no wait channel on conflict")
		}
		select {
		case <-wait:
			t.Fatal("woken before any release")
		default:
		}
		want(t, "release", tb.ReleaseOwner(ctx, id, a), nil)
		select {
		case <-wait:
		case <-time.After(10 * time.Second):
			t.Fatal("not woken by ReleaseOwner")
		}
		want(t, "b now", lock(tb, b, x(5, 1)), nil)
		want(t, "a's other lock gone", tb.Unlock(ctx, id, a, s(20, 1)), openstate.ErrRangeNotLocked)
	})
	t.Run("UnlockWakes", func(t *testing.T) {
		tb := newTable(t)
		want(t, "a", lock(tb, a, s(0, 10)), nil)
		wait, err := tb.Lock(ctx, id, b, []openstate.LockRange{x(0, 1)})
		want(t, "b blocked", err, openstate.ErrLockConflict)
		want(t, "unlock", tb.Unlock(ctx, id, a, s(0, 10)), nil)
		select {
		case <-wait:
		case <-time.After(10 * time.Second):
			t.Fatal("not woken by Unlock")
		}
		want(t, "other object unaffected", func() error { _, err := tb.Lock(ctx, id+1, a, []openstate.LockRange{x(0, 1)}); return err }(), nil)
		want(t, "b now", lock(tb, b, x(0, 1)), nil)
	})
	t.Run("BlockingContention", func(t *testing.T) {
		// Owners take one exclusive range by waiting on the channel,
		// never polling: no wakeup may be lost, and holders never
		// overlap.
		tb := newTable(t)
		const owners, rounds = 8, 50
		var inside atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, owners)
		for o := uint64(1); o <= owners; o++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := x(100, 10)
				for range rounds {
					for {
						wait, err := tb.Lock(ctx, id, o, []openstate.LockRange{r})
						if err == nil {
							break
						}
						if !errors.Is(err, openstate.ErrLockConflict) {
							errs <- err
							return
						}
						select {
						case <-wait:
						case <-time.After(10 * time.Second):
							errs <- errors.New("lost wakeup")
							return
						}
					}
					if inside.Add(1) != 1 {
						errs <- errors.New("two holders of an exclusive range")
					}
					inside.Add(-1)
					if err := tb.Unlock(ctx, id, o, r); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})
}
