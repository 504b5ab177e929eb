package fscc

import (
	"errors"
	"testing"
)

func sampleFS() *FSInfo {
	return &FSInfo{
		TotalAllocationUnits:           1000,
		CallerAvailableAllocationUnits: 400,
		ActualAvailableAllocationUnits: 500,
		SectorsPerAllocationUnit:       8,
		BytesPerSector:                 512,
		VolumeSerialNumber:             0xDEADBEEF,
		VolumeCreationTime:             0x01D0000000000009,
		VolumeLabel:                    "vms",
		FileSystemName:                 "NTFS",
		FileSystemAttributes:           FileCaseSensitiveSearch | FileCasePreservedNames | FileUnicodeOnDisk,
		MaxComponentNameLength:         255,
		ObjectID:                       [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		DefaultQuotaLimit:              -1,
	}
}

func TestFSInfoGolden(t *testing.T) {
	fs := sampleFS()

	vol := newLayout(18 + 6) // [MS-FSCC] 2.5.9
	vol.u64(0, 0x01D0000000000009)
	vol.u32(8, 0xDEADBEEF)
	vol.u32(12, 6)
	vol.u8(16, 0) // SupportsObjects
	vol.str(18, "vms")

	size := newLayout(24) // [MS-FSCC] 2.5.8
	size.u64(0, 1000)
	size.u64(8, 400)
	size.u32(16, 8)
	size.u32(20, 512)

	dev := newLayout(8) // [MS-FSCC] 2.5.10
	dev.u32(0, FileDeviceDisk)
	dev.u32(4, FileDeviceIsMounted)

	attr := newLayout(12 + 8) // [MS-FSCC] 2.5.1
	attr.u32(0, 7)
	attr.u32(4, 255)
	attr.u32(8, 8)
	attr.str(12, "NTFS")

	ctl := newLayout(48) // [MS-FSCC] 2.5.2
	ctl.u64(32, ^uint64(0))

	full := newLayout(32) // [MS-FSCC] 2.5.4
	full.u64(0, 1000)
	full.u64(8, 400)
	full.u64(16, 500)
	full.u32(24, 8)
	full.u32(28, 512)

	oid := newLayout(64) // [MS-FSCC] 2.5.6
	copy(oid, fs.ObjectID[:])

	sector := newLayout(28) // [MS-FSCC] 2.5.7
	for off := 0; off < 16; off += 4 {
		sector.u32(off, 512)
	}

	cases := []struct {
		class uint8
		want  []byte
	}{
		{FileFsVolumeInformation, vol},
		{FileFsSizeInformation, size},
		{FileFsDeviceInformation, dev},
		{FileFsAttributeInformation, attr},
		{FileFsControlInformation, ctl},
		{FileFsFullSizeInformation, full},
		{FileFsObjectIDInformation, oid},
		{FileFsSectorSizeInformation, sector},
	}
	for _, c := range cases {
		got, err := AppendFSInfo(nil, c.class, fs)
		if err != nil {
			t.Fatalf("class %d: %v", c.class, err)
		}
		wantBytes(t, "fs class", got, c.want)
		min, ok := MinFSQuerySize(c.class)
		if !ok || min > len(got) && c.class != FileFsVolumeInformation {
			t.Errorf("class %d: minimum %d,%v vs encoding %d", c.class, min, ok, len(got))
		}
	}
}

func TestFSInfoDefaults(t *testing.T) {
	fs := &FSInfo{BytesPerSector: 4096, PhysicalBytesPerSectorForPerformance: 65536,
		DeviceType: 0x14, DeviceCharacteristics: FileReadOnlyDevice, SupportsObjects: true}
	got, _ := AppendFSInfo(nil, FileFsSectorSizeInformation, fs)
	if le.Uint32(got[4:]) != 4096 || le.Uint32(got[8:]) != 65536 || le.Uint32(got[12:]) != 4096 {
		t.Fatalf("sector sizes % x", got)
	}
	got, _ = AppendFSInfo(nil, FileFsDeviceInformation, fs)
	if le.Uint32(got) != 0x14 || le.Uint32(got[4:]) != FileReadOnlyDevice|FileDeviceIsMounted {
		t.Fatalf("device % x", got)
	}
	got, _ = AppendFSInfo(nil, FileFsVolumeInformation, fs)
	if len(got) != 18 || got[16] != 1 {
		t.Fatalf("volume % x", got)
	}
}

func TestFSInfoErrors(t *testing.T) {
	for _, c := range []uint8{FileFsLabelInformation, FileFsDriverPathInformation, FileFsVolumeFlagsInformation} {
		if _, err := AppendFSInfo(nil, c, sampleFS()); !errors.Is(err, ErrNotSupported) {
			t.Errorf("class %d: %v, want ErrNotSupported", c, err)
		}
	}
	for _, c := range []uint8{0, 12, 100, 255} {
		if _, err := AppendFSInfo(nil, c, sampleFS()); !errors.Is(err, ErrInvalidClass) {
			t.Errorf("class %d: %v, want ErrInvalidClass", c, err)
		}
	}
}
