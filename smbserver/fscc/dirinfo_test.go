package fscc

import (
	"bytes"
	"errors"
	"strconv"
	"testing"
)

// expectedEntry builds one entry from offsets typed from the [MS-FSCC]
// 2.4 sections: ea, tag, short, id8, id16 and name are the offsets of
// EaSize, ReparsePointTag, ShortNameLength, the 8-byte and 16-byte FileId
// and FileName (-1: absent).
func expectedEntry(fi *Info, index uint32, common bool, nameLenOff, ea, tag, short, id8, id16, name int) layout {
	n := 2 * len(fi.Name)
	l := newLayout(name + n)
	l.u32(4, index)
	if common {
		l.u64(8, fi.CreationTime)
		l.u64(16, fi.LastAccessTime)
		l.u64(24, fi.LastWriteTime)
		l.u64(32, fi.ChangeTime)
		l.u64(40, uint64(fi.EndOfFile))
		l.u64(48, uint64(fi.AllocationSize))
		l.u32(56, wireAttributes(fi))
	}
	l.u32(nameLenOff, uint32(n))
	if ea >= 0 {
		l.u32(ea, fi.EASize)
	}
	if tag >= 0 {
		l.u32(tag, 0)
	}
	if short >= 0 {
		l.u8(short, uint8(2*len(fi.ShortName)))
		l.str(short+2, fi.ShortName)
	}
	if id8 >= 0 {
		l.u64(id8, fi.FileID)
	}
	if id16 >= 0 {
		l.u64(id16, fi.FileID)
	}
	l.str(name, fi.Name)
	return l
}

func TestDirEntryLayouts(t *testing.T) {
	fi := sampleInfo()
	cases := []struct {
		class                                    uint8
		common                                   bool
		nameLen, ea, tag, short, id8, id16, name int
	}{
		{FileDirectoryInformation, true, 60, -1, -1, -1, -1, -1, 64},         // 2.4.10
		{FileFullDirectoryInformation, true, 60, 64, -1, -1, -1, -1, 68},     // 2.4.14
		{FileBothDirectoryInformation, true, 60, 64, -1, 68, -1, -1, 94},     // 2.4.8
		{FileNamesInformation, false, 8, -1, -1, -1, -1, -1, 12},             // 2.4.33
		{FileIdBothDirectoryInformation, true, 60, 64, -1, 68, 96, -1, 104},  // 2.4.21
		{FileIdFullDirectoryInformation, true, 60, 64, -1, -1, 72, -1, 80},   // 2.4.23
		{FileIdExtdDirectoryInformation, true, 60, 64, 68, -1, -1, 72, 88},   // 2.4.22
		{FileId64ExtdDirectoryInformation, true, 60, 64, 68, -1, 72, -1, 80}, // 2.4.18
		{FileId64ExtdBothDirectoryInformation, true, 60, 64, 68, 80, 72, -1, 106},
		{FileIdAllExtdDirectoryInformation, true, 60, 64, 68, -1, 72, 80, 96},
		{FileIdAllExtdBothDirectoryInformation, true, 60, 64, 68, 96, 72, 80, 122},
	}
	for _, c := range cases {
		w, err := NewDirWriter(c.class, 4096, nil)
		if err != nil {
			t.Fatalf("class %d: %v", c.class, err)
		}
		if !w.Add(fi, 7) {
			t.Fatalf("class %d: entry did not fit", c.class)
		}
		want := expectedEntry(fi, 7, c.common, c.nameLen, c.ea, c.tag, c.short, c.id8, c.id16, c.name)
		wantBytes(t, "class "+strconv.Itoa(int(c.class)), w.Bytes(), want)
		if min, ok := MinQuerySize(c.class); !ok || min != c.name {
			t.Errorf("class %d: MinQuerySize = %d,%v want %d", c.class, min, ok, c.name)
		}
	}
}

func TestDirEntryShortNameAndReparse(t *testing.T) {
	fi := sampleInfo()
	fi.Attributes |= FileAttributeReparsePoint
	fi.ReparseTag = IOReparseTagSymlink
	// Without a ReparsePointTag field the tag goes in EaSize.
	w, _ := NewDirWriter(FileBothDirectoryInformation, 4096, nil)
	w.Add(fi, 0)
	if got := le.Uint32(w.Bytes()[64:]); got != IOReparseTagSymlink {
		t.Errorf("both-dir EaSize = %#x, want reparse tag", got)
	}
	w, _ = NewDirWriter(FileIdExtdDirectoryInformation, 4096, nil)
	w.Add(fi, 0)
	b := w.Bytes()
	if le.Uint32(b[64:]) != fi.EASize || le.Uint32(b[68:]) != IOReparseTagSymlink {
		t.Errorf("extd EaSize %#x tag %#x", le.Uint32(b[64:]), le.Uint32(b[68:]))
	}
	// A short name longer than 12 characters is not an 8.3 name and is
	// left out rather than cut.
	fi.ShortName = "THIRTEENCHARS"
	w, _ = NewDirWriter(FileBothDirectoryInformation, 4096, nil)
	w.Add(fi, 0)
	b = w.Bytes()
	if b[68] != 0 || !bytes.Equal(b[70:94], make([]byte, 24)) {
		t.Errorf("over-long short name written: % x", b[68:94])
	}
}

func TestDirWriterChaining(t *testing.T) {
	names := []string{".", "..", "a", "longer-name.txt", "é"}
	w, err := NewDirWriter(FileDirectoryInformation, 65536, []byte("HDR"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !w.Add(&Info{Name: n}, 0) {
			t.Fatalf("%q did not fit", n)
		}
	}
	if w.Len() != len(names) {
		t.Fatalf("Len = %d", w.Len())
	}
	b := w.Bytes()
	if string(b[:3]) != "HDR" {
		t.Fatal("prefix lost")
	}
	b = b[3:]
	off := 0
	for i, n := range names {
		if off%8 != 0 {
			t.Fatalf("entry %d at %d not 8-aligned", i, off)
		}
		e := b[off:]
		nl := int(le.Uint32(e[60:]))
		name, err := DecodeUTF16(e[64 : 64+nl])
		if err != nil || name != n {
			t.Fatalf("entry %d name %q, %v", i, name, err)
		}
		next := int(le.Uint32(e))
		if i == len(names)-1 {
			if next != 0 {
				t.Fatalf("last NextEntryOffset = %d", next)
			}
			// No padding after the last entry.
			if off+64+nl != len(b) {
				t.Fatalf("buffer ends at %d, last entry at %d", len(b), off+64+nl)
			}
			break
		}
		if want := (64 + nl + 7) &^ 7; next != want {
			t.Fatalf("entry %d NextEntryOffset = %d, want %d", i, next, want)
		}
		for _, p := range e[64+nl : next] {
			if p != 0 {
				t.Fatalf("entry %d padding not zero", i)
			}
		}
		off += next
	}
}

func TestDirWriterLimit(t *testing.T) {
	// Names entries: 12 + 2*len(name). "abc" = 18 bytes, padded to 24.
	// Two entries need 24+18 = 42 bytes.
	w, _ := NewDirWriter(FileNamesInformation, 42, nil)
	if !w.Add(&Info{Name: "abc"}, 0) || !w.Add(&Info{Name: "def"}, 0) {
		t.Fatal("two entries must fit in 42 bytes")
	}
	before := append([]byte(nil), w.Bytes()...)
	if w.Add(&Info{Name: "g"}, 0) {
		t.Fatal("third entry must not fit")
	}
	if !bytes.Equal(before, w.Bytes()) || w.Len() != 2 {
		t.Fatal("a rejected entry changed the buffer")
	}
	if le.Uint32(w.Bytes()[24:]) != 0 || le.Uint32(w.Bytes()) != 24 {
		t.Fatal("chain wrong after rejection")
	}

	w, _ = NewDirWriter(FileNamesInformation, 41, nil)
	w.Add(&Info{Name: "abc"}, 0)
	if w.Add(&Info{Name: "def"}, 0) {
		t.Fatal("second entry must not fit in 41 bytes")
	}
	// Not even the first entry fits: the caller answers
	// STATUS_INFO_LENGTH_MISMATCH.
	w, _ = NewDirWriter(FileBothDirectoryInformation, 100, nil)
	if w.Add(&Info{Name: "abcd"}, 0) || w.Len() != 0 || len(w.Bytes()) != 0 {
		t.Fatal("oversized first entry accepted")
	}
	w, _ = NewDirWriter(FileBothDirectoryInformation, -1, nil)
	if w.Add(&Info{}, 0) {
		t.Fatal("negative limit accepted an entry")
	}
	if got := w.EntrySize(&Info{Name: "ab"}); got != 98 {
		t.Fatalf("EntrySize = %d", got)
	}
}

func TestNewDirWriterClasses(t *testing.T) {
	for _, c := range []uint8{0, FileBasicInformation, FileIdGlobalTxDirectoryInformation, 77, 82, 255} {
		if _, err := NewDirWriter(c, 100, nil); !errors.Is(err, ErrInvalidClass) {
			t.Errorf("class %d: %v, want ErrInvalidClass", c, err)
		}
	}
}

func TestAppendDirEntryMatchesWriter(t *testing.T) {
	infos := []*Info{{Name: "one"}, {Name: "two.txt", ShortName: "TWO.TXT"}, {Name: "three"}}
	w, _ := NewDirWriter(FileIdBothDirectoryInformation, 1<<16, nil)
	var b []byte
	prev := -1
	for i, fi := range infos {
		w.Add(fi, uint32(i))
		var start int
		var err error
		b, start, err = AppendDirEntry(b, FileIdBothDirectoryInformation, fi, uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		if start%8 != 0 {
			t.Fatalf("entry %d at %d", i, start)
		}
		if prev >= 0 {
			LinkDirEntry(b, prev, start)
		}
		prev = start
	}
	wantBytes(t, "AppendDirEntry chain", b, w.Bytes())
	if _, _, err := AppendDirEntry(nil, FileBasicInformation, infos[0], 0); !errors.Is(err, ErrInvalidClass) {
		t.Fatalf("basic: %v", err)
	}
}
