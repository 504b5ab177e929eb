package csv

import (
	"context"
	"testing"
	"time"
)

// TestChangeTimeSettable: a client-set change time is reported until the
// data changes ([MS-FSCC] 2.4.7; POSIX cannot set ctime).
func TestChangeTimeSettable(t *testing.T) {
	v, _ := newVolume(t, Options{})
	h, _ := open(t, v, OpenRequest{Path: "f", Disposition: Create, Write: true})
	defer closeH(t, h)
	want := time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC)
	write := time.Date(2029, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := h.SetBasicInfo(context.Background(), time.Time{}, time.Time{}, write, want, 0); err != nil {
		t.Fatal(err)
	}
	fi, err := h.Stat(context.Background())
	if err != nil || !fi.ChangeTime.Equal(want) || !fi.LastWriteTime.Equal(write) {
		t.Fatalf("after set: change %v write %v (%v)", fi.ChangeTime, fi.LastWriteTime, err)
	}
	// Attribute changes keep it (Open.UserSetChangeTime, [MS-FSA] 2.1.5.14.2).
	if err := h.SetBasicInfo(context.Background(), time.Time{}, time.Time{}, time.Time{}, time.Time{}, AttrHidden); err != nil {
		t.Fatal(err)
	}
	if fi, _ := h.Stat(context.Background()); !fi.ChangeTime.Equal(want) {
		t.Fatalf("after attribute change: %v", fi.ChangeTime)
	}
	// A data change is a change again.
	if _, err := h.WriteAt([]byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if fi, _ := h.Stat(context.Background()); fi.ChangeTime.Equal(want) {
		t.Fatal("change time survived a write")
	}
}

// TestDirectoryAllocationIsZero: directories report no allocation, as on
// NTFS.
func TestDirectoryAllocationIsZero(t *testing.T) {
	v, _ := newVolume(t, Options{})
	h, _ := open(t, v, OpenRequest{Path: "d", Disposition: Create, Directory: true})
	defer closeH(t, h)
	if fi, err := h.Stat(context.Background()); err != nil || fi.AllocationSize != 0 || fi.EndOfFile != 0 {
		t.Fatalf("directory sizes: %+v %v", fi, err)
	}
}
