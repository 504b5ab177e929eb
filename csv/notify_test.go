package csv

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// Change notification: events are delivered synchronously by the
// operation that causes them, so a test can check right after it whether
// a wait completed; waits that must complete are bounded.

func watchDir(t *testing.T, v *Volume, path string, filter uint32, recursive bool, budget int) (*Handle, *Watch) {
	t.Helper()
	h, _ := open(t, v, OpenRequest{Path: path, Disposition: OpenIf, Directory: true})
	t.Cleanup(func() { h.Close() })
	w, err := h.Watch(context.Background(), filter, recursive, budget)
	if err != nil {
		t.Fatalf("Watch %q: %v", path, err)
	}
	return h, w
}

func result(t *testing.T, wt *NotifyWait) NotifyResult {
	t.Helper()
	select {
	case <-wt.Done():
		return wt.Result()
	case <-time.After(5 * time.Second):
		t.Fatal("notify wait did not complete")
		return NotifyResult{}
	}
}

func pending(t *testing.T, wt *NotifyWait) {
	t.Helper()
	select {
	case <-wt.Done():
		t.Fatalf("notify wait completed with %+v", wt.Result())
	default:
	}
}

func wantChanges(t *testing.T, wt *NotifyWait, want ...Change) {
	t.Helper()
	res := result(t, wt)
	if !reflect.DeepEqual(res, NotifyResult{Changes: want}) {
		t.Fatalf("got %+v, want changes %+v", res, want)
	}
}

func create(t *testing.T, v *Volume, path string, dir bool) {
	t.Helper()
	h, act := open(t, v, OpenRequest{Path: path, Disposition: Create, Directory: dir, NonDirectory: !dir, Write: !dir})
	if act != Created {
		t.Fatalf("%s: action %v", path, act)
	}
	closeH(t, h)
}

func unlink(t *testing.T, v *Volume, path string) {
	t.Helper()
	h, _ := open(t, v, OpenRequest{Path: path, Disposition: Open, DeleteOnClose: true})
	closeH(t, h)
}

func TestNotifyNamesAndBuffering(t *testing.T) {
	v, _ := newVolume(t, Options{})
	if v.watching() {
		t.Fatal("watching without a watch")
	}
	_, w := watchDir(t, v, "d", NotifyFileName|NotifyDirName, false, 4096)
	if !v.watching() {
		t.Fatal("not watching with a watch")
	}
	wt := w.Wait()
	pending(t, wt)
	create(t, v, `d\f`, false)
	wantChanges(t, wt, Change{ActionAdded, "f"})

	// Between requests changes are queued and returned at once, in order.
	create(t, v, `d\sub`, true)
	unlink(t, v, `d\f`)
	create(t, v, "outside", false) // not in the watched directory
	wantChanges(t, w.Wait(), Change{ActionAdded, "sub"}, Change{ActionRemoved, "f"})
	pending(t, w.Wait())
}

func TestNotifyFilters(t *testing.T) {
	v, _ := newVolume(t, Options{})
	create(t, v, "d", true)
	create(t, v, `d\f`, false)
	fh, _ := open(t, v, OpenRequest{Path: `d\f`, Disposition: Open, Write: true})
	defer closeH(t, fh)
	now := time.Now()
	ops := []struct {
		name   string
		filter uint32
		op     func() error
	}{
		{"attributes", NotifyAttributes, func() error {
			return fh.SetBasicInfo(context.Background(), time.Time{}, time.Time{}, time.Time{}, time.Time{}, AttrHidden)
		}},
		{"creation", NotifyCreation, func() error {
			return fh.SetBasicInfo(context.Background(), now, time.Time{}, time.Time{}, time.Time{}, 0)
		}},
		{"last access", NotifyLastAccess, func() error {
			return fh.SetBasicInfo(context.Background(), time.Time{}, now, time.Time{}, time.Time{}, 0)
		}},
		{"last write", NotifyLastWrite, func() error {
			return fh.SetBasicInfo(context.Background(), time.Time{}, time.Time{}, now, time.Time{}, 0)
		}},
		{"write extends", NotifySize, func() error { _, err := fh.WriteAt([]byte("x"), 100); return err }},
		{"write", NotifyLastWrite, func() error { _, err := fh.WriteAt([]byte("y"), 0); return err }},
		{"truncate", NotifySize, func() error { return fh.SetEndOfFile(context.Background(), 1) }},
	}
	for _, tc := range ops {
		t.Run(tc.name, func(t *testing.T) {
			// One watch with exactly the filter sees the change, one with
			// every other bit does not.
			_, hit := watchDir(t, v, "d", tc.filter, false, 4096)
			_, miss := watchDir(t, v, "d", 0xfff&^tc.filter&^NotifyFileName&^NotifyDirName, false, 4096)
			wh, wm := hit.Wait(), miss.Wait()
			if err := tc.op(); err != nil {
				t.Fatal(err)
			}
			wantChanges(t, wh, Change{ActionModified, "f"})
			if tc.filter != NotifyLastWrite && tc.filter != NotifySize {
				pending(t, wm) // a write changes both size and last write
			}
			wm.Cancel()
		})
	}
	// A write inside the file does not change its size.
	_, size := watchDir(t, v, "d", NotifySize, false, 4096)
	ws := size.Wait()
	if _, err := fh.WriteAt([]byte("z"), 0); err != nil {
		t.Fatal(err)
	}
	pending(t, ws)
}

func TestNotifyRename(t *testing.T) {
	v, _ := newVolume(t, Options{})
	create(t, v, "d", true)
	create(t, v, `d\sub`, true)
	create(t, v, `d\f`, false)
	_, w := watchDir(t, v, "d", NotifyFileName|NotifyDirName|NotifyAttributes, true, 4096)
	_, attrs := watchDir(t, v, "d", NotifyAttributes, false, 4096)

	fh, _ := open(t, v, OpenRequest{Path: `d\f`, Disposition: Open})
	if err := fh.Rename(context.Background(), `d\g`, false); err != nil {
		t.Fatal(err)
	}
	wantChanges(t, w.Wait(), Change{ActionRenamedOldName, "f"}, Change{ActionRenamedNewName, "g"})
	if err := fh.Rename(context.Background(), `d\sub\g`, false); err != nil {
		t.Fatal(err)
	}
	wantChanges(t, w.Wait(), Change{ActionRemoved, "g"}, Change{ActionAdded, `sub\g`})
	// Closing a renamed file reports an attribute change (Windows).
	wa := attrs.Wait()
	if err := fh.Rename(context.Background(), `d\h`, false); err != nil {
		t.Fatal(err)
	}
	pending(t, wa)
	closeH(t, fh)
	wantChanges(t, wa, Change{ActionModified, "h"})

	// Replacing a target reports its removal first.
	create(t, v, `d\x`, false)
	w.Wait().Cancel() // drains MODIFIED h and ADDED x
	xh, _ := open(t, v, OpenRequest{Path: `d\x`, Disposition: Open})
	if err := xh.Rename(context.Background(), `d\h`, true); err != nil {
		t.Fatal(err)
	}
	wantChanges(t, w.Wait(), Change{ActionRemoved, "h"}, Change{ActionRenamedOldName, "x"}, Change{ActionRenamedNewName, "h"})
	closeH(t, xh)
}

func TestNotifyTree(t *testing.T) {
	v, _ := newVolume(t, Options{})
	create(t, v, "d", true)
	create(t, v, `d\a`, true)
	create(t, v, `d\a\b`, true)
	_, rec := watchDir(t, v, "d", NotifyFileName, true, 4096)
	_, flat := watchDir(t, v, "d", NotifyFileName, false, 4096)
	_, root := watchDir(t, v, "", NotifyFileName, true, 4096)
	_, sibling := watchDir(t, v, `d\a\b`, NotifyFileName, true, 4096)
	wf, ws := flat.Wait(), sibling.Wait()
	create(t, v, `d\a\f`, false)
	wantChanges(t, rec.Wait(), Change{ActionAdded, `a\f`})
	wantChanges(t, root.Wait(), Change{ActionAdded, `d\a\f`})
	pending(t, wf)
	pending(t, ws)
	// The watched directory itself is not reported to its own watch.
	_, attrs := watchDir(t, v, `d\a`, NotifyAttributes, true, 4096)
	wa := attrs.Wait()
	dh, _ := open(t, v, OpenRequest{Path: `d\a`, Disposition: Open, Directory: true})
	if err := dh.SetBasicInfo(context.Background(), time.Time{}, time.Time{}, time.Time{}, time.Time{}, AttrHidden); err != nil {
		t.Fatal(err)
	}
	closeH(t, dh)
	pending(t, wa)
}

func TestNotifyOverflow(t *testing.T) {
	v, _ := newVolume(t, Options{})
	_, w := watchDir(t, v, "d", NotifyFileName, false, 100)
	for _, n := range []string{"file1", "file2", "file3", "file4", "file5"} {
		create(t, v, `d\`+n, false)
	}
	if res := result(t, w.Wait()); !res.Overflow {
		t.Fatalf("got %+v, want overflow", res)
	}
	// The overflow is reported once; then changes queue again.
	wt := w.Wait()
	pending(t, wt)
	create(t, v, `d\file6`, false)
	wantChanges(t, wt, Change{ActionAdded, "file6"})

	// Identical consecutive changes are coalesced rather than queued.
	fh, _ := open(t, v, OpenRequest{Path: `d\file6`, Disposition: Open, Write: true})
	defer closeH(t, fh)
	_, mod := watchDir(t, v, "d", NotifyLastWrite, false, 100)
	for range 50 {
		if _, err := fh.WriteAt([]byte("x"), 0); err != nil {
			t.Fatal(err)
		}
	}
	wantChanges(t, mod.Wait(), Change{ActionModified, "file6"})
}

func TestNotifyWaitersInOrderAndCancel(t *testing.T) {
	v, _ := newVolume(t, Options{})
	_, w := watchDir(t, v, "d", NotifyFileName, false, 4096)
	first, second, third := w.Wait(), w.Wait(), w.Wait()
	create(t, v, `d\one`, false)
	wantChanges(t, first, Change{ActionAdded, "one"})
	pending(t, second)
	if _, done := second.Cancel(); done {
		t.Fatal("cancelled wait reports a result")
	}
	create(t, v, `d\two`, false)
	wantChanges(t, third, Change{ActionAdded, "two"})
	// Cancelling a wait that completed returns its result.
	fourth := w.Wait()
	create(t, v, `d\three`, false)
	if res, done := fourth.Cancel(); !done || len(res.Changes) != 1 {
		t.Fatalf("Cancel after completion: %+v %v", res, done)
	}
}

func TestNotifyCloseAndDeletePending(t *testing.T) {
	v, _ := newVolume(t, Options{})
	h, w := watchDir(t, v, "d", NotifyFileName, false, 4096)
	wt := w.Wait()
	closeH(t, h)
	if res := result(t, wt); !res.Closed {
		t.Fatalf("after close: %+v", res)
	}
	if res := result(t, w.Wait()); !res.Closed {
		t.Fatalf("wait after close: %+v", res)
	}
	if v.watching() {
		t.Fatal("closed watch still registered")
	}

	// Delete pending set through another handle, or by a delete-on-close
	// handle's close, completes the watch's waiters.
	for i, doc := range []bool{false, true} {
		name := fmt.Sprint("e", i)
		_, w = watchDir(t, v, name, NotifyFileName, false, 4096)
		wt = w.Wait()
		other, _ := open(t, v, OpenRequest{Path: name, Disposition: Open, Directory: true, DeleteOnClose: doc})
		if !doc {
			if err := other.SetDeletePending(context.Background(), true); err != nil {
				t.Fatal(err)
			}
			if res := result(t, wt); !res.DeletePending {
				t.Fatalf("after SetDeletePending: %+v", res)
			}
			if err := other.SetDeletePending(context.Background(), false); err != nil {
				t.Fatal(err)
			}
			wt = w.Wait()
			pending(t, wt)
			if err := other.SetDeletePending(context.Background(), true); err != nil {
				t.Fatal(err)
			}
		}
		closeH(t, other)
		if res := result(t, wt); !res.DeletePending {
			t.Fatalf("delete-on-close %v: %+v", doc, res)
		}
	}
}

func TestNotifyWatchFileRefused(t *testing.T) {
	v, _ := newVolume(t, Options{})
	create(t, v, "f", false)
	h, _ := open(t, v, OpenRequest{Path: "f", Disposition: Open})
	defer closeH(t, h)
	_, err := h.Watch(context.Background(), NotifyFileName, false, 4096)
	wantErr(t, "Watch on a file", err, ErrNotDirectory)
	dh, w := watchDir(t, v, "d", NotifyFileName, false, 4096)
	// The first request fixes the filter.
	w2, err := dh.Watch(context.Background(), NotifyAttributes, true, 10)
	if err != nil || w2 != w || w2.Filter() != NotifyFileName || w2.Recursive() {
		t.Fatalf("second Watch: %v %v", w2, err)
	}
}

func TestNotifyEntrySize(t *testing.T) {
	for name, want := range map[string]int{"": 12, "a": 16, "ab": 16, "abc": 20, "\U0001F600": 16, "é": 16} {
		if got := NotifyEntrySize(name); got != want {
			t.Errorf("NotifyEntrySize(%q) = %d, want %d", name, got, want)
		}
	}
}
