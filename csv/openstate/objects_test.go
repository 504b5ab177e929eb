package openstate_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"sofs.io/sofs/csv/csvtest"
	"sofs.io/sofs/csv/openstate"
)

func TestMemoryObjectTable(t *testing.T) {
	csvtest.TestObjectTable(t, func(*testing.T) openstate.ObjectTable { return openstate.NewMemoryObjectTable() })
}

// TestBreakReadNoHolderAllocs checks that the WRITE path's read-caching
// break check allocates nothing when no other open caches reads, and
// still breaks a level II oplock once one exists.
func TestBreakReadNoHolderAllocs(t *testing.T) {
	ctx := context.Background()
	tb := openstate.NewMemoryObjectTable()
	const id = 7
	if _, err := tb.Acquire(ctx, id, &openstate.OpenEntry{ID: 1, Access: 0x3, ShareAccess: 7}); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if bs, err := tb.BreakRead(ctx, id, 1); err != nil || len(bs) != 0 {
			t.Fatalf("BreakRead: %v %v", bs, err)
		}
	}); n != 0 {
		t.Errorf("BreakRead with no read holders: %v allocations, want 0", n)
	}
	if _, err := tb.Acquire(ctx, id, &openstate.OpenEntry{ID: 2, Access: 0x1, ShareAccess: 7, Oplock: openstate.OplockLevelII}); err != nil {
		t.Fatal(err)
	}
	bs, err := tb.BreakRead(ctx, id, 1)
	if err != nil || len(bs) != 1 || bs[0].OpenID != 2 || bs[0].To != openstate.CacheNone {
		t.Fatalf("BreakRead with a level II holder: %+v %v", bs, err)
	}
	if _, err := tb.BreakRead(ctx, 99, 1); err == nil {
		t.Error("BreakRead of an object that is not open succeeded")
	}
}

// TestStuckRemovalRefuses: opens wait for a removal under way only so
// long; an object its remover never forgot refuses them with delete
// pending again, as before the wait existed.
func TestStuckRemovalRefuses(t *testing.T) {
	start := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	s := openstate.FileState{Opens: 0, DeletePending: true, RemovalStarted: start}
	e := &openstate.OpenEntry{ID: 1, Access: 0x80}
	var bw *openstate.BreakWait
	if _, err := s.Acquire(e, start.Add(time.Second)); !errors.As(err, &bw) {
		t.Fatalf("open a second into the removal: %v, want to wait", err)
	}
	if _, err := s.Acquire(e, start.Add(time.Minute)); !errors.Is(err, openstate.ErrDeletePending) {
		t.Fatalf("open a minute into the removal: %v, want delete pending", err)
	}
	s.RemovalStarted = time.Time{}
	if _, err := s.Acquire(e, start); !errors.Is(err, openstate.ErrDeletePending) {
		t.Fatalf("open of a removal whose start is unknown (an earlier version's state): %v, want delete pending", err)
	}
}
