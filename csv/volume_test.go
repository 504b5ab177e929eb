package csv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var bg = context.Background()

func TestDispositions(t *testing.T) {
	tests := []struct {
		disp   Disposition
		exists bool
		act    Action
		err    error
		size   int64 // size afterwards (existing file has 5 bytes)
	}{
		{Supersede, false, Created, nil, 0},
		{Supersede, true, Superseded, nil, 0},
		{Open, false, 0, ErrNotFound, 0},
		{Open, true, Opened, nil, 5},
		{Create, false, Created, nil, 0},
		{Create, true, 0, ErrExists, 5},
		{OpenIf, false, Created, nil, 0},
		{OpenIf, true, Opened, nil, 5},
		{Overwrite, false, 0, ErrNotFound, 0},
		{Overwrite, true, Overwritten, nil, 0},
		{OverwriteIf, false, Created, nil, 0},
		{OverwriteIf, true, Overwritten, nil, 0},
	}
	for _, tt := range tests {
		v, root := newVolume(t, Options{})
		if tt.exists {
			writeFile(t, filepath.Join(root, "f"), "hello")
		}
		h, act, err := v.Open(bg, OpenRequest{Path: "f", Disposition: tt.disp, Write: true, Attributes: AttrHidden})
		wantErr(t, "disposition", err, tt.err)
		if err != nil {
			continue
		}
		if act != tt.act {
			t.Errorf("disp %d exists %v: action %d, want %d", tt.disp, tt.exists, act, tt.act)
		}
		fi, err := h.Stat(context.Background())
		wantErr(t, "stat", err, nil)
		if fi.EndOfFile != tt.size {
			t.Errorf("disp %d exists %v: size %d, want %d", tt.disp, tt.exists, fi.EndOfFile, tt.size)
		}
		if act != Opened && fi.Attributes != AttrHidden|AttrArchive {
			t.Errorf("disp %d: attributes %#x, want HIDDEN|ARCHIVE", tt.disp, fi.Attributes)
		}
		closeH(t, h)
	}
	// Overwriting a hidden file must restate HIDDEN.
	v, _ := newVolume(t, Options{})
	h, _ := open(t, v, OpenRequest{Path: "h", Disposition: Create, Attributes: AttrHidden})
	closeH(t, h)
	_, _, err := v.Open(bg, OpenRequest{Path: "h", Disposition: OverwriteIf, Attributes: AttrArchive})
	wantErr(t, "overwrite hidden", err, ErrAccessDenied)
	h, _ = open(t, v, OpenRequest{Path: "h", Disposition: OverwriteIf, Attributes: AttrHidden | AttrReadonly})
	closeH(t, h)
}

func TestOpenErrors(t *testing.T) {
	v, root := newVolume(t, Options{})
	writeFile(t, filepath.Join(root, "file"), "x")
	os.Mkdir(filepath.Join(root, "dir"), 0o755)
	tests := []struct {
		req OpenRequest
		err error
	}{
		{OpenRequest{Path: "file", Disposition: Open, Directory: true}, ErrNotDirectory},
		{OpenRequest{Path: "dir", Disposition: Open, NonDirectory: true}, ErrIsDirectory},
		{OpenRequest{Path: "dir", Disposition: OverwriteIf}, ErrIsDirectory},
		{OpenRequest{Path: "dir", Disposition: Open, Directory: true, NonDirectory: true}, ErrInvalidParameter},
		{OpenRequest{Path: "dir", Disposition: Overwrite, Directory: true}, ErrInvalidParameter},
		{OpenRequest{Path: "dir", Disposition: 6}, ErrInvalidParameter},
		{OpenRequest{Path: "missing", Disposition: Open}, ErrNotFound},
		{OpenRequest{Path: `missing\x`, Disposition: OpenIf}, ErrPathNotFound},
		{OpenRequest{Path: `file\x`, Disposition: OpenIf}, ErrPathNotFound},
		{OpenRequest{Path: `FILE\x`, Disposition: Open}, ErrPathNotFound},
		{OpenRequest{Path: "", Disposition: Create}, ErrExists},
		{OpenRequest{Path: "", Disposition: Open, DeleteOnClose: true}, ErrCannotDelete},
		{OpenRequest{Path: "", Disposition: Open, NonDirectory: true}, ErrIsDirectory},
	}
	for _, tt := range tests {
		_, _, err := v.Open(bg, tt.req)
		wantErr(t, tt.req.Path, err, tt.err)
	}
	// A failed open leaves no state behind.
	if len(v.files) != 0 {
		t.Fatalf("files left open: %v", v.files)
	}
	canceled, cancel := context.WithCancel(bg)
	cancel()
	_, _, err := v.Open(canceled, OpenRequest{Path: "file", Disposition: Open})
	wantErr(t, "canceled", err, context.Canceled)
}

func TestCreateDirectoryAndRoot(t *testing.T) {
	v, root := newVolume(t, Options{})
	h, act := open(t, v, OpenRequest{Path: "d", Disposition: Create, Directory: true})
	fi, _ := h.Stat(context.Background())
	if act != Created || !fi.IsDir || fi.Attributes != AttrDirectory || fi.NumberOfLinks != 1 || fi.Name != "d" {
		t.Fatalf("created dir: %v %+v", act, fi)
	}
	closeH(t, h)
	if st, err := os.Stat(filepath.Join(root, "d")); err != nil || !st.IsDir() {
		t.Fatal("directory not on disk")
	}
	r, _ := open(t, v, OpenRequest{Path: "", Disposition: Open})
	ri, _ := r.Stat(context.Background())
	if !ri.IsDir || ri.FileID == 0 || r.Path() != "" {
		t.Fatalf("root: %+v %q", ri, r.Path())
	}
	wantErr(t, "delete root", r.SetDeletePending(context.Background(), true), ErrCannotDelete)
	wantErr(t, "rename root", r.Rename(context.Background(), "x", false), ErrAccessDenied)
	closeH(t, r)
	// The root's id is stable across volume instances.
	v2 := openAt(t, root, Options{})
	si, err := v2.Stat(bg, "")
	wantErr(t, "stat root", err, nil)
	if si.FileID != ri.FileID || !si.CreationTime.Equal(ri.CreationTime) {
		t.Fatalf("root id/creation changed: %+v vs %+v", si, ri)
	}
	if v2.ID() != v.ID() {
		t.Fatal("volume id not stable")
	}
}

func TestCaseInsensitive(t *testing.T) {
	v, root := newVolume(t, Options{})
	os.MkdirAll(filepath.Join(root, "Dir", "Sub"), 0o755)
	writeFile(t, filepath.Join(root, "Dir", "Sub", "foo.txt"), "x")
	h, act := open(t, v, OpenRequest{Path: `dir\SUB\FOO.TXT`, Disposition: OpenIf})
	if act != Opened || h.Path() != `Dir\Sub\foo.txt` {
		t.Fatalf("case-insensitive open: %v %q", act, h.Path())
	}
	closeH(t, h)
	_, _, err := v.Open(bg, OpenRequest{Path: `DIR\sub\Foo.Txt`, Disposition: Create})
	wantErr(t, "create case variant", err, ErrExists)
	h, act = open(t, v, OpenRequest{Path: `DIR\sub\Foo.Txt`, Disposition: OverwriteIf, Write: true})
	if act != Overwritten {
		t.Fatalf("overwrite case variant: %v", act)
	}
	closeH(t, h)
	ents, _ := os.ReadDir(filepath.Join(root, "Dir", "Sub"))
	if len(ents) != 1 || ents[0].Name() != "foo.txt" {
		t.Fatalf("second file created: %v", ents)
	}
	fi, err := v.Stat(bg, `DIR\SUB`)
	if err != nil || fi.Name != "Sub" || !fi.IsDir {
		t.Fatalf("Stat: %+v %v", fi, err)
	}
	// A case-insensitive name created after the listing was cached is
	// found (the cache follows our own creates).
	h, _ = open(t, v, OpenRequest{Path: `dir\sub\New.txt`, Disposition: Create})
	closeH(t, h)
	h, act = open(t, v, OpenRequest{Path: `dir\sub\NEW.TXT`, Disposition: OpenIf})
	if act != Opened || h.Path() != `Dir\Sub\New.txt` {
		t.Fatalf("after create: %v %q", act, h.Path())
	}
	closeH(t, h)
}

// TestLargeDirectoryNoRescan creates many files in one directory and
// checks that creating and looking them up case-insensitively scans the
// directory a bounded number of times, not once per file.
func TestLargeDirectoryNoRescan(t *testing.T) {
	v, _ := newVolume(t, Options{})
	const n = 3000
	names := make([]string, n)
	for i := range names {
		names[i] = "File" + itoa(100000+i)
		h, _ := open(t, v, OpenRequest{Path: names[i], Disposition: Create})
		closeH(t, h)
	}
	for i := 0; i < n; i += 7 {
		h, act := open(t, v, OpenRequest{Path: "FILE" + itoa(100000+i), Disposition: OpenIf})
		if act != Opened || h.Path() != names[i] {
			t.Fatalf("lookup %d: %v %q", i, act, h.Path())
		}
		closeH(t, h)
	}
	v.cache.mu.Lock()
	scans := v.cache.scans
	v.cache.mu.Unlock()
	if scans > 10 {
		t.Fatalf("%d directory scans for %d creates", scans, n)
	}
}

func TestConcurrentCreateCaseVariants(t *testing.T) {
	v, root := newVolume(t, Options{})
	variants := []string{"same", "SAME", "Same", "sAmE", "saME", "SAme", "same", "SAME"}
	ids := make([]uint64, len(variants))
	var wg sync.WaitGroup
	for i, name := range variants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, _, err := v.Open(bg, OpenRequest{Path: name, Disposition: OpenIf})
			if err != nil {
				t.Error(err)
				return
			}
			fi, _ := h.Stat(context.Background())
			ids[i] = fi.FileID
			h.Close()
		}()
	}
	wg.Wait()
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Fatalf("different objects: %v", ids)
		}
	}
	if ents, _ := os.ReadDir(root); len(ents) != 1 {
		t.Fatalf("%d entries created", len(ents))
	}
}

func TestReadOnlyVolume(t *testing.T) {
	base := t.TempDir()
	writeFile(t, filepath.Join(base, "f"), "data")
	v := openAt(t, base, Options{ReadOnly: true})
	for _, req := range []OpenRequest{
		{Path: "f", Disposition: Open, Write: true},
		{Path: "f", Disposition: Overwrite},
		{Path: "new", Disposition: Create},
		{Path: "new", Disposition: OpenIf},
		{Path: "f", Disposition: Open, DeleteOnClose: true},
	} {
		_, _, err := v.Open(bg, req)
		wantErr(t, req.Path, err, ErrReadOnly)
	}
	h, act := open(t, v, OpenRequest{Path: "f", Disposition: OpenIf})
	if act != Opened {
		t.Fatal(act)
	}
	wantErr(t, "delete", h.SetDeletePending(context.Background(), true), ErrReadOnly)
	wantErr(t, "rename", h.Rename(context.Background(), "g", false), ErrReadOnly)
	wantErr(t, "basic", h.SetBasicInfo(context.Background(), time.Time{}, time.Now(), time.Time{}, time.Time{}, 0), ErrReadOnly)
	buf := make([]byte, 4)
	if n, err := h.ReadAt(buf, 0); n != 4 || err != nil || string(buf) != "data" {
		t.Fatalf("read: %d %v", n, err)
	}
	closeH(t, h)
}

func TestStatFS(t *testing.T) {
	v, _ := newVolume(t, Options{Label: "vms"})
	fs, err := v.StatFS()
	wantErr(t, "statfs", err, nil)
	if fs.TotalBytes <= 0 || fs.AvailableBytes > fs.TotalBytes || fs.BlockSize != 4096 || fs.SectorSize != 512 || fs.Label != "vms" || fs.VolumeSerial == 0 || fs.CreationTime.IsZero() {
		t.Fatalf("statfs: %+v", fs)
	}
	v.Close()
	_, err = v.StatFS()
	wantErr(t, "closed", err, ErrClosed)
	_, _, err = v.Open(bg, OpenRequest{Path: "x", Disposition: OpenIf})
	wantErr(t, "closed open", err, ErrClosed)
	if _, err := OpenVolume(filepath.Join(t.TempDir(), "missing"), Options{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing root: %v", err)
	}
	f := filepath.Join(t.TempDir(), "file")
	writeFile(t, f, "")
	if _, err := OpenVolume(f, Options{}); !errors.Is(err, ErrNotDirectory) {
		t.Fatalf("file root: %v", err)
	}
}

// A read-only attribute set while a durable handle was open does not keep
// the handle from being reopened (restored or adopted), but still refuses
// a new writer.
func TestReopenIgnoresReadOnlyAttribute(t *testing.T) {
	v, _ := newVolume(t, Options{})
	h, _ := open(t, v, OpenRequest{Path: "ro", Disposition: Create, Attributes: AttrReadonly})
	closeH(t, h)
	_, _, err := v.Open(bg, OpenRequest{Path: "ro", Disposition: Open, Write: true})
	wantErr(t, "writer of a read-only file", err, ErrAccessDenied)
	h, _ = open(t, v, OpenRequest{Path: "ro", Disposition: Open, Write: true, Reopen: true})
	closeH(t, h)
}
