package csvtest

import (
	"context"
	"errors"
	"testing"

	"sofs.io/sofs/csv/openstate"
)

// testDirectoryLeases covers leases on directories: what is granted, the
// parent break a child's change starts, and the delete-pending parent key
// (csv/dirlease.go).
func testDirectoryLeases(t *testing.T, newTable func(t *testing.T) openstate.ObjectTable) {
	ctx := context.Background()
	rh := openstate.CacheRead | openstate.CacheHandle
	dirLease := func(k openstate.LeaseKey, state uint32) *openstate.LeaseRequest {
		return &openstate.LeaseRequest{Key: k, State: state, Version: 2, AllowDirectory: true}
	}
	t.Run("Grant", func(t *testing.T) {
		tb := newTable(t)
		const dir = 21
		cases := []struct {
			req, want uint32
		}{
			{7, rh}, // RWH → RH
			{openstate.CacheRead | openstate.CacheWrite, openstate.CacheRead}, // RW → R
			{rh, rh},
			{openstate.CacheRead, openstate.CacheRead},
			{openstate.CacheHandle, openstate.CacheNone}, // no R, no lease state
		}
		for i, c := range cases {
			k := lkey(byte(0x40 + i))
			g, err := tb.Acquire(ctx, dir, &openstate.OpenEntry{ID: uint64(i + 1), Access: readData, ShareAccess: shareAll, Directory: true, Lease: dirLease(k, c.req)})
			if err != nil || g.Lease == nil || g.Lease.State != c.want {
				t.Fatalf("request %#x: %+v %v, want state %#x", c.req, g.Lease, err, c.want)
			}
			if _, _, err := tb.Release(ctx, dir, uint64(i+1)); err != nil {
				t.Fatal(err)
			}
		}
		// Without directory leasing (SMB 2.1) no lease at all, and no
		// oplock either.
		g, err := tb.Acquire(ctx, dir, &openstate.OpenEntry{ID: 10, Access: readData, ShareAccess: shareAll, Directory: true,
			Lease: &openstate.LeaseRequest{Key: lkey(0x50), State: rh, Version: 1}})
		if err != nil || g.Lease != nil {
			t.Fatalf("lease on a directory without directory leasing: %+v %v", g.Lease, err)
		}
		g, err = tb.Acquire(ctx, dir, &openstate.OpenEntry{ID: 11, Access: readData, ShareAccess: shareAll, Directory: true, Oplock: openstate.OplockBatch})
		if err != nil || g.Oplock != openstate.OplockNone {
			t.Fatalf("oplock on a directory: %+v %v", g, err)
		}
	})
	t.Run("UpgradeAfterBreak", func(t *testing.T) {
		// A lease broken to none comes back to RH when an open of the
		// same key asks for RWH again (smb2.lease.v2_request): W is not
		// part of what the upgrade compares.
		tb := newTable(t)
		const dir = 22
		k := lkey(1)
		g, _ := tb.Acquire(ctx, dir, &openstate.OpenEntry{ID: 1, Access: readData, ShareAccess: shareAll, Directory: true, Lease: dirLease(k, 7)})
		epoch := g.Lease.Epoch
		bs, err := tb.BreakParent(ctx, dir, openstate.ParentKey{})
		if err != nil || len(bs) != 1 || bs[0].To != openstate.CacheNone || !bs[0].AckRequired || bs[0].Epoch != epoch+1 {
			t.Fatalf("parent break of RH: %+v %v", bs, err)
		}
		if _, err := tb.AckLease(ctx, dir, k, openstate.CacheNone); err != nil {
			t.Fatal(err)
		}
		g, err = tb.Acquire(ctx, dir, &openstate.OpenEntry{ID: 2, Access: readData, ShareAccess: shareAll, Directory: true, Lease: dirLease(k, 7)})
		if err != nil || g.Lease.State != rh || g.Lease.Epoch != epoch+2 {
			t.Fatalf("rearm: %+v %v (epoch before %d)", g.Lease, err, epoch)
		}
	})
	t.Run("ParentBreak", func(t *testing.T) {
		tb := newTable(t)
		const dir = 23
		kR, kRH, kOther := lkey(1), lkey(2), lkey(3)
		tb.Acquire(ctx, dir, &openstate.OpenEntry{ID: 1, Access: readData, ShareAccess: shareAll, Directory: true, Lease: dirLease(kR, openstate.CacheRead)})
		tb.Acquire(ctx, dir, &openstate.OpenEntry{ID: 2, Access: readData, ShareAccess: shareAll, Directory: true, Lease: dirLease(kRH, rh)})
		// A change through an open naming kRH as its parent spares kRH
		// only; the key alone counts, not the client.
		spare := openstate.ParentKey{Key: kRH.Key, Valid: true}
		bs, err := tb.BreakParent(ctx, dir, spare)
		if err != nil || len(bs) != 1 || bs[0].Key != kR || bs[0].To != openstate.CacheNone || bs[0].AckRequired {
			t.Fatalf("break sparing RH: %+v %v", bs, err)
		}
		// R went to none at once: a second change finds nothing to break.
		if bs, _ := tb.BreakParent(ctx, dir, spare); len(bs) != 0 {
			t.Fatalf("second change sparing RH: %+v", bs)
		}
		// Another key breaks RH, with an acknowledgment required.
		bs, err = tb.BreakParent(ctx, dir, openstate.ParentKey{Key: kOther.Key, Valid: true})
		if err != nil || len(bs) != 1 || bs[0].Key != kRH || bs[0].From != rh || bs[0].To != openstate.CacheNone || !bs[0].AckRequired {
			t.Fatalf("break of RH: %+v %v", bs, err)
		}
		// The change did not wait for it (BreakParent returned). A
		// later open of the directory waits for a break in progress, as
		// for a file; an attribute-only open does not.
		if _, err := tb.Acquire(ctx, dir, &openstate.OpenEntry{ID: 3, Access: readAttrs, ShareAccess: shareAll, Directory: true}); err != nil {
			t.Fatalf("attribute open while the parent break is out: %v", err)
		}
		var bw *openstate.BreakWait
		if _, err := tb.Acquire(ctx, dir, &openstate.OpenEntry{ID: 4, Access: readData, ShareAccess: shareAll, Directory: true}); !errors.As(err, &bw) || len(bw.Breaks) != 0 {
			t.Fatalf("open while the parent break is out: %v", err)
		}
		if bs, _ := tb.BreakParent(ctx, dir, openstate.ParentKey{}); len(bs) != 0 {
			t.Fatalf("change while breaking: %+v", bs)
		}
		if _, err := tb.AckLease(ctx, dir, kRH, openstate.CacheRead); !errors.Is(err, openstate.ErrBadAck) {
			t.Fatalf("ack above none: %v", err)
		}
		if _, err := tb.AckLease(ctx, dir, kRH, openstate.CacheNone); err != nil {
			t.Fatal(err)
		}
		// A directory without leases, and an object the table does not
		// know, break nothing.
		if bs, err := tb.BreakParent(ctx, 999, openstate.ParentKey{}); err != nil || len(bs) != 0 {
			t.Fatalf("unknown directory: %+v %v", bs, err)
		}
	})
	t.Run("ParentBreakWhileBreaking", func(t *testing.T) {
		// A conflicting open takes H (RH → R, acknowledgment pending);
		// a child change meanwhile lowers the target to none, and the
		// acknowledgment of R continues to none without another one.
		tb := newTable(t)
		const dir = 24
		k := lkey(1)
		tb.Acquire(ctx, dir, &openstate.OpenEntry{ID: 1, Access: readData, ShareAccess: shareAll, Directory: true, Lease: dirLease(k, rh)})
		_, err := tb.Acquire(ctx, dir, &openstate.OpenEntry{ID: 2, Access: readData, ShareAccess: shareNone, Directory: true})
		var bw *openstate.BreakWait
		if !errors.As(err, &bw) || len(bw.Breaks) != 1 || bw.Breaks[0].To != openstate.CacheRead {
			t.Fatalf("conflicting open: %v", err)
		}
		if bs, err := tb.BreakParent(ctx, dir, openstate.ParentKey{}); err != nil || len(bs) != 0 {
			t.Fatalf("parent break while breaking: %+v %v", bs, err)
		}
		next, err := tb.AckLease(ctx, dir, k, openstate.CacheRead)
		if err != nil || len(next) != 1 || next[0].To != openstate.CacheNone || next[0].AckRequired {
			t.Fatalf("cascade: %+v %v", next, err)
		}
	})
	t.Run("DeleteParent", func(t *testing.T) {
		tb := newTable(t)
		const id = 25
		tb.Acquire(ctx, id, nil)
		by := openstate.ParentKey{Key: lkey(9).Key, Valid: true}
		if err := tb.SetDeletePending(ctx, id, true, by); err != nil {
			t.Fatal(err)
		}
		if st, _ := tb.State(ctx, id); st.DeleteParent != by {
			t.Fatalf("DeleteParent = %+v, want %+v", st.DeleteParent, by)
		}
		tb.SetDeletePending(ctx, id, false, by)
		if st, _ := tb.State(ctx, id); st.DeleteParent.Valid {
			t.Fatalf("DeleteParent after clearing = %+v", st.DeleteParent)
		}
	})
	t.Run("Hint", func(t *testing.T) {
		tb := newTable(t)
		h, ok := tb.(openstate.DirectoryLeaseHint)
		if !ok {
			t.Skip("table gives no directory lease hint")
		}
		const dir, file = 26, 27
		tb.Acquire(ctx, file, &openstate.OpenEntry{ID: 1, Access: readData, ShareAccess: shareAll, Lease: &openstate.LeaseRequest{Key: lkey(1), State: 7, Version: 2}})
		if h.MayHoldDirectoryLeases() {
			t.Fatal("hint set by a file lease")
		}
		tb.Acquire(ctx, dir, &openstate.OpenEntry{ID: 2, Access: readData, ShareAccess: shareAll, Directory: true, Lease: dirLease(lkey(2), rh)})
		if !h.MayHoldDirectoryLeases() {
			t.Fatal("hint clear while a directory holds a lease")
		}
		tb.Release(ctx, dir, 2)
		if h.MayHoldDirectoryLeases() {
			t.Fatal("hint set after the directory lease ended")
		}
	})
}
