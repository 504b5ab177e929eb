package smbserver

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/wire"
)

// Server-side copy limits ([MS-SMB2] 3.3.3: ServerSideCopyMaxNumberofChunks,
// ServerSideCopyMaxChunkSize, ServerSideCopyMaxDataSize), as Windows.
const (
	copyMaxChunks    = 256
	copyMaxChunkSize = 1 << 20
	copyMaxTotal     = 16 << 20
)

// statusInvalidToken is STATUS_INVALID_TOKEN: an offload token that is
// unknown, expired or whose source changed ([MS-FSA] 2.1.5.10.23).
const statusInvalidToken wire.Status = 0xC0000465

// copyKeys holds, per server, the resume keys (FSCTL_SRV_REQUEST_RESUME_KEY)
// and offload tokens (FSCTL_OFFLOAD_READ) handed out: random and
// unguessable, meaningful only to the server that issued them, and never
// valid past the open they name.
type copyKeys struct {
	init   sync.Once
	mu     sync.Mutex
	resume map[[wire.ResumeKeySize]byte]*open
	byOpen map[*open][wire.ResumeKeySize]byte
	tokens map[[wire.OffloadTokenSize]byte]*offloadToken
}

// offloadToken is what an ODX token stands for: a range of a file as it
// was when the token was made.
type offloadToken struct {
	src     *open
	off, n  int64
	gen     csv.FileInfo // size and write time at issue: a change voids it
	expires time.Time
}

// copyKeys returns the server's keys, made on first use: most servers
// never copy.
func (s *Server) copyKeys() *copyKeys {
	k := &s.copies
	k.init.Do(func() {
		k.resume = make(map[[wire.ResumeKeySize]byte]*open)
		k.byOpen = make(map[*open][wire.ResumeKeySize]byte)
		k.tokens = make(map[[wire.OffloadTokenSize]byte]*offloadToken)
	})
	return k
}

// live reports whether o is still open in s.
func (s *Server) live(o *open) bool {
	return s.opens.get(o.id.Volatile) == o
}

// sweep drops keys of closed opens and expired tokens; k.mu is held.
func (k *copyKeys) sweep(s *Server) {
	for key, o := range k.resume {
		if !s.live(o) {
			delete(k.resume, key)
			delete(k.byOpen, o)
		}
	}
	now := time.Now()
	for t, tok := range k.tokens {
		if now.After(tok.expires) || !s.live(tok.src) {
			delete(k.tokens, t)
		}
	}
}

// requestResumeKey implements FSCTL_SRV_REQUEST_RESUME_KEY ([MS-SMB2]
// 3.3.5.15.5): one random key per open.
func (c *conn) requestResumeKey(r *request, req *wire.IoctlRequest, o *open) wire.Status {
	if req.MaxOutputResponse < 32 {
		return wire.StatusInvalidParameter
	}
	k := c.srv.copyKeys()
	k.mu.Lock()
	key, ok := k.byOpen[o]
	if !ok {
		if len(k.resume) >= 4096 {
			k.sweep(c.srv)
		}
		rand.Read(key[:])
		k.resume[key] = o
		k.byOpen[o] = key
	}
	k.mu.Unlock()
	ioctlOut(r, req, o, wire.SrvRequestResumeKeyResponse(key))
	return wire.StatusSuccess
}

// copyLimits is the SRV_COPYCHUNK_RESPONSE sent with
// STATUS_INVALID_PARAMETER when a request exceeds the limits ([MS-SMB2]
// 3.3.5.15.6).
func copyLimits(r *request, req *wire.IoctlRequest, o *open) wire.Status {
	ioctlOut(r, req, o, wire.SrvCopychunkResponse{
		ChunksWritten: copyMaxChunks, ChunkBytesWritten: copyMaxChunkSize, TotalBytesWritten: copyMaxTotal,
	}.Encode())
	return wire.StatusInvalidParameter
}

// copychunk implements FSCTL_SRV_COPYCHUNK and FSCTL_SRV_COPYCHUNK_WRITE
// ([MS-SMB2] 3.3.5.15.6) with copy_file_range.
func (c *conn) copychunk(r *request, req *wire.IoctlRequest, o *open) wire.Status {
	in, err := wire.DecodeSrvCopychunkCopy(req.Input)
	if err != nil {
		if len(req.Input) >= 32 && le32(req.Input[24:]) > copyMaxChunks {
			return copyLimits(r, req, o)
		}
		return wire.StatusInvalidParameter
	}
	need := fileWriteData
	if req.CtlCode == wire.FsctlSrvCopychunk {
		need |= fileReadData
	}
	if o.access&need != need {
		return wire.StatusAccessDenied
	}
	if req.MaxOutputResponse < 12 {
		return wire.StatusInvalidParameter
	}
	if len(in.Chunks) > copyMaxChunks {
		return copyLimits(r, req, o)
	}
	var total uint64
	for _, ch := range in.Chunks {
		if ch.Length == 0 || ch.Length > copyMaxChunkSize {
			return copyLimits(r, req, o)
		}
		total += uint64(ch.Length)
	}
	if total > copyMaxTotal {
		return copyLimits(r, req, o)
	}
	src, st := c.copychunkSource(r, in)
	if st != wire.StatusSuccess {
		return st
	}
	defer src.close()
	// Read or execute access suffices on the source, as on Windows.
	if src.access&(fileReadData|fileExecute) == 0 {
		return wire.StatusAccessDenied
	}
	if src.isDir || o.isDir {
		return wire.StatusInvalidDeviceRequest
	}
	var resp wire.SrvCopychunkResponse
	// partial ends the request after some chunks: the response body
	// tells the client how far the copy got.
	partial := func(st wire.Status) wire.Status {
		if resp.TotalBytesWritten > 0 {
			c.breakOnWrite(r, o)
		}
		ioctlOut(r, req, o, resp.Encode())
		return st
	}
	for i, ch := range in.Chunks {
		if int64(ch.SourceOffset) < 0 || int64(ch.TargetOffset) < 0 {
			return wire.StatusInvalidParameter
		}
		// A lock conflict also carries the progress (smbtorture
		// smb2.ioctl.copy_chunk_src_lock).
		if st := src.conflict(i, ch.SourceOffset, uint64(ch.Length)); st != wire.StatusSuccess {
			return partial(st)
		}
		if st := ioLockConflict(o, ch.TargetOffset, uint64(ch.Length), true); st != wire.StatusSuccess {
			return partial(st)
		}
		fi, err := src.h.Stat(r.ctx)
		if err != nil {
			return c.mapErr(err)
		}
		if ch.SourceOffset+uint64(ch.Length) > uint64(fi.EndOfFile) {
			// The chunk runs past the end of the source: nothing of it
			// is copied ([MS-SMB2] 3.3.5.15.6; Windows answers
			// STATUS_INVALID_VIEW_SIZE with the progress so far).
			return partial(wire.StatusInvalidViewSize)
		}
		n, err := o.handle.CopyRange(src.h, int64(ch.SourceOffset), int64(ch.TargetOffset), int64(ch.Length))
		resp.TotalBytesWritten += uint32(n)
		if err != nil {
			if resp.TotalBytesWritten > 0 {
				c.breakOnWrite(r, o)
			}
			return c.mapErr(err)
		}
		if n < int64(ch.Length) {
			return partial(wire.StatusInvalidViewSize) // the source shrank meanwhile
		}
		resp.ChunksWritten++
	}
	return partial(wire.StatusSuccess)
}

// Offload (ODX) parameters ([MS-FSCC] 2.3.77-2.3.81).
const (
	offloadSector                         = 512
	offloadDefaultTTL                     = 10 * time.Second
	offloadMaxTTL                         = 5 * time.Minute
	offloadFlagAllZeroPast                = 0x00000001 // OFFLOAD_READ_FLAG_ALL_ZERO_BEYOND_CURRENT_RANGE
	storageOffloadTokenTypeDefault uint32 = 0xFFFF0001
)

// offloadRead implements FSCTL_OFFLOAD_READ ([MS-FSCC] 2.3.77, [MS-FSA]
// 2.1.5.10.22): a 512-byte token for a sector-aligned range of the file,
// held by the server with the file's state, until it expires.
func (c *conn) offloadRead(r *request, req *wire.IoctlRequest, o *open) wire.Status {
	in, err := wire.DecodeOffloadReadInput(req.Input)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	if req.MaxOutputResponse < 16+wire.OffloadTokenSize {
		return wire.StatusInvalidParameter
	}
	if o.isDir {
		return wire.StatusInvalidParameter
	}
	if o.access&fileReadData == 0 {
		return wire.StatusAccessDenied
	}
	if in.FileOffset%offloadSector != 0 || in.CopyLength%offloadSector != 0 || int64(in.FileOffset) < 0 || int64(in.CopyLength) < 0 {
		return wire.StatusInvalidParameter
	}
	fi, err := o.handle.Stat(r.ctx)
	if err != nil {
		return c.mapErr(err)
	}
	off := int64(in.FileOffset)
	if off >= fi.EndOfFile {
		return wire.StatusEndOfFile
	}
	n := min(int64(in.CopyLength), fi.EndOfFile-off)
	if st := ioLockConflict(o, in.FileOffset, uint64(n), false); st != wire.StatusSuccess {
		return st
	}
	var out wire.OffloadReadOutput
	if off+n >= fi.EndOfFile {
		out.Flags = offloadFlagAllZeroPast
	}
	out.TransferLength = uint64(n)
	ttl := offloadDefaultTTL
	if in.TokenTimeToLive != 0 {
		ttl = min(time.Duration(in.TokenTimeToLive)*time.Millisecond, offloadMaxTTL)
	}
	// STORAGE_OFFLOAD_TOKEN: TokenType, Reserved, TokenIdLength, then
	// the id: random bytes the server maps back to the range.
	// The header fields are big-endian, as SCSI's ROD token.
	binary.BigEndian.PutUint32(out.Token[0:], storageOffloadTokenTypeDefault)
	binary.BigEndian.PutUint16(out.Token[6:], wire.OffloadTokenSize-8)
	rand.Read(out.Token[8:])
	k := c.srv.copyKeys()
	k.mu.Lock()
	if len(k.tokens) >= 4096 {
		k.sweep(c.srv)
	}
	if len(k.tokens) >= 4096 {
		k.mu.Unlock()
		return wire.StatusInsufficientResources
	}
	k.tokens[out.Token] = &offloadToken{src: o, off: off, n: n, gen: fi, expires: time.Now().Add(ttl)}
	k.mu.Unlock()
	ioctlOut(r, req, o, out.Encode())
	return wire.StatusSuccess
}

func putLE32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// offloadWrite implements FSCTL_OFFLOAD_WRITE ([MS-FSCC] 2.3.80,
// [MS-FSA] 2.1.5.10.23): the token's range, from TransferOffset, is
// copied into the file with copy_file_range (reflink where the file
// system can).
func (c *conn) offloadWrite(r *request, req *wire.IoctlRequest, o *open) wire.Status {
	in, err := wire.DecodeOffloadWriteInput(req.Input)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	if req.MaxOutputResponse < 16 {
		return wire.StatusInvalidParameter
	}
	if o.isDir {
		return wire.StatusInvalidParameter
	}
	if o.access&fileWriteData == 0 {
		return wire.StatusAccessDenied
	}
	if in.FileOffset%offloadSector != 0 || in.CopyLength%offloadSector != 0 || in.TransferOffset%offloadSector != 0 ||
		int64(in.FileOffset) < 0 || int64(in.CopyLength) < 0 || int64(in.TransferOffset) < 0 {
		return wire.StatusInvalidParameter
	}
	tok, src, st := c.offloadSource(r, in.Token)
	if st != wire.StatusSuccess {
		return st
	}
	defer src.close()
	fi, err := src.h.Stat(r.ctx)
	if err != nil || fi.EndOfFile != tok.gen.EndOfFile || !fi.LastWriteTime.Equal(tok.gen.LastWriteTime) {
		return statusInvalidToken // the source changed since the token was made
	}
	if int64(in.TransferOffset) >= tok.n {
		return wire.StatusInvalidParameter
	}
	n := min(int64(in.CopyLength), tok.n-int64(in.TransferOffset))
	if st := ioLockConflict(o, in.FileOffset, uint64(n), true); st != wire.StatusSuccess {
		return st
	}
	done, err := o.handle.CopyRange(src.h, tok.off+int64(in.TransferOffset), int64(in.FileOffset), n)
	if done > 0 {
		c.breakOnWrite(r, o)
	}
	if err != nil {
		return c.mapErr(err)
	}
	ioctlOut(r, req, o, wire.OffloadWriteOutput(uint64(done)))
	return wire.StatusSuccess
}

// duplicateExtents implements FSCTL_DUPLICATE_EXTENTS_TO_FILE ([MS-FSCC]
// 2.3.8, [MS-FSA] 2.1.5.10.4) with FICLONERANGE; volumes without reflink
// answer STATUS_INVALID_DEVICE_REQUEST, as a file system without block
// refcounting does.
func (c *conn) duplicateExtents(r *request, req *wire.IoctlRequest, o *open) wire.Status {
	if !o.handle.SupportsReflink() {
		return wire.StatusInvalidDeviceRequest
	}
	in, err := wire.DecodeDuplicateExtentsData(req.Input)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	if in.SourceFileOffset < 0 || in.TargetFileOffset < 0 || in.ByteCount < 0 {
		return wire.StatusInvalidParameter
	}
	src := c.srv.opens.get(in.FileHandle.Volatile)
	if src == nil || src.sess != r.sess || src.id.Persistent != in.FileHandle.Persistent || src.handle == nil {
		return wire.StatusInvalidHandle
	}
	if o.isDir || src.isDir {
		return wire.StatusInvalidParameter
	}
	if src.access&fileReadData == 0 || o.access&fileWriteData == 0 {
		return wire.StatusAccessDenied
	}
	if in.ByteCount > 0 {
		if err := o.handle.CloneRange(src.handle, in.SourceFileOffset, in.TargetFileOffset, in.ByteCount); err != nil {
			if errors.Is(err, csv.ErrCloneUnsupported) {
				return wire.StatusNotSupported
			}
			return c.mapErr(err)
		}
		c.breakOnWrite(r, o)
	}
	ioctlOut(r, req, o, nil)
	return wire.StatusSuccess
}
