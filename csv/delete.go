package csv

import (
	"context"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// SetDeletePending sets or clears delete pending ([MS-FSCC] 2.4.11
// FileDispositionInformation). Setting it fails with ErrCannotDelete for
// a read-only object or the root and ErrNotEmpty for a non-empty
// directory. The object is removed when its last handle closes; until
// then new opens fail with ErrDeletePending.
func (h *Handle) SetDeletePending(ctx context.Context, on bool) error {
	if err := h.checkWrite("set delete pending"); err != nil {
		return err
	}
	defer h.release()
	if on {
		if err := h.canDelete(); err != nil {
			return err
		}
	}
	if err := h.v.objects.SetDeletePending(ctx, h.f.id, on, h.parent); err != nil {
		return err
	}
	if h.isDir {
		h.v.notifyDeletePending(h.f.id, on)
	}
	return nil
}

// canDelete applies the checks of [MS-FSA] 2.1.5.14.3.
func (h *Handle) canDelete() error {
	if h.diskPath() == "" {
		return newErr("delete", "", ErrCannotDelete)
	}
	a, err := h.attrs()
	if err != nil {
		return err
	}
	if a&AttrReadonly != 0 {
		return newErr("delete", h.Path(), ErrCannotDelete)
	}
	if h.isDir {
		empty, err := dirEmpty(h.fd)
		if err != nil {
			return sysErr("delete", h.Path(), err)
		}
		if !empty {
			return newErr("delete", h.Path(), ErrNotEmpty)
		}
	}
	return nil
}

// dirEmpty reports whether a directory has no entries but "." and "..".
func dirEmpty(fd int) (bool, error) {
	dfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	f := os.NewFile(uintptr(dfd), "dir")
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err == io.EOF {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return len(names) == 0, nil
}

// Close ends the open. If it was opened delete-on-close, delete pending is
// set first (a non-empty directory just stays, as on Windows); if this is
// the object's last open and delete is pending, the object is removed.
func (h *Handle) Close() error {
	if !h.closed.CompareAndSwap(false, true) {
		return newErr("close", h.Path(), ErrClosed)
	}
	// A close is a teardown: it runs to its end whoever asked for it (a
	// client's CLOSE, a dropped connection, a scavenged durable handle),
	// so it takes no caller's cancellation; the open-state calls it makes
	// are bounded by their own timeouts.
	ctx := context.Background()
	v := h.v
	h.unwatch()
	h.releaseLocks(ctx)
	if h.renamed.Load() {
		h.notifyObject(ActionModified, NotifyAttributes|NotifyCreation)
	}
	var brk []Break
	if h.modified.Load() {
		// Windows breaks the parent's leases when a handle that wrote
		// closes (dirlease.go).
		brk = v.breakParentOf(ctx, h.diskPath(), h.parent)
	}
	if h.deleteOnClose.Load() && !v.readOnly {
		if err := h.canDelete(); err == nil {
			if err := v.objects.SetDeletePending(ctx, h.f.id, true, h.parent); err != nil {
				v.log.Warn().Err(err).Str("path", h.Path()).Msg("delete on close")
			} else if h.isDir {
				v.notifyDeletePending(h.f.id, true)
			}
		} else {
			v.log.Debug().Err(err).Str("path", h.Path()).Msg("delete on close refused")
		}
	}
	var result error
	last, pending, err := v.objects.Release(ctx, h.f.id, h.openID)
	if err != nil {
		result = err
	} else if last && pending {
		// The removal breaks the leases of the directory, sparing the
		// one named by both the open that set delete pending and this
		// last close (dirlease.go).
		var exclude ParentKey
		if v.mayHoldDirLeases() {
			if st, err := v.objects.State(ctx, h.f.id); err == nil && st.DeleteParent == h.parent {
				exclude = h.parent
			}
		}
		// A failed removal is logged, not returned: on Windows CLOSE
		// always succeeds, and the object is no longer open either way.
		if dir, err := v.remove(h.f); err != nil {
			v.log.Warn().Err(err).Str("path", h.Path()).Msg("removing delete-pending object")
		} else if dir != 0 {
			brk = append(brk, v.breakParent(ctx, dir, exclude)...)
		}
		if err := v.objects.Forget(ctx, h.f.id); err != nil {
			result = err
		}
	}
	v.deliverParentBreaks(brk)
	v.dropFile(h.f)
	h.waitUnpinned()
	if err := unix.Close(h.fd); err != nil && result == nil {
		result = sysErr("close", h.Path(), err)
	}
	if h.base != nil {
		// The stream's hold on its base file: the base's last close
		// removes a delete-pending base (and so all its streams).
		if err := h.base.Close(); err != nil && result == nil {
			result = err
		}
	}
	return result
}

// remove deletes a delete-pending object at its current path, after
// checking that the name still refers to it. It returns the FileId of
// the directory the object was removed from (0 for a named stream).
func (v *Volume) remove(f *file) (uint64, error) {
	v.life.RLock()
	defer v.life.RUnlock()
	if v.closed {
		return 0, newErr("delete", "", ErrClosed)
	}
	v.nsMu.Lock()
	defer v.nsMu.Unlock()
	if f.stream != nil {
		return 0, v.removeStream(f)
	}
	v.mu.Lock()
	disk := f.disk
	v.mu.Unlock()
	if disk == "" {
		return 0, newErr("delete", "", ErrCannotDelete)
	}
	parent, name := splitDisk(disk)
	pfd := v.rootfd
	if parent != "" {
		fd, err := v.openBeneath(v.rootfd, parent, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			return 0, sysErr("delete", smbPath(disk), err)
		}
		defer unix.Close(fd)
		pfd = fd
	}
	var st unix.Statx_t
	if err := statAt(pfd, name, &st); err != nil {
		return 0, sysErr("delete", smbPath(disk), err)
	}
	if st.Ino != f.id {
		return 0, newErr("delete", smbPath(disk), ErrNotFound)
	}
	flags := 0
	if f.isDir {
		flags = unix.AT_REMOVEDIR
	}
	// A fenced node's delete-on-close is not done: the object may be
	// another node's by now (its new owner's close deletes it).
	if err := v.fenced("delete", smbPath(disk)); err != nil {
		return 0, err
	}
	if err := unix.Unlinkat(pfd, name, flags); err != nil {
		return 0, sysErr("delete", smbPath(disk), err)
	}
	if f.isDir || st.Nlink <= 1 {
		// The last name is gone, and with it the file's streams.
		if err := v.removeStreamDir(f.id); err != nil {
			v.log.Warn().Err(err).Uint64("file_id", f.id).Msg("removing the streams of a deleted file")
		}
	}
	v.emit(Event{Dir: parent, Name: name, Action: ActionRemoved, Filter: nameFilter(f.isDir)})
	var pst unix.Statx_t
	if err := statFD(pfd, &pst); err != nil {
		return 0, nil
	}
	v.cache.forget(&pst)
	return pst.Ino, nil
}

// Detach ends the open on this node only: the file descriptor and the
// node's own bookkeeping go, but the open's entry, lease and locks stay
// in the object and lock tables for the node that adopts the handle
// (OpenEntry.Supersedes, TransferLocks). Nothing is deleted and no
// break is sent: to the rest of the cluster the open never closed.
func (h *Handle) Detach() error {
	if !h.closed.CompareAndSwap(false, true) {
		return newErr("detach", h.Path(), ErrClosed)
	}
	h.unwatch()
	h.v.dropFile(h.f)
	h.waitUnpinned()
	var result error
	if err := unix.Close(h.fd); err != nil {
		result = sysErr("detach", h.Path(), err)
	}
	if h.base != nil {
		// The base file's hold has no entry of its own (streams.go): the
		// adopter opens the stream, and with it the base, again.
		if err := h.base.Close(); err != nil && result == nil {
			result = err
		}
	}
	return result
}
