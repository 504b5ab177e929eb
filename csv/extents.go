package csv

import (
	"crypto/rand"
	"errors"
	"sync"

	"golang.org/x/sys/unix"
)

// Range is a byte range of a file: Length bytes from Offset.
type Range struct {
	Offset, Length int64
}

// AllocatedRanges lists the allocated (data) ranges of the file that
// intersect [off, off+length), clipped to it and to the end of file, for
// FSCTL_QUERY_ALLOCATED_RANGES ([MS-FSCC] 2.3.47). A file that is not
// marked sparse is reported as fully allocated, as NTFS does: holes are
// only shown to clients that made the file sparse (a VHDX never comes
// back with holes the client did not ask for). At most max ranges are
// returned; more reports whether ranges were left out.
func (h *Handle) AllocatedRanges(off, length int64, max int) (rs []Range, more bool, err error) {
	if err := h.check("query allocated ranges"); err != nil {
		return nil, false, err
	}
	defer h.release()
	if h.isDir {
		return nil, false, newErr("query allocated ranges", h.Path(), ErrInvalidParameter)
	}
	var st unix.Statx_t
	if err := statFD(h.fd, &st); err != nil {
		return nil, false, sysErr("query allocated ranges", h.Path(), err)
	}
	size := int64(st.Size)
	end := off + length
	if end < off || end > size {
		end = size
	}
	if off >= end || max <= 0 {
		return nil, off < end, nil
	}
	attrs, err := h.attrs()
	if err != nil {
		return nil, false, err
	}
	if attrs&AttrSparseFile == 0 {
		return []Range{{off, end - off}}, false, nil
	}
	pos := off
	for pos < end {
		data, err := unix.Seek(h.fd, pos, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // no data after pos
		}
		if err != nil {
			// No SEEK_DATA: the file system knows no holes.
			return []Range{{off, end - off}}, false, nil
		}
		if data >= end {
			break
		}
		hole, err := unix.Seek(h.fd, data, unix.SEEK_HOLE)
		if err != nil {
			hole = end
		}
		hole = min(hole, end)
		if len(rs) == max {
			return rs, true, nil
		}
		// NTFS merges adjacent runs; so do we.
		if n := len(rs); n > 0 && rs[n-1].Offset+rs[n-1].Length == data {
			rs[n-1].Length += hole - data
		} else {
			rs = append(rs, Range{data, hole - data})
		}
		pos = hole
	}
	return rs, false, nil
}

// ZeroRange makes [off, end) read as zeros without changing the file
// size (FSCTL_SET_ZERO_DATA, [MS-FSCC] 2.3.67; [MS-FSA] 2.1.5.9.27). The
// range is clipped to the end of file. On a sparse file the range is
// deallocated (punched); otherwise it stays allocated and is zeroed, with
// FALLOC_FL_ZERO_RANGE or, where the file system has neither, by writing
// zeros.
func (h *Handle) ZeroRange(off, end int64) error {
	if err := h.checkData("set zero data", off); err != nil {
		return err
	}
	defer h.release()
	if end < off {
		return newErr("set zero data", h.Path(), ErrInvalidParameter)
	}
	var st unix.Statx_t
	if err := statFD(h.fd, &st); err != nil {
		return sysErr("set zero data", h.Path(), err)
	}
	end = min(end, int64(st.Size))
	if off >= end {
		return nil
	}
	attrs, err := h.attrs()
	if err != nil {
		return err
	}
	if err := h.zero(off, end, attrs&AttrSparseFile != 0); err != nil {
		return sysErr("set zero data", h.Path(), err)
	}
	h.markModified() // dirlease.go
	h.notifyObject(ActionModified, NotifyLastWrite)
	return nil
}

// Trim tells the storage the ranges' contents are no longer needed
// (FSCTL_FILE_LEVEL_TRIM, [MS-FSCC] 2.3.76): their data becomes undefined.
// Ranges past the end of file are ignored; inside it, on a sparse file,
// the range is punched (reads return zeros, the size is kept) where the
// file system can. A file that is not sparse keeps its allocation, as on
// NTFS, where trim reaches the device but never the file's allocation: a
// fixed VHDX must never hit a full disk on a write inside its own size
// (Hyper-V sends FILE_LEVEL_TRIM for a VM's SCSI UNMAP, [MS-HVRS]
// C0006). Leaving data alone is within trim's contract. It returns how
// many ranges were processed.
func (h *Handle) Trim(rs []Range) (int, error) {
	if err := h.checkData("trim", 0); err != nil {
		return 0, err
	}
	defer h.release()
	var st unix.Statx_t
	if err := statFD(h.fd, &st); err != nil {
		return 0, sysErr("trim", h.Path(), err)
	}
	size := int64(st.Size)
	for _, r := range rs {
		if r.Offset < 0 || r.Length < 0 || r.Offset+r.Length < r.Offset {
			return 0, newErr("trim", h.Path(), ErrInvalidParameter)
		}
	}
	attrs, err := h.attrs()
	if err != nil {
		return 0, err
	}
	if attrs&AttrSparseFile == 0 {
		return len(rs), nil
	}
	for _, r := range rs {
		end := min(r.Offset+r.Length, size)
		if r.Offset >= end {
			continue
		}
		err := fallocate(h.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, r.Offset, end-r.Offset)
		if err != nil && !isUnsupported(err) {
			return 0, sysErr("trim", h.Path(), err)
		}
	}
	return len(rs), nil
}

// zero zeroes [off, end) of the open file; the caller holds a pin.
func (h *Handle) zero(off, end int64, punch bool) error {
	n := end - off
	if punch {
		err := fallocate(h.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
		if err == nil || !isUnsupported(err) {
			return err
		}
	}
	err := fallocate(h.fd, unix.FALLOC_FL_ZERO_RANGE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	if err == nil || !isUnsupported(err) {
		return err
	}
	buf := make([]byte, min(n, 1<<20))
	for off < end {
		m := min(int64(len(buf)), end-off)
		w, err := unix.Pwrite(h.fd, buf[:m], off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		off += int64(w)
	}
	return nil
}

func fallocate(fd int, mode uint32, off, n int64) error {
	for {
		err := unix.Fallocate(fd, mode, off, n)
		if err != unix.EINTR {
			return err
		}
	}
}

func isUnsupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.ENOSYS)
}

// CopyRange copies n bytes from src at srcOff to h at dstOff on the
// server (FSCTL_SRV_COPYCHUNK, FSCTL_OFFLOAD_WRITE), with copy_file_range
// so the kernel (or the file system, by reflink) moves the data, falling
// back to read and write across file systems. It returns the bytes
// copied: fewer than n only when src ends first.
func (h *Handle) CopyRange(src *Handle, srcOff, dstOff, n int64) (int64, error) {
	if err := h.checkData("copy", dstOff); err != nil {
		return 0, err
	}
	defer h.release()
	if err := src.check("copy"); err != nil {
		return 0, err
	}
	defer src.release()
	if srcOff < 0 || n < 0 {
		return 0, newErr("copy", h.Path(), ErrInvalidParameter)
	}
	before := h.sizeIfWatched()
	var done int64
	for done < n {
		if err := h.v.fenced("copy", h.Path()); err != nil {
			return done, err
		}
		so, do := srcOff+done, dstOff+done
		m, err := unix.CopyFileRange(src.fd, &so, h.fd, &do, int(min(n-done, 1<<30)), 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EINVAL) || isUnsupported(err) {
				k, err := copyByRW(src.fd, h.fd, srcOff+done, dstOff+done, n-done)
				done += k
				if err != nil {
					return done, sysErr("copy", h.Path(), err)
				}
			} else {
				return done, sysErr("copy", h.Path(), err)
			}
			break
		}
		if m == 0 {
			break // end of the source
		}
		done += int64(m)
	}
	if done > 0 {
		h.markModified() // dirlease.go
		h.notifyWrite(dstOff+done, before)
	}
	return done, nil
}

func copyByRW(sfd, dfd int, soff, doff, n int64) (int64, error) {
	buf := make([]byte, min(n, 1<<20))
	var done int64
	for done < n {
		m := min(int64(len(buf)), n-done)
		r, err := unix.Pread(sfd, buf[:m], soff+done)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		if r == 0 {
			return done, nil
		}
		for w := 0; w < r; {
			k, err := unix.Pwrite(dfd, buf[w:r], doff+done+int64(w))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return done + int64(w), err
			}
			w += k
		}
		done += int64(r)
	}
	return done, nil
}

// ErrCloneUnsupported reports that the backing file system cannot share
// extents between files (no reflink).
var ErrCloneUnsupported = errors.New("csv: the file system does not support block cloning")

// CloneRange makes [dstOff, dstOff+n) of h share src's extents at srcOff
// (FSCTL_DUPLICATE_EXTENTS_TO_FILE, [MS-FSCC] 2.3.8) with FICLONERANGE.
// n == 0 clones to the end of src. Unaligned ranges and file systems
// without reflink give ErrCloneUnsupported or ErrInvalidParameter.
func (h *Handle) CloneRange(src *Handle, srcOff, dstOff, n int64) error {
	if err := h.checkData("clone", dstOff); err != nil {
		return err
	}
	defer h.release()
	if err := src.check("clone"); err != nil {
		return err
	}
	defer src.release()
	if srcOff < 0 || n < 0 {
		return newErr("clone", h.Path(), ErrInvalidParameter)
	}
	before := h.sizeIfWatched()
	err := unix.IoctlFileCloneRange(h.fd, &unix.FileCloneRange{
		Src_fd: int64(src.fd), Src_offset: uint64(srcOff), Src_length: uint64(n), Dest_offset: uint64(dstOff),
	})
	switch {
	case err == nil:
	case isUnsupported(err) || errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ENOTTY):
		return newErr("clone", h.Path(), ErrCloneUnsupported)
	case errors.Is(err, unix.EINVAL):
		return newErr("clone", h.Path(), ErrInvalidParameter)
	default:
		return sysErr("clone", h.Path(), err)
	}
	h.markModified() // dirlease.go
	h.notifyWrite(dstOff+n, before)
	return nil
}

// reflinkProbe caches, per volume, whether the backing file system can
// clone extents (probed once, by cloning in a scratch file).
var reflinkProbe sync.Map // *Volume → bool

// SupportsReflink reports whether the volume's file system can clone
// extents (FICLONERANGE): FILE_SUPPORTS_BLOCK_REFCOUNTING is advertised
// only then. The probe runs once per volume.
func (v *Volume) SupportsReflink() bool {
	if ok, found := reflinkProbe.Load(v); found {
		return ok.(bool)
	}
	ok := probeReflink(v.root)
	reflinkProbe.Store(v, ok)
	return ok
}

func probeReflink(root string) bool {
	// An unnamed temporary file: no client ever sees it, and no change
	// notification fires.
	fd, err := unix.Open(root, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	if n, err := unix.Pwrite(fd, buf, 0); err != nil || n != len(buf) {
		return false
	}
	return unix.IoctlFileCloneRange(fd, &unix.FileCloneRange{
		Src_fd: int64(fd), Src_offset: 0, Src_length: 4096, Dest_offset: 4096,
	}) == nil
}

// objectIDXattr holds a file's 16-byte object id ([MS-FSCC] 2.1.3).
const objectIDXattr = "user.sofs.objid"

// FileObjectID returns the file's object id (FSCTL_GET_OBJECT_ID); ok is
// false when none was assigned.
func (h *Handle) FileObjectID() (id [16]byte, ok bool, err error) {
	if err := h.check("get object id"); err != nil {
		return id, false, err
	}
	defer h.release()
	return h.readObjectID()
}

func (h *Handle) readObjectID() (id [16]byte, ok bool, err error) {
	if !h.v.xattrs {
		return id, false, nil
	}
	var buf [32]byte
	n, err := unix.Fgetxattr(h.metaFD(), objectIDXattr, buf[:])
	switch {
	case err == unix.ENODATA || err == unix.ERANGE:
		return id, false, nil
	case err != nil:
		return id, false, sysErr("get object id", h.Path(), err)
	case n != 16:
		return id, false, nil
	}
	copy(id[:], buf[:16])
	return id, true, nil
}

// objectIDMu serialises the assignment of object ids, so two racing
// CREATE_OR_GET requests agree on one id.
var objectIDMu sync.Mutex

// CreateFileObjectID returns the file's object id, assigning a random one
// and storing it with the file on first use (FSCTL_CREATE_OR_GET_OBJECT_ID,
// [MS-FSCC] 2.3.1). Without xattr support the id is derived from the
// volume and inode numbers, which are stable for the file's life.
func (h *Handle) CreateFileObjectID() ([16]byte, error) {
	if err := h.check("create object id"); err != nil {
		return [16]byte{}, err
	}
	defer h.release()
	objectIDMu.Lock()
	defer objectIDMu.Unlock()
	id, ok, err := h.readObjectID()
	if err != nil || ok {
		return id, err
	}
	if !h.v.xattrs {
		var st unix.Statx_t
		if err := statFD(h.metaFD(), &st); err != nil {
			return id, sysErr("create object id", h.Path(), err)
		}
		putU64(id[:8], h.v.id)
		putU64(id[8:], st.Ino)
		return id, nil
	}
	rand.Read(id[:])
	if err := unix.Fsetxattr(h.metaFD(), objectIDXattr, id[:], 0); err != nil {
		return id, sysErr("create object id", h.Path(), err)
	}
	return id, nil
}

func putU64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}

// SupportsReflink reports whether the handle's volume can clone extents.
func (h *Handle) SupportsReflink() bool { return h.v.SupportsReflink() }
