package fscc

import "fmt"

// BasicInfo is a decoded FILE_BASIC_INFORMATION ([MS-FSCC] 2.4.7) as
// SET_INFO carries it. The times are raw: 0 means "do not change", -1
// "stop updating this time automatically" (treated as "do not change" by
// a POSIX back end) and -2 "resume automatic updates"; any other value
// is a FILETIME. FileAttributes 0 means "do not change".
type BasicInfo struct {
	CreationTime, LastAccessTime, LastWriteTime, ChangeTime int64
	FileAttributes                                          uint32
}

// basicInfoSize is sizeof(FILE_BASIC_INFORMATION) including the trailing
// Reserved field; Windows rejects shorter SET_INFO buffers with
// STATUS_INFO_LENGTH_MISMATCH and so does this decoder.
const basicInfoSize = 40

func short(what string, got, want int) error {
	return fmt.Errorf("%s: %d bytes, need %d: %w", what, got, want, ErrMalformed)
}

// DecodeBasicInfo decodes a FileBasicInformation SET_INFO buffer. Longer
// buffers are accepted and the excess ignored, as Windows does.
func DecodeBasicInfo(b []byte) (BasicInfo, error) {
	if len(b) < basicInfoSize {
		return BasicInfo{}, short("FILE_BASIC_INFORMATION", len(b), basicInfoSize)
	}
	return BasicInfo{
		CreationTime:   int64(le.Uint64(b[0:])),
		LastAccessTime: int64(le.Uint64(b[8:])),
		LastWriteTime:  int64(le.Uint64(b[16:])),
		ChangeTime:     int64(le.Uint64(b[24:])),
		FileAttributes: le.Uint32(b[32:]),
	}, nil
}

// RenameInfo is a decoded FILE_RENAME_INFORMATION_TYPE_2 ([MS-FSCC]
// FileRenameInformation; [MS-SMB2] 3.3.5.21.1), the 64-bit form SMB2
// uses, or its Ex variant whose first field is a 32-bit Flags word
// instead of the ReplaceIfExists byte.
// FileLinkInformation ([MS-FSCC] 2.4) has the same layout.
type RenameInfo struct {
	// ReplaceIfExists is the non-Ex boolean, or RenameReplaceIfExists
	// in Flags for the Ex form.
	ReplaceIfExists bool
	// Flags is the Ex form's FILE_RENAME_* word; 0 for the plain form.
	Flags         uint32
	RootDirectory uint64
	// FileName is the target, UTF-8.
	FileName string
}

// renameFixed is the offset of FileName in FILE_RENAME_INFORMATION_TYPE_2:
// ReplaceIfExists/Flags and Reserved (8), RootDirectory (8),
// FileNameLength (4).
const renameFixed = 20

// DecodeRenameInfo decodes a FileRenameInformation (ex false) or
// FileRenameInformationEx (ex true) SET_INFO buffer. FileNameLength must
// be non-zero, even and within the buffer; the name must be valid
// UTF-16 (see DecodeUTF16). The buffer is not required to be padded to
// the C sizeof (24), because Linux and Samba clients send exactly
// 20+FileNameLength bytes.
func DecodeRenameInfo(b []byte, ex bool) (RenameInfo, error) {
	if len(b) < renameFixed {
		return RenameInfo{}, short("FILE_RENAME_INFORMATION", len(b), renameFixed)
	}
	var ri RenameInfo
	if ex {
		ri.Flags = le.Uint32(b[0:])
		ri.ReplaceIfExists = ri.Flags&RenameReplaceIfExists != 0
	} else {
		ri.ReplaceIfExists = b[0] != 0
	}
	ri.RootDirectory = le.Uint64(b[8:])
	n := int(le.Uint32(b[16:]))
	if n == 0 || n%2 != 0 {
		return RenameInfo{}, fmt.Errorf("FILE_RENAME_INFORMATION: FileNameLength %d: %w", n, ErrMalformed)
	}
	if n > len(b)-renameFixed {
		return RenameInfo{}, fmt.Errorf("FILE_RENAME_INFORMATION: FileNameLength %d exceeds the %d bytes present: %w",
			n, len(b)-renameFixed, ErrMalformed)
	}
	name, err := DecodeUTF16(b[renameFixed : renameFixed+n])
	if err != nil {
		return RenameInfo{}, fmt.Errorf("FILE_RENAME_INFORMATION FileName: %w", err)
	}
	ri.FileName = name
	return ri, nil
}

// DispositionInfo is a decoded FILE_DISPOSITION_INFORMATION or
// FILE_DISPOSITION_INFORMATION_EX ([MS-FSCC] 2.4).
type DispositionInfo struct {
	// Delete is DeletePending, or DispositionDelete in Flags.
	Delete bool
	// Flags is the Ex form's FILE_DISPOSITION_* word; for the plain
	// form it is DispositionDelete when Delete is set, so callers can
	// test the flags alone.
	Flags uint32
}

// DecodeDispositionInfo decodes a FileDispositionInformation (ex false,
// one byte) or FileDispositionInformationEx (ex true, a 32-bit word)
// SET_INFO buffer.
func DecodeDispositionInfo(b []byte, ex bool) (DispositionInfo, error) {
	if ex {
		if len(b) < 4 {
			return DispositionInfo{}, short("FILE_DISPOSITION_INFORMATION_EX", len(b), 4)
		}
		f := le.Uint32(b)
		return DispositionInfo{Delete: f&DispositionDelete != 0, Flags: f}, nil
	}
	if len(b) < 1 {
		return DispositionInfo{}, short("FILE_DISPOSITION_INFORMATION", len(b), 1)
	}
	if b[0] != 0 {
		return DispositionInfo{Delete: true, Flags: DispositionDelete}, nil
	}
	return DispositionInfo{}, nil
}

func decodeInt64(what string, b []byte) (int64, error) {
	if len(b) < 8 {
		return 0, short(what, len(b), 8)
	}
	return int64(le.Uint64(b)), nil
}

// DecodeEndOfFile decodes FILE_END_OF_FILE_INFORMATION ([MS-FSCC]
// 2.4). The value is returned as sent; negative sizes are the
// caller's to reject (STATUS_INVALID_PARAMETER).
func DecodeEndOfFile(b []byte) (int64, error) {
	return decodeInt64("FILE_END_OF_FILE_INFORMATION", b)
}

// DecodeAllocation decodes FILE_ALLOCATION_INFORMATION ([MS-FSCC] 2.4).
func DecodeAllocation(b []byte) (int64, error) {
	return decodeInt64("FILE_ALLOCATION_INFORMATION", b)
}

// DecodeValidDataLength decodes FILE_VALID_DATA_LENGTH_INFORMATION
// ([MS-FSCC] 2.4).
func DecodeValidDataLength(b []byte) (int64, error) {
	return decodeInt64("FILE_VALID_DATA_LENGTH_INFORMATION", b)
}

// DecodePosition decodes FILE_POSITION_INFORMATION ([MS-FSCC] 2.4.39).
func DecodePosition(b []byte) (int64, error) {
	return decodeInt64("FILE_POSITION_INFORMATION", b)
}

// DecodeMode decodes FILE_MODE_INFORMATION ([MS-FSCC] 2.4); the caller
// validates the bits.
func DecodeMode(b []byte) (uint32, error) {
	if len(b) < 4 {
		return 0, short("FILE_MODE_INFORMATION", len(b), 4)
	}
	return le.Uint32(b), nil
}
