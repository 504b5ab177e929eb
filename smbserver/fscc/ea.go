package fscc

import (
	"bytes"
	"fmt"
	"strings"
)

// EA is one extended attribute of a FILE_FULL_EA_INFORMATION list
// ([MS-FSCC] 2.4.15).
type EA struct {
	// Flags is 0 or FileNeedEA.
	Flags uint8
	// Name is the EA name in the client's OEM bytes, without the
	// terminating NUL; 1 to 255 bytes.
	Name string
	// Value is at most 65535 bytes.
	Value []byte
}

// eaHeader is the fixed part of one entry: NextEntryOffset (4), Flags (1),
// EaNameLength (1), EaValueLength (2).
const eaHeader = 8

// eaAlign is the entry alignment: NextEntryOffset values are multiples
// of 4 ([MS-FSA] 2.1.5.1.2.1 fails a misaligned list with
// STATUS_EA_LIST_INCONSISTENT).
const eaAlign = 4

// DecodeFullEA decodes a FILE_FULL_EA_INFORMATION list. Every entry must
// fit in b, carry a non-empty NUL-terminated name, and point with a
// 4-aligned NextEntryOffset to a following entry that starts after its
// own end; the list ends at the entry whose NextEntryOffset is 0. The
// result never holds more entries than b has 8-byte slots, whatever the
// client claims, and Values alias b.
func DecodeFullEA(b []byte) ([]EA, error) {
	var out []EA
	off := 0
	for {
		rem := len(b) - off
		if rem < eaHeader+2 {
			return nil, fmt.Errorf("FILE_FULL_EA_INFORMATION entry at %d: %d bytes left: %w", off, rem, ErrMalformed)
		}
		e := b[off:]
		next := int(le.Uint32(e[0:]))
		nameLen := int(e[5])
		valueLen := int(le.Uint16(e[6:]))
		size := eaHeader + nameLen + 1 + valueLen
		if nameLen == 0 {
			return nil, fmt.Errorf("FILE_FULL_EA_INFORMATION entry at %d: empty name: %w", off, ErrMalformed)
		}
		if size > rem {
			return nil, fmt.Errorf("FILE_FULL_EA_INFORMATION entry at %d: needs %d bytes, %d left: %w", off, size, rem, ErrMalformed)
		}
		name := e[eaHeader : eaHeader+nameLen]
		if e[eaHeader+nameLen] != 0 || bytes.IndexByte(name, 0) >= 0 {
			return nil, fmt.Errorf("FILE_FULL_EA_INFORMATION entry at %d: name not NUL-terminated: %w", off, ErrMalformed)
		}
		vs := eaHeader + nameLen + 1
		out = append(out, EA{Flags: e[4], Name: string(name), Value: e[vs : vs+valueLen : vs+valueLen]})
		if next == 0 {
			return out, nil
		}
		if next < size || next%eaAlign != 0 || next > rem {
			return nil, fmt.Errorf("FILE_FULL_EA_INFORMATION entry at %d: NextEntryOffset %d (entry %d bytes, %d left): %w",
				off, next, size, rem, ErrMalformed)
		}
		off += next
	}
}

// AppendFullEA appends eas as a FILE_FULL_EA_INFORMATION list, each entry
// but the last padded to 4 bytes. It fails, appending nothing, when a
// name is empty, longer than 255 bytes or contains NUL, or a value is
// longer than 65535 bytes: the length fields could not represent them.
func AppendFullEA(b []byte, eas []EA) ([]byte, error) {
	for i := range eas {
		ea := &eas[i]
		if len(ea.Name) == 0 || len(ea.Name) > 255 || len(ea.Value) > 0xFFFF || strings.IndexByte(ea.Name, 0) >= 0 {
			return b, fmt.Errorf("EA %d (%d-byte name, %d-byte value) cannot be encoded: %w", i, len(ea.Name), len(ea.Value), ErrMalformed)
		}
	}
	for i := range eas {
		ea := &eas[i]
		size := eaHeader + len(ea.Name) + 1 + len(ea.Value)
		next := 0
		if i < len(eas)-1 {
			next = (size + eaAlign - 1) &^ (eaAlign - 1)
		}
		b = le.AppendUint32(b, uint32(next))
		b = append(b, ea.Flags, byte(len(ea.Name)))
		b = le.AppendUint16(b, uint16(len(ea.Value)))
		b = append(b, ea.Name...)
		b = append(b, 0)
		b = append(b, ea.Value...)
		if next > size {
			b = append(b, zeros[:next-size]...)
		}
	}
	return b, nil
}

// getEAHeader is the fixed part of a FILE_GET_EA_INFORMATION entry:
// NextEntryOffset (4) and EaNameLength (1).
const getEAHeader = 5

// DecodeGetEA decodes a FILE_GET_EA_INFORMATION list ([MS-FSCC] 2.4.15.1),
// the names a QUERY_INFO for FileFullEaInformation asks for. Each entry
// must fit in b with a non-empty, NUL-terminated name, and a non-zero
// NextEntryOffset must point past the entry's end and stay within b
// (Windows fails a malformed list with STATUS_EA_LIST_INCONSISTENT). The
// number of names is bounded by len(b)/6.
func DecodeGetEA(b []byte) ([]string, error) {
	var out []string
	off := 0
	for {
		rem := len(b) - off
		if rem < getEAHeader+2 {
			return nil, fmt.Errorf("FILE_GET_EA_INFORMATION entry at %d: %d bytes left: %w", off, rem, ErrMalformed)
		}
		e := b[off:]
		next := int(le.Uint32(e))
		nameLen := int(e[4])
		size := getEAHeader + nameLen + 1
		if nameLen == 0 || size > rem {
			return nil, fmt.Errorf("FILE_GET_EA_INFORMATION entry at %d: name of %d bytes, %d left: %w", off, nameLen, rem, ErrMalformed)
		}
		name := e[getEAHeader : getEAHeader+nameLen]
		if e[getEAHeader+nameLen] != 0 || bytes.IndexByte(name, 0) >= 0 {
			return nil, fmt.Errorf("FILE_GET_EA_INFORMATION entry at %d: name not NUL-terminated: %w", off, ErrMalformed)
		}
		out = append(out, string(name))
		if next == 0 {
			return out, nil
		}
		if next < size || next > rem {
			return nil, fmt.Errorf("FILE_GET_EA_INFORMATION entry at %d: NextEntryOffset %d (entry %d bytes, %d left): %w",
				off, next, size, rem, ErrMalformed)
		}
		off += next
	}
}

// eaNameInvalid lists the characters an EA name may not contain besides
// controls: those FAT and NTFS reserve in EA names ([MS-FSCC] 2.4.15:
// EaName; FsRtlIsFatDbcsLegal rules, which Windows applies to EA names).
const eaNameInvalid = "\"*+,/:;<=>?[\\]|"

// ValidEAName reports whether name is an EA name Windows accepts: 1 to
// 255 bytes of printable ASCII without the reserved characters. sofs
// takes only ASCII because EA names are OEM-code-page strings and the
// server has no code page to translate other bytes with; an invalid name
// is STATUS_INVALID_EA_NAME.
func ValidEAName(name string) bool {
	if len(name) == 0 || len(name) > 255 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c < 0x20 || c > 0x7E || strings.IndexByte(eaNameInvalid, c) >= 0 {
			return false
		}
	}
	return true
}

// EAEntrySize is the size of one FILE_FULL_EA_INFORMATION entry without
// trailing padding.
func EAEntrySize(ea *EA) int { return eaHeader + len(ea.Name) + 1 + len(ea.Value) }
