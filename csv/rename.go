package csv

import (
	"context"
	"errors"
	"sofs.io/sofs/csv/openstate"
	"strings"

	"golang.org/x/sys/unix"
)

// Rename moves the open object to newPath ([MS-FSCC] 2.4.42
// FileRenameInformation, [MS-FSA] 2.1.5.14.11). An existing target is
// ErrExists unless replaceIfExists; a directory target, a directory
// source replacing anything, an open target or a read-only target is
// ErrAccessDenied. A directory with open objects below it cannot be
// renamed (ErrAccessDenied, as on Windows), which is also what keeps
// every Handle's Path right. Renames that change only the case of the
// name work on case-sensitive file systems.
func (h *Handle) Rename(ctx context.Context, newPath string, replaceIfExists bool) error {
	const op = "rename"
	if err := h.checkWrite(op); err != nil {
		return err
	}
	defer h.release()
	comps, err := parsePath(newPath)
	if err != nil {
		return err
	}
	v := h.v
	if len(comps) == 0 {
		return newErr(op, newPath, ErrAccessDenied)
	}
	// The leases of the directories the name leaves and enters break
	// (dirlease.go), delivered once the locks below are released.
	var brk []Break
	defer func() { v.deliverParentBreaks(brk) }()
	if err := v.enter(op, newPath); err != nil {
		return err
	}
	defer v.life.RUnlock()
	v.nsMu.Lock()
	defer v.nsMu.Unlock()

	oldDisk := h.diskPath()
	if oldDisk == "" {
		return newErr(op, newPath, ErrAccessDenied)
	}
	if h.isDir {
		// Windows refuses to rename a directory with open objects below
		// it, wherever they were opened: their handles' paths would be
		// wrong.
		if below, err := v.hasOpenBelow(ctx, oldDisk); err != nil {
			return err
		} else if below {
			return newErr(op, newPath, ErrAccessDenied)
		}
	}
	if h.base != nil {
		// A stream handle renames only its stream (RenameStream).
		return newErr(op, newPath, ErrInvalidParameter)
	}
	if open, err := v.hasOpenStreams(ctx, h.f.id); err != nil {
		return err
	} else if open {
		// As Windows does (smb2.streams.basefile-rename-with-open-stream).
		return newErr(op, newPath, ErrAccessDenied)
	}
	dst, err := v.walkDir(op, newPath, comps[:len(comps)-1])
	if err != nil {
		return err
	}
	defer dst.close()
	if os, err := v.objects.State(ctx, dst.st.Ino); err != nil {
		return err
	} else if os.DeletePending {
		return newErr(op, newPath, ErrDeletePending)
	} else if os.Access&openstate.AccessDelete != 0 {
		// The destination directory is open for DELETE: Windows refuses
		// the rename with a sharing violation (Samba does too).
		return newErr(op, newPath, ErrSharingViolation)
	}
	if h.isDir && (dst.disk == oldDisk || strings.HasPrefix(dst.disk, oldDisk+"/")) {
		// Into itself: the kernel says EINVAL; Windows refuses it too.
		return newErr(op, newPath, ErrAccessDenied)
	}

	oldParent, oldName := splitDisk(oldDisk)
	src := &dirRef{fd: v.rootfd}
	if oldParent != "" {
		fd, err := v.openBeneath(v.rootfd, oldParent, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			return sysErr(op, smbPath(oldDisk), err)
		}
		src.fd, src.owned = fd, true
	}
	defer src.close()
	var st unix.Statx_t
	if err := statAt(src.fd, oldName, &st); err != nil || st.Ino != h.f.id {
		// Moved or removed behind our back.
		return newErr(op, smbPath(oldDisk), ErrNotFound)
	}

	newName := comps[len(comps)-1]
	// The checks above may have waited on other nodes: ask the guard
	// again before the namespace changes.
	if err := v.fenced(op, newPath); err != nil {
		return err
	}
	existing, est, err := v.lookup(dst, newName)
	replaced := "" // the target a rename replaced, for change notify
	switch {
	case err == nil && est.Ino == h.f.id:
		if existing == newName {
			return nil // renamed to itself
		}
		// A case-only rename: newName itself does not exist.
		err = renameNoReplace(src.fd, oldName, dst.fd, newName)
	case err == nil:
		if err := v.checkReplace(ctx, dst, existing, &est, h.isDir, replaceIfExists, newPath); err != nil {
			return err
		}
		replaced = existing
		if existing != newName {
			// The target differs in case: remove it, then take the
			// client's spelling.
			if err := unix.Unlinkat(dst.fd, existing, 0); err != nil {
				return sysErr(op, newPath, err)
			}
			err = renameNoReplace(src.fd, oldName, dst.fd, newName)
		} else {
			err = unix.Renameat(src.fd, oldName, dst.fd, newName)
		}
	case errors.Is(err, ErrNotFound):
		err = renameNoReplace(src.fd, oldName, dst.fd, newName)
	default:
		return sysErr(op, newPath, err)
	}
	if err != nil {
		return sysErr(op, newPath, err)
	}
	v.mu.Lock()
	h.f.disk = joinDisk(dst.disk, newName)
	v.mu.Unlock()
	var pst unix.Statx_t
	if statFD(src.fd, &pst) == nil {
		v.cache.forget(&pst)
		brk = v.breakParent(ctx, pst.Ino, h.parent)
	}
	if statFD(dst.fd, &pst) == nil {
		v.cache.forget(&pst)
		if oldParent != dst.disk {
			brk = append(brk, v.breakParent(ctx, pst.Ino, h.parent)...)
		}
	}
	h.notifyRename(oldDisk, dst.disk, newName, replaced)
	return nil
}

// checkReplace decides whether an existing target may be replaced.
func (v *Volume) checkReplace(ctx context.Context, dst *dirRef, name string, st *unix.Statx_t, srcDir, replace bool, path string) error {
	const op = "rename"
	if !replace {
		return newErr(op, path, ErrExists)
	}
	if srcDir || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return newErr(op, path, ErrAccessDenied)
	}
	if os, err := v.objects.State(ctx, st.Ino); err != nil {
		return err
	} else if os.Opens > 0 {
		return newErr(op, path, ErrAccessDenied)
	}
	fd, err := v.openBeneath(dst.fd, name, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return sysErr(op, path, err)
	}
	defer unix.Close(fd)
	m, ok, err := v.readMeta(fd)
	if err != nil {
		return sysErr(op, path, err)
	}
	if ok && m.attrs&AttrReadonly != 0 {
		return newErr(op, path, ErrAccessDenied)
	}
	return nil
}

// renameNoReplace renames without ever clobbering a target that appeared
// behind our back; file systems without RENAME_NOREPLACE get a checked
// plain rename.
func renameNoReplace(olddir int, oldname string, newdir int, newname string) error {
	err := unix.Renameat2(olddir, oldname, newdir, newname, unix.RENAME_NOREPLACE)
	if err != unix.EINVAL && err != unix.ENOSYS {
		return err
	}
	var st unix.Statx_t
	if err := statAt(newdir, newname, &st); err == nil {
		return unix.EEXIST
	} else if err != unix.ENOENT {
		return err
	}
	return unix.Renameat(olddir, oldname, newdir, newname)
}

// hasLocalOpenBelow reports whether any object below directory disk is
// open on this node.
func (v *Volume) hasLocalOpenBelow(disk string) bool {
	prefix := disk + "/"
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, f := range v.files {
		if strings.HasPrefix(f.disk, prefix) {
			return true
		}
	}
	return false
}
