package smbserver

import (
	"math"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/wire"
)

// setSparse implements FSCTL_SET_SPARSE ([MS-FSCC] 2.3.64, [MS-FSA]
// 2.1.5.9.26): no input or a non-zero first byte sets the attribute.
func (c *conn) setSparse(r *request, req *wire.IoctlRequest, o *open) wire.Status {
	if o.isDir {
		return wire.StatusInvalidParameter
	}
	if o.access&(fileWriteData|fileWriteAttributes|fileAppendData) == 0 {
		return wire.StatusAccessDenied
	}
	on := len(req.Input) == 0 || req.Input[0] != 0
	if err := o.handle.SetSparse(r.ctx, on); err != nil {
		return c.mapErr(err)
	}
	ioctlOut(r, req, o, nil)
	return wire.StatusSuccess
}

// queryAllocatedRanges implements FSCTL_QUERY_ALLOCATED_RANGES
// ([MS-FSCC] 2.3.47, [MS-FSA] 2.1.5.9.22).
func (c *conn) queryAllocatedRanges(r *request, req *wire.IoctlRequest, o *open) wire.Status {
	q, err := wire.DecodeAllocatedRange(req.Input)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	if q.FileOffset < 0 || q.Length < 0 || q.FileOffset > math.MaxInt64-q.Length {
		return wire.StatusInvalidParameter
	}
	if o.isDir {
		return wire.StatusInvalidParameter
	}
	if o.access&fileReadData == 0 {
		return wire.StatusAccessDenied
	}
	maxN := int(req.MaxOutputResponse / wire.AllocatedRangeSize)
	rs, more, err := o.handle.AllocatedRanges(q.FileOffset, q.Length, max(maxN, 1))
	if err != nil {
		return c.mapErr(err)
	}
	if maxN == 0 {
		// No room for one entry fails only when there is one to
		// report (Windows; smbtorture smb2.ioctl.sparse_qar_malformed).
		if len(rs) > 0 {
			return wire.StatusBufferTooSmall
		}
		more = false
	}
	out := make([]byte, 0, len(rs)*wire.AllocatedRangeSize)
	for _, x := range rs {
		out = wire.AllocatedRange{FileOffset: x.Offset, Length: x.Length}.AppendTo(out)
	}
	ioctlOut(r, req, o, out)
	if more {
		return wire.StatusBufferOverflow
	}
	return wire.StatusSuccess
}

// setZeroData implements FSCTL_SET_ZERO_DATA ([MS-FSCC] 2.3.67,
// [MS-FSA] 2.1.5.9.27).
func (c *conn) setZeroData(r *request, req *wire.IoctlRequest, o *open) wire.Status {
	z, err := wire.DecodeFileZeroDataInformation(req.Input)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	if z.FileOffset < 0 || z.BeyondFinalZero < 0 || z.FileOffset > z.BeyondFinalZero {
		return wire.StatusInvalidParameter
	}
	if o.isDir {
		return wire.StatusInvalidParameter
	}
	if o.access&fileWriteData == 0 {
		return wire.StatusAccessDenied
	}
	if st := ioLockConflict(o, uint64(z.FileOffset), uint64(z.BeyondFinalZero-z.FileOffset), true); st != wire.StatusSuccess {
		return st
	}
	if err := o.handle.ZeroRange(z.FileOffset, z.BeyondFinalZero); err != nil {
		return c.mapErr(err)
	}
	c.breakOnWrite(r, o)
	ioctlOut(r, req, o, nil)
	return wire.StatusSuccess
}

// fileLevelTrim implements FSCTL_FILE_LEVEL_TRIM ([MS-FSCC] 2.3.76): the
// output is FILE_LEVEL_TRIM_OUTPUT, the number of ranges processed.
func (c *conn) fileLevelTrim(r *request, req *wire.IoctlRequest, o *open) wire.Status {
	t, err := wire.DecodeFileLevelTrim(req.Input)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	if o.isDir {
		return wire.StatusInvalidParameter
	}
	if o.access&fileWriteData == 0 {
		return wire.StatusAccessDenied
	}
	rs := make([]csv.Range, len(t.Ranges))
	for i, x := range t.Ranges {
		rs[i] = csv.Range{Offset: x.FileOffset, Length: x.Length}
	}
	n, err := o.handle.Trim(rs)
	if err != nil {
		return c.mapErr(err)
	}
	c.breakOnWrite(r, o)
	var out []byte
	if req.MaxOutputResponse >= 4 {
		out = []byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}
	}
	ioctlOut(r, req, o, out)
	return wire.StatusSuccess
}

// Compression formats ([MS-FSCC] 2.3.9, 2.3.67).
const (
	compressionFormatNone    = 0x0000
	compressionFormatDefault = 0x0001
	compressionFormatLZNT1   = 0x0002
)

// getCompression implements FSCTL_GET_COMPRESSION ([MS-FSCC] 2.3.9):
// files are never compressed. Windows Server 2016 answers so even where
// the volume cannot compress.
func (c *conn) getCompression(r *request, req *wire.IoctlRequest, o *open) wire.Status {
	if req.MaxOutputResponse < 2 {
		return wire.StatusInvalidParameter
	}
	ioctlOut(r, req, o, []byte{compressionFormatNone, 0})
	return wire.StatusSuccess
}

// setCompression implements FSCTL_SET_COMPRESSION ([MS-FSCC] 2.3.67):
// "none" is what every file is; compressing is not supported by the
// volume (STATUS_NOT_SUPPORTED, as ReFS).
func (c *conn) setCompression(r *request, req *wire.IoctlRequest, o *open) wire.Status {
	if len(req.Input) < 2 {
		return wire.StatusInvalidParameter
	}
	switch uint16(req.Input[0]) | uint16(req.Input[1])<<8 {
	case compressionFormatNone:
	case compressionFormatDefault, compressionFormatLZNT1:
		return wire.StatusNotSupported
	default:
		return wire.StatusInvalidParameter
	}
	if o.access&(fileWriteData|fileWriteAttributes) == 0 {
		return wire.StatusAccessDenied
	}
	ioctlOut(r, req, o, nil)
	return wire.StatusSuccess
}
