package fastclient

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"

	"sofs.io/sofs/smbserver/wire"
)

// CREATE values used here ([MS-SMB2] 2.2.13).
const (
	FileSupersede   = 0
	FileOpen        = 1
	FileCreate      = 2
	FileOpenIf      = 3
	FileOverwrite   = 4
	FileOverwriteIf = 5

	OptDirectory    = 0x00000001
	OptNonDirectory = 0x00000040

	shareAll          = 7 // FILE_SHARE_READ | WRITE | DELETE
	attrNormal        = 0x80
	attrDirectory     = 0x10
	impersonation     = 2 // Impersonation
	infoFile          = 1 // SMB2_0_INFO_FILE
	classDisposition  = 13
	classIDBothDirInf = 37 // FileIdBothDirectoryInformation ([MS-FSCC] 2.4.17)
	queryRestart      = 0x01
)

// Tree is a connected share.
type Tree struct {
	c    *Client
	id   uint32
	seal bool
	// ShareFlags and Capabilities are the TREE_CONNECT response's.
	ShareFlags   uint32
	Capabilities uint32
}

// Mount connects to share (\\server\share is built from the name).
func (c *Client) Mount(share string) (*Tree, error) {
	host, _, _ := strings.Cut(c.nc.RemoteAddr().String(), ":")
	req := wire.TreeConnectRequest{Path: `\\` + host + `\` + share}
	cl, err := c.roundTrip(wire.CmdTreeConnect, 0, 1, &req, nil, nil, false)
	if err != nil {
		return nil, fmt.Errorf("fastclient: tree connect %s: %w", share, err)
	}
	defer c.release(cl)
	if err := cl.status(); err != nil {
		return nil, fmt.Errorf("fastclient: tree connect %s: %w", share, err)
	}
	var resp wire.TreeConnectResponse
	if err := resp.Decode(cl.msg); err != nil {
		return nil, fmt.Errorf("fastclient: tree connect %s: %w", share, err)
	}
	t := &Tree{c: c, id: cl.hdr.TreeID, ShareFlags: resp.ShareFlags, Capabilities: resp.Capabilities}
	t.seal = resp.ShareFlags&wire.ShareFlagEncryptData != 0
	if t.seal && c.enc == nil {
		return nil, fmt.Errorf("fastclient: share %s requires encryption but no cipher was negotiated", share)
	}
	return t, nil
}

// Encrypted reports whether requests on the tree are sealed.
func (t *Tree) Encrypted() bool {
	return t.c.enc != nil && (t.seal || t.c.sealSession || t.c.cfg.EncryptAll)
}

// Disconnect ends the tree connect.
func (t *Tree) Disconnect() error {
	cl, err := t.do(wire.CmdTreeDisconnect, 1, &simpleBody{4}, nil, nil)
	if err != nil {
		return err
	}
	defer t.c.release(cl)
	return cl.status()
}

func (t *Tree) do(cmd wire.Command, size int, body appender, data [][]byte, dst []byte) (*call, error) {
	return t.c.roundTrip(cmd, t.id, size, body, data, dst, t.seal)
}

// OpenSpec is what a CREATE asks for.
type OpenSpec struct {
	Access      uint32
	Disposition uint32
	Options     uint32
	Attributes  uint32
	Share       uint32 // 0 means read, write and delete
}

// File is an open handle.
type File struct {
	t          *Tree
	id         wire.FileID
	Size       int64
	Attributes uint32
	name       string
}

// IsDir reports whether the open object is a directory.
func (f *File) IsDir() bool { return f.Attributes&attrDirectory != 0 }

// Open sends one CREATE.
func (t *Tree) Open(name string, s OpenSpec) (*File, error) {
	if s.Share == 0 {
		s.Share = shareAll
	}
	if s.Attributes == 0 {
		s.Attributes = attrNormal
		if s.Options&OptDirectory != 0 {
			s.Attributes = attrDirectory
		}
	}
	req := wire.CreateRequest{ImpersonationLevel: impersonation, DesiredAccess: s.Access, FileAttributes: s.Attributes,
		ShareAccess: s.Share, CreateDisposition: s.Disposition, CreateOptions: s.Options, Name: name}
	cl, err := t.do(wire.CmdCreate, 1, &req, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("fastclient: create %s: %w", name, err)
	}
	defer t.c.release(cl)
	if err := cl.status(); err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	var resp wire.CreateResponse
	if err := resp.Decode(cl.msg); err != nil {
		return nil, fmt.Errorf("fastclient: create %s: %w", name, err)
	}
	return &File{t: t, id: resp.FileID, Size: int64(resp.EndOfFile), Attributes: resp.FileAttributes, name: name}, nil
}

// Close closes the handle.
func (f *File) Close() error {
	req := wire.CloseRequest{FileID: f.id}
	cl, err := f.t.do(wire.CmdClose, 1, &req, nil, nil)
	if err != nil {
		return fmt.Errorf("fastclient: close %s: %w", f.name, err)
	}
	defer f.t.c.release(cl)
	if err := cl.status(); err != nil {
		return fmt.Errorf("close %s: %w", f.name, err)
	}
	return nil
}

// ReadAt reads len(p) bytes at off in requests of at most MaxRead bytes,
// one after another, with the io.ReaderAt contract.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	done := 0
	for done < len(p) {
		n, err := f.readOnce(p[done:min(len(p), done+f.t.c.MaxRead)], off+int64(done))
		done += n
		if err != nil {
			return done, err
		}
		if n == 0 {
			return done, io.EOF
		}
	}
	return done, nil
}

func (f *File) readOnce(p []byte, off int64) (int, error) {
	req := wire.ReadRequest{Length: uint32(len(p)), Offset: uint64(off), FileID: f.id, Padding: wire.ReadResponseDataOffset}
	cl, err := f.t.do(wire.CmdRead, len(p), &req, nil, p)
	if err != nil {
		return 0, fmt.Errorf("fastclient: read %s: %w", f.name, err)
	}
	defer f.t.c.release(cl)
	if wire.Status(cl.hdr.Status) == wire.StatusEndOfFile {
		return 0, io.EOF
	}
	if err := cl.status(); err != nil {
		return 0, fmt.Errorf("read %s: %w", f.name, err)
	}
	if cl.msg == nil { // direct path: the data is already in p
		return cl.direct, nil
	}
	var resp wire.ReadResponse
	if err := resp.Decode(cl.msg); err != nil {
		return 0, fmt.Errorf("fastclient: read %s: %w", f.name, err)
	}
	if len(resp.Data) > len(p) {
		return 0, fmt.Errorf("fastclient: read %s: %d bytes returned for %d asked", f.name, len(resp.Data), len(p))
	}
	return copy(p, resp.Data), nil
}

// WriteAt writes p at off in requests of at most MaxWrite bytes.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	done := 0
	for done < len(p) {
		chunk := p[done:min(len(p), done+f.t.c.MaxWrite)]
		req := wire.WriteRequest{Offset: uint64(off + int64(done)), FileID: f.id}
		vec := [1][]byte{chunk}
		cl, err := f.t.do(wire.CmdWrite, len(chunk), &writeBody{req: &req, n: len(chunk)}, vec[:], nil)
		if err != nil {
			return done, fmt.Errorf("fastclient: write %s: %w", f.name, err)
		}
		err = cl.status()
		var resp wire.WriteResponse
		if err == nil {
			err = resp.Decode(cl.msg)
		}
		f.t.c.release(cl)
		if err != nil {
			return done, fmt.Errorf("write %s: %w", f.name, err)
		}
		if int(resp.Count) != len(chunk) {
			return done + int(resp.Count), fmt.Errorf("fastclient: write %s: %d of %d bytes written", f.name, resp.Count, len(chunk))
		}
		done += len(chunk)
	}
	return done, nil
}

// WriteVec writes the concatenation of pieces at off as one WRITE
// request (at most MaxWrite bytes in all): the pieces go to the socket
// with writev, without being gathered into one buffer first.
func (f *File) WriteVec(off int64, pieces ...[]byte) (int, error) {
	n := 0
	for _, p := range pieces {
		n += len(p)
	}
	if n > f.t.c.MaxWrite {
		return 0, fmt.Errorf("fastclient: write %s: %d bytes exceed MaxWrite %d", f.name, n, f.t.c.MaxWrite)
	}
	req := wire.WriteRequest{Offset: uint64(off), FileID: f.id}
	cl, err := f.t.do(wire.CmdWrite, n, &writeBody{req: &req, n: n}, pieces, nil)
	if err != nil {
		return 0, fmt.Errorf("fastclient: write %s: %w", f.name, err)
	}
	defer f.t.c.release(cl)
	var resp wire.WriteResponse
	if err := cl.status(); err != nil {
		return 0, fmt.Errorf("write %s: %w", f.name, err)
	}
	if err := resp.Decode(cl.msg); err != nil {
		return 0, fmt.Errorf("fastclient: write %s: %w", f.name, err)
	}
	if int(resp.Count) != n {
		return int(resp.Count), fmt.Errorf("fastclient: write %s: %d of %d bytes written", f.name, resp.Count, n)
	}
	return n, nil
}

// writeBody encodes a WRITE request's fixed part with Length n and no
// data: the payload follows as its own buffer (roundTrip's data), so a
// plain request is sent with writev and never copied.
type writeBody struct {
	req *wire.WriteRequest
	n   int
}

func (w *writeBody) AppendTo(b []byte) []byte {
	start := len(b)
	b = w.req.AppendTo(b)
	b = b[:start+48] // drop the pad byte an empty Data gets
	binary.LittleEndian.PutUint32(b[start+4:], uint32(w.n))
	return b
}

// Mkdir creates a directory.
func (t *Tree) Mkdir(name string) error {
	f, err := t.Open(name, OpenSpec{Access: wire.FileReadAttributes | wire.AccessSynchronize, Disposition: FileCreate, Options: OptDirectory})
	if err != nil {
		return err
	}
	return f.Close()
}

// Remove deletes a file or an empty directory: CREATE with DELETE access,
// SET_INFO FileDispositionInformation, CLOSE.
func (t *Tree) Remove(name string) error {
	f, err := t.Open(name, OpenSpec{Access: wire.AccessDelete | wire.FileReadAttributes, Disposition: FileOpen})
	if err != nil {
		return err
	}
	req := wire.SetInfoRequest{InfoType: infoFile, FileInfoClass: classDisposition, Buffer: []byte{1}, FileID: f.id}
	cl, err := t.do(wire.CmdSetInfo, 1, &req, nil, nil)
	if err == nil {
		err = cl.status()
		t.c.release(cl)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// Stat opens name for FILE_READ_ATTRIBUTES and closes it; the CREATE
// response carries size and attributes.
func (t *Tree) Stat(name string) (size int64, isDir bool, err error) {
	f, err := t.Open(name, OpenSpec{Access: wire.FileReadAttributes, Disposition: FileOpen})
	if err != nil {
		return 0, false, err
	}
	return f.Size, f.IsDir(), f.Close()
}

// DirEntry is one name of a listing.
type DirEntry struct {
	Name  string
	IsDir bool
	Size  int64
}

// ReadDir lists dir whole (QUERY_DIRECTORY with
// FileIdBothDirectoryInformation until STATUS_NO_MORE_FILES), without "."
// and "..".
func (t *Tree) ReadDir(dir string) ([]DirEntry, error) {
	f, err := t.Open(dir, OpenSpec{Access: wire.FileReadData | wire.FileReadAttributes | wire.AccessSynchronize,
		Disposition: FileOpen, Options: OptDirectory})
	if err != nil {
		return nil, err
	}
	var out []DirEntry
	for round := 0; ; round++ {
		if round == maxDirRounds {
			f.Close()
			return nil, fmt.Errorf("fastclient: listing %s: more than %d rounds", dir, maxDirRounds)
		}
		req := wire.QueryDirectoryRequest{FileInformationClass: classIDBothDirInf, FileID: f.id, FileName: "*", OutputBufferLength: dirBufSize}
		if round == 0 {
			req.Flags = queryRestart
		}
		cl, err := t.do(wire.CmdQueryDirectory, dirBufSize, &req, nil, nil)
		if err != nil {
			f.Close()
			return nil, err
		}
		if wire.Status(cl.hdr.Status) == wire.StatusNoMoreFiles {
			t.c.release(cl)
			break
		}
		if err := cl.status(); err != nil {
			t.c.release(cl)
			f.Close()
			return nil, fmt.Errorf("list %s: %w", dir, err)
		}
		var resp wire.QueryDirectoryResponse
		err = resp.Decode(cl.msg)
		if err == nil {
			out, err = parseIDBothDir(out, resp.Buffer)
		}
		t.c.release(cl)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("fastclient: list %s: %w", dir, err)
		}
	}
	return out, f.Close()
}

// parseIDBothDir appends the entries of a FileIdBothDirectoryInformation
// buffer ([MS-FSCC] 2.4.17), checking every offset and length.
func parseIDBothDir(out []DirEntry, b []byte) ([]DirEntry, error) {
	const nameOff = 104
	for off := 0; ; {
		if off+nameOff > len(b) {
			return out, fmt.Errorf("directory entry at %d past the buffer (%d bytes)", off, len(b))
		}
		e := b[off:]
		next := int(binary.LittleEndian.Uint32(e))
		nlen := int(binary.LittleEndian.Uint32(e[60:]))
		if nlen%2 != 0 || nameOff+nlen > len(e) || (next != 0 && (next < nameOff+nlen || next > len(e))) {
			return out, fmt.Errorf("malformed directory entry at %d", off)
		}
		u := make([]uint16, nlen/2)
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(e[nameOff+2*i:])
		}
		name := string(utf16.Decode(u))
		if name != "." && name != ".." {
			out = append(out, DirEntry{Name: name, IsDir: binary.LittleEndian.Uint32(e[56:])&attrDirectory != 0,
				Size: int64(binary.LittleEndian.Uint64(e[40:]))})
		}
		if next == 0 {
			return out, nil
		}
		off += next
	}
}

// Copychunk limits Windows applies ([MS-SMB2] 3.3.3: ServerSideCopy
// MaxChunks 256 ... the defaults are 256 chunks, 1 MiB each, 16 MiB per
// request); the client sends 16 chunks of 1 MiB per FSCTL, as Windows
// Explorer does.
const (
	copyChunkSize   = 1 << 20
	copyChunksPerIO = 16
)

// ErrNotSupported wraps a server's refusal of an FSCTL.
var ErrNotSupported = errors.New("fastclient: not supported by the server")

// CopyFile copies the first size bytes of src into dst server-side:
// FSCTL_SRV_REQUEST_RESUME_KEY on src, then FSCTL_SRV_COPYCHUNK_WRITE on
// dst with 16 chunks of 1 MiB per request ([MS-SMB2] 3.2.4.20.1).
func (t *Tree) CopyFile(src, dst *File, size int64) (int64, error) {
	cl, err := t.ioctl(src, wire.FsctlSrvRequestResumeKey, nil, 32)
	if err != nil {
		return 0, err
	}
	var resp wire.IoctlResponse
	err = resp.Decode(cl.msg)
	if err == nil && len(resp.Output) < wire.ResumeKeySize {
		err = fmt.Errorf("resume key of %d bytes", len(resp.Output))
	}
	var key [wire.ResumeKeySize]byte
	if err == nil {
		copy(key[:], resp.Output)
	}
	t.c.release(cl)
	if err != nil {
		return 0, fmt.Errorf("fastclient: resume key: %w", err)
	}
	var done int64
	for done < size {
		cc := wire.SrvCopychunkCopy{SourceKey: key}
		var want int64
		for off := done; off < size && len(cc.Chunks) < copyChunksPerIO; off += copyChunkSize {
			n := min(copyChunkSize, size-off)
			cc.Chunks = append(cc.Chunks, wire.SrvCopychunk{SourceOffset: uint64(off), TargetOffset: uint64(off), Length: uint32(n)})
			want += n
		}
		cl, err := t.ioctl(dst, wire.FsctlSrvCopychunkWrite, cc.Encode(), 12)
		if err != nil {
			return done, err
		}
		err = resp.Decode(cl.msg)
		var r wire.SrvCopychunkResponse
		if err == nil {
			r, err = wire.DecodeSrvCopychunkResponse(resp.Output)
		}
		t.c.release(cl)
		if err != nil {
			return done, fmt.Errorf("fastclient: copychunk: %w", err)
		}
		if int64(r.TotalBytesWritten) != want {
			return done + int64(r.TotalBytesWritten), fmt.Errorf("fastclient: copychunk wrote %d of %d bytes", r.TotalBytesWritten, want)
		}
		done += want
	}
	return done, nil
}

// ioctl sends an FSCTL and returns the successful response (to release).
func (t *Tree) ioctl(f *File, code uint32, in []byte, maxOut uint32) (*call, error) {
	req := wire.IoctlRequest{CtlCode: code, FileID: f.id, Input: in, MaxOutputResponse: maxOut, Flags: wire.IoctlIsFsctl}
	cl, err := t.do(wire.CmdIoctl, max(len(in), int(maxOut)), &req, nil, nil)
	if err != nil {
		return nil, err
	}
	if err := cl.status(); err != nil {
		t.c.release(cl)
		switch st, _ := StatusOf(err); st {
		case wire.StatusInvalidDeviceRequest, wire.StatusNotSupported, wire.StatusNotImplemented:
			return nil, fmt.Errorf("%w: %w", ErrNotSupported, err)
		}
		return nil, err
	}
	return cl, nil
}
