package openstate

import (
	"context"
	"testing"
)

// LeaseState reports a lease as it stands after an upgrade by a second
// open with the same key, not as the first open was granted it.
func TestLeaseStateAfterUpgrade(t *testing.T) {
	ctx := context.Background()
	tab := NewMemoryObjectTable()
	key := LeaseKey{Key: [16]byte{1}}
	const rwx = 0x0012019F
	g1, err := tab.Acquire(ctx, 7, &OpenEntry{ID: 1, Access: rwx, ShareAccess: 7, Lease: &LeaseRequest{Key: key, State: CacheRead | CacheHandle, Version: 2}})
	if err != nil || g1.Lease == nil || g1.Lease.State != CacheRead|CacheHandle {
		t.Fatalf("first grant %+v %v", g1.Lease, err)
	}
	if _, err := tab.Acquire(ctx, 7, &OpenEntry{ID: 2, Access: rwx, ShareAccess: 7, Lease: &LeaseRequest{Key: key, State: CacheRead | CacheHandle | CacheWrite, Version: 2}}); err != nil {
		t.Fatal(err)
	}
	l, ok, err := tab.LeaseState(ctx, 7, key)
	if err != nil || !ok || l.State != CacheRead|CacheHandle|CacheWrite {
		t.Fatalf("LeaseState = %+v %v %v, want RWH", l, ok, err)
	}
	if _, ok, _ := tab.LeaseState(ctx, 7, LeaseKey{Key: [16]byte{2}}); ok {
		t.Fatal("an unknown lease reported held")
	}
	if _, ok, _ := tab.LeaseState(ctx, 8, key); ok {
		t.Fatal("a lease reported on an object that is not open")
	}
}
