package fscc

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// layout builds an expected byte image field by field at offsets typed
// from the [MS-FSCC] sections, independently of the encoders' tables.
type layout []byte

func newLayout(n int) layout { return make(layout, n) }

func (l layout) u8(off int, v uint8)   { l[off] = v }
func (l layout) u16(off int, v uint16) { binary.LittleEndian.PutUint16(l[off:], v) }
func (l layout) u32(off int, v uint32) { binary.LittleEndian.PutUint32(l[off:], v) }
func (l layout) u64(off int, v uint64) { binary.LittleEndian.PutUint64(l[off:], v) }
func (l layout) str(off int, s string) { copy(l[off:], EncodeUTF16(nil, s)) }

func wantBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s:\n got % x\nwant % x", what, got, want)
	}
}

// sampleInfo has a distinct value in every field so that a field written
// at the wrong offset shows up.
func sampleInfo() *Info {
	return &Info{
		FileID:             0x1122334455667788,
		CreationTime:       0x01D0000000000001,
		LastAccessTime:     0x01D0000000000002,
		LastWriteTime:      0x01D0000000000003,
		ChangeTime:         0x01D0000000000004,
		EndOfFile:          0x12345,
		AllocationSize:     0x20000,
		Attributes:         FileAttributeArchive | FileAttributeHidden,
		NumberOfLinks:      3,
		DeletePending:      true,
		EASize:             0x44,
		VolumeSerialNumber: 0xCAFEBABE01020304,
		Name:               "Report.docx",
		ShortName:          "REPORT~1.DOC",
	}
}

func sampleExtra() *Extra {
	return &Extra{
		AccessFlags:          0x0012019F,
		CurrentByteOffset:    0x777,
		Mode:                 FileSynchronousIONonalert,
		AlignmentRequirement: 1,
		FullName:             `\dir\Report.docx`,
	}
}
