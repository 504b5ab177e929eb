package csv

import (
	"encoding/binary"
	"time"
)

// FILE_ATTRIBUTE_* values ([MS-FSCC] 2.6).
const (
	AttrReadonly          uint32 = 0x00000001
	AttrHidden            uint32 = 0x00000002
	AttrSystem            uint32 = 0x00000004
	AttrDirectory         uint32 = 0x00000010
	AttrArchive           uint32 = 0x00000020
	AttrNormal            uint32 = 0x00000080
	AttrTemporary         uint32 = 0x00000100
	AttrSparseFile        uint32 = 0x00000200
	AttrOffline           uint32 = 0x00001000
	AttrNotContentIndexed uint32 = 0x00002000
)

// persistedAttrs are the attribute bits we store: the ones a client may set
// and the file system cannot express. DIRECTORY comes from the file type and
// NORMAL is synthesised when nothing else is set.
const persistedAttrs = AttrReadonly | AttrHidden | AttrSystem | AttrArchive |
	AttrTemporary | AttrSparseFile | AttrOffline | AttrNotContentIndexed

// metaXattr is the extended attribute holding a file's meta record.
const metaXattr = "user.sofs.meta"

// The meta record layout, little-endian, 16 or 32 bytes:
//
//	offset size field
//	0      1    version (1)
//	1      1    flags: bit 0 = creation time present,
//	                   bit 1 = change time present (record is 32 bytes),
//	                   bit 2 = the file has EAs (user.sofs.ea, ea.go)
//	2      2    reserved, zero
//	4      4    DOS attributes (persistedAttrs bits only)
//	8      8    creation time, nanoseconds since the Unix epoch (int64)
//	16     8    change time, nanoseconds since the Unix epoch (int64)
//	24     8    the inode mtime (ns) when the change time was set
//
// Later versions may only append fields, so a reader accepts any version
// >= 1 whose record is at least metaSizeV1 bytes and reads the prefix it
// knows; the change time is used only when the record is long enough.
const (
	metaVersion     = 1
	metaSizeV1      = 16
	metaSize        = 32 // the longest record this version writes
	metaFlagCreated = 0x01
	metaFlagChanged = 0x02
	metaFlagEAs     = 0x04
)

// meta is the decoded record.
type meta struct {
	attrs      uint32
	created    time.Time
	hasCreated bool
	// changed is a change time set by a client ([MS-FSCC] 2.4.7
	// ChangeTime), valid while the inode mtime still equals
	// changedMtime: POSIX cannot set ctime, and any later data change
	// must show as a change again.
	changed      time.Time
	changedMtime int64
	hasChanged   bool
	// hasEAs says the file has an EA list (ea.go), so that files
	// without one need no xattr lookup to report EaSize 0.
	hasEAs bool
}

// encodeMeta writes m into buf and returns the record: 16 bytes, or 32
// when it carries a change time.
func encodeMeta(buf *[metaSize]byte, m meta) []byte {
	*buf = [metaSize]byte{}
	buf[0] = metaVersion
	if m.hasCreated {
		buf[1] |= metaFlagCreated
		binary.LittleEndian.PutUint64(buf[8:], uint64(m.created.UnixNano()))
	}
	binary.LittleEndian.PutUint32(buf[4:], m.attrs&persistedAttrs)
	if m.hasEAs {
		buf[1] |= metaFlagEAs
	}
	if !m.hasChanged {
		return buf[:metaSizeV1]
	}
	buf[1] |= metaFlagChanged
	binary.LittleEndian.PutUint64(buf[16:], uint64(m.changed.UnixNano()))
	binary.LittleEndian.PutUint64(buf[24:], uint64(m.changedMtime))
	return buf[:]
}

// decodeMeta parses a record read from the backing file system. The bytes
// are untrusted (anyone with access to the backing directory can write the
// attribute): a short, zero-version or otherwise malformed record reports
// ok=false and the caller falls back to defaults; it never panics.
func decodeMeta(b []byte) (m meta, ok bool) {
	if len(b) < metaSizeV1 || b[0] < metaVersion {
		return meta{}, false
	}
	m.attrs = binary.LittleEndian.Uint32(b[4:8]) & persistedAttrs
	if b[1]&metaFlagCreated != 0 {
		m.created = time.Unix(0, int64(binary.LittleEndian.Uint64(b[8:16])))
		m.hasCreated = true
	}
	m.hasEAs = b[1]&metaFlagEAs != 0
	if b[1]&metaFlagChanged != 0 && len(b) >= metaSize {
		m.changed = time.Unix(0, int64(binary.LittleEndian.Uint64(b[16:24])))
		m.changedMtime = int64(binary.LittleEndian.Uint64(b[24:32]))
		m.hasChanged = true
	}
	return m, true
}
