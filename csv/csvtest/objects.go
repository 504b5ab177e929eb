// Package csvtest holds conformance suites that every implementation of a
// csv interface must pass, in the spirit of testing/fstest.
package csvtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"sofs.io/sofs/csv/openstate"
)

// TestObjectTable checks the ObjectTable contract on tables made by
// newTable (each call must return an empty table). The in-memory table
// runs it in csv's tests; an etcd-backed table must run it too.
func TestObjectTable(t *testing.T, newTable func(t *testing.T) openstate.ObjectTable) {
	ctx := context.Background()
	acq := func(tb openstate.ObjectTable, id uint64) error {
		_, err := tb.Acquire(ctx, id, nil)
		return err
	}
	t.Run("OpenClose", func(t *testing.T) {
		tb := newTable(t)
		const id = 42
		for range 2 {
			if err := acq(tb, id); err != nil {
				t.Fatalf("Acquire: %v", err)
			}
		}
		if st, err := tb.State(ctx, id); err != nil || st.Opens != 2 || st.DeletePending {
			t.Fatalf("State = %+v, %v; want 2 opens", st, err)
		}
		if last, _, err := tb.Release(ctx, id, 0); err != nil || last {
			t.Fatalf("first Release: last=%v err=%v", last, err)
		}
		if last, pending, err := tb.Release(ctx, id, 0); err != nil || !last || pending {
			t.Fatalf("second Release: last=%v pending=%v err=%v", last, pending, err)
		}
		if st, err := tb.State(ctx, id); err != nil || st != (openstate.ObjectState{}) {
			t.Fatalf("State after last close = %+v, %v", st, err)
		}
		if _, _, err := tb.Release(ctx, id, 0); err == nil {
			t.Fatal("Release of an object that is not open succeeded")
		}
	})
	t.Run("DeletePending", func(t *testing.T) {
		tb := newTable(t)
		const id = 7
		if err := tb.SetDeletePending(ctx, id, true, openstate.ParentKey{}); err == nil {
			t.Fatal("SetDeletePending on an object that is not open succeeded")
		}
		acq(tb, id)
		acq(tb, id)
		if err := tb.SetDeletePending(ctx, id, true, openstate.ParentKey{}); err != nil {
			t.Fatal(err)
		}
		if err := acq(tb, id); !errors.Is(err, openstate.ErrDeletePending) {
			t.Fatalf("Acquire while delete pending: %v", err)
		}
		if last, pending, _ := tb.Release(ctx, id, 0); last || !pending {
			t.Fatalf("Release: last=%v pending=%v", last, pending)
		}
		if last, pending, _ := tb.Release(ctx, id, 0); !last || !pending {
			t.Fatalf("last Release: last=%v pending=%v", last, pending)
		}
		// Until Forget, the deleted object still refuses opens.
		if err := acq(tb, id); !errors.Is(err, openstate.ErrDeletePending) {
			t.Fatalf("Acquire before Forget: %v", err)
		}
		if err := tb.Forget(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := acq(tb, id); err != nil {
			t.Fatalf("Acquire of a new object with a reused id: %v", err)
		}
	})
	t.Run("CloseUnderWay", func(t *testing.T) {
		// A holder's close of a delete-on-close open is three
		// transitions (delete pending, release, forget after the
		// removal); an open that waits for the holder's break sees
		// none of them, as on one server, where the close is one step.
		tb := newTable(t)
		const id = 11
		const all = 0x001f01ff // FILE_ALL_ACCESS
		holder := &openstate.OpenEntry{ID: 1, Access: all, Oplock: openstate.OplockBatch}
		if _, err := tb.Acquire(ctx, id, holder); err != nil {
			t.Fatal(err)
		}
		e := &openstate.OpenEntry{ID: 2, Access: all, Oplock: openstate.OplockBatch}
		var bw *openstate.BreakWait
		if _, err := tb.Acquire(ctx, id, e); !errors.As(err, &bw) || len(bw.Breaks) != 1 {
			t.Fatalf("conflicting open of a batch holder: %v, want a break to wait for", err)
		}
		if err := tb.SetDeletePending(ctx, id, true, openstate.ParentKey{}); err != nil {
			t.Fatal(err)
		}
		e.Retry = true
		if _, err := tb.Acquire(ctx, id, e); !errors.As(err, &bw) || len(bw.Breaks) != 0 {
			t.Fatalf("retry while the broken holder closes: %v, want to wait", err)
		}
		stat := &openstate.OpenEntry{ID: 3, Access: 0x80, ShareAccess: openstate.ShareRead | openstate.ShareWrite | openstate.ShareDelete}
		if _, err := tb.Acquire(ctx, id, stat); !errors.Is(err, openstate.ErrDeletePending) {
			t.Fatalf("new open while delete pending with an open left: %v", err)
		}
		if last, pending, err := tb.Release(ctx, id, holder.ID); err != nil || !last || !pending {
			t.Fatalf("Release: last=%v pending=%v err=%v", last, pending, err)
		}
		for _, o := range []*openstate.OpenEntry{e, stat} {
			if _, err := tb.Acquire(ctx, id, o); !errors.As(err, &bw) || len(bw.Breaks) != 0 {
				t.Fatalf("open %d between the last release and Forget: %v, want to wait", o.ID, err)
			}
		}
		if err := acq(tb, id); !errors.Is(err, openstate.ErrDeletePending) {
			t.Fatalf("open without an entry before Forget: %v", err)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- tb.Wait(wctx, id, bw.Gen) }()
		if err := tb.Forget(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil || wctx.Err() != nil {
			t.Fatalf("Wait across Forget: %v (context: %v)", err, wctx.Err())
		}
	})
	t.Run("DeletePendingAfterBreak", func(t *testing.T) {
		// The holder acknowledges the break and keeps the object open
		// delete pending: the waiting open is refused then.
		tb := newTable(t)
		const id = 12
		const all = 0x001f01ff
		if _, err := tb.Acquire(ctx, id, &openstate.OpenEntry{ID: 1, Access: all, ShareAccess: openstate.ShareRead | openstate.ShareWrite | openstate.ShareDelete, Oplock: openstate.OplockBatch}); err != nil {
			t.Fatal(err)
		}
		e := &openstate.OpenEntry{ID: 2, Access: 0x1, ShareAccess: openstate.ShareRead | openstate.ShareWrite | openstate.ShareDelete, Overwrite: true}
		var bw *openstate.BreakWait
		if _, err := tb.Acquire(ctx, id, e); !errors.As(err, &bw) || len(bw.Breaks) != 1 {
			t.Fatalf("overwrite of a batch holder's file: %v, want a break to wait for", err)
		}
		if err := tb.SetDeletePending(ctx, id, true, openstate.ParentKey{}); err != nil {
			t.Fatal(err)
		}
		e.Retry = true
		if _, err := tb.Acquire(ctx, id, e); !errors.As(err, &bw) {
			t.Fatalf("retry while the break is out: %v, want to wait", err)
		}
		if _, err := tb.AckOplock(ctx, id, 1, openstate.OplockNone); err != nil {
			t.Fatal(err)
		}
		if _, err := tb.Acquire(ctx, id, e); !errors.Is(err, openstate.ErrDeletePending) {
			t.Fatalf("retry after the acknowledgment: %v, want delete pending", err)
		}
	})
	t.Run("ClearPending", func(t *testing.T) {
		tb := newTable(t)
		acq(tb, 1)
		tb.SetDeletePending(ctx, 1, true, openstate.ParentKey{})
		tb.SetDeletePending(ctx, 1, false, openstate.ParentKey{})
		if err := acq(tb, 1); err != nil {
			t.Fatalf("Acquire after clearing: %v", err)
		}
		tb.Release(ctx, 1, 0)
		if last, pending, _ := tb.Release(ctx, 1, 0); !last || pending {
			t.Fatalf("Release: last=%v pending=%v", last, pending)
		}
	})
	t.Run("Independent", func(t *testing.T) {
		tb := newTable(t)
		acq(tb, 1)
		acq(tb, 2)
		tb.SetDeletePending(ctx, 1, true, openstate.ParentKey{})
		if st, _ := tb.State(ctx, 2); st.DeletePending || st.Opens != 1 {
			t.Fatalf("object 2 affected: %+v", st)
		}
	})
	t.Run("DeniedShare", func(t *testing.T) {
		// State.Denied is what streams need to refuse an open of their
		// file for DELETE (csv/stream.go).
		tb := newTable(t)
		const id = 9
		e1 := &openstate.OpenEntry{ID: 1, Access: 0x1, ShareAccess: openstate.ShareRead | openstate.ShareWrite | openstate.ShareDelete}
		e2 := &openstate.OpenEntry{ID: 2, Access: 0x1, ShareAccess: openstate.ShareRead | openstate.ShareDelete}
		if _, err := tb.Acquire(ctx, id, e1); err != nil {
			t.Fatal(err)
		}
		if st, _ := tb.State(ctx, id); st.Denied != 0 {
			t.Fatalf("Denied = %#x with one open sharing everything", st.Denied)
		}
		if _, err := tb.Acquire(ctx, id, e2); err != nil {
			t.Fatal(err)
		}
		if st, _ := tb.State(ctx, id); st.Denied != openstate.ShareWrite {
			t.Fatalf("Denied = %#x, want FILE_SHARE_WRITE", st.Denied)
		}
		tb.Release(ctx, id, 2)
		if st, _ := tb.State(ctx, id); st.Denied != 0 {
			t.Fatalf("Denied = %#x after the refusing open closed", st.Denied)
		}
	})
	testOpenState(t, newTable)
	testDirectoryLeases(t, newTable)
}
