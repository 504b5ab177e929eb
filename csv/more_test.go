package csv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestSysErrMapping(t *testing.T) {
	tests := []struct {
		errno unix.Errno
		kind  error
	}{
		{unix.ENOENT, ErrNotFound},
		{unix.EEXIST, ErrExists},
		{unix.ENOTDIR, ErrNotDirectory},
		{unix.EISDIR, ErrIsDirectory},
		{unix.ENOTEMPTY, ErrNotEmpty},
		{unix.EACCES, ErrAccessDenied},
		{unix.EPERM, ErrAccessDenied},
		{unix.ELOOP, ErrAccessDenied},
		{unix.EXDEV, ErrAccessDenied},
		{unix.EROFS, ErrReadOnly},
		{unix.ENOSPC, ErrNoSpace},
		{unix.EDQUOT, ErrNoSpace},
		{unix.ENAMETOOLONG, ErrNameTooLong},
	}
	for _, tt := range tests {
		err := sysErr("op", `a\b`, tt.errno)
		if !errors.Is(err, tt.kind) || !errors.Is(err, tt.errno) {
			t.Errorf("%v: %v does not wrap %v and the errno", tt.errno, err, tt.kind)
		}
	}
	if err := sysErr("op", "x", unix.EIO); !errors.Is(err, unix.EIO) {
		t.Errorf("EIO lost: %v", err)
	}
}

func TestRenameCannotEscape(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		v, base := baitTree(t, fallback)
		h, _ := open(t, v, OpenRequest{Path: "victim", Disposition: Create})
		for _, to := range []string{`out\stolen`, `OUT\stolen`, `abs\stolen`, `dir\up\stolen`, `innerlink\stolen`, `..\secret\stolen`} {
			if err := h.Rename(context.Background(), to, true); err == nil {
				t.Fatalf("fallback=%v: rename to %s succeeded", fallback, to)
			}
		}
		// Replacing a link (even with replace) is refused, not followed.
		wantErr(t, "replace link", h.Rename(context.Background(), "filelink", true), ErrAccessDenied)
		if ents, _ := os.ReadDir(filepath.Join(base, "secret")); len(ents) != 1 {
			t.Fatalf("secret dir changed: %v", ents)
		}
		if h.Path() != "victim" {
			t.Fatalf("path changed: %q", h.Path())
		}
		closeH(t, h)
	}
}

func TestDirectoryHandleOps(t *testing.T) {
	v, root := newVolume(t, Options{})
	d, _ := open(t, v, OpenRequest{Path: "dir", Disposition: Create, Directory: true, Write: true})
	wantErr(t, "sync dir", d.Sync(), nil)
	_, err := d.WriteAt([]byte("x"), 0)
	wantErr(t, "write dir", err, ErrIsDirectory)
	_, err = d.ReadAt(make([]byte, 1), 0)
	wantErr(t, "read dir", err, ErrIsDirectory)
	wantErr(t, "eof dir", d.SetEndOfFile(context.Background(), 0), ErrIsDirectory)
	wantErr(t, "alloc dir", d.SetAllocationSize(context.Background(), 0), ErrIsDirectory)
	wantErr(t, "sparse dir", d.SetSparse(context.Background(), true), ErrInvalidParameter)
	wantErr(t, "temporary dir", d.SetBasicInfo(context.Background(), time.Time{}, time.Time{}, time.Time{}, time.Time{}, AttrTemporary), ErrInvalidParameter)
	wantErr(t, "hidden dir", d.SetBasicInfo(context.Background(), time.Time{}, time.Time{}, time.Time{}, time.Time{}, AttrDirectory|AttrHidden), nil)
	if fi, _ := d.Stat(context.Background()); fi.Attributes != AttrDirectory|AttrHidden {
		t.Fatalf("dir attributes %#x", fi.Attributes)
	}
	// Case-only rename of a directory.
	wantErr(t, "case rename", d.Rename(context.Background(), "DIR", false), nil)
	if !exists(filepath.Join(root, "DIR")) || exists(filepath.Join(root, "dir")) || d.Path() != "DIR" {
		t.Fatalf("case-only dir rename: %q", d.Path())
	}
	closeH(t, d)
	for _, err := range []error{d.Sync(), d.SetDeletePending(context.Background(), true), d.Rename(context.Background(), "x", false), d.SetEndOfFile(context.Background(), 0)} {
		wantErr(t, "after close", err, ErrClosed)
	}
	_, err = d.Stat(context.Background())
	wantErr(t, "stat after close", err, ErrClosed)
	_, err = d.ReadDir(context.Background())
	wantErr(t, "readdir after close", err, ErrClosed)
}

func TestVolumeCloseWithOpenHandle(t *testing.T) {
	v, root := newVolume(t, Options{})
	h, _ := open(t, v, OpenRequest{Path: "f", Disposition: Create, Write: true})
	if err := h.SetDeletePending(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "volume close", v.Close(), nil)
	if _, err := h.WriteAt([]byte("still"), 0); err != nil {
		t.Fatalf("I/O after volume close: %v", err)
	}
	wantErr(t, "rename after volume close", h.Rename(context.Background(), "g", false), ErrClosed)
	wantErr(t, "close handle", h.Close(), nil)
	// The volume was gone, so the file could not be removed; nothing
	// outside the contract happened.
	if !exists(filepath.Join(root, "f")) {
		t.Fatal("removed through a closed volume")
	}
}
