package fscc

import (
	"encoding/binary"
	"fmt"
)

// Info is the neutral description of one file that the server fills from
// storage and this package encodes into the various information classes.
type Info struct {
	// FileID is the 64-bit file identifier (IndexNumber, FileId).
	FileID uint64
	// CreationTime, LastAccessTime, LastWriteTime and ChangeTime are
	// FILETIMEs (see FileTime).
	CreationTime, LastAccessTime, LastWriteTime, ChangeTime uint64
	EndOfFile, AllocationSize                               int64
	// Attributes are FILE_ATTRIBUTE_* bits; 0 is reported as
	// FILE_ATTRIBUTE_NORMAL and Directory adds FILE_ATTRIBUTE_DIRECTORY
	// (see wireAttributes).
	Attributes    uint32
	NumberOfLinks uint32
	DeletePending bool
	Directory     bool
	// EASize is the FILE_EA_INFORMATION size of the file's EAs.
	EASize uint32
	// ReparseTag is the file's reparse tag when Attributes has
	// FILE_ATTRIBUTE_REPARSE_POINT ([MS-FSCC] FileAttributeTagInformation, 2.4.8).
	ReparseTag uint32
	// VolumeSerialNumber is reported by FileIdInformation.
	VolumeSerialNumber uint64
	// Name is the final path component, used by directory entries.
	Name string
	// ShortName is the 8.3 name, or "" when the file has none.
	ShortName string
}

// Extra carries the per-open values some classes report.
type Extra struct {
	AccessFlags          uint32
	CurrentByteOffset    int64
	Mode                 uint32
	AlignmentRequirement uint32
	// FullName is the path from the share root as FileNameInformation
	// and FileAllInformation report it ("\\dir\\file").
	FullName string
	// FileIndex is kept for callers that track one per open; the
	// directory encoders take the entry's index as an argument instead.
	FileIndex uint32
}

// wireAttributes returns the attributes to put on the wire: an empty set
// is reported as FILE_ATTRIBUTE_NORMAL, which [MS-FSCC] 2.6 defines as
// "no other attributes", and directories always carry
// FILE_ATTRIBUTE_DIRECTORY (NORMAL is only valid alone).
func wireAttributes(fi *Info) uint32 {
	a := fi.Attributes
	if fi.Directory {
		a = (a | FileAttributeDirectory) &^ FileAttributeNormal
	}
	if a == 0 {
		a = FileAttributeNormal
	}
	return a
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// le is shorthand for the little-endian byte order of every [MS-FSCC]
// structure.
var le = binary.LittleEndian

// appendBasic appends FILE_BASIC_INFORMATION ([MS-FSCC] 2.4.7).
func appendBasic(b []byte, fi *Info) []byte {
	b = le.AppendUint64(b, fi.CreationTime)
	b = le.AppendUint64(b, fi.LastAccessTime)
	b = le.AppendUint64(b, fi.LastWriteTime)
	b = le.AppendUint64(b, fi.ChangeTime)
	b = le.AppendUint32(b, wireAttributes(fi))
	return le.AppendUint32(b, 0) // Reserved
}

// appendStandard appends FILE_STANDARD_INFORMATION ([MS-FSCC] 2.4.45).
func appendStandard(b []byte, fi *Info) []byte {
	b = le.AppendUint64(b, uint64(fi.AllocationSize))
	b = le.AppendUint64(b, uint64(fi.EndOfFile))
	b = le.AppendUint32(b, fi.NumberOfLinks)
	return append(b, boolByte(fi.DeletePending), boolByte(fi.Directory), 0, 0)
}

// appendName appends FILE_NAME_INFORMATION ([MS-FSCC] 2.4,
// FileNameInformation): the name
// length in bytes, then the UTF-16LE name.
func appendName(b []byte, name string) []byte {
	b = le.AppendUint32(b, uint32(utf16Len(name)))
	return EncodeUTF16(b, name)
}

// streamName is the name of a file's default data stream as
// FileStreamInformation reports it ([MS-FSCC] 2.4.43).
const streamName = "::$DATA"

// AppendFileInfo appends the encoding of the query class for fi and the
// open's values x (nil means all zero). It returns ErrInvalidClass for
// classes [MS-FSCC] 2.4 does not define and ErrNotSupported for defined
// classes it cannot produce (set-only, directory and local classes, pipe
// and quota classes) ([MS-SMB2] 3.3.5.20.1). The output is the complete
// structure; the server truncates it to the client's OutputBufferLength
// after checking MinQuerySize.
func AppendFileInfo(b []byte, class uint8, fi *Info, x *Extra) ([]byte, error) {
	if x == nil {
		x = &Extra{}
	}
	switch class {
	case FileBasicInformation:
		return appendBasic(b, fi), nil
	case FileStandardInformation:
		return appendStandard(b, fi), nil
	case FileInternalInformation:
		return le.AppendUint64(b, fi.FileID), nil
	case FileEaInformation:
		return le.AppendUint32(b, fi.EASize), nil
	case FileAccessInformation:
		return le.AppendUint32(b, x.AccessFlags), nil
	case FileNameInformation, FileNormalizedNameInformation:
		return appendName(b, x.FullName), nil
	case FilePositionInformation:
		return le.AppendUint64(b, uint64(x.CurrentByteOffset)), nil
	case FileModeInformation:
		return le.AppendUint32(b, x.Mode), nil
	case FileAlignmentInformation:
		return le.AppendUint32(b, x.AlignmentRequirement), nil
	case FileAllInformation:
		// [MS-FSCC] 2.4.2: the member structures back to back, 100
		// bytes before the name.
		b = appendBasic(b, fi)
		b = appendStandard(b, fi)
		b = le.AppendUint64(b, fi.FileID)
		b = le.AppendUint32(b, fi.EASize)
		b = le.AppendUint32(b, x.AccessFlags)
		b = le.AppendUint64(b, uint64(x.CurrentByteOffset))
		b = le.AppendUint32(b, x.Mode)
		b = le.AppendUint32(b, x.AlignmentRequirement)
		return appendName(b, x.FullName), nil
	case FileAlternateNameInformation:
		if fi.ShortName == "" {
			return b, ErrNoShortName
		}
		return appendName(b, fi.ShortName), nil
	case FileStreamInformation:
		// Only the unnamed data stream exists; a directory has none,
		// so its list is empty ([MS-FSA] 2.1.5.12.29).
		if fi.Directory {
			return b, nil
		}
		b = le.AppendUint32(b, 0) // NextEntryOffset: single entry
		b = le.AppendUint32(b, uint32(utf16Len(streamName)))
		b = le.AppendUint64(b, uint64(fi.EndOfFile))
		b = le.AppendUint64(b, uint64(fi.AllocationSize))
		return EncodeUTF16(b, streamName), nil
	case FileCompressionInformation:
		// [MS-FSCC] 2.4.9: an uncompressed stream reports its size and
		// COMPRESSION_FORMAT_NONE with zero shifts.
		b = le.AppendUint64(b, uint64(fi.EndOfFile))
		b = le.AppendUint16(b, 0) // CompressionFormat
		return append(b, 0, 0, 0, 0, 0, 0), nil
	case FileNetworkOpenInformation:
		// [MS-FSCC] 2.4, FileNetworkOpenInformation.
		b = le.AppendUint64(b, fi.CreationTime)
		b = le.AppendUint64(b, fi.LastAccessTime)
		b = le.AppendUint64(b, fi.LastWriteTime)
		b = le.AppendUint64(b, fi.ChangeTime)
		b = le.AppendUint64(b, uint64(fi.AllocationSize))
		b = le.AppendUint64(b, uint64(fi.EndOfFile))
		b = le.AppendUint32(b, wireAttributes(fi))
		return le.AppendUint32(b, 0), nil
	case FileAttributeTagInformation:
		b = le.AppendUint32(b, wireAttributes(fi))
		return le.AppendUint32(b, reparseTag(fi)), nil
	case FileIdInformation:
		// [MS-FSCC] 2.4.25 FileIdInformation: 64-bit volume serial and 128-bit file id.
		b = le.AppendUint64(b, fi.VolumeSerialNumber)
		b = le.AppendUint64(b, fi.FileID)
		return le.AppendUint64(b, 0), nil
	}
	if _, ok := fileClasses[class]; ok {
		return b, fmt.Errorf("query of file information class %d: %w", class, ErrNotSupported)
	}
	return b, fmt.Errorf("file information class %d: %w", class, ErrInvalidClass)
}

// reparseTag returns the tag to report, 0 unless the file is a reparse
// point.
func reparseTag(fi *Info) uint32 {
	if fi.Attributes&FileAttributeReparsePoint == 0 {
		return 0
	}
	return fi.ReparseTag
}
