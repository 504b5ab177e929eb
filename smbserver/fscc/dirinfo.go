package fscc

import "fmt"

// dirLayout gives the byte offsets of one directory-entry structure. A
// zero offset means the structure has no such field (no field other than
// NextEntryOffset lives at offset 0).
type dirLayout struct {
	fixed   int  // size before FileName; FileName starts here
	nameLen int  // FileNameLength
	common  bool // FileIndex..FileAttributes block at 4..60
	ea      int  // EaSize
	reparse int  // ReparsePointTag
	short   int  // ShortNameLength; ShortName (24 bytes) follows at +2
	id64    int  // 8-byte FileId
	id128   int  // 16-byte FileId
}

// dirLayouts are the entry layouts of [MS-FSCC] 2.4: offsets follow the
// field lists of each section (all fields little-endian, packed; the
// 8-byte FileId of FileIdBothDirectoryInformation sits after a 2-byte
// Reserved2 that realigns it).
var dirLayouts = map[uint8]dirLayout{
	// 2.4.10 FILE_DIRECTORY_INFORMATION
	FileDirectoryInformation: {fixed: 64, nameLen: 60, common: true},
	// 2.4.14 FILE_FULL_DIR_INFORMATION
	FileFullDirectoryInformation: {fixed: 68, nameLen: 60, common: true, ea: 64},
	// 2.4.8 FILE_BOTH_DIR_INFORMATION
	FileBothDirectoryInformation: {fixed: 94, nameLen: 60, common: true, ea: 64, short: 68},
	// FILE_NAMES_INFORMATION
	FileNamesInformation: {fixed: 12, nameLen: 8},
	// FILE_ID_BOTH_DIR_INFORMATION
	FileIdBothDirectoryInformation: {fixed: 104, nameLen: 60, common: true, ea: 64, short: 68, id64: 96},
	// FILE_ID_FULL_DIR_INFORMATION
	FileIdFullDirectoryInformation: {fixed: 80, nameLen: 60, common: true, ea: 64, id64: 72},
	// 2.4.22 FILE_ID_EXTD_DIR_INFORMATION
	FileIdExtdDirectoryInformation: {fixed: 88, nameLen: 60, common: true, ea: 64, reparse: 68, id128: 72},
	// FILE_ID_64_EXTD_DIR_INFORMATION
	FileId64ExtdDirectoryInformation: {fixed: 80, nameLen: 60, common: true, ea: 64, reparse: 68, id64: 72},
	// 2.4.17 FILE_ID_64_EXTD_BOTH_DIR_INFORMATION
	FileId64ExtdBothDirectoryInformation: {fixed: 106, nameLen: 60, common: true, ea: 64, reparse: 68, id64: 72, short: 80},
	// 2.4.20 FILE_ID_ALL_EXTD_DIR_INFORMATION
	FileIdAllExtdDirectoryInformation: {fixed: 96, nameLen: 60, common: true, ea: 64, reparse: 68, id64: 72, id128: 80},
	// FILE_ID_ALL_EXTD_BOTH_DIR_INFORMATION
	FileIdAllExtdBothDirectoryInformation: {fixed: 122, nameLen: 60, common: true, ea: 64, reparse: 68, id64: 72, id128: 80, short: 96},
}

// zeros supplies padding and blank fixed parts; it is never written.
var zeros [128]byte

// shortNameMax is the ShortName field's capacity: 12 UTF-16 characters,
// an 8.3 name ([MS-FSCC] 2.4.8).
const shortNameMax = 24

// dirAlign is the alignment of every entry after the first ([MS-FSCC]
// 2.4: "each MUST be aligned on an 8-byte boundary").
const dirAlign = 8

// DirWriter accumulates QUERY_DIRECTORY entries of one class into a
// buffer bounded by the client's OutputBufferLength ([MS-SMB2] 3.3.5.18).
// Entries start on 8-byte boundaries, NextEntryOffset links each entry to
// the next, and the last entry's NextEntryOffset is 0 with no padding
// after it.
type DirWriter struct {
	layout dirLayout
	buf    []byte
	base   int // len(buf) when the writer was made; offsets count from here
	max    int
	last   int // start of the last entry added, -1 before the first
	n      int
}

// NewDirWriter returns a writer for class whose entries may use at most
// max bytes, appended after buf's current contents (buf may be nil).
// Classes that QUERY_DIRECTORY does not accept yield ErrInvalidClass
// ([MS-SMB2] 3.3.5.18).
func NewDirWriter(class uint8, max int, buf []byte) (*DirWriter, error) {
	l, ok := dirLayouts[class]
	if !ok {
		return nil, fmt.Errorf("directory information class %d: %w", class, ErrInvalidClass)
	}
	return &DirWriter{layout: l, buf: buf, base: len(buf), max: max, last: -1}, nil
}

// EntrySize returns the unpadded size of fi's entry in the writer's
// class.
func (w *DirWriter) EntrySize(fi *Info) int {
	return w.layout.fixed + utf16Len(fi.Name)
}

// Add appends the entry for fi with the given FileIndex (0 is what
// NTFS reports, [MS-FSCC] 2.4.8). It returns false, leaving the buffer
// unchanged, when the entry does not fit in the remaining space; the
// caller then stops and resumes with the same file on the next request.
func (w *DirWriter) Add(fi *Info, fileIndex uint32) bool {
	l := &w.layout
	used := len(w.buf) - w.base
	start := used
	if w.last >= 0 {
		start = (used + dirAlign - 1) &^ (dirAlign - 1)
	}
	nameBytes := utf16Len(fi.Name)
	if start+l.fixed+nameBytes > w.max {
		return false
	}
	w.buf = append(w.buf, zeros[:start-used]...)
	w.buf = appendEntry(w.buf, l, fi, fileIndex)
	if w.last >= 0 {
		le.PutUint32(w.buf[w.base+w.last:], uint32(start-w.last))
	}
	w.last = start
	w.n++
	return true
}

// appendEntry appends one entry of layout l, NextEntryOffset 0.
func appendEntry(b []byte, l *dirLayout, fi *Info, fileIndex uint32) []byte {
	e := len(b)
	b = append(b, zeros[:l.fixed]...)
	b = EncodeUTF16(b, fi.Name)
	ent := b[e:]
	le.PutUint32(ent[4:], fileIndex)
	le.PutUint32(ent[l.nameLen:], uint32(len(ent)-l.fixed))
	if l.common {
		le.PutUint64(ent[8:], fi.CreationTime)
		le.PutUint64(ent[16:], fi.LastAccessTime)
		le.PutUint64(ent[24:], fi.LastWriteTime)
		le.PutUint64(ent[32:], fi.ChangeTime)
		le.PutUint64(ent[40:], uint64(fi.EndOfFile))
		le.PutUint64(ent[48:], uint64(fi.AllocationSize))
		le.PutUint32(ent[56:], wireAttributes(fi))
	}
	if l.ea != 0 {
		ea := fi.EASize
		if l.reparse == 0 && fi.Attributes&FileAttributeReparsePoint != 0 {
			// Classes without a ReparsePointTag field carry the tag
			// in EaSize ([MS-FSCC] 2.4.8, 2.4.14).
			ea = fi.ReparseTag
		}
		le.PutUint32(ent[l.ea:], ea)
	}
	if l.reparse != 0 {
		le.PutUint32(ent[l.reparse:], reparseTag(fi))
	}
	if l.short != 0 {
		if n := utf16Len(fi.ShortName); n > 0 && n <= shortNameMax {
			ent[l.short] = byte(n)
			putUTF16(ent[l.short+2:l.short+2+shortNameMax], fi.ShortName)
		}
	}
	if l.id64 != 0 {
		le.PutUint64(ent[l.id64:], fi.FileID)
	}
	if l.id128 != 0 {
		le.PutUint64(ent[l.id128:], fi.FileID)
	}
	return b
}

// AppendDirEntry appends fi's entry of a QUERY_DIRECTORY class to b,
// first padding b with zeros to a multiple of 8 bytes, and returns the
// buffer and the entry's offset in it. The entry's NextEntryOffset is 0;
// LinkDirEntry chains it to a later one. DirWriter does both and also
// enforces the client's buffer limit.
func AppendDirEntry(b []byte, class uint8, fi *Info, fileIndex uint32) ([]byte, int, error) {
	l, ok := dirLayouts[class]
	if !ok {
		return b, 0, fmt.Errorf("directory information class %d: %w", class, ErrInvalidClass)
	}
	b = append(b, zeros[:(dirAlign-len(b)%dirAlign)%dirAlign]...)
	start := len(b)
	return appendEntry(b, &l, fi, fileIndex), start, nil
}

// LinkDirEntry sets the NextEntryOffset of the entry at offset prev in b
// to reach the entry at offset next; both come from AppendDirEntry.
func LinkDirEntry(b []byte, prev, next int) {
	le.PutUint32(b[prev:], uint32(next-prev))
}

// Len returns the number of entries added.
func (w *DirWriter) Len() int { return w.n }

// Bytes returns the buffer passed to NewDirWriter followed by the chained
// entries.
func (w *DirWriter) Bytes() []byte { return w.buf }
