package fscc

import (
	"errors"
	"testing"
)

func TestDecodeBasicInfo(t *testing.T) {
	l := newLayout(40)
	l.u64(0, 1)
	l.u64(8, ^uint64(0))  // -1: stop updating
	l.u64(16, ^uint64(1)) // -2: resume
	l.u64(24, 0x01D0000000000004)
	l.u32(32, FileAttributeHidden)
	l.u32(36, 0xFFFFFFFF) // Reserved is ignored
	bi, err := DecodeBasicInfo(l)
	if err != nil {
		t.Fatal(err)
	}
	want := BasicInfo{1, -1, -2, 0x01D0000000000004, FileAttributeHidden}
	if bi != want {
		t.Fatalf("got %+v want %+v", bi, want)
	}
	if _, err := DecodeBasicInfo(l[:39]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("39 bytes: %v", err)
	}
	if _, err := DecodeBasicInfo(append(l, 1, 2, 3)); err != nil {
		t.Fatalf("longer buffer: %v", err)
	}
}

func renameBuf(first uint32, root uint64, nameLen uint32, name []byte) []byte {
	l := newLayout(20)
	l.u32(0, first)
	l.u64(8, root)
	l.u32(16, nameLen)
	return append(l, name...)
}

func TestDecodeRenameInfo(t *testing.T) {
	name := EncodeUTF16(nil, `dir\new.txt`)
	ri, err := DecodeRenameInfo(renameBuf(1, 0, uint32(len(name)), name), false)
	if err != nil || !ri.ReplaceIfExists || ri.FileName != `dir\new.txt` || ri.Flags != 0 {
		t.Fatalf("plain: %+v, %v", ri, err)
	}
	// The plain form's ReplaceIfExists is one byte; the reserved bytes
	// after it must not turn it on.
	ri, err = DecodeRenameInfo(renameBuf(0xFFFFFF00, 5, uint32(len(name)), name), false)
	if err != nil || ri.ReplaceIfExists || ri.RootDirectory != 5 {
		t.Fatalf("reserved bytes: %+v, %v", ri, err)
	}
	ri, err = DecodeRenameInfo(renameBuf(RenamePosixSemantics|RenameReplaceIfExists|RenameIgnoreReadonly, 0, uint32(len(name)), name), true)
	if err != nil || !ri.ReplaceIfExists || ri.Flags != 0x43 {
		t.Fatalf("ex: %+v, %v", ri, err)
	}
	// Extra trailing bytes (C struct padding) are fine.
	if _, err := DecodeRenameInfo(append(renameBuf(0, 0, uint32(len(name)), name), 0, 0), false); err != nil {
		t.Fatalf("padded: %v", err)
	}
	bad := map[string][]byte{
		"short header":        renameBuf(0, 0, 2, nil)[:19],
		"zero length":         renameBuf(0, 0, 0, name),
		"odd length":          renameBuf(0, 0, 3, name),
		"length beyond":       renameBuf(0, 0, uint32(len(name)+2), name),
		"huge length":         renameBuf(0, 0, 0xFFFFFFFE, name),
		"unpaired surrogate":  renameBuf(0, 0, 4, []byte{0x61, 0, 0x00, 0xDC}),
		"high surrogate tail": renameBuf(0, 0, 2, []byte{0x00, 0xD8}),
	}
	for what, b := range bad {
		if _, err := DecodeRenameInfo(b, false); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", what, err)
		}
	}
}

func TestDecodeDispositionInfo(t *testing.T) {
	cases := []struct {
		b    []byte
		ex   bool
		want DispositionInfo
	}{
		{[]byte{1}, false, DispositionInfo{true, DispositionDelete}},
		{[]byte{0xFF}, false, DispositionInfo{true, DispositionDelete}},
		{[]byte{0}, false, DispositionInfo{}},
		{[]byte{0x19, 0, 0, 0}, true, DispositionInfo{true, 0x19}},
		{[]byte{0x08, 0, 0, 0}, true, DispositionInfo{false, DispositionOnClose}},
	}
	for _, c := range cases {
		got, err := DecodeDispositionInfo(c.b, c.ex)
		if err != nil || got != c.want {
			t.Errorf("% x ex=%v: %+v, %v; want %+v", c.b, c.ex, got, err, c.want)
		}
	}
	if _, err := DecodeDispositionInfo(nil, false); !errors.Is(err, ErrMalformed) {
		t.Error("empty plain accepted")
	}
	if _, err := DecodeDispositionInfo([]byte{1, 0, 0}, true); !errors.Is(err, ErrMalformed) {
		t.Error("3-byte ex accepted")
	}
}

func TestDecodeScalars(t *testing.T) {
	b := []byte{0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 9}
	for name, f := range map[string]func([]byte) (int64, error){
		"eof": DecodeEndOfFile, "alloc": DecodeAllocation, "pos": DecodePosition, "vdl": DecodeValidDataLength,
	} {
		if v, err := f(b); err != nil || v != -2 {
			t.Errorf("%s: %d, %v", name, v, err)
		}
		if _, err := f(b[:7]); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: 7 bytes accepted", name)
		}
	}
	if v, err := DecodeMode([]byte{0x20, 0, 0, 0}); err != nil || v != FileSynchronousIONonalert {
		t.Errorf("mode: %#x, %v", v, err)
	}
	if _, err := DecodeMode([]byte{1, 2, 3}); !errors.Is(err, ErrMalformed) {
		t.Error("3-byte mode accepted")
	}
}
