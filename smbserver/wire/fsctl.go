package wire

// FSCTL input and output structures ([MS-FSCC] 2.3, [MS-SMB2] 2.2.31.x
// and 2.2.32.x). Decoders take the IOCTL input buffer; every count is
// checked against the buffer before anything is allocated.

// More FSCTL codes ([MS-FSCC] 2.3).
const (
	FsctlGetObjectID           uint32 = 0x0009009C
	FsctlSetObjectID           uint32 = 0x00090098
	FsctlDeleteObjectID        uint32 = 0x000900A0
	FsctlSetObjectIDExtended   uint32 = 0x000900BC
	FsctlIsPathnameValid       uint32 = 0x0009002C
	FsctlIsVolumeDirty         uint32 = 0x00090078
	FsctlFilesystemGetStats    uint32 = 0x00090060
	FsctlGetNtfsVolumeData     uint32 = 0x00090064
	FsctlGetRetrievalPointers  uint32 = 0x00090073
	FsctlFindFilesBySid        uint32 = 0x0009008F
	FsctlReadFileUsnData       uint32 = 0x000900EB
	FsctlRecallFile            uint32 = 0x00090117
	FsctlSetShortNameBehavior  uint32 = 0x000901B4
	FsctlSetZeroOnDeallocate   uint32 = 0x00090194
	FsctlSetDefectManagement   uint32 = 0x00098134
	FsctlSetEncryption         uint32 = 0x000900D7
	FsctlSisCopyfile           uint32 = 0x00090100
	FsctlWriteUsnCloseRecord   uint32 = 0x000900EF
	FsctlQueryOnDiskVolumeInfo uint32 = 0x0009013C
	FsctlQuerySparingInfo      uint32 = 0x00090138
	FsctlMarkHandle            uint32 = 0x000900FC
	FsctlGetReparsePointAlt    uint32 = 0x000900A8
	FsctlLmrGetLinkTrackInfo   uint32 = 0x001400E8
	FsctlLmrSetLinkTrackInfo   uint32 = 0x001400EC
	FsctlDuplicateExtentsEx    uint32 = 0x000983E8
)

// FileZeroDataInformation is the FSCTL_SET_ZERO_DATA input ([MS-FSCC]
// 2.3.67).
type FileZeroDataInformation struct {
	FileOffset      int64
	BeyondFinalZero int64
}

// DecodeFileZeroDataInformation decodes 16 bytes.
func DecodeFileZeroDataInformation(in []byte) (FileZeroDataInformation, error) {
	if len(in) < 16 {
		return FileZeroDataInformation{}, malformed("FILE_ZERO_DATA_INFORMATION of %d bytes", len(in))
	}
	return FileZeroDataInformation{int64(le.Uint64(in)), int64(le.Uint64(in[8:]))}, nil
}

// Encode returns the 16-byte input.
func (z FileZeroDataInformation) Encode() []byte {
	return appendU64(appendU64(nil, uint64(z.FileOffset)), uint64(z.BeyondFinalZero))
}

// AllocatedRange is FILE_ALLOCATED_RANGE_BUFFER ([MS-FSCC] 2.3.47,
// 2.3.48): the FSCTL_QUERY_ALLOCATED_RANGES input and each output entry.
type AllocatedRange struct {
	FileOffset int64
	Length     int64
}

// AllocatedRangeSize is the encoded size of an AllocatedRange.
const AllocatedRangeSize = 16

// DecodeAllocatedRange decodes 16 bytes.
func DecodeAllocatedRange(in []byte) (AllocatedRange, error) {
	if len(in) < AllocatedRangeSize {
		return AllocatedRange{}, malformed("FILE_ALLOCATED_RANGE_BUFFER of %d bytes", len(in))
	}
	return AllocatedRange{int64(le.Uint64(in)), int64(le.Uint64(in[8:]))}, nil
}

// AppendTo appends the 16-byte encoding.
func (a AllocatedRange) AppendTo(b []byte) []byte {
	return appendU64(appendU64(b, uint64(a.FileOffset)), uint64(a.Length))
}

// FileLevelTrim is the FSCTL_FILE_LEVEL_TRIM input ([MS-FSCC] 2.3.76):
// Key (reserved) and ranges of 16 bytes each (offset, length).
type FileLevelTrim struct {
	Key    uint32
	Ranges []AllocatedRange
}

// DecodeFileLevelTrim decodes the input; NumRanges must fit the buffer.
func DecodeFileLevelTrim(in []byte) (FileLevelTrim, error) {
	var t FileLevelTrim
	if len(in) < 8 {
		return t, malformed("FILE_LEVEL_TRIM of %d bytes", len(in))
	}
	t.Key = le.Uint32(in)
	n := uint64(le.Uint32(in[4:]))
	if 8+n*16 > uint64(len(in)) {
		return t, malformed("FILE_LEVEL_TRIM: %d ranges exceed %d bytes", n, len(in))
	}
	t.Ranges = make([]AllocatedRange, n)
	for i := range t.Ranges {
		t.Ranges[i], _ = DecodeAllocatedRange(in[8+16*i:])
	}
	return t, nil
}

// Encode returns the input bytes.
func (t FileLevelTrim) Encode() []byte {
	b := appendU32(nil, t.Key)
	b = appendU32(b, uint32(len(t.Ranges)))
	for _, r := range t.Ranges {
		b = r.AppendTo(b)
	}
	return b
}

// ResumeKeySize is the size of a copychunk resume key ([MS-SMB2]
// 2.2.32.3).
const ResumeKeySize = 24

// SrvRequestResumeKeyResponse is SRV_REQUEST_RESUME_KEY ([MS-SMB2]
// 2.2.32.3): the key and an empty context.
func SrvRequestResumeKeyResponse(key [ResumeKeySize]byte) []byte {
	b := append(make([]byte, 0, 32), key[:]...)
	return appendU32(appendU32(b, 0), 0) // ContextLength, Context (4 bytes, as Windows)
}

// SrvCopychunk is one SRV_COPYCHUNK entry ([MS-SMB2] 2.2.31.1.1).
type SrvCopychunk struct {
	SourceOffset uint64
	TargetOffset uint64
	Length       uint32
}

// SrvCopychunkCopy is the FSCTL_SRV_COPYCHUNK(_WRITE) input ([MS-SMB2]
// 2.2.31.1).
type SrvCopychunkCopy struct {
	SourceKey [ResumeKeySize]byte
	Chunks    []SrvCopychunk
}

// DecodeSrvCopychunkCopy decodes the input. The chunk count is checked
// against the buffer before the chunks are allocated; the caller checks
// it against ChunksPerCopy.
func DecodeSrvCopychunkCopy(in []byte) (SrvCopychunkCopy, error) {
	var c SrvCopychunkCopy
	if len(in) < 32 {
		return c, malformed("SRV_COPYCHUNK_COPY of %d bytes", len(in))
	}
	copy(c.SourceKey[:], in)
	n := uint64(le.Uint32(in[24:]))
	if 32+n*24 > uint64(len(in)) {
		return c, malformed("SRV_COPYCHUNK_COPY: %d chunks exceed %d bytes", n, len(in))
	}
	c.Chunks = make([]SrvCopychunk, n)
	for i := range c.Chunks {
		p := in[32+24*i:]
		c.Chunks[i] = SrvCopychunk{le.Uint64(p), le.Uint64(p[8:]), le.Uint32(p[16:])}
	}
	return c, nil
}

// Encode returns the input bytes.
func (c SrvCopychunkCopy) Encode() []byte {
	b := append([]byte(nil), c.SourceKey[:]...)
	b = appendU32(b, uint32(len(c.Chunks)))
	b = appendU32(b, 0)
	for _, ch := range c.Chunks {
		b = appendU64(b, ch.SourceOffset)
		b = appendU64(b, ch.TargetOffset)
		b = appendU32(b, ch.Length)
		b = appendU32(b, 0)
	}
	return b
}

// SrvCopychunkResponse is SRV_COPYCHUNK_RESPONSE ([MS-SMB2] 2.2.32.1).
type SrvCopychunkResponse struct {
	ChunksWritten     uint32
	ChunkBytesWritten uint32
	TotalBytesWritten uint32
}

// Encode returns the 12-byte output.
func (r SrvCopychunkResponse) Encode() []byte {
	return appendU32(appendU32(appendU32(make([]byte, 0, 12), r.ChunksWritten), r.ChunkBytesWritten), r.TotalBytesWritten)
}

// DecodeSrvCopychunkResponse decodes 12 bytes.
func DecodeSrvCopychunkResponse(out []byte) (SrvCopychunkResponse, error) {
	if len(out) < 12 {
		return SrvCopychunkResponse{}, malformed("SRV_COPYCHUNK_RESPONSE of %d bytes", len(out))
	}
	return SrvCopychunkResponse{le.Uint32(out), le.Uint32(out[4:]), le.Uint32(out[8:])}, nil
}

// NetworkResiliencyRequest is the FSCTL_LMR_REQUEST_RESILIENCY input
// ([MS-SMB2] 2.2.31.3): the timeout in milliseconds.
type NetworkResiliencyRequest struct {
	Timeout uint32
}

// DecodeNetworkResiliencyRequest decodes 8 bytes.
func DecodeNetworkResiliencyRequest(in []byte) (NetworkResiliencyRequest, error) {
	if len(in) < 8 {
		return NetworkResiliencyRequest{}, malformed("NETWORK_RESILIENCY_REQUEST of %d bytes", len(in))
	}
	return NetworkResiliencyRequest{le.Uint32(in)}, nil
}

// Encode returns the 8-byte input.
func (r NetworkResiliencyRequest) Encode() []byte { return appendU32(appendU32(nil, r.Timeout), 0) }

// FileObjectIDBuffer is FILE_OBJECTID_BUFFER ([MS-FSCC] 2.1.3), type 1
// (ObjectId followed by the extended info).
type FileObjectIDBuffer struct {
	ObjectID      [16]byte
	BirthVolumeID [16]byte
	BirthObjectID [16]byte
	DomainID      [16]byte
}

// Encode returns the 64-byte buffer.
func (f FileObjectIDBuffer) Encode() []byte {
	b := make([]byte, 0, 64)
	b = append(b, f.ObjectID[:]...)
	b = append(b, f.BirthVolumeID[:]...)
	b = append(b, f.BirthObjectID[:]...)
	return append(b, f.DomainID[:]...)
}

// IntegrityInformation is FSCTL_GET_INTEGRITY_INFORMATION_BUFFER
// ([MS-FSCC] 2.3.34) and, in its first 8 bytes,
// FSCTL_SET_INTEGRITY_INFORMATION_BUFFER (2.3.80).
type IntegrityInformation struct {
	ChecksumAlgorithm uint16
	Flags             uint32
	ChecksumChunkSize uint32
	ClusterSize       uint32
}

// Checksum algorithms ([MS-FSCC] 2.3.80).
const (
	ChecksumTypeNone      uint16 = 0x0000
	ChecksumTypeCRC64     uint16 = 0x0002
	ChecksumTypeUnchanged uint16 = 0xFFFF
)

// DecodeSetIntegrityInformation decodes the 8-byte SET input.
func DecodeSetIntegrityInformation(in []byte) (IntegrityInformation, error) {
	if len(in) < 8 {
		return IntegrityInformation{}, malformed("SET_INTEGRITY_INFORMATION of %d bytes", len(in))
	}
	return IntegrityInformation{ChecksumAlgorithm: le.Uint16(in), Flags: le.Uint32(in[4:])}, nil
}

// EncodeGet returns the 16-byte GET output.
func (i IntegrityInformation) EncodeGet() []byte {
	b := appendU16(make([]byte, 0, 16), i.ChecksumAlgorithm)
	b = appendU16(b, 0)
	b = appendU32(b, i.Flags)
	b = appendU32(b, i.ChecksumChunkSize)
	return appendU32(b, i.ClusterSize)
}

// OffloadTokenSize is the size of a STORAGE_OFFLOAD_TOKEN ([MS-FSCC]
// 2.3.79).
const OffloadTokenSize = 512

// OffloadReadInput is FSCTL_OFFLOAD_READ_INPUT ([MS-FSCC] 2.3.77).
type OffloadReadInput struct {
	Flags           uint32
	TokenTimeToLive uint32 // milliseconds; 0 = default
	FileOffset      uint64
	CopyLength      uint64
}

// DecodeOffloadReadInput decodes 32 bytes; Size must be 32.
func DecodeOffloadReadInput(in []byte) (OffloadReadInput, error) {
	if len(in) < 32 || le.Uint32(in) != 32 {
		return OffloadReadInput{}, malformed("FSCTL_OFFLOAD_READ_INPUT of %d bytes", len(in))
	}
	return OffloadReadInput{le.Uint32(in[4:]), le.Uint32(in[8:]), le.Uint64(in[16:]), le.Uint64(in[24:])}, nil
}

// Encode returns the 32-byte input.
func (o OffloadReadInput) Encode() []byte {
	b := appendU32(nil, 32)
	b = appendU32(b, o.Flags)
	b = appendU32(b, o.TokenTimeToLive)
	b = appendU32(b, 0)
	b = appendU64(b, o.FileOffset)
	return appendU64(b, o.CopyLength)
}

// OffloadReadOutput is FSCTL_OFFLOAD_READ_OUTPUT ([MS-FSCC] 2.3.78).
type OffloadReadOutput struct {
	Flags          uint32
	TransferLength uint64
	Token          [OffloadTokenSize]byte
}

// Encode returns the 528-byte output.
func (o OffloadReadOutput) Encode() []byte {
	b := appendU32(make([]byte, 0, 16+OffloadTokenSize), 16+OffloadTokenSize)
	b = appendU32(b, o.Flags)
	b = appendU64(b, o.TransferLength)
	return append(b, o.Token[:]...)
}

// DecodeOffloadReadOutput decodes the output.
func DecodeOffloadReadOutput(out []byte) (OffloadReadOutput, error) {
	var o OffloadReadOutput
	if len(out) < 16+OffloadTokenSize {
		return o, malformed("FSCTL_OFFLOAD_READ_OUTPUT of %d bytes", len(out))
	}
	o.Flags = le.Uint32(out[4:])
	o.TransferLength = le.Uint64(out[8:])
	copy(o.Token[:], out[16:])
	return o, nil
}

// OffloadWriteInput is FSCTL_OFFLOAD_WRITE_INPUT ([MS-FSCC] 2.3.80).
type OffloadWriteInput struct {
	Flags          uint32
	FileOffset     uint64
	CopyLength     uint64
	TransferOffset uint64
	Token          [OffloadTokenSize]byte
}

// DecodeOffloadWriteInput decodes the input; Size must be 544.
func DecodeOffloadWriteInput(in []byte) (OffloadWriteInput, error) {
	var o OffloadWriteInput
	if len(in) < 32+OffloadTokenSize || le.Uint32(in) != 32+OffloadTokenSize {
		return o, malformed("FSCTL_OFFLOAD_WRITE_INPUT of %d bytes", len(in))
	}
	o.Flags = le.Uint32(in[4:])
	o.FileOffset = le.Uint64(in[8:])
	o.CopyLength = le.Uint64(in[16:])
	o.TransferOffset = le.Uint64(in[24:])
	copy(o.Token[:], in[32:])
	return o, nil
}

// Encode returns the 544-byte input.
func (o OffloadWriteInput) Encode() []byte {
	b := appendU32(nil, 32+OffloadTokenSize)
	b = appendU32(b, o.Flags)
	b = appendU64(b, o.FileOffset)
	b = appendU64(b, o.CopyLength)
	b = appendU64(b, o.TransferOffset)
	return append(b, o.Token[:]...)
}

// OffloadWriteOutput encodes FSCTL_OFFLOAD_WRITE_OUTPUT ([MS-FSCC]
// 2.3.81).
func OffloadWriteOutput(lengthWritten uint64) []byte {
	b := appendU32(make([]byte, 0, 16), 16)
	b = appendU32(b, 0)
	return appendU64(b, lengthWritten)
}

// DuplicateExtentsData is DUPLICATE_EXTENTS_DATA ([MS-FSCC] 2.3.8): the
// source FileId (SMB2 FileId, 16 bytes over the wire) and the ranges.
type DuplicateExtentsData struct {
	FileHandle       FileID
	SourceFileOffset int64
	TargetFileOffset int64
	ByteCount        int64
}

// DecodeDuplicateExtentsData decodes 40 bytes.
func DecodeDuplicateExtentsData(in []byte) (DuplicateExtentsData, error) {
	if len(in) < 40 {
		return DuplicateExtentsData{}, malformed("DUPLICATE_EXTENTS_DATA of %d bytes", len(in))
	}
	return DuplicateExtentsData{DecodeFileID(in), int64(le.Uint64(in[16:])), int64(le.Uint64(in[24:])), int64(le.Uint64(in[32:]))}, nil
}

// Encode returns the 40-byte input.
func (d DuplicateExtentsData) Encode() []byte {
	b := d.FileHandle.AppendTo(nil)
	b = appendU64(b, uint64(d.SourceFileOffset))
	b = appendU64(b, uint64(d.TargetFileOffset))
	return appendU64(b, uint64(d.ByteCount))
}

// NetworkInterfaceInfo is one NETWORK_INTERFACE_INFO entry ([MS-SMB2]
// 2.2.32.5).
type NetworkInterfaceInfo struct {
	IfIndex    uint32
	Capability uint32 // RSS_CAPABLE 1, RDMA_CAPABLE 2
	LinkSpeed  uint64 // bits per second
	IP         []byte // 4 or 16 bytes
}

// EncodeNetworkInterfaces returns the chained NETWORK_INTERFACE_INFO
// entries (152 bytes each, the last with Next 0).
func EncodeNetworkInterfaces(ifs []NetworkInterfaceInfo) []byte {
	const entry = 152
	b := make([]byte, 0, entry*len(ifs))
	for i, f := range ifs {
		next := uint32(entry)
		if i == len(ifs)-1 {
			next = 0
		}
		b = appendU32(b, next)
		b = appendU32(b, f.IfIndex)
		b = appendU32(b, f.Capability)
		b = appendU32(b, 0)
		b = appendU64(b, f.LinkSpeed)
		// SOCKADDR_STORAGE, 128 bytes.
		sa := make([]byte, 128)
		if ip4 := len(f.IP) == 4; ip4 {
			le.PutUint16(sa, 0x0002) // InterNetwork
			copy(sa[4:8], f.IP)
		} else {
			le.PutUint16(sa, 0x0017) // InterNetworkV6
			copy(sa[8:24], f.IP)
		}
		b = append(b, sa...)
	}
	return b
}
