package csv

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestReadWrite(t *testing.T) {
	v, root := newVolume(t, Options{})
	h, _ := open(t, v, OpenRequest{Path: "f", Disposition: Create, Write: true})
	defer closeH(t, h)
	if n, err := h.WriteAt([]byte("hello world"), 0); n != 11 || err != nil {
		t.Fatalf("write: %d %v", n, err)
	}
	wantErr(t, "sync", h.Sync(), nil)
	buf := make([]byte, 5)
	if n, err := h.ReadAt(buf, 6); n != 5 || err != nil || string(buf) != "world" {
		t.Fatalf("read: %d %v %q", n, err, buf)
	}
	if n, err := h.ReadAt(buf, 8); n != 3 || err != io.EOF {
		t.Fatalf("short read: %d %v", n, err)
	}
	if n, err := h.ReadAt(buf, 100); n != 0 || err != io.EOF {
		t.Fatalf("read past end: %d %v", n, err)
	}
	_, err := h.ReadAt(buf, -1)
	wantErr(t, "negative offset", err, ErrInvalidParameter)
	allocs := testing.AllocsPerRun(100, func() {
		h.WriteAt(buf, 3)
		h.ReadAt(buf, 0)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per ReadAt+WriteAt", allocs)
	}

	wantErr(t, "truncate", h.SetEndOfFile(context.Background(), 4), nil)
	if fi, _ := h.Stat(context.Background()); fi.EndOfFile != 4 {
		t.Fatalf("size after truncate %d", fi.EndOfFile)
	}
	wantErr(t, "extend", h.SetEndOfFile(context.Background(), 1<<20), nil)
	if fi, _ := h.Stat(context.Background()); fi.EndOfFile != 1<<20 || fi.AllocationSize >= 1<<20 {
		t.Fatalf("extend leaves a hole: %+v", fi)
	}
	if fi, _ := h.Stat(context.Background()); fi.Attributes&AttrSparseFile != 0 {
		t.Fatal("SPARSE inferred from holes")
	}
	wantErr(t, "shrink alloc", h.SetAllocationSize(context.Background(), 10), nil)
	if fi, _ := h.Stat(context.Background()); fi.EndOfFile != 10 {
		t.Fatalf("allocation below EOF must truncate: %d", fi.EndOfFile)
	}
	wantErr(t, "grow alloc", h.SetAllocationSize(context.Background(), 1<<20), nil)
	if fi, _ := h.Stat(context.Background()); fi.EndOfFile != 10 || fi.AllocationSize < 1<<20 {
		t.Fatalf("grow allocation: %+v", fi)
	}
	wantErr(t, "negative size", h.SetEndOfFile(context.Background(), -1), ErrInvalidParameter)
	if st, _ := os.Stat(filepath.Join(root, "f")); st.Size() != 10 {
		t.Fatalf("on-disk size %d", st.Size())
	}

	r, _ := open(t, v, OpenRequest{Path: "f", Disposition: Open})
	_, err = r.WriteAt(buf, 0)
	wantErr(t, "write on read handle", err, ErrAccessDenied)
	wantErr(t, "eof on read handle", r.SetEndOfFile(context.Background(), 0), ErrAccessDenied)
	closeH(t, r)
	wantErr(t, "double close", r.Close(), ErrClosed)
	_, err = r.ReadAt(buf, 0)
	wantErr(t, "read after close", err, ErrClosed)
}

func TestAllocationOnCreate(t *testing.T) {
	v, _ := newVolume(t, Options{})
	h, _ := open(t, v, OpenRequest{Path: "f", Disposition: Create, Write: true, AllocationSize: 1 << 20})
	defer closeH(t, h)
	fi, _ := h.Stat(context.Background())
	if fi.EndOfFile != 0 || fi.AllocationSize < 1<<20 {
		t.Fatalf("preallocation: %+v", fi)
	}
}

func TestMetadata(t *testing.T) {
	for _, xattrs := range []bool{true, false} {
		v, root := newVolume(t, Options{})
		v.xattrs = xattrs
		before := time.Now().Add(-time.Second)
		h, _ := open(t, v, OpenRequest{Path: "f", Disposition: Create, Write: true, Attributes: AttrHidden | AttrSystem})
		fi, _ := h.Stat(context.Background())
		if fi.CreationTime.Before(before) || fi.CreationTime.After(time.Now()) {
			t.Fatalf("xattrs=%v creation time %v", xattrs, fi.CreationTime)
		}
		want := AttrHidden | AttrSystem | AttrArchive
		if !xattrs {
			want = AttrArchive
		}
		if fi.Attributes != want {
			t.Fatalf("xattrs=%v attributes %#x want %#x", xattrs, fi.Attributes, want)
		}
		created := time.Date(2010, 1, 2, 3, 4, 5, 600, time.UTC)
		access := time.Date(2011, 1, 1, 0, 0, 0, 100, time.UTC)
		write := time.Date(2012, 1, 1, 0, 0, 0, 200, time.UTC)
		wantErr(t, "basic", h.SetBasicInfo(context.Background(), created, access, write, time.Now(), AttrReadonly|AttrSparseFile), nil)
		fi, _ = h.Stat(context.Background())
		if !fi.LastAccessTime.Equal(access) || !fi.LastWriteTime.Equal(write) {
			t.Fatalf("times: %+v", fi)
		}
		if xattrs && (!fi.CreationTime.Equal(created) || fi.Attributes != AttrReadonly) {
			t.Fatalf("creation/attributes not persisted (SPARSE must need SetSparse): %+v", fi)
		}
		wantErr(t, "dir bit on file", h.SetBasicInfo(context.Background(), time.Time{}, time.Time{}, time.Time{}, time.Time{}, AttrDirectory), ErrInvalidParameter)
		// Zero values leave everything alone.
		wantErr(t, "noop", h.SetBasicInfo(context.Background(), time.Time{}, time.Time{}, time.Time{}, time.Time{}, 0), nil)
		if fi2, _ := h.Stat(context.Background()); !fi2.LastWriteTime.Equal(write) || fi2.Attributes != fi.Attributes {
			t.Fatalf("zero SetBasicInfo changed something: %+v", fi2)
		}
		closeH(t, h)
		if !xattrs {
			continue
		}
		// Read-only attribute enforcement ([MS-FSA] 2.1.5.1.2).
		_, _, err := v.Open(bg, OpenRequest{Path: "f", Disposition: Open, Write: true})
		wantErr(t, "write readonly", err, ErrAccessDenied)
		_, _, err = v.Open(bg, OpenRequest{Path: "f", Disposition: Overwrite})
		wantErr(t, "overwrite readonly", err, ErrAccessDenied)
		_, _, err = v.Open(bg, OpenRequest{Path: "f", Disposition: Open, DeleteOnClose: true})
		wantErr(t, "doc readonly", err, ErrCannotDelete)
		h, _ = open(t, v, OpenRequest{Path: "f", Disposition: Open})
		wantErr(t, "delete readonly", h.SetDeletePending(context.Background(), true), ErrCannotDelete)
		wantErr(t, "sparse", h.SetSparse(context.Background(), true), nil)
		wantErr(t, "clear attrs", h.SetBasicInfo(context.Background(), time.Time{}, time.Time{}, time.Time{}, time.Time{}, AttrNormal), nil)
		if fi, _ := h.Stat(context.Background()); fi.Attributes != AttrSparseFile {
			t.Fatalf("after NORMAL+sparse: %#x", fi.Attributes)
		}
		wantErr(t, "unsparse", h.SetSparse(context.Background(), false), nil)
		if fi, _ := h.Stat(context.Background()); fi.Attributes != AttrNormal {
			t.Fatalf("NORMAL only when nothing else: %#x", fi.Attributes)
		}
		closeH(t, h)
		// Persisted across volume instances.
		v2 := openAt(t, root, Options{})
		fi, err = v2.Stat(bg, "F")
		if err != nil || !fi.CreationTime.Equal(created) || fi.Name != "f" {
			t.Fatalf("reopened: %+v %v", fi, err)
		}
		// Garbage in the xattr falls back to defaults.
		if err := syscall.Setxattr(filepath.Join(root, "f"), metaXattr, []byte{0, 1, 2}, 0); err != nil {
			t.Fatal(err)
		}
		if fi, err := v2.Stat(bg, "f"); err != nil || fi.Attributes != AttrArchive {
			t.Fatalf("malformed meta: %+v %v", fi, err)
		}
	}
}

// removedBeforeAcquire is an object table whose first Acquire finds
// that the file was removed meanwhile: another node's last close of the
// delete-pending file unlinked it (and forgot it in the table) between
// this open's lookup and its acquire.
type removedBeforeAcquire struct {
	*MemoryObjectTable
	path string
	done bool
}

func (t *removedBeforeAcquire) Acquire(ctx context.Context, id uint64, e *OpenEntry) (Grant, error) {
	if !t.done {
		t.done = true
		if err := os.Remove(t.path); err != nil {
			return Grant{}, err
		}
	}
	return t.MemoryObjectTable.Acquire(ctx, id, e)
}

// TestOpenIfAfterRemoval: an open-if whose file is deleted between the
// lookup and the acquire creates a new file, as on one server, where the
// name and the object go in one step (it was STATUS_OBJECT_NAME_NOT_FOUND;
// smb2.durable-open.delete_on_close1 through a cluster met it).
func TestOpenIfAfterRemoval(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "share")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "f"), "old")
	tb := &removedBeforeAcquire{MemoryObjectTable: NewMemoryObjectTable(), path: filepath.Join(root, "f")}
	v := openAt(t, root, Options{Objects: tb})
	h, act, err := v.Open(bg, OpenRequest{Path: "f", Disposition: OpenIf, Write: true, Entry: &OpenEntry{ID: 1, Access: 0x12019f}})
	if err != nil || act != Created {
		t.Fatalf("open-if of a file removed before its acquire: action %v, %v; want a new file", act, err)
	}
	if fi, err := h.Stat(context.Background()); err != nil || fi.EndOfFile != 0 {
		t.Fatalf("the new file: %+v %v, want it empty", fi, err)
	}
	closeH(t, h)
}

func TestDeletePending(t *testing.T) {
	v, root := newVolume(t, Options{})
	p := filepath.Join(root, "f")
	h1, _ := open(t, v, OpenRequest{Path: "f", Disposition: Create, Write: true})
	h2, _ := open(t, v, OpenRequest{Path: "F", Disposition: Open})
	wantErr(t, "set", h1.SetDeletePending(context.Background(), true), nil)
	if fi, _ := h2.Stat(context.Background()); !fi.DeletePending {
		t.Fatal("delete pending not visible through the other handle")
	}
	_, _, err := v.Open(bg, OpenRequest{Path: "f", Disposition: OpenIf})
	wantErr(t, "open pending", err, ErrDeletePending)
	closeH(t, h1)
	if !exists(p) {
		t.Fatal("removed before the last handle closed")
	}
	closeH(t, h2)
	if exists(p) {
		t.Fatal("not removed at last close")
	}
	// Clearing delete pending keeps the file.
	h1, _ = open(t, v, OpenRequest{Path: "g", Disposition: Create})
	wantErr(t, "set", h1.SetDeletePending(context.Background(), true), nil)
	wantErr(t, "clear", h1.SetDeletePending(context.Background(), false), nil)
	closeH(t, h1)
	if !exists(filepath.Join(root, "g")) {
		t.Fatal("cleared delete pending still deleted")
	}
	// Delete on close: pending only once that handle closes.
	h1, _ = open(t, v, OpenRequest{Path: "g", Disposition: Open, DeleteOnClose: true})
	h2, _ = open(t, v, OpenRequest{Path: "g", Disposition: Open})
	closeH(t, h1)
	_, _, err = v.Open(bg, OpenRequest{Path: "g", Disposition: Open})
	wantErr(t, "open after doc close", err, ErrDeletePending)
	closeH(t, h2)
	if exists(filepath.Join(root, "g")) {
		t.Fatal("delete on close did not delete")
	}
	// Directories: not while non-empty; no creates inside once pending.
	d, _ := open(t, v, OpenRequest{Path: "d", Disposition: Create, Directory: true})
	c, _ := open(t, v, OpenRequest{Path: `d\c`, Disposition: Create})
	wantErr(t, "non-empty", d.SetDeletePending(context.Background(), true), ErrNotEmpty)
	wantErr(t, "child", c.SetDeletePending(context.Background(), true), nil)
	closeH(t, c)
	wantErr(t, "empty now", d.SetDeletePending(context.Background(), true), nil)
	_, _, err = v.Open(bg, OpenRequest{Path: `d\new`, Disposition: Create})
	wantErr(t, "create in pending dir", err, ErrDeletePending)
	closeH(t, d)
	if exists(filepath.Join(root, "d")) {
		t.Fatal("directory not removed")
	}
	// A delete-on-close directory that gained an entry stays.
	d, _ = open(t, v, OpenRequest{Path: "d2", Disposition: Create, Directory: true, DeleteOnClose: true})
	c, _ = open(t, v, OpenRequest{Path: `d2\keep`, Disposition: Create})
	closeH(t, c)
	closeH(t, d)
	if !exists(filepath.Join(root, "d2", "keep")) {
		t.Fatal("non-empty delete-on-close directory removed")
	}
	if len(v.files) != 0 {
		t.Fatalf("open objects left: %v", v.files)
	}
}

func TestRename(t *testing.T) {
	v, root := newVolume(t, Options{})
	os.Mkdir(filepath.Join(root, "sub"), 0o755)
	os.Mkdir(filepath.Join(root, "adir"), 0o755)
	writeFile(t, filepath.Join(root, "other"), "o")
	h1, _ := open(t, v, OpenRequest{Path: "a", Disposition: Create, Write: true})
	h2, _ := open(t, v, OpenRequest{Path: "A", Disposition: Open})
	wantErr(t, "exists", h1.Rename(context.Background(), "OTHER", false), ErrExists)
	wantErr(t, "onto dir", h1.Rename(context.Background(), "adir", true), ErrAccessDenied)
	wantErr(t, "bad name", h1.Rename(context.Background(), `sub\x:y`, false), ErrStreamsUnsupported)
	wantErr(t, "missing parent", h1.Rename(context.Background(), `nope\x`, false), ErrPathNotFound)
	wantErr(t, "move", h1.Rename(context.Background(), `SUB\b`, false), nil)
	if h1.Path() != `sub\b` || h2.Path() != `sub\b` {
		t.Fatalf("paths after rename: %q %q", h1.Path(), h2.Path())
	}
	if !exists(filepath.Join(root, "sub", "b")) || exists(filepath.Join(root, "a")) {
		t.Fatal("not moved on disk")
	}
	wantErr(t, "case only", h1.Rename(context.Background(), `sub\B`, false), nil)
	if ents, _ := os.ReadDir(filepath.Join(root, "sub")); len(ents) != 1 || ents[0].Name() != "B" || h2.Path() != `sub\B` {
		t.Fatalf("case-only rename: %v %q", ents, h2.Path())
	}
	wantErr(t, "to itself", h1.Rename(context.Background(), `sub\B`, false), nil)
	// Replacing an open target is refused, a closed one is replaced.
	o, _ := open(t, v, OpenRequest{Path: "other", Disposition: Open})
	wantErr(t, "open target", h1.Rename(context.Background(), "other", true), ErrAccessDenied)
	closeH(t, o)
	wantErr(t, "replace", h1.Rename(context.Background(), "OTHER", true), nil)
	if h1.Path() != "OTHER" || exists(filepath.Join(root, "other")) || !exists(filepath.Join(root, "OTHER")) {
		t.Fatalf("replace with case change: %q", h1.Path())
	}
	// Directory with an open child cannot move; without one it can.
	d, _ := open(t, v, OpenRequest{Path: "sub", Disposition: Open, Directory: true})
	c, _ := open(t, v, OpenRequest{Path: `sub\child`, Disposition: Create})
	wantErr(t, "dir with open child", d.Rename(context.Background(), "moved", false), ErrAccessDenied)
	wantErr(t, "into itself", d.Rename(context.Background(), `sub\child2`, false), ErrAccessDenied)
	closeH(t, c)
	wantErr(t, "dir replace", d.Rename(context.Background(), "OTHER", true), ErrAccessDenied)
	wantErr(t, "dir move", d.Rename(context.Background(), "moved", false), nil)
	c, _ = open(t, v, OpenRequest{Path: `MOVED\CHILD`, Disposition: Open})
	if c.Path() != `moved\child` {
		t.Fatalf("child path %q", c.Path())
	}
	closeH(t, c)
	closeH(t, d)
	// Delete pending follows the new name.
	wantErr(t, "pending", h2.SetDeletePending(context.Background(), true), nil)
	closeH(t, h1)
	closeH(t, h2)
	if exists(filepath.Join(root, "OTHER")) {
		t.Fatal("renamed delete-pending file not removed")
	}
}

func TestReadDir(t *testing.T) {
	v, root := newVolume(t, Options{})
	for _, n := range []string{"b", "A", "c"} {
		writeFile(t, filepath.Join(root, n), n)
	}
	os.Mkdir(filepath.Join(root, "dir"), 0o755)
	os.Symlink("/etc", filepath.Join(root, "link"))
	syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644)
	writeFile(t, filepath.Join(root, "bad:name"), "")
	writeFile(t, filepath.Join(root, "con"), "")
	writeFile(t, filepath.Join(root, "back\\slash"), "")
	h, _ := open(t, v, OpenRequest{Path: "", Disposition: Open, Directory: true})
	defer closeH(t, h)
	list, err := h.ReadDir(context.Background())
	wantErr(t, "readdir", err, nil)
	var names []string
	for _, fi := range list {
		names = append(names, fi.Name)
	}
	want := []string{"A", "b", "c", "dir"}
	if len(names) != len(want) {
		t.Fatalf("entries %q, want %q", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("entries %q, want %q", names, want)
		}
	}
	if !list[3].IsDir || list[0].EndOfFile != 1 || list[0].FileID == 0 {
		t.Fatalf("entry info: %+v", list)
	}
	f, _ := open(t, v, OpenRequest{Path: "A", Disposition: Open})
	_, err = f.ReadDir(context.Background())
	wantErr(t, "readdir on file", err, ErrNotDirectory)
	closeH(t, f)
	// Twice in a row gives the same snapshot (fresh directory position).
	if again, _ := h.ReadDir(context.Background()); len(again) != len(list) {
		t.Fatal("second ReadDir differs")
	}
}

// StatChild answers as ReadDir did for each listed name, and nothing a
// listing would not show: no symbolic link, no path with a separator, no
// parent, not the volume's private area.
func TestStatChild(t *testing.T) {
	v, root := newVolume(t, Options{})
	ctx := context.Background()
	writeFile(t, filepath.Join(root, "a"), "abc")
	os.Mkdir(filepath.Join(root, "dir"), 0o755)
	writeFile(t, filepath.Join(root, "dir", "inner"), "x")
	os.Symlink("/etc", filepath.Join(root, "link"))
	s, _ := open(t, v, OpenRequest{Path: `a:one`, Disposition: Create, Write: true}) // creates the private area
	closeH(t, s)
	h, _ := open(t, v, OpenRequest{Path: "", Disposition: Open, Directory: true})
	defer closeH(t, h)
	list, err := h.ReadDir(ctx)
	wantErr(t, "readdir", err, nil)
	for _, want := range list {
		got, err := h.StatChild(ctx, want.Name)
		wantErr(t, "statchild "+want.Name, err, nil)
		if got.Name != want.Name || got.FileID != want.FileID || got.EndOfFile != want.EndOfFile || got.IsDir != want.IsDir || !got.LastWriteTime.Equal(want.LastWriteTime) {
			t.Fatalf("StatChild(%q) = %+v, ReadDir gave %+v", want.Name, got, want)
		}
	}
	for _, name := range []string{"missing", "A"} { // exact names only: listings give the on-disk spelling
		_, err := h.StatChild(ctx, name)
		wantErr(t, "statchild "+name, err, ErrNotFound)
	}
	for _, name := range []string{"link", `dir\inner`, "dir/inner", "..", ".", hiddenDir} {
		if _, err := h.StatChild(ctx, name); err == nil {
			t.Fatalf("StatChild(%q) succeeded", name)
		}
	}
	f, _ := open(t, v, OpenRequest{Path: "a", Disposition: Open})
	_, err = f.StatChild(ctx, "x")
	wantErr(t, "statchild on a file", err, ErrNotDirectory)
	closeH(t, f)
}
