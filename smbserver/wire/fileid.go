package wire

// FileID is an SMB2_FILEID ([MS-SMB2] 2.2.14.1): the persistent part
// survives reconnects and node failover, the volatile part names the open
// on one server.
type FileID struct {
	Persistent, Volatile uint64
}

// FileIDSize is the encoded size of a FileID.
const FileIDSize = 16

// RelatedPlaceholder returns the FileId that a related compounded request
// sends to mean "the file opened by the previous request" ([MS-SMB2]
// 3.2.4.1.4, 3.3.5.2.7.2): all bits set in both halves.
func RelatedPlaceholder() FileID {
	return FileID{Persistent: ^uint64(0), Volatile: ^uint64(0)}
}

// IsRelatedPlaceholder reports whether f is the compound placeholder.
func (f FileID) IsRelatedPlaceholder() bool {
	return f.Persistent == ^uint64(0) && f.Volatile == ^uint64(0)
}

// DecodeFileID decodes the 16 bytes at the start of b; b must hold them.
func DecodeFileID(b []byte) FileID {
	_ = b[15]
	return FileID{Persistent: le.Uint64(b), Volatile: le.Uint64(b[8:])}
}

// AppendTo appends the 16-byte encoding of f to b.
func (f FileID) AppendTo(b []byte) []byte {
	b = appendU64(b, f.Persistent)
	return appendU64(b, f.Volatile)
}
