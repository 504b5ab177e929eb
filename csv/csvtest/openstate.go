package csvtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"sofs.io/sofs/csv/openstate"
)

// Access bits used by the suite ([MS-DTYP] 2.4.3).
const (
	readData   = 0x1
	writeData  = 0x2
	readAttrs  = 0x80
	deleteBit  = 0x10000
	shareAll   = openstate.ShareRead | openstate.ShareWrite | openstate.ShareDelete
	shareRead  = openstate.ShareRead
	shareNone  = 0
	readWrite  = readData | writeData
	waitBudget = 5 * time.Second
)

func lkey(b byte) openstate.LeaseKey {
	var k openstate.LeaseKey
	k.Client[0] = 0xC1
	k.Key[0] = b
	return k
}

// testOpenState covers share modes, oplocks and leases.
func testOpenState(t *testing.T, newTable func(t *testing.T) openstate.ObjectTable) {
	ctx := context.Background()
	t.Run("ShareModes", func(t *testing.T) {
		tb := newTable(t)
		const id = 11
		if _, err := tb.Acquire(ctx, id, &openstate.OpenEntry{ID: 1, Access: readData, ShareAccess: shareRead}); err != nil {
			t.Fatal(err)
		}
		if _, err := tb.Acquire(ctx, id, &openstate.OpenEntry{ID: 2, Access: writeData, ShareAccess: shareAll}); !errors.Is(err, openstate.ErrSharingViolation) {
			t.Fatalf("writer while reader shares read only: %v", err)
		}
		if _, err := tb.Acquire(ctx, id, &openstate.OpenEntry{ID: 3, Access: readData, ShareAccess: openstate.ShareWrite}); !errors.Is(err, openstate.ErrSharingViolation) {
			t.Fatalf("reader not sharing read: %v", err)
		}
		if _, err := tb.Acquire(ctx, id, &openstate.OpenEntry{ID: 4, Access: readData, ShareAccess: shareAll}); err != nil {
			t.Fatalf("compatible reader: %v", err)
		}
		if _, err := tb.Acquire(ctx, id, &openstate.OpenEntry{ID: 5, Access: readAttrs, ShareAccess: shareNone}); err != nil {
			t.Fatalf("attribute-only open: %v", err)
		}
		if _, err := tb.Acquire(ctx, id, &openstate.OpenEntry{ID: 6, Access: deleteBit, ShareAccess: shareAll}); !errors.Is(err, openstate.ErrSharingViolation) {
			t.Fatalf("delete without FILE_SHARE_DELETE: %v", err)
		}
		for _, o := range []uint64{1, 4, 5} {
			if _, _, err := tb.Release(ctx, id, o); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tb.Acquire(ctx, id, &openstate.OpenEntry{ID: 7, Access: writeData, ShareAccess: shareNone}); err != nil {
			t.Fatalf("writer after the readers closed: %v", err)
		}
		if st, _ := tb.State(ctx, id); st.Opens != 1 || st.Access != writeData {
			t.Fatalf("state = %+v, want 1 open with access %#x", st, writeData)
		}
	})
	t.Run("OplockBreakAck", func(t *testing.T) {
		tb := newTable(t)
		const id = 12
		g, err := tb.Acquire(ctx, id, &openstate.OpenEntry{ID: 1, Access: readWrite, ShareAccess: shareAll, Oplock: openstate.OplockBatch})
		if err != nil || g.Oplock != openstate.OplockBatch {
			t.Fatalf("first open: %+v %v", g, err)
		}
		e2 := &openstate.OpenEntry{ID: 2, Access: readData, ShareAccess: shareAll, Oplock: openstate.OplockBatch, Existed: true}
		_, err = tb.Acquire(ctx, id, e2)
		var bw *openstate.BreakWait
		if !errors.As(err, &bw) || len(bw.Breaks) != 1 {
			t.Fatalf("conflicting open: %v", err)
		}
		if b := bw.Breaks[0]; b.IsLease || b.OpenID != 1 || !b.AckRequired || b.To != openstate.CacheRead {
			t.Fatalf("break = %+v", b)
		}
		if p, err := tb.BreakPending(ctx, id, 1); err != nil || !p {
			t.Fatalf("BreakPending(holder) = %v, %v while its break is out", p, err)
		}
		if p, err := tb.BreakPending(ctx, id, 2); err != nil || p {
			t.Fatalf("BreakPending(waiter) = %v, %v", p, err)
		}
		// A retry before the acknowledgment still waits, without a
		// second notification.
		e2.Retry = true
		_, err = tb.Acquire(ctx, id, e2)
		var bw2 *openstate.BreakWait
		if !errors.As(err, &bw2) || len(bw2.Breaks) != 0 {
			t.Fatalf("retry before ack: %v", err)
		}
		// A retry that keeps waiting changes nothing: it must not wake
		// other waiters (two waiters would wake each other forever).
		if bw2.Gen != bw.Gen {
			t.Fatalf("waiting retry moved the generation %d -> %d", bw.Gen, bw2.Gen)
		}
		done := make(chan error, 1)
		wctx, cancel := context.WithTimeout(ctx, waitBudget)
		defer cancel()
		go func() { done <- tb.Wait(wctx, id, bw2.Gen) }()
		if lvl, err := tb.AckOplock(ctx, id, 1, openstate.OplockLevelII); err != nil || lvl != openstate.OplockLevelII {
			t.Fatalf("ack: %d %v", lvl, err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if p, err := tb.BreakPending(ctx, id, 1); err != nil || p {
			t.Fatalf("BreakPending after the ack = %v, %v", p, err)
		}
		g, err = tb.Acquire(ctx, id, e2)
		if err != nil || g.Oplock != openstate.OplockLevelII {
			t.Fatalf("retry after ack: %+v %v", g, err)
		}
		if _, err := tb.AckOplock(ctx, id, 1, openstate.OplockNone); !errors.Is(err, openstate.ErrNotBreaking) {
			t.Fatalf("ack without break: %v", err)
		}
		// A write through open 2 breaks every level II to none (the
		// writer's own too, as Windows does), with no ack.
		brks, err := tb.BreakRead(ctx, id, 2)
		if err != nil || len(brks) != 2 {
			t.Fatalf("BreakRead: %+v %v", brks, err)
		}
		for _, b := range brks {
			if b.AckRequired || b.To != openstate.CacheNone || b.From != openstate.CacheRead {
				t.Fatalf("BreakRead: %+v", b)
			}
		}
		if brks, _ := tb.BreakRead(ctx, id, 2); len(brks) != 0 {
			t.Fatalf("second BreakRead: %+v", brks)
		}
	})
	t.Run("BreakTimeout", func(t *testing.T) {
		tb := newTable(t)
		const id = 13
		tb.Acquire(ctx, id, &openstate.OpenEntry{ID: 1, Access: readWrite, ShareAccess: shareRead, Oplock: openstate.OplockExclusive})
		e2 := &openstate.OpenEntry{ID: 2, Access: readData, ShareAccess: shareAll}
		if _, err := tb.Acquire(ctx, id, e2); !errors.Is(err, openstate.ErrBreakPending) {
			t.Fatalf("conflicting open: %v", err)
		}
		if err := tb.ExpireBreaks(ctx, id, time.Now().Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		e2.Retry = true
		if _, err := tb.Acquire(ctx, id, e2); !errors.Is(err, openstate.ErrBreakPending) {
			t.Fatalf("a break younger than the cutoff must stand: %v", err)
		}
		if err := tb.ExpireBreaks(ctx, id, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := tb.Acquire(ctx, id, e2); err != nil {
			t.Fatalf("after timeout: %v", err)
		}
		// A writer conflicts with the holder's share mode: an exclusive
		// oplock is not broken for a sharing violation (only handle
		// caching is), the open just fails.
		if _, err := tb.Acquire(ctx, id, &openstate.OpenEntry{ID: 3, Access: writeData, ShareAccess: shareAll}); !errors.Is(err, openstate.ErrSharingViolation) {
			t.Fatalf("writer: %v", err)
		}
	})
	t.Run("Lease", func(t *testing.T) {
		tb := newTable(t)
		const id, other = 14, 15
		k1 := lkey(1)
		g, err := tb.Acquire(ctx, id, &openstate.OpenEntry{ID: 1, Access: readWrite, ShareAccess: shareAll, Lease: &openstate.LeaseRequest{Key: k1, State: 7, Version: 2, Epoch: 3}})
		if err != nil || g.Lease == nil || g.Lease.State != 7 || g.Lease.Epoch != 4 {
			t.Fatalf("lease grant: %+v %v", g.Lease, err)
		}
		// A second open with the same key shares the lease, no break.
		g, err = tb.Acquire(ctx, id, &openstate.OpenEntry{ID: 2, Access: readWrite, ShareAccess: shareAll, Lease: &openstate.LeaseRequest{Key: k1, State: 7, Version: 2}})
		if err != nil || g.Lease.State != 7 {
			t.Fatalf("same key: %+v %v", g.Lease, err)
		}
		if _, err := tb.Acquire(ctx, other, &openstate.OpenEntry{ID: 3, Access: readData, ShareAccess: shareAll, Lease: &openstate.LeaseRequest{Key: k1, State: 1}}); !errors.Is(err, openstate.ErrLeaseKeyInUse) {
			t.Fatalf("key on another object: %v", err)
		}
		e3 := &openstate.OpenEntry{ID: 4, Access: readData, ShareAccess: shareAll}
		_, err = tb.Acquire(ctx, id, e3)
		var bw *openstate.BreakWait
		if !errors.As(err, &bw) || len(bw.Breaks) != 1 {
			t.Fatalf("conflicting open: %v", err)
		}
		b := bw.Breaks[0]
		if !b.IsLease || b.Key != k1 || b.From != 7 || b.To != openstate.CacheRead|openstate.CacheHandle || !b.AckRequired || b.Epoch != 5 || len(b.OpenIDs) != 2 {
			t.Fatalf("break = %+v", b)
		}
		// Every open of the breaking lease sees the break pending.
		for _, o := range []uint64{1, 2} {
			if p, err := tb.BreakPending(ctx, id, o); err != nil || !p {
				t.Fatalf("BreakPending(%d) = %v, %v while the lease breaks", o, p, err)
			}
		}
		// A write while breaking lowers the required state: acking RH
		// continues the cascade to none.
		if brks, err := tb.BreakRead(ctx, id, 4); err != nil || len(brks) != 0 {
			t.Fatalf("BreakRead while breaking: %+v %v", brks, err)
		}
		if _, err := tb.AckLease(ctx, id, k1, 7); !errors.Is(err, openstate.ErrBadAck) {
			t.Fatalf("ack above the break: %v", err)
		}
		// The cascade goes in steps: RH to R (ack required), then R to
		// none (no ack), under the same epoch.
		next, err := tb.AckLease(ctx, id, k1, openstate.CacheRead|openstate.CacheHandle)
		if err != nil || len(next) != 1 || next[0].To != openstate.CacheRead || !next[0].AckRequired || next[0].Epoch != 5 {
			t.Fatalf("cascade: %+v %v", next, err)
		}
		next, err = tb.AckLease(ctx, id, k1, openstate.CacheRead)
		if err != nil || len(next) != 1 || next[0].To != openstate.CacheNone || next[0].AckRequired {
			t.Fatalf("cascade to none: %+v %v", next, err)
		}
		if _, err := tb.AckLease(ctx, id, k1, openstate.CacheNone); !errors.Is(err, openstate.ErrNotBreaking) {
			t.Fatalf("ack without break: %v", err)
		}
		e3.Retry = true
		if _, err := tb.Acquire(ctx, id, e3); err != nil {
			t.Fatalf("retry: %v", err)
		}
		// The lease dies with its last open; its key is free again.
		tb.Release(ctx, id, 1)
		tb.Release(ctx, id, 2)
		if _, err := tb.Acquire(ctx, other, &openstate.OpenEntry{ID: 5, Access: readData, ShareAccess: shareAll, Lease: &openstate.LeaseRequest{Key: k1, State: 1}}); err != nil {
			t.Fatalf("key after its lease ended: %v", err)
		}
	})
	t.Run("BreakHandleForRename", func(t *testing.T) {
		tb := newTable(t)
		const id = 16
		k1, k2 := lkey(1), lkey(2)
		rh := openstate.CacheRead | openstate.CacheHandle
		tb.Acquire(ctx, id, &openstate.OpenEntry{ID: 1, Access: readData | deleteBit, ShareAccess: shareAll, Lease: &openstate.LeaseRequest{Key: k1, State: rh, Version: 1}})
		if g, err := tb.Acquire(ctx, id, &openstate.OpenEntry{ID: 2, Access: readData, ShareAccess: shareAll, Lease: &openstate.LeaseRequest{Key: k2, State: rh, Version: 1}}); err != nil || g.Lease.State != rh {
			t.Fatalf("second lease: %+v %v", g.Lease, err)
		}
		tb.Acquire(ctx, id, &openstate.OpenEntry{ID: 3, Access: readData, ShareAccess: shareAll})
		if bs, wait, _, err := tb.BreakHandle(ctx, id, 3); err != nil || wait || len(bs) != 0 {
			t.Fatalf("rename through an open without a lease: %+v %v %v", bs, wait, err)
		}
		bs, wait, _, err := tb.BreakHandle(ctx, id, 1)
		if err != nil || !wait || len(bs) != 1 || bs[0].Key != k2 || bs[0].To != openstate.CacheRead || !bs[0].AckRequired {
			t.Fatalf("BreakHandle: %+v %v %v", bs, wait, err)
		}
		if bs, wait, _, _ := tb.BreakHandle(ctx, id, 1); !wait || len(bs) != 0 {
			t.Fatalf("while breaking: %+v %v", bs, wait)
		}
		if _, err := tb.AckLease(ctx, id, k2, openstate.CacheRead); err != nil {
			t.Fatal(err)
		}
		if bs, wait, _, _ := tb.BreakHandle(ctx, id, 1); wait || len(bs) != 0 {
			t.Fatalf("after ack: %+v %v", bs, wait)
		}
	})
	t.Run("BreakHandleForDelete", func(t *testing.T) {
		tb := newTable(t)
		const id = 17
		k1, k2 := lkey(1), lkey(2)
		rh := openstate.CacheRead | openstate.CacheHandle
		tb.Acquire(ctx, id, &openstate.OpenEntry{ID: 1, Access: readData, ShareAccess: shareAll, Lease: &openstate.LeaseRequest{Key: k1, State: rh, Version: 1}})
		tb.Acquire(ctx, id, &openstate.OpenEntry{ID: 2, Access: readData, ShareAccess: shareAll, Lease: &openstate.LeaseRequest{Key: k2, State: rh, Version: 1}})
		tb.Acquire(ctx, id, &openstate.OpenEntry{ID: 3, Access: deleteBit, ShareAccess: shareAll})
		// Unlike a rename, a delete through an open without a lease
		// breaks every lease's H.
		bs, wait, _, err := tb.BreakHandleAll(ctx, id, 3)
		if err != nil || !wait || len(bs) != 2 {
			t.Fatalf("BreakHandleAll without a lease: %+v %v %v", bs, wait, err)
		}
		for _, k := range []openstate.LeaseKey{k1, k2} {
			if _, err := tb.AckLease(ctx, id, k, openstate.CacheRead); err != nil {
				t.Fatal(err)
			}
		}
		if bs, wait, _, _ := tb.BreakHandleAll(ctx, id, 3); wait || len(bs) != 0 {
			t.Fatalf("after the acks: %+v %v", bs, wait)
		}
	})
}
