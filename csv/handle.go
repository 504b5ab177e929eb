package csv

import (
	"context"
	"io"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Path returns the handle's current path relative to the share root, in
// backslash form; it follows renames made through any handle of the file.
func (h *Handle) Path() string {
	if h.base != nil {
		return h.base.Path()
	}
	h.v.mu.Lock()
	defer h.v.mu.Unlock()
	return smbPath(h.f.disk)
}

func (h *Handle) diskPath() string {
	if h.base != nil {
		return h.base.diskPath()
	}
	h.v.mu.Lock()
	defer h.v.mu.Unlock()
	return h.f.disk
}

// check refuses use of a closed handle, and any use while the volume's
// guard says this node is fenced.
func (h *Handle) check(op string) error {
	if !h.acquire() {
		return newErr(op, h.Path(), ErrClosed)
	}
	if err := h.v.fenced(op, h.Path()); err != nil {
		h.release()
		return err
	}
	return nil
}

// acquire pins the file descriptor for one operation; every successful
// acquire (and check, checkWrite, checkData) is paired with a release.
// Close waits for pinned operations before it closes the descriptor, so
// an operation racing a CLOSE can never read or write through a
// descriptor number the kernel has already handed to another file.
// Operations may nest (a counter, not a lock).
func (h *Handle) acquire() bool {
	h.pinMu.Lock()
	defer h.pinMu.Unlock()
	if h.closed.Load() {
		return false
	}
	h.pins++
	return true
}

// release ends an operation begun by acquire.
func (h *Handle) release() {
	h.pinMu.Lock()
	h.pins--
	if h.pins == 0 && h.unpinned != nil {
		close(h.unpinned)
		h.unpinned = nil
	}
	h.pinMu.Unlock()
}

// waitUnpinned blocks until no operation holds the descriptor. It is
// called by Close after closed is set, so the count only falls.
func (h *Handle) waitUnpinned() {
	h.pinMu.Lock()
	if h.pins == 0 {
		h.pinMu.Unlock()
		return
	}
	ch := make(chan struct{})
	h.unpinned = ch
	h.pinMu.Unlock()
	<-ch
}

// checkWrite refuses changes through a closed handle or on a read-only
// volume.
func (h *Handle) checkWrite(op string) error {
	if err := h.check(op); err != nil {
		return err
	}
	if h.v.readOnly {
		h.release()
		return newErr(op, h.Path(), ErrReadOnly)
	}
	return nil
}

// Stat describes the open object.
func (h *Handle) Stat(ctx context.Context) (FileInfo, error) {
	if err := h.check("stat"); err != nil {
		return FileInfo{}, err
	}
	defer h.release()
	_, name := splitDisk(h.diskPath())
	if h.base == nil {
		return h.v.infoFD(ctx, h.fd, name)
	}
	// A named stream shares the base file's times, attributes and
	// FileId; only its size is its own ([MS-FSA] 2.1.5.12).
	fi, err := h.v.infoFD(ctx, h.base.fd, name)
	if err != nil {
		return fi, err
	}
	var st unix.Statx_t
	if err := statFD(h.fd, &st); err != nil {
		return FileInfo{}, sysErr("stat", h.Path(), err)
	}
	fi.EndOfFile, fi.AllocationSize, fi.IsDir = int64(st.Size), int64(st.Blocks)*512, false
	fi.Attributes &^= AttrDirectory
	if fi.Attributes == 0 {
		fi.Attributes = AttrNormal
	}
	return fi, nil
}

// ReadAt reads len(p) bytes at off with pread, with the io.ReaderAt
// contract of os.File: fewer bytes only together with an error, io.EOF at
// the end of the file. It does not allocate on success.
func (h *Handle) ReadAt(p []byte, off int64) (int, error) {
	if !h.acquire() {
		return 0, ErrClosed
	}
	defer h.release()
	if off < 0 {
		return 0, newErr("read", h.Path(), ErrInvalidParameter)
	}
	n := 0
	for n < len(p) {
		// Asked before every system call: data read after the node lost
		// its lease may be older than what the new owner wrote.
		if err := h.v.fenced("read", h.Path()); err != nil {
			return n, err
		}
		m, err := unix.Pread(h.fd, p[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, sysErr("read", h.Path(), err)
		}
		if m == 0 {
			return n, io.EOF
		}
		n += m
	}
	return n, nil
}

// WriteAt writes p at off with pwrite. Data reaches stable storage only
// after Sync (the server calls it for write-through and CA shares).
func (h *Handle) WriteAt(p []byte, off int64) (int, error) {
	if !h.acquire() {
		return 0, ErrClosed
	}
	defer h.release()
	if !h.writable {
		if h.isDir {
			return 0, newErr("write", h.Path(), ErrIsDirectory)
		}
		return 0, newErr("write", h.Path(), ErrAccessDenied)
	}
	if off < 0 {
		return 0, newErr("write", h.Path(), ErrInvalidParameter)
	}
	before := h.sizeIfWatched()
	n := 0
	for n < len(p) {
		// Asked right before every pwrite, as late as the check can
		// be: the remaining window is the system call itself
		// (docs/architecture.md, fencing).
		if err := h.v.fenced("write", h.Path()); err != nil {
			return n, err
		}
		m, err := unix.Pwrite(h.fd, p[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, sysErr("write", h.Path(), err)
		}
		if m == 0 {
			return n, sysErr("write", h.Path(), io.ErrShortWrite)
		}
		n += m
	}
	h.markModified() // dirlease.go: the close breaks the parent's leases
	h.notifyWrite(off+int64(n), before)
	return n, nil
}

// Sync makes written data durable: fdatasync for files (metadata needed
// to read the data back, such as the size, is included by its contract),
// fsync for directories. Concurrent Syncs of one handle share calls
// (group commit, see syncBatcher): each returns after a sync that started
// after it was called, so every write that completed before Sync is
// covered.
func (h *Handle) Sync() error {
	if err := h.check("sync"); err != nil {
		return err
	}
	defer h.release()
	if err := h.syncs.do(h); err != nil {
		return sysErr("sync", h.Path(), err)
	}
	return nil
}

// syncFD is one fsync or fdatasync of the descriptor, retried on EINTR.
func (h *Handle) syncFD() error {
	var err error
	for range maxRetries {
		if h.isDir {
			err = unix.Fsync(h.fd)
		} else {
			err = unix.Fdatasync(h.fd)
		}
		if err != unix.EINTR {
			break
		}
	}
	return err
}

// checkData refuses size changes that need a writable file handle.
func (h *Handle) checkData(op string, size int64) error {
	if err := h.checkWrite(op); err != nil {
		return err
	}
	var err error
	switch {
	case h.isDir:
		err = newErr(op, h.Path(), ErrIsDirectory)
	case !h.writable:
		err = newErr(op, h.Path(), ErrAccessDenied)
	case size < 0:
		err = newErr(op, h.Path(), ErrInvalidParameter)
	}
	if err != nil {
		h.release()
	}
	return err
}

// SetEndOfFile truncates or extends the file ([MS-FSCC] 2.4.14
// FileEndOfFileInformation); extension leaves a hole.
func (h *Handle) SetEndOfFile(ctx context.Context, size int64) error {
	if err := h.checkData("set end of file", size); err != nil {
		return err
	}
	defer h.release()
	if err := unix.Ftruncate(h.fd, size); err != nil {
		return sysErr("set end of file", h.Path(), err)
	}
	h.notifyData(NotifySize | NotifyLastWrite)
	h.childChanged(ctx) // dirlease.go
	return nil
}

// SetAllocationSize applies FileAllocationInformation ([MS-FSCC] 2.4.4):
// below the end of file it truncates (Windows semantics); above the
// current allocation it preallocates without changing the size. Shrinking
// an allocation that lies beyond the end of file is not done: it would
// need a truncate to a size read earlier, which races with writers.
func (h *Handle) SetAllocationSize(ctx context.Context, size int64) error {
	if err := h.checkData("set allocation", size); err != nil {
		return err
	}
	defer h.release()
	var st unix.Statx_t
	if err := statFD(h.fd, &st); err != nil {
		return sysErr("set allocation", h.Path(), err)
	}
	if size < int64(st.Size) {
		if err := unix.Ftruncate(h.fd, size); err != nil {
			return sysErr("set allocation", h.Path(), err)
		}
		h.notifyData(NotifySize | NotifyLastWrite)
		h.childChanged(ctx) // dirlease.go
		return nil
	}
	if size > int64(st.Blocks)*512 {
		if err := preallocate(h.fd, size, h.Path()); err != nil {
			return err
		}
		h.childChanged(ctx)
	}
	return nil
}

// SetBasicInfo applies FileBasicInformation ([MS-FSCC] 2.4.7). Zero times
// and zero attributes leave the value alone. Access and write times go to
// the inode (utimensat); the creation time and the attributes go to the
// meta record. The change time is the inode's ctime, which POSIX does not
// let us set, so a requested change time is kept in the meta record with
// the inode mtime it was set against: it is reported until the data
// changes, after which the ctime shows again. Attribute changes keep it,
// as on Windows once a handle has set the change time explicitly
// ([MS-FSA] 2.1.5.14.2, Open.UserSetChangeTime). The SPARSE bit is not changed
// here (only SetSparse, for FSCTL_SET_SPARSE, does); DIRECTORY on a file
// or TEMPORARY on a directory is ErrInvalidParameter ([MS-FSA]
// 2.1.5.14.2).
func (h *Handle) SetBasicInfo(ctx context.Context, creation, access, write, change time.Time, attributes uint32) (err error) {
	if err := h.checkWrite("set basic info"); err != nil {
		return err
	}
	defer h.release()
	defer func() {
		if err == nil {
			h.notifyObject(ActionModified, basicInfoFilter(!creation.IsZero(), !access.IsZero(), !write.IsZero(), attributes))
			if !creation.IsZero() || !access.IsZero() || !write.IsZero() || !change.IsZero() || attributes != 0 {
				h.childChanged(ctx) // dirlease.go
			}
		}
	}()
	if attributes != 0 {
		if (!h.isDir && attributes&AttrDirectory != 0) || (h.isDir && attributes&AttrTemporary != 0) {
			return newErr("set basic info", h.Path(), ErrInvalidParameter)
		}
	}
	// Times first: the change time is recorded against the mtime they
	// leave behind.
	if !access.IsZero() || !write.IsZero() {
		ts := [2]unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		if !access.IsZero() {
			ts[0] = unix.NsecToTimespec(access.UnixNano())
		}
		if !write.IsZero() {
			ts[1] = unix.NsecToTimespec(write.UnixNano())
		}
		if err := futimens(h.metaFD(), &ts); err != nil {
			return sysErr("set times", h.Path(), err)
		}
	}
	if creation.IsZero() && attributes == 0 && change.IsZero() {
		return nil
	}
	var mtime int64
	if !change.IsZero() {
		var st unix.Statx_t
		if err := statFD(h.metaFD(), &st); err != nil {
			return sysErr("set basic info", h.Path(), err)
		}
		mtime = tsTime(st.Mtime).UnixNano()
	}
	return h.updateMeta(func(m *meta) {
		if !creation.IsZero() {
			m.created, m.hasCreated = creation, true
		}
		if attributes != 0 {
			m.attrs = attributes&persistedAttrs&^AttrSparseFile | m.attrs&AttrSparseFile
		}
		if !change.IsZero() {
			m.changed, m.changedMtime, m.hasChanged = change, mtime, true
		}
	})
}

// SetSparse sets or clears FILE_ATTRIBUTE_SPARSE_FILE (FSCTL_SET_SPARSE,
// [MS-FSCC] 2.3.64). The bit is only recorded: holes are never inferred.
func (h *Handle) SetSparse(ctx context.Context, on bool) error {
	if err := h.checkWrite("set sparse"); err != nil {
		return err
	}
	defer h.release()
	if h.isDir {
		return newErr("set sparse", h.Path(), ErrInvalidParameter)
	}
	err := h.updateMeta(func(m *meta) {
		if on {
			m.attrs |= AttrSparseFile
		} else {
			m.attrs &^= AttrSparseFile
		}
	})
	if err == nil {
		h.notifyObject(ActionModified, NotifyAttributes)
		h.childChanged(ctx) // dirlease.go
	}
	return err
}

// updateMeta reads, changes and writes back the meta record. Without
// xattr support the change is silently lost (logged once at open).
func (h *Handle) updateMeta(change func(*meta)) error {
	fd := h.metaFD()
	m, ok, err := h.v.readMeta(fd)
	if err != nil {
		return sysErr("read meta", h.Path(), err)
	}
	if !ok {
		var st unix.Statx_t
		if err := statFD(fd, &st); err != nil {
			return sysErr("read meta", h.Path(), err)
		}
		m = meta{attrs: defaultAttrs(st.Mode&unix.S_IFMT == unix.S_IFDIR), created: defaultCreated(&st), hasCreated: true}
	}
	change(&m)
	if err := h.v.writeMeta(fd, m); err != nil {
		return sysErr("write meta", h.Path(), err)
	}
	return nil
}

// futimens is utimensat(fd, NULL, ts, 0); x/sys/unix offers only the
// path-taking form.
func futimens(fd int, ts *[2]unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// attrs returns the stored attributes of the open object.
func (h *Handle) attrs() (uint32, error) {
	m, ok, err := h.v.readMeta(h.metaFD())
	if err != nil {
		return 0, sysErr("read meta", h.Path(), err)
	}
	if !ok {
		return defaultAttrs(h.isDir), nil
	}
	return m.attrs, nil
}
