package csv

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sofs.io/sofs/csv/openstate"
	"testing"
)

func streamNames(t *testing.T, h *Handle) []string {
	t.Helper()
	ss, err := h.Streams()
	if err != nil {
		t.Fatalf("Streams: %v", err)
	}
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

func TestStreamCreateWriteReadList(t *testing.T) {
	v, root := newVolume(t, Options{})
	// Creating a stream of a missing file creates the file.
	s, act := open(t, v, OpenRequest{Path: `f.txt:One`, Disposition: Create, Write: true})
	if act != Created || !s.IsStream() || s.StreamName() != "One" {
		t.Fatalf("create stream: action %v stream %v %q", act, s.IsStream(), s.StreamName())
	}
	if !exists(filepath.Join(root, "f.txt")) {
		t.Fatal("base file not created")
	}
	if _, err := s.WriteAt([]byte("stream data"), 0); err != nil {
		t.Fatal(err)
	}
	closeH(t, s)

	// The base stays empty; the stream keeps its data.
	b, _ := open(t, v, OpenRequest{Path: "f.txt", Disposition: Open})
	fi, err := b.Stat(context.Background())
	if err != nil || fi.EndOfFile != 0 {
		t.Fatalf("base size %d, %v", fi.EndOfFile, err)
	}
	if got := streamNames(t, b); !slices.Equal(got, []string{"", "One"}) {
		t.Fatalf("streams %q", got)
	}
	closeH(t, b)

	// Case-insensitive, with and without the type.
	for _, p := range []string{`f.txt:one`, `f.txt:ONE:$DATA`, `f.txt:One:$data`} {
		s, act := open(t, v, OpenRequest{Path: p, Disposition: Open})
		if act != Opened {
			t.Fatalf("%s: action %v", p, act)
		}
		buf := make([]byte, 11)
		if n, err := s.ReadAt(buf, 0); (err != nil && err != io.EOF) || string(buf[:n]) != "stream data" {
			t.Fatalf("%s: read %q, %v", p, buf[:n], err)
		}
		fi, err := s.Stat(context.Background())
		if err != nil || fi.EndOfFile != 11 {
			t.Fatalf("%s: stream size %d, %v", p, fi.EndOfFile, err)
		}
		base, _ := os.Stat(filepath.Join(root, "f.txt"))
		bfi, _ := v.Stat(context.Background(), "f.txt")
		if fi.FileID != bfi.FileID || fi.CreationTime != bfi.CreationTime || base == nil {
			t.Fatalf("%s: stream reports FileId %d, base %d", p, fi.FileID, bfi.FileID)
		}
		closeH(t, s)
	}
}

func TestStreamNames(t *testing.T) {
	v, _ := newVolume(t, Options{})
	h, _ := open(t, v, OpenRequest{Path: "f", Disposition: Create})
	defer closeH(t, h)
	for _, tc := range []struct {
		path string
		want error
	}{
		{`f:`, ErrInvalidName},
		{`f:s:`, ErrInvalidName},
		{`f:s:$FOO`, ErrInvalidName},
		{`f:s:?D*a`, ErrInvalidName},
		{`f:a/b`, ErrInvalidName},
		{`f:a:b:$DATA`, ErrInvalidName},
		{`d*:s`, ErrInvalidName},
		{`f:missing`, ErrNotFound},
		{"f:?Stream*\x05\n", ErrNotFound}, // wildcards and controls are valid in stream names
	} {
		_, _, err := v.Open(context.Background(), OpenRequest{Path: tc.path, Disposition: Open})
		wantErr(t, tc.path, err, tc.want)
	}
	_, _, err := v.Open(context.Background(), OpenRequest{Path: `f:s`, Disposition: Create, Directory: true})
	wantErr(t, "stream as directory", err, ErrNotDirectory)
}

func TestStreamOnDirectory(t *testing.T) {
	v, _ := newVolume(t, Options{})
	d, _ := open(t, v, OpenRequest{Path: "d", Disposition: Create, Directory: true})
	defer closeH(t, d)
	_, _, err := v.Open(context.Background(), OpenRequest{Path: `d::$DATA`, Disposition: Open})
	wantErr(t, "dir::$DATA", err, ErrIsDirectory)
	_, _, err = v.Open(context.Background(), OpenRequest{Path: `d::$DATA`, Disposition: Open, Directory: true})
	wantErr(t, "dir::$DATA as directory", err, ErrNotDirectory)
	s, _ := open(t, v, OpenRequest{Path: `d:meta`, Disposition: Create, Write: true})
	closeH(t, s)
	if got := streamNames(t, d); !slices.Equal(got, []string{"meta"}) {
		t.Fatalf("directory streams %q (a directory has no default stream)", got)
	}
}

func TestStreamShareModesAndDelete(t *testing.T) {
	v, root := newVolume(t, Options{})
	ctx := context.Background()
	const accWriteData = 0x2 // FILE_WRITE_DATA
	e := func(id uint64, access, share uint32) *OpenEntry {
		return &OpenEntry{ID: id, Access: access, ShareAccess: share}
	}
	s1, _ := open(t, v, OpenRequest{Path: `f:one`, Disposition: Create, Write: true, Entry: e(1, accWriteData, 0)})
	// Another stream is another object.
	s2, _ := open(t, v, OpenRequest{Path: `f:two`, Disposition: Create, Write: true, Entry: e(2, accWriteData, 0)})
	closeH(t, s2)
	_, _, err := v.Open(ctx, OpenRequest{Path: `f:one`, Disposition: Open, Entry: e(3, accWriteData, 0)})
	wantErr(t, "same stream", err, ErrSharingViolation)
	// A stream open without FILE_SHARE_DELETE keeps the file from being
	// opened for DELETE.
	_, _, err = v.Open(ctx, OpenRequest{Path: `f`, Disposition: Open, Entry: e(4, openstate.AccessDelete, 7)})
	wantErr(t, "base for delete", err, ErrSharingViolation)
	closeH(t, s1)

	s1, _ = open(t, v, OpenRequest{Path: `f:one`, Disposition: Open, Write: true, Entry: e(5, accWriteData, ShareDelete)})
	if _, err := s1.WriteAt([]byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	b, _ := open(t, v, OpenRequest{Path: `f`, Disposition: Open, DeleteOnClose: true, Entry: e(6, openstate.AccessDelete, 7)})
	closeH(t, b)
	// Delete pending until the stream closes: name-based access fails.
	_, _, err = v.Open(ctx, OpenRequest{Path: `f:one`, Disposition: OpenIf})
	wantErr(t, "stream of deleted file", err, ErrDeletePending)
	_, _, err = v.Open(ctx, OpenRequest{Path: `f`, Disposition: OpenIf})
	wantErr(t, "deleted file", err, ErrDeletePending)
	if _, err := s1.ReadAt(make([]byte, 1), 0); err != nil {
		t.Fatalf("read through the open stream: %v", err)
	}
	fi, _ := s1.Stat(ctx)
	closeH(t, s1)
	if exists(filepath.Join(root, "f")) {
		t.Fatal("file not removed after its last stream closed")
	}
	if exists(filepath.Join(root, streamDirRel(fi.FileID))) {
		t.Fatal("stream directory left behind")
	}
}

func TestStreamDeleteOnlyStream(t *testing.T) {
	v, root := newVolume(t, Options{})
	s, _ := open(t, v, OpenRequest{Path: `f:one`, Disposition: Create, DeleteOnClose: true})
	closeH(t, s)
	if !exists(filepath.Join(root, "f")) {
		t.Fatal("deleting a stream deleted the file")
	}
	b, _ := open(t, v, OpenRequest{Path: `f`, Disposition: Open})
	defer closeH(t, b)
	if got := streamNames(t, b); !slices.Equal(got, []string{""}) {
		t.Fatalf("streams after delete %q", got)
	}
}

func TestStreamOverwriteBaseDropsStreams(t *testing.T) {
	v, _ := newVolume(t, Options{})
	s, _ := open(t, v, OpenRequest{Path: `f:one`, Disposition: Create, Write: true})
	s.WriteAt([]byte("abc"), 0)
	closeH(t, s)
	// Overwriting the stream keeps the other streams and the base.
	s, act := open(t, v, OpenRequest{Path: `f:one`, Disposition: OverwriteIf, Write: true})
	if act != Overwritten {
		t.Fatalf("action %v", act)
	}
	if fi, _ := s.Stat(context.Background()); fi.EndOfFile != 0 {
		t.Fatalf("overwritten stream has %d bytes", fi.EndOfFile)
	}
	closeH(t, s)
	b, _ := open(t, v, OpenRequest{Path: `f`, Disposition: Overwrite, Write: true})
	defer closeH(t, b)
	if got := streamNames(t, b); !slices.Equal(got, []string{""}) {
		t.Fatalf("streams after overwrite %q", got)
	}
}

func TestStreamRename(t *testing.T) {
	v, _ := newVolume(t, Options{})
	for _, n := range []string{"a", "b"} {
		s, _ := open(t, v, OpenRequest{Path: `f:` + n, Disposition: Create, Write: true})
		closeH(t, s)
	}
	s, _ := open(t, v, OpenRequest{Path: `f:a`, Disposition: Open, Write: true})
	defer closeH(t, s)
	s.WriteAt([]byte("data"), 0)
	wantErr(t, "onto existing", s.RenameStream(context.Background(), "B:$DATA", false), ErrExists)
	if err := s.RenameStream(context.Background(), "B", true); err != nil { // b is empty: replaced
		t.Fatal(err)
	}
	if got := streamNames(t, s); !slices.Equal(got, []string{"", "B"}) {
		t.Fatalf("streams %q", got)
	}
	if s.StreamName() != "B" {
		t.Fatalf("handle's stream name %q", s.StreamName())
	}
	c, _ := open(t, v, OpenRequest{Path: `f:c`, Disposition: Create, Write: true})
	c.WriteAt([]byte("x"), 0)
	closeH(t, c)
	wantErr(t, "onto non-empty", s.RenameStream(context.Background(), "c", true), ErrInvalidParameter)
	// Onto the (empty) default stream: the data moves into the file.
	if err := s.RenameStream(context.Background(), ":$DATA", false); err != nil {
		t.Fatal(err)
	}
	b, _ := open(t, v, OpenRequest{Path: `f`, Disposition: Open})
	defer closeH(t, b)
	buf := make([]byte, 4)
	if _, err := b.ReadAt(buf, 0); err != nil || string(buf) != "data" {
		t.Fatalf("default stream %q, %v", buf, err)
	}
}

func TestStreamsFollowBaseRenameAndBlockIt(t *testing.T) {
	v, _ := newVolume(t, Options{})
	b, _ := open(t, v, OpenRequest{Path: `f`, Disposition: Create})
	s, _ := open(t, v, OpenRequest{Path: `f:one`, Disposition: Create})
	wantErr(t, "rename with open stream", b.Rename(context.Background(), "g", false), ErrAccessDenied)
	closeH(t, s)
	if err := b.Rename(context.Background(), "g", false); err != nil {
		t.Fatal(err)
	}
	closeH(t, b)
	s, _ = open(t, v, OpenRequest{Path: `g:ONE`, Disposition: Open})
	if s.Path() != "g" {
		t.Fatalf("stream path %q", s.Path())
	}
	closeH(t, s)
}

func TestStaleStreamDirDiscarded(t *testing.T) {
	v, root := newVolume(t, Options{})
	s, _ := open(t, v, OpenRequest{Path: `f:one`, Disposition: Create})
	fi, _ := s.Stat(context.Background())
	closeH(t, s)
	// Deleted behind sofs's back: the stream directory stays, and a new
	// file with the same inode number must not inherit it.
	if err := os.Remove(filepath.Join(root, "f")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, streamDirRel(fi.FileID))
	if err := os.WriteFile(filepath.Join(root, "g"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	gi, _ := v.Stat(context.Background(), "g")
	if gi.FileID != fi.FileID {
		// The file system did not reuse the inode; emulate it by
		// moving the stale directory under the new FileId.
		if err := os.Rename(dir, filepath.Join(root, streamDirRel(gi.FileID))); err != nil {
			t.Fatal(err)
		}
	}
	g, _ := open(t, v, OpenRequest{Path: "g", Disposition: Open})
	defer closeH(t, g)
	if got := streamNames(t, g); !slices.Equal(got, []string{""}) {
		t.Fatalf("new file shows stale streams %q", got)
	}
}

func TestEAs(t *testing.T) {
	v, _ := newVolume(t, Options{})
	h, _ := open(t, v, OpenRequest{Path: "f", Disposition: Create, Write: true,
		EAs: []EA{{Name: "user.One", Value: []byte("1")}}})
	defer closeH(t, h)
	eas, err := h.EAs()
	if err != nil || len(eas) != 1 || eas[0].Name != "USER.ONE" || string(eas[0].Value) != "1" {
		t.Fatalf("EAs after create: %+v, %v", eas, err)
	}
	fi, _ := h.Stat(context.Background())
	if fi.EASize != uint32(EAListSize(eas)) || fi.EASize == 0 {
		t.Fatalf("EASize %d, want %d", fi.EASize, EAListSize(eas))
	}
	if err := h.SetEAs([]EA{{Name: "USER.one", Value: []byte("one")}, {Name: "second", Value: []byte("2"), NeedEA: true}}); err != nil {
		t.Fatal(err)
	}
	eas, _ = h.EAs()
	if len(eas) != 2 || string(eas[0].Value) != "one" || eas[1].Name != "SECOND" || !eas[1].NeedEA {
		t.Fatalf("EAs after set: %+v", eas)
	}
	// Empty values delete; deleting an absent EA is no error.
	if err := h.SetEAs([]EA{{Name: "user.one"}, {Name: "absent"}}); err != nil {
		t.Fatal(err)
	}
	eas, _ = h.EAs()
	if len(eas) != 1 || eas[0].Name != "SECOND" {
		t.Fatalf("EAs after delete: %+v", eas)
	}
	// Too large: nothing changes.
	big := bytes.Repeat([]byte("x"), 0xFFFF)
	err = h.SetEAs([]EA{{Name: "A", Value: big}, {Name: "B", Value: big}})
	if !errors.Is(err, ErrEATooLarge) {
		t.Fatalf("oversized list: %v", err)
	}
	if eas, _ = h.EAs(); len(eas) != 1 {
		t.Fatalf("failed set changed the list: %+v", eas)
	}
	if err := h.SetEAs([]EA{{Name: "second"}}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := h.Stat(context.Background()); fi.EASize != 0 {
		t.Fatalf("EASize %d after deleting all", fi.EASize)
	}
	// A stream handle sees and changes its file's EAs.
	if err := h.SetEAs([]EA{{Name: "x", Value: []byte("y")}}); err != nil {
		t.Fatal(err)
	}
	s, _ := open(t, v, OpenRequest{Path: "f:s", Disposition: Create})
	defer closeH(t, s)
	if eas, _ := s.EAs(); len(eas) != 1 || eas[0].Name != "X" {
		t.Fatalf("stream EAs %+v", eas)
	}
}

func FuzzDecodeStoredEAs(f *testing.F) {
	f.Add(encodeEAs([]EA{{Name: "A", Value: []byte("b")}, {Name: "LONGER", Value: nil, NeedEA: true}}))
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 0, 'A', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		eas, err := decodeEAs(b)
		if err != nil {
			return
		}
		if len(eas) > len(b)/9+1 {
			t.Fatalf("%d entries from %d bytes", len(eas), len(b))
		}
		// What decodes re-encodes to a list that decodes the same.
		again, err := decodeEAs(encodeEAs(eas))
		if err != nil || len(again) != len(eas) {
			t.Fatalf("re-decode: %d entries, %v", len(again), err)
		}
	})
}

func TestStreamNotify(t *testing.T) {
	v, _ := newVolume(t, Options{})
	create(t, v, "d", true)
	_, w := watchDir(t, v, "d", NotifyStreamName|NotifyStreamSize|NotifyStreamWrite|NotifyFileName|NotifySize, false, 4096)
	s, _ := open(t, v, OpenRequest{Path: `d\f:s1`, Disposition: Create, Write: true})
	// The file is created along with its first stream.
	wantChanges(t, w.Wait(), Change{Action: ActionAdded, Name: "f"}, Change{Action: ActionAddedStream, Name: "f:s1"})
	if _, err := s.WriteAt([]byte("abc"), 0); err != nil {
		t.Fatal(err)
	}
	wantChanges(t, w.Wait(), Change{Action: ActionModifiedStream, Name: "f:s1"})
	if err := s.RenameStream(context.Background(), "s2", false); err != nil {
		t.Fatal(err)
	}
	wantChanges(t, w.Wait(), Change{Action: ActionRemovedStream, Name: "f:s1"}, Change{Action: ActionAddedStream, Name: "f:s2"})
	if err := s.SetDeletePending(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	closeH(t, s)
	wantChanges(t, w.Wait(), Change{Action: ActionRemovedStream, Name: "f:s2"})
}
