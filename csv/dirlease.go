package csv

import (
	"context"

	"golang.org/x/sys/unix"
)

// Directory leases ([MS-SMB2] 3.3.5.9.11, 3.3.4.7; [MS-FSA] 2.1.4.12 with
// the PARENT_OBJECT flag, 2.1.4.12.2).
//
// A directory lease (R or RH) lets a client cache the directory's
// listing and, with H, keep its handle open. Its own object breaks it like
// a file lease: a conflicting share mode takes H, a delete or rename of
// the directory takes H (openstate.go). What is particular to a directory
// is the parent break: when a child is created, removed (when the removal
// takes effect), renamed into, out of or within it, has its basic
// information, end of file or allocation set, or is closed after it was
// written, every lease on the directory breaks to none ([MS-FSA] 2.1.4.12:
// with PARENT_OBJECT the break state is read and write caching, so R goes
// to none without an acknowledgment and RH goes to none with one). The
// change never waits for these breaks: in [MS-FSA] 2.1.4.12 an operation
// waits for a break of handle caching it needs, or of an exclusive
// oplock, and the parent break takes neither from a directory (its lease
// holds no W, and the break state has no H). Samba's
// smb2.dirlease.unlink_different_* cases, written against Windows, see
// the CLOSE that removes a child answered before they acknowledge.
//
// The exception is the lease whose key the changing open names as its
// ParentLeaseKey ([MS-FSA] 2.1.4.12.2: with PARENT_OBJECT the operation's
// ParentOplockKey is compared with the oplock's TargetOplockKey). A client
// that caches a directory tells the server so with every open below it,
// and its own changes leave its cache valid. As in [MS-FSA], and as
// Windows does (Samba's smb2.dirlease.setinfo cases "second client,
// correct parent key"), the comparison is of the 16-byte keys alone: the
// ClientGuid does not take part.
//
// The write case follows Windows rather than a line of [MS-FSA]: a WRITE
// only notes the modification (2.1.4.17), and Windows breaks the parent
// when the handle that wrote is closed (Samba's smb2.lease.v2_request,
// written against Windows, waits in vain for a break after the write and
// gets it at the close).
//
// A removal breaks with the key of the open that set delete pending,
// but only when the last closer, whose close removes the object, carries
// the same key; otherwise every lease on the directory breaks (Samba's
// smb2.dirlease.unlink_* cases, again written against Windows).
//
// The state lives in the object table (FileState), so a cluster-wide
// table breaks directory leases held through any node. The Volume finds
// the parent directory and hands the breaks to Options.ParentBreaks, the
// server's delivery, after its own locks are released.

// mayHoldDirLeases asks the table's hint, if it has one.
func (v *Volume) mayHoldDirLeases() bool {
	if h, ok := v.objects.(DirectoryLeaseHint); ok {
		return h.MayHoldDirectoryLeases()
	}
	return true
}

// breakParent breaks the leases of directory dir for a change to one of
// its children through an open carrying exclude. A failure is logged:
// the change itself has happened and stands.
func (v *Volume) breakParent(ctx context.Context, dir uint64, exclude ParentKey) []Break {
	if !v.mayHoldDirLeases() {
		return nil
	}
	bs, err := v.objects.BreakParent(ctx, dir, exclude)
	if err != nil {
		v.log.Warn().Err(err).Uint64("file_id", dir).Msg("directory lease break")
		return nil
	}
	return bs
}

// breakParentOf is breakParent for the directory holding the object at
// disk (the root has none).
func (v *Volume) breakParentOf(ctx context.Context, disk string, exclude ParentKey) []Break {
	if disk == "" || !v.mayHoldDirLeases() {
		return nil
	}
	if err := v.enter("lease break", smbPath(disk)); err != nil {
		return nil
	}
	defer v.life.RUnlock()
	return v.breakParentOfLocked(ctx, disk, exclude)
}

// breakParentOfLocked is breakParentOf for a caller that holds v.life.
func (v *Volume) breakParentOfLocked(ctx context.Context, disk string, exclude ParentKey) []Break {
	if disk == "" || !v.mayHoldDirLeases() {
		return nil
	}
	parent, _ := splitDisk(disk)
	id, err := v.dirID(parent)
	if err != nil {
		v.log.Debug().Err(err).Str("path", smbPath(parent)).Msg("parent directory for a lease break")
		return nil
	}
	return v.breakParent(ctx, id, exclude)
}

// dirID returns the FileId (inode) of the directory at disk. The caller
// holds v.life.
func (v *Volume) dirID(disk string) (uint64, error) {
	if disk == "" {
		return v.rootIno, nil
	}
	fd, err := v.openBeneath(v.rootfd, disk, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return 0, sysErr("lease break", smbPath(disk), err)
	}
	defer unix.Close(fd)
	var st unix.Statx_t
	if err := statFD(fd, &st); err != nil {
		return 0, sysErr("lease break", smbPath(disk), err)
	}
	return st.Ino, nil
}

// deliverParentBreaks hands breaks to the server. Call it without any of
// the volume's locks held: delivery writes to connections.
func (v *Volume) deliverParentBreaks(bs []Break) {
	if len(bs) > 0 && v.parentBreaks != nil {
		v.parentBreaks(bs)
	}
}

// childChanged breaks and delivers the leases of the directory holding
// h's object after a change of the object's metadata through h.
func (h *Handle) childChanged(ctx context.Context) {
	h.v.deliverParentBreaks(h.v.breakParentOf(ctx, h.diskPath(), h.parent))
}

// markModified notes a change of the data through h: its close breaks
// the parent directory's leases (see the package comment above).
func (h *Handle) markModified() {
	if !h.modified.Load() {
		h.modified.Store(true)
	}
}
