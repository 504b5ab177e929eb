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

// The meta record layout, version 1, little-endian, 16 bytes:
//
//	offset size field
//	0      1    version (1)
//	1      1    flags: bit 0 = creation time present
//	2      2    reserved, zero
//	4      4    DOS attributes (persistedAttrs bits only)
//	8      8    creation time, nanoseconds since the Unix epoch (int64)
//
// Later versions may only append fields, so a reader accepts any version
// >= 1 whose record is at least metaSizeV1 bytes and reads the v1 prefix.
const (
	metaVersion     = 1
	metaSizeV1      = 16
	metaFlagCreated = 0x01
)

// meta is the decoded record.
type meta struct {
	attrs      uint32
	created    time.Time
	hasCreated bool
}

// encodeMeta writes m into buf (which must hold metaSizeV1 bytes) and
// returns the record.
func encodeMeta(buf *[metaSizeV1]byte, m meta) []byte {
	*buf = [metaSizeV1]byte{}
	buf[0] = metaVersion
	if m.hasCreated {
		buf[1] = metaFlagCreated
		binary.LittleEndian.PutUint64(buf[8:], uint64(m.created.UnixNano()))
	}
	binary.LittleEndian.PutUint32(buf[4:], m.attrs&persistedAttrs)
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
	return m, true
}
