package fscc

import (
	"errors"
	"strconv"
	"testing"
)

func TestFileInfoFixedClasses(t *testing.T) {
	fi, x := sampleInfo(), sampleExtra()
	attrs := uint32(FileAttributeArchive | FileAttributeHidden)

	basic := newLayout(40) // [MS-FSCC] 2.4.7
	basic.u64(0, fi.CreationTime)
	basic.u64(8, fi.LastAccessTime)
	basic.u64(16, fi.LastWriteTime)
	basic.u64(24, fi.ChangeTime)
	basic.u32(32, attrs)

	std := newLayout(24) // [MS-FSCC] 2.4.47
	std.u64(0, 0x20000)
	std.u64(8, 0x12345)
	std.u32(16, 3)
	std.u8(20, 1) // DeletePending
	std.u8(21, 0) // Directory

	netOpen := newLayout(56) // [MS-FSCC] 2.4.34
	netOpen.u64(0, fi.CreationTime)
	netOpen.u64(8, fi.LastAccessTime)
	netOpen.u64(16, fi.LastWriteTime)
	netOpen.u64(24, fi.ChangeTime)
	netOpen.u64(32, 0x20000)
	netOpen.u64(40, 0x12345)
	netOpen.u32(48, attrs)

	comp := newLayout(16) // [MS-FSCC] 2.4.9
	comp.u64(0, 0x12345)

	tag := newLayout(8) // [MS-FSCC] 2.4.6
	tag.u32(0, attrs)

	id := newLayout(24) // [MS-FSCC] 2.4.27
	id.u64(0, 0xCAFEBABE01020304)
	id.u64(8, 0x1122334455667788)

	u32 := func(v uint32) []byte { l := newLayout(4); l.u32(0, v); return l }
	u64 := func(v uint64) []byte { l := newLayout(8); l.u64(0, v); return l }

	cases := []struct {
		class uint8
		want  []byte
	}{
		{FileBasicInformation, basic},
		{FileStandardInformation, std},
		{FileInternalInformation, u64(0x1122334455667788)},
		{FileEaInformation, u32(0x44)},
		{FileAccessInformation, u32(0x0012019F)},
		{FilePositionInformation, u64(0x777)},
		{FileModeInformation, u32(FileSynchronousIONonalert)},
		{FileAlignmentInformation, u32(1)},
		{FileCompressionInformation, comp},
		{FileNetworkOpenInformation, netOpen},
		{FileAttributeTagInformation, tag},
		{FileIdInformation, id},
	}
	for _, c := range cases {
		got, err := AppendFileInfo([]byte{0xAA}, c.class, fi, x)
		if err != nil {
			t.Fatalf("class %d: %v", c.class, err)
		}
		wantBytes(t, "class "+strconv.Itoa(int(c.class)), got[1:], c.want)
		if got[0] != 0xAA {
			t.Fatalf("class %d overwrote the prefix", c.class)
		}
		// For fixed-size classes the minimum is the structure itself
		// (smbtorture smb2.getinfo.qfile_buffercheck).
		if min, ok := MinQuerySize(c.class); !ok || min != len(c.want) {
			t.Errorf("MinQuerySize(%d) = %d,%v want %d", c.class, min, ok, len(c.want))
		}
	}
}

func TestFileAllInformation(t *testing.T) {
	fi, x := sampleInfo(), sampleExtra()
	got, err := AppendFileInfo(nil, FileAllInformation, fi, x)
	if err != nil {
		t.Fatal(err)
	}
	name := `\dir\Report.docx`
	// [MS-FSCC] 2.4.2: Basic 0..40, Standard 40..64, Internal 64,
	// Ea 72, Access 76, Position 80, Mode 88, Alignment 92, Name 96.
	w := newLayout(100 + 2*len(name))
	w.u64(0, fi.CreationTime)
	w.u64(8, fi.LastAccessTime)
	w.u64(16, fi.LastWriteTime)
	w.u64(24, fi.ChangeTime)
	w.u32(32, FileAttributeArchive|FileAttributeHidden)
	w.u64(40, 0x20000)
	w.u64(48, 0x12345)
	w.u32(56, 3)
	w.u8(60, 1)
	w.u64(64, 0x1122334455667788)
	w.u32(72, 0x44)
	w.u32(76, 0x0012019F)
	w.u64(80, 0x777)
	w.u32(88, FileSynchronousIONonalert)
	w.u32(92, 1)
	w.u32(96, uint32(2*len(name)))
	w.str(100, name)
	wantBytes(t, "FileAllInformation", got, w)
	if min, _ := MinQuerySize(FileAllInformation); min != 104 {
		t.Fatalf("FileAllInformation minimum = %d, want 104", min)
	}
}

func TestFileNameClasses(t *testing.T) {
	fi, x := sampleInfo(), sampleExtra()
	for _, class := range []uint8{FileNameInformation, FileNormalizedNameInformation} {
		got, err := AppendFileInfo(nil, class, fi, x)
		if err != nil {
			t.Fatal(err)
		}
		w := newLayout(4 + 2*len(x.FullName)) // [MS-FSCC] 2.4.32
		w.u32(0, uint32(2*len(x.FullName)))
		w.str(4, x.FullName)
		wantBytes(t, "name", got, w)
	}
	got, err := AppendFileInfo(nil, FileAlternateNameInformation, fi, x)
	if err != nil {
		t.Fatal(err)
	}
	w := newLayout(4 + 24)
	w.u32(0, 24)
	w.str(4, "REPORT~1.DOC")
	wantBytes(t, "alternate name", got, w)

	fi.ShortName = ""
	if _, err := AppendFileInfo(nil, FileAlternateNameInformation, fi, x); !errors.Is(err, ErrNoShortName) {
		t.Fatalf("no short name: err = %v", err)
	}
	// A nil Extra is all zero: an empty name.
	got, err = AppendFileInfo(nil, FileNameInformation, fi, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantBytes(t, "nil extra", got, []byte{0, 0, 0, 0})
}

func TestFileStreamInformation(t *testing.T) {
	fi := sampleInfo()
	got, err := AppendFileInfo(nil, FileStreamInformation, fi, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := newLayout(24 + 14) // [MS-FSCC] 2.4.48: 24-byte header, "::$DATA"
	w.u32(0, 0)
	w.u32(4, 14)
	w.u64(8, 0x12345)
	w.u64(16, 0x20000)
	w.str(24, "::$DATA")
	wantBytes(t, "stream", got, w)

	fi.Directory = true
	got, err = AppendFileInfo(nil, FileStreamInformation, fi, nil)
	if err != nil || len(got) != 0 {
		t.Fatalf("directory streams = % x, %v; want none", got, err)
	}
}

func TestWireAttributes(t *testing.T) {
	cases := []struct {
		attrs uint32
		dir   bool
		want  uint32
	}{
		{0, false, FileAttributeNormal},
		{0, true, FileAttributeDirectory},
		{FileAttributeNormal, true, FileAttributeDirectory},
		{FileAttributeReadonly, false, FileAttributeReadonly},
		{FileAttributeHidden, true, FileAttributeHidden | FileAttributeDirectory},
	}
	for _, c := range cases {
		fi := &Info{Attributes: c.attrs, Directory: c.dir}
		got, _ := AppendFileInfo(nil, FileAttributeTagInformation, fi, nil)
		if a := le.Uint32(got); a != c.want {
			t.Errorf("attrs %#x dir %v -> %#x, want %#x", c.attrs, c.dir, a, c.want)
		}
	}
	// The reparse tag is reported only for reparse points.
	fi := &Info{Attributes: FileAttributeReparsePoint, ReparseTag: IOReparseTagSymlink}
	got, _ := AppendFileInfo(nil, FileAttributeTagInformation, fi, nil)
	if le.Uint32(got[4:]) != IOReparseTagSymlink {
		t.Errorf("reparse tag = %#x", le.Uint32(got[4:]))
	}
	fi.Attributes = 0
	got, _ = AppendFileInfo(nil, FileAttributeTagInformation, fi, nil)
	if le.Uint32(got[4:]) != 0 {
		t.Errorf("tag reported for a non-reparse file")
	}
}

func TestFileInfoClassErrors(t *testing.T) {
	fi := sampleInfo()
	notSupported := []uint8{
		FileDirectoryInformation, FileRenameInformation, FileLinkInformation,
		FileDispositionInformation, FileFullEaInformation, FileAllocationInformation,
		FileEndOfFileInformation, FilePipeInformation, FileQuotaInformation,
		FileValidDataLengthInformation, FileShortNameInformation, FileHardLinkInformation,
		FileDispositionInformationEx, FileRenameInformationEx, FileIdBothDirectoryInformation,
	}
	for _, c := range notSupported {
		b, err := AppendFileInfo([]byte{1}, c, fi, nil)
		if !errors.Is(err, ErrNotSupported) {
			t.Errorf("class %d: err = %v, want ErrNotSupported", c, err)
		}
		if len(b) != 1 {
			t.Errorf("class %d appended on error", c)
		}
		if _, ok := MinQuerySize(c); !ok {
			t.Errorf("class %d must be known to MinQuerySize", c)
		}
	}
	for _, c := range []uint8{0, 30, 41, 47, 63, 77, 82, 200, 255} {
		if _, err := AppendFileInfo(nil, c, fi, nil); !errors.Is(err, ErrInvalidClass) {
			t.Errorf("class %d: err = %v, want ErrInvalidClass", c, err)
		}
		if _, ok := MinQuerySize(c); ok {
			t.Errorf("class %d must be unknown", c)
		}
	}
}

func TestMinQuerySizeTable(t *testing.T) {
	// The minimums Windows enforces, from smbtorture
	// smb2.getinfo.qfile_buffercheck and qfs_buffercheck.
	file := map[uint8]int{4: 40, 5: 24, 6: 8, 7: 4, 8: 4, 16: 4, 17: 4, 18: 104, 21: 8, 22: 32, 28: 16, 34: 56, 35: 8}
	for c, want := range file {
		if got, ok := MinQuerySize(c); !ok || got != want {
			t.Errorf("MinQuerySize(%d) = %d,%v want %d", c, got, ok, want)
		}
	}
	fs := map[uint8]int{1: 24, 3: 24, 4: 8, 5: 16, 6: 48, 7: 32, 11: 28}
	for c, want := range fs {
		if got, ok := MinFSQuerySize(c); !ok || got != want {
			t.Errorf("MinFSQuerySize(%d) = %d,%v want %d", c, got, ok, want)
		}
	}
	if _, ok := MinFSQuerySize(12); ok {
		t.Error("FS class 12 must be unknown")
	}
}

func TestFileClassUse(t *testing.T) {
	cases := []struct {
		class uint8
		want  ClassUse
	}{
		{FileBasicInformation, UseQuery | UseSet},
		{FileRenameInformation, UseSet},
		{FileStandardInformation, UseQuery},
		{FileHardLinkInformation, UseLocal},
	}
	for _, c := range cases {
		if got, ok := FileClassUse(c.class); !ok || got != c.want {
			t.Errorf("FileClassUse(%d) = %v,%v want %v", c.class, got, ok, c.want)
		}
	}
	if _, ok := FileClassUse(30); ok {
		t.Error("class 30 is not defined")
	}
	if n, ok := MinSetSize(FileRenameInformation); !ok || n != 20 {
		t.Errorf("MinSetSize(rename) = %d,%v", n, ok)
	}
	if _, ok := MinSetSize(FileStandardInformation); ok {
		t.Error("FileStandardInformation is not settable")
	}
}
