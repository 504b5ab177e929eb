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
	if err := o.handle.SetSparse(on); err != nil {
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
	if maxN == 0 {
		return wire.StatusBufferTooSmall
	}
	rs, more, err := o.handle.AllocatedRanges(q.FileOffset, q.Length, maxN)
	if err != nil {
		return c.mapErr(err)
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
