package csv

import (
	"context"
	"testing"
	"time"
)

// Byte-range locks through Handles: by open, released at Close (which
// wakes a blocked waiter), and the LockSequence buckets.
func TestHandleLocks(t *testing.T) {
	ctx := context.Background()
	v, _ := newVolume(t, Options{})
	h1, _ := open(t, v, OpenRequest{Path: "f", Disposition: Create, Write: true})
	h2, _ := open(t, v, OpenRequest{Path: "f", Disposition: Open, Write: true})
	x := []LockRange{{Offset: 0, Length: 10, Exclusive: true}}
	_, err := h1.Lock(ctx, x)
	wantErr(t, "h1 lock", err, nil)
	wait, err := h2.Lock(ctx, x)
	wantErr(t, "h2 lock", err, ErrLockConflict)
	wantErr(t, "h2 read", h2.CheckIO(5, 1, false), ErrLockConflict)
	wantErr(t, "h1 write", h1.CheckIO(5, 1, true), nil)
	closeH(t, h1)
	select {
	case <-wait:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake the waiter")
	}
	_, err = h2.Lock(ctx, x)
	wantErr(t, "h2 lock after close", err, nil)
	closeH(t, h2)
	_, err = h2.Lock(ctx, x)
	wantErr(t, "lock on closed handle", err, ErrClosed)
	h3, _ := open(t, v, OpenRequest{Path: "f", Disposition: Open, Write: true})
	defer closeH(t, h3)
	_, err = h3.Lock(ctx, x)
	wantErr(t, "h3 lock after h2 closed", err, nil)

	if h3.LockReplayed(1, 5) {
		t.Fatal("empty bucket replayed")
	}
	h3.LockSequenceDone(1, 5)
	if !h3.LockReplayed(1, 5) || h3.LockReplayed(1, 6) || h3.LockReplayed(1, 5) {
		t.Fatal("bucket 1: replay of 5 not seen once, or 6 did not invalidate it")
	}
	h3.LockSequenceDone(0, 1)
	if h3.LockReplayed(0, 1) || h3.LockReplayed(65, 0) {
		t.Fatal("invalid bucket index not ignored")
	}
}
