package csv

import (
	"bytes"
	"context"
	"testing"
)

func TestExtents(t *testing.T) {
	v, _ := newVolume(t, Options{})
	a, _ := open(t, v, OpenRequest{Path: "a", Disposition: Create, Write: true})
	defer closeH(t, a)
	b, _ := open(t, v, OpenRequest{Path: "b", Disposition: Create, Write: true})
	defer closeH(t, b)
	data := bytes.Repeat([]byte("0123456789abcdef"), 8192) // 128 KiB
	if _, err := a.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.WriteAt(data, 1<<20); err != nil {
		t.Fatal(err)
	}
	size := int64(1<<20 + len(data))

	rs, more, err := a.AllocatedRanges(0, 1<<40, 10)
	if err != nil || more || len(rs) != 1 || rs[0] != (Range{0, size}) {
		t.Fatalf("not sparse: %+v %v %v", rs, more, err)
	}
	wantErr(t, "sparse", a.SetSparse(context.Background(), true), nil)
	rs, _, _ = a.AllocatedRanges(0, 1<<40, 10)
	if len(rs) != 2 || rs[0] != (Range{0, int64(len(data))}) || rs[1] != (Range{1 << 20, int64(len(data))}) {
		t.Fatalf("sparse: %+v", rs)
	}
	rs, more, _ = a.AllocatedRanges(4096, 1<<20, 1)
	if len(rs) != 1 || !more || rs[0] != (Range{4096, int64(len(data)) - 4096}) {
		t.Fatalf("clipped, one entry: %+v %v", rs, more)
	}

	wantErr(t, "zero", a.ZeroRange(0, 64<<10), nil)
	got := make([]byte, 64<<10)
	a.ReadAt(got, 0)
	if !bytes.Equal(got, make([]byte, 64<<10)) {
		t.Fatal("zeroed range not zero")
	}
	wantErr(t, "zero past eof", a.ZeroRange(size, size+100), nil)
	if fi, _ := a.Stat(context.Background()); fi.EndOfFile != size {
		t.Fatalf("zeroing changed the size to %d", fi.EndOfFile)
	}
	wantErr(t, "zero backwards", a.ZeroRange(10, 5), ErrInvalidParameter)

	n, err := b.CopyRange(a, 1<<20, 100, int64(len(data)))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("copy %d %v", n, err)
	}
	got = make([]byte, len(data))
	b.ReadAt(got, 100)
	if !bytes.Equal(got, data) {
		t.Fatal("copied data differs")
	}
	n, err = b.CopyRange(a, size-10, 0, 100)
	if err != nil || n != 10 {
		t.Fatalf("copy past the end: %d %v", n, err)
	}

	if k, err := a.Trim([]Range{{1 << 20, 4096}, {1 << 40, 1}}); err != nil || k != 2 {
		t.Fatalf("trim %d %v", k, err)
	}
	if _, err := a.Trim([]Range{{-1, 1}}); err == nil {
		t.Fatal("negative trim accepted")
	}

	err = b.CloneRange(a, 0, 0, 4096)
	if v.SupportsReflink() {
		wantErr(t, "clone", err, nil)
	} else {
		wantErr(t, "clone", err, ErrCloneUnsupported)
	}
}

func TestObjectIDPersists(t *testing.T) {
	v, root := newVolume(t, Options{})
	h, _ := open(t, v, OpenRequest{Path: "f", Disposition: Create, Write: true})
	if _, ok, err := h.FileObjectID(); ok || err != nil {
		t.Fatalf("fresh file has an id: %v %v", ok, err)
	}
	id, err := h.CreateFileObjectID()
	if err != nil {
		t.Fatal(err)
	}
	closeH(t, h)
	v.Close()
	v = openAt(t, root, Options{})
	h, _ = open(t, v, OpenRequest{Path: "f", Disposition: Open})
	defer closeH(t, h)
	got, ok, err := h.FileObjectID()
	if err != nil || (v.xattrs && (!ok || got != id)) {
		t.Fatalf("id after reopen %x %v %v, want %x", got, ok, err, id)
	}
	if again, _ := h.CreateFileObjectID(); again != id {
		t.Fatalf("CREATE_OR_GET made a new id %x, had %x", again, id)
	}
}
