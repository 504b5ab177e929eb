package smbserver

import (
	"context"
	"errors"
	"io"
	"math"
	"unsafe"

	"sofs.io/sofs/smbserver/fscc"
	"sofs.io/sofs/smbserver/rpc"
	"sofs.io/sofs/smbserver/smbcrypto"
	"sofs.io/sofs/smbserver/wire"
)

// handleClose implements [MS-SMB2] 3.3.5.10.
func (c *conn) handleClose(r *request) wire.Status {
	var req wire.CloseRequest
	if err := req.Decode(r.msg); err != nil {
		return wire.StatusInvalidParameter
	}
	o, st := c.lookupOpen(r, req.FileID)
	if st != wire.StatusSuccess {
		return st
	}
	resp := wire.CloseResponse{}
	if req.Flags&wire.CloseFlagPostQueryAttrib != 0 && o.handle != nil {
		if info, err := o.handle.Stat(r.ctx); err == nil {
			resp.Flags = wire.CloseFlagPostQueryAttrib
			resp.CreationTime = fscc.FileTime(info.CreationTime)
			resp.LastAccessTime = fscc.FileTime(info.LastAccessTime)
			resp.LastWriteTime = fscc.FileTime(info.LastWriteTime)
			resp.ChangeTime = fscc.FileTime(info.ChangeTime)
			resp.AllocationSize = uint64(info.AllocationSize)
			resp.EndOfFile = uint64(info.EndOfFile)
			resp.FileAttributes = info.Attributes
		}
	}
	r.detachForRecord(o) // conn.go: removing the record is a store round trip
	r.sess.mu.Lock()
	delete(r.sess.opens, o.id.Volatile)
	r.sess.mu.Unlock()
	c.srv.closeOpen(o)
	r.out = resp.AppendTo(r.out)
	return wire.StatusSuccess
}

// handleFlush implements [MS-SMB2] 3.3.5.11.
func (c *conn) handleFlush(r *request) wire.Status {
	var req wire.FlushRequest
	if err := req.Decode(r.msg); err != nil {
		return wire.StatusInvalidParameter
	}
	o, st := c.lookupOpen(r, req.FileID)
	if st != wire.StatusSuccess {
		return st
	}
	if o.pipe == nil {
		if o.access&(fileWriteData|fileAppendData) == 0 {
			return wire.StatusAccessDenied
		}
		if err := o.handle.Sync(); err != nil {
			return c.mapErr(err)
		}
	}
	resp := wire.FlushResponse{}
	r.out = resp.AppendTo(r.out)
	return wire.StatusSuccess
}

// readResponseFixed is the size of the READ response before its data:
// 64-byte header + 16 fixed bytes ([MS-SMB2] 2.2.20; DataOffset 0x50).
const readResponseFixed = wire.HeaderSize + 16

// readDataAlign is the alignment of a READ response's data in memory.
// The pread copies from page-cache pages into it; with the data right
// after the transform header's room and the 80-byte response head it
// began 4 bytes past a cache line, and in perf profiles of seq-read the
// server's pread copy cost 1.32 times the client's socket copy of the
// same bytes; aligned, 1.06 (docs/performance.md).
const readDataAlign = 4096

// readResponseStart is the offset in buf (of capacity at least
// TransformHeaderSize + readResponseFixed + readDataAlign)
// where a READ response starts so that its data is readDataAlign-aligned
// in memory, with smbcrypto.TransformHeaderSize bytes of room before it.
func readResponseStart(buf []byte) int {
	base := uintptr(unsafe.Pointer(unsafe.SliceData(buf[:1])))
	data := (readDataAlign - int((base+readResponseFixed+smbcrypto.TransformHeaderSize)%readDataAlign)) % readDataAlign
	return smbcrypto.TransformHeaderSize + data
}

// handleRead implements [MS-SMB2] 3.3.5.12. File data is read straight
// into the response buffer after its fixed part: no intermediate copy.
func (c *conn) handleRead(r *request) wire.Status {
	var req wire.ReadRequest
	if err := req.Decode(r.msg); err != nil {
		return wire.StatusInvalidParameter
	}
	if req.Length > c.srv.cfg.MaxReadSize {
		return wire.StatusInvalidParameter
	}
	if st := c.checkCharge(r, req.Length); st != wire.StatusSuccess {
		return st
	}
	// File offsets are signed 64-bit in the object store ([MS-FSA]
	// 2.1.5.2: a negative ByteOffset, or a range whose end overflows,
	// is STATUS_INVALID_PARAMETER). Windows checks this before it looks
	// at the FileId.
	if req.Offset > math.MaxInt64 || req.Offset+uint64(req.Length) > math.MaxInt64 {
		return wire.StatusInvalidParameter
	}
	o, st := c.lookupOpen(r, req.FileID)
	if st != wire.StatusSuccess {
		return st
	}
	if o.pipe != nil {
		return c.readPipe(r, o, int(req.Length))
	}
	if o.isDir {
		return wire.StatusInvalidDeviceRequest
	}
	if o.access&(fileReadData|fileExecute) == 0 {
		return wire.StatusAccessDenied
	}
	if req.Length == 0 && req.MinimumCount == 0 {
		// [MS-FSA] 2.1.5.2: a zero-length read succeeds with no data,
		// wherever it is.
		resp := wire.ReadResponse{}
		r.out = resp.AppendFixedTo(r.out, 0)
		return wire.StatusSuccess
	}
	if st := ioLockConflict(o, req.Offset, uint64(req.Length), false); st != wire.StatusSuccess {
		return st // lock.go
	}
	if req.Offset > maxFileSize {
		// Nothing can lie there: reading past any end of file.
		return wire.StatusEndOfFile
	}
	// The data is read straight into the response, which is cut from a
	// buffer with room for a transform header before it and the GCM tag
	// after it: an encrypted response is then sealed where it lies.
	c.srv.bufs.put(r.out)
	r.outBuf = c.srv.bufs.get(smbcrypto.TransformHeaderSize + readResponseFixed + readDataAlign + int(req.Length) + smbcrypto.SealInPlaceRoom)
	start := readResponseStart(r.outBuf)
	r.out = r.outBuf[start:start]
	buf := r.out[:readResponseFixed+int(req.Length)]
	n, err := c.srv.readAt(o.handle, buf[readResponseFixed:], int64(req.Offset))
	if err != nil && !errors.Is(err, io.EOF) {
		return c.mapErr(err)
	}
	if n == 0 && req.Length > 0 || uint32(n) < req.MinimumCount {
		return wire.StatusEndOfFile
	}
	o.mu.Lock()
	o.position = int64(req.Offset) + int64(n)
	o.mu.Unlock()
	resp := wire.ReadResponse{DataLength: uint32(n)}
	r.out = resp.AppendFixedTo(buf[:wire.HeaderSize], uint32(n))
	r.out = r.out[:readResponseFixed+n]
	return wire.StatusSuccess
}

// checkCharge verifies CreditCharge covers a multi-credit payload
// ([MS-SMB2] 3.3.5.2.5: one credit per 64 KiB).
func (c *conn) checkCharge(r *request, payload uint32) wire.Status {
	if c.dialect == Dialect202 || c.serverCaps&wire.GlobalCapLargeMTU == 0 {
		if payload > smb2MaxIO2002 {
			return wire.StatusInvalidParameter
		}
		return wire.StatusSuccess
	}
	need := (payload + 65535) / 65536
	if need == 0 {
		need = 1
	}
	charge := uint32(r.hdr.CreditCharge)
	if charge == 0 {
		charge = 1
	}
	if charge < need {
		return wire.StatusInvalidParameter
	}
	return wire.StatusSuccess
}

func (c *conn) readPipe(r *request, o *open, max int) wire.Status {
	o.mu.Lock()
	data, more, err := o.pipe.Read(max)
	o.mu.Unlock()
	if errors.Is(err, rpc.ErrNoData) {
		return wire.StatusPipeEmpty
	}
	if err != nil {
		return wire.StatusPipeBroken
	}
	resp := wire.ReadResponse{DataLength: uint32(len(data))}
	r.out = resp.AppendFixedTo(r.out, uint32(len(data)))
	r.out = append(r.out, data...)
	if more {
		return wire.StatusBufferOverflow
	}
	return wire.StatusSuccess
}

// Write flags ([MS-SMB2] 2.2.21).
const writeFlagWriteThrough = 0x00000001

// handleWrite implements [MS-SMB2] 3.3.5.13. On a continuously available
// share every write is write-through: it is on stable storage before it
// is acknowledged (BRIEF rule 1).
func (c *conn) handleWrite(r *request) wire.Status {
	var req wire.WriteRequest
	if err := req.Decode(r.msg); err != nil {
		return wire.StatusInvalidParameter
	}
	if uint32(len(req.Data)) > c.srv.cfg.MaxWriteSize {
		return wire.StatusInvalidParameter
	}
	if st := c.checkCharge(r, uint32(len(req.Data))); st != wire.StatusSuccess {
		return st
	}
	// As for READ, a negative offset (including 0xFFFFFFFFFFFFFFFF,
	// which the local FILE_WRITE_TO_END_OF_FILE convention would mean
	// "append" but the SMB2 server refuses) is STATUS_INVALID_PARAMETER
	// before the FileId is looked at ([MS-FSA] 2.1.5.3).
	if req.Offset > math.MaxInt64 {
		return wire.StatusInvalidParameter
	}
	o, st := c.lookupOpen(r, req.FileID)
	if st != wire.StatusSuccess {
		return st
	}
	if o.pipe != nil {
		o.mu.Lock()
		err := o.pipe.Write(req.Data)
		o.mu.Unlock()
		if err != nil {
			return wire.StatusPipeBroken
		}
		resp := wire.WriteResponse{Count: uint32(len(req.Data))}
		r.out = resp.AppendTo(r.out)
		return wire.StatusSuccess
	}
	if o.isDir {
		return wire.StatusInvalidDeviceRequest
	}
	if o.access&(fileWriteData|fileAppendData) == 0 {
		return wire.StatusAccessDenied
	}
	off := int64(req.Offset)
	if len(req.Data) == 0 {
		// [MS-FSA] 2.1.5.3: writing nothing succeeds and changes
		// nothing, at any valid offset.
		resp := wire.WriteResponse{}
		r.out = resp.AppendTo(r.out)
		return wire.StatusSuccess
	}
	if st := ioLockConflict(o, req.Offset, uint64(len(req.Data)), true); st != wire.StatusSuccess {
		return st // lock.go
	}
	end := off + int64(len(req.Data))
	if end > maxFileSize {
		return wire.StatusInvalidParameter
	}
	if st := c.checkExtend(r.ctx, o, end); st != wire.StatusSuccess {
		return st
	}
	n, err := o.handle.WriteAt(req.Data, off)
	if err != nil {
		return c.mapErr(err)
	}
	c.breakOnWrite(r, o) // oplock.go
	if o.tree.share.ContinuouslyAvailable || req.Flags&writeFlagWriteThrough != 0 || o.options&optWriteThrough != 0 {
		r.detach() // stable storage takes milliseconds: not on the reader
		if err := o.handle.Sync(); err != nil {
			return c.mapErr(err)
		}
	}
	o.mu.Lock()
	o.position = off + int64(n)
	o.mu.Unlock()
	resp := wire.WriteResponse{Count: uint32(n)}
	r.out = resp.AppendTo(r.out)
	return wire.StatusSuccess
}

// checkExtend refuses to grow a non-sparse file past the free space of
// the volume. On NTFS, extending a file that is not sparse allocates
// every byte up to the new end of file, so a write far past the end
// fails with STATUS_DISK_FULL instead of leaving a hole; the backing file
// system would silently create a sparse hole, and a later fill of that
// hole could fail where Windows had refused up front. The growth is at
// most end, so the common case costs one statfs and no file Stat.
func (c *conn) checkExtend(ctx context.Context, o *open, end int64) wire.Status {
	if end <= extendCheckThreshold {
		return wire.StatusSuccess
	}
	fs, err := o.tree.vol.StatFS()
	if err != nil {
		return c.mapErr(err)
	}
	if end <= fs.AvailableBytes {
		return wire.StatusSuccess
	}
	info, err := o.handle.Stat(ctx)
	if err != nil {
		return c.mapErr(err)
	}
	if info.Attributes&attrSparse != 0 || end-info.EndOfFile <= fs.AvailableBytes {
		return wire.StatusSuccess
	}
	return wire.StatusDiskFull
}

// extendCheckThreshold is the end of file below which checkExtend does not
// ask the file system for its free space: such a write either fits or
// fails with ENOSPC by itself.
const extendCheckThreshold = 1 << 20

// maxFileSize is the largest file end a WRITE may reach: NTFS's limit of
// 2^44 - 64 KiB is what Windows clients are used to, and it stays below
// every backing file system's limit so the error is ours, not EFBIG.
const maxFileSize = 1<<44 - 64<<10
