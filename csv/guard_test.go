package csv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// TestGuardFences flips a volume's guard under open handles: every read,
// write, sync, size, metadata, rename, create and delete-on-close is
// refused with ErrFenced and leaves the backing file as it was, while
// closing still releases the handle.
func TestGuardFences(t *testing.T) {
	var fenced atomic.Bool
	errLease := errors.New("lease unsure")
	v, root := newVolume(t, Options{Guard: func() error {
		if fenced.Load() {
			return errLease
		}
		return nil
	}})
	h, _ := open(t, v, OpenRequest{Path: "f", Disposition: Create, Write: true})
	if _, err := h.WriteAt([]byte("before"), 0); err != nil {
		t.Fatal(err)
	}
	d, _ := open(t, v, OpenRequest{Path: "gone", Disposition: Create, Write: true, DeleteOnClose: true})

	fenced.Store(true)
	_, err := h.WriteAt([]byte("AFTER!"), 0)
	wantErr(t, "write", err, ErrFenced)
	if !errors.Is(err, errLease) {
		t.Fatalf("write: %v does not carry the guard's reason", err)
	}
	_, err = h.ReadAt(make([]byte, 6), 0)
	wantErr(t, "read", err, ErrFenced)
	wantErr(t, "sync", h.Sync(), ErrFenced)
	wantErr(t, "set end of file", h.SetEndOfFile(context.Background(), 0), ErrFenced)
	wantErr(t, "set sparse", h.SetSparse(context.Background(), true), ErrFenced)
	wantErr(t, "zero", h.ZeroRange(0, 3), ErrFenced)
	_, err = h.Stat(context.Background())
	wantErr(t, "stat", err, ErrFenced)
	wantErr(t, "rename", h.Rename(context.Background(), "g", false), ErrFenced)
	_, _, err = v.Open(t.Context(), OpenRequest{Path: "new", Disposition: Create, Write: true})
	wantErr(t, "create", err, ErrFenced)
	_, _, err = v.Open(t.Context(), OpenRequest{Path: "f", Disposition: Overwrite, Write: true})
	wantErr(t, "overwrite", err, ErrFenced)
	closeH(t, d) // delete on close: not done while fenced
	closeH(t, h)

	b, err := os.ReadFile(filepath.Join(root, "f"))
	if err != nil || string(b) != "before" {
		t.Fatalf("backing file %q %v, want %q", b, err, "before")
	}
	for _, name := range []string{"g", "new"} {
		if exists(filepath.Join(root, name)) {
			t.Fatalf("%s exists: a fenced volume changed the namespace", name)
		}
	}
	if !exists(filepath.Join(root, "gone")) {
		t.Fatal("a fenced volume ran a delete on close")
	}

	// Service resumes when the guard says so.
	fenced.Store(false)
	h, _ = open(t, v, OpenRequest{Path: "f", Disposition: Open, Write: true})
	if _, err := h.WriteAt([]byte("again!"), 0); err != nil {
		t.Fatalf("write after the guard cleared: %v", err)
	}
	closeH(t, h)
}
