package fscc

import "fmt"

// FSInfo describes the volume behind a share for the file system
// information classes ([MS-FSCC] 2.5).
type FSInfo struct {
	TotalAllocationUnits           int64
	CallerAvailableAllocationUnits int64
	ActualAvailableAllocationUnits int64
	SectorsPerAllocationUnit       uint32
	BytesPerSector                 uint32

	VolumeSerialNumber uint32
	VolumeCreationTime uint64 // FILETIME
	VolumeLabel        string
	SupportsObjects    bool

	// FileSystemName is what FileFsAttributeInformation reports;
	// Windows clients enable features (named streams, ACL editing,
	// sparse files) only for "NTFS".
	FileSystemName         string
	FileSystemAttributes   uint32
	MaxComponentNameLength uint32

	// DeviceType defaults to FILE_DEVICE_DISK when 0;
	// FILE_DEVICE_IS_MOUNTED is always added to DeviceCharacteristics,
	// as Windows reports for a mounted volume ([MS-FSCC] 2.5.10).
	DeviceType            uint32
	DeviceCharacteristics uint32

	// Sector size information ([MS-FSCC] 2.5.7); a zero physical size
	// defaults to BytesPerSector.
	PhysicalBytesPerSectorForAtomicity                    uint32
	PhysicalBytesPerSectorForPerformance                  uint32
	FileSystemEffectivePhysicalBytesPerSectorForAtomicity uint32
	SectorSizeFlags                                       uint32
	ByteOffsetForSectorAlignment                          uint32
	ByteOffsetForPartitionAlignment                       uint32

	// Quota control ([MS-FSCC] 2.5.2).
	FreeSpaceStartFiltering int64
	FreeSpaceThreshold      int64
	FreeSpaceStopFiltering  int64
	DefaultQuotaThreshold   int64
	DefaultQuotaLimit       int64
	FileSystemControlFlags  uint32

	// ObjectID is the volume's object id ([MS-FSCC] 2.5.6).
	ObjectID [16]byte
}

func orDefault(v, def uint32) uint32 {
	if v == 0 {
		return def
	}
	return v
}

// AppendFSInfo appends the encoding of the file system query class for
// fs. Classes [MS-FSCC] 2.5 defines but SMB2 cannot query (label, driver
// path, volume flags) yield ErrNotSupported, undefined classes
// ErrInvalidClass ([MS-SMB2] 3.3.5.20.2).
func AppendFSInfo(b []byte, class uint8, fs *FSInfo) ([]byte, error) {
	switch class {
	case FileFsVolumeInformation:
		// [MS-FSCC] 2.5.9: 18 bytes before the label.
		b = le.AppendUint64(b, fs.VolumeCreationTime)
		b = le.AppendUint32(b, fs.VolumeSerialNumber)
		b = le.AppendUint32(b, uint32(utf16Len(fs.VolumeLabel)))
		b = append(b, boolByte(fs.SupportsObjects), 0)
		return EncodeUTF16(b, fs.VolumeLabel), nil
	case FileFsSizeInformation:
		// [MS-FSCC] 2.5.8: AvailableAllocationUnits is what the caller
		// may use.
		b = le.AppendUint64(b, uint64(fs.TotalAllocationUnits))
		b = le.AppendUint64(b, uint64(fs.CallerAvailableAllocationUnits))
		b = le.AppendUint32(b, fs.SectorsPerAllocationUnit)
		return le.AppendUint32(b, fs.BytesPerSector), nil
	case FileFsDeviceInformation:
		b = le.AppendUint32(b, orDefault(fs.DeviceType, FileDeviceDisk))
		return le.AppendUint32(b, fs.DeviceCharacteristics|FileDeviceIsMounted), nil
	case FileFsAttributeInformation:
		// [MS-FSCC] 2.5.1: 12 bytes before the name.
		b = le.AppendUint32(b, fs.FileSystemAttributes)
		b = le.AppendUint32(b, fs.MaxComponentNameLength)
		b = le.AppendUint32(b, uint32(utf16Len(fs.FileSystemName)))
		return EncodeUTF16(b, fs.FileSystemName), nil
	case FileFsControlInformation:
		// [MS-FSCC] 2.5.2: 48 bytes, the last 4 padding.
		b = le.AppendUint64(b, uint64(fs.FreeSpaceStartFiltering))
		b = le.AppendUint64(b, uint64(fs.FreeSpaceThreshold))
		b = le.AppendUint64(b, uint64(fs.FreeSpaceStopFiltering))
		b = le.AppendUint64(b, uint64(fs.DefaultQuotaThreshold))
		b = le.AppendUint64(b, uint64(fs.DefaultQuotaLimit))
		b = le.AppendUint32(b, fs.FileSystemControlFlags)
		return le.AppendUint32(b, 0), nil
	case FileFsFullSizeInformation:
		// [MS-FSCC] 2.5.4.
		b = le.AppendUint64(b, uint64(fs.TotalAllocationUnits))
		b = le.AppendUint64(b, uint64(fs.CallerAvailableAllocationUnits))
		b = le.AppendUint64(b, uint64(fs.ActualAvailableAllocationUnits))
		b = le.AppendUint32(b, fs.SectorsPerAllocationUnit)
		return le.AppendUint32(b, fs.BytesPerSector), nil
	case FileFsObjectIDInformation:
		// [MS-FSCC] 2.5.6: the id and 48 bytes of ExtendedInfo, which
		// this server leaves zero.
		b = append(b, fs.ObjectID[:]...)
		return append(b, zeros[:48]...), nil
	case FileFsSectorSizeInformation:
		// [MS-FSCC] 2.5.7: seven 32-bit fields.
		b = le.AppendUint32(b, fs.BytesPerSector)
		b = le.AppendUint32(b, orDefault(fs.PhysicalBytesPerSectorForAtomicity, fs.BytesPerSector))
		b = le.AppendUint32(b, orDefault(fs.PhysicalBytesPerSectorForPerformance, fs.BytesPerSector))
		b = le.AppendUint32(b, orDefault(fs.FileSystemEffectivePhysicalBytesPerSectorForAtomicity, fs.BytesPerSector))
		b = le.AppendUint32(b, fs.SectorSizeFlags)
		b = le.AppendUint32(b, fs.ByteOffsetForSectorAlignment)
		return le.AppendUint32(b, fs.ByteOffsetForPartitionAlignment), nil
	}
	if _, ok := fsClasses[class]; ok {
		return b, fmt.Errorf("query of file system information class %d: %w", class, ErrNotSupported)
	}
	return b, fmt.Errorf("file system information class %d: %w", class, ErrInvalidClass)
}
