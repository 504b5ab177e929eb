package openstate_test

import (
	"context"
	"testing"

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
