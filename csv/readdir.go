package csv

import (
	"context"
	"io/fs"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// ReadDir returns a snapshot of the directory's entries sorted by on-disk
// name (byte order, so a resumed enumeration sees a stable order),
// without "." and "..". Entries a client could never open are left out:
// symbolic links, devices, FIFOs and sockets, and names that are not
// valid SMB names (invalid UTF-8, '\', ':', wildcards, device names).
// Paging and wildcard matching are the caller's.
func (h *Handle) ReadDir(ctx context.Context) ([]FileInfo, error) {
	if err := h.check("read dir"); err != nil {
		return nil, err
	}
	defer h.release()
	if !h.isDir {
		return nil, newErr("read dir", h.Path(), ErrNotDirectory)
	}
	dfd, err := unix.Openat(h.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, sysErr("read dir", h.Path(), err)
	}
	d := os.NewFile(uintptr(dfd), "dir")
	defer d.Close()
	ents, err := d.ReadDir(-1)
	if err != nil {
		return nil, sysErr("read dir", h.Path(), err)
	}
	out := make([]FileInfo, 0, len(ents))
	for _, e := range ents {
		name := e.Name()
		if t := e.Type(); t&^fs.ModeDir != 0 || !listable(name) {
			continue
		}
		if name == hiddenDir && h.f.id == h.v.rootIno {
			continue // the volume's private area (stream.go)
		}
		fd, err := openEntry(dfd, name)
		if err != nil {
			// Gone since the listing, or replaced by a link: skip it.
			continue
		}
		fi, err := h.v.infoFD(ctx, fd, name)
		unix.Close(fd)
		if err != nil {
			return nil, err
		}
		out = append(out, fi)
	}
	slices.SortFunc(out, func(a, b FileInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// StatChild describes the entry name of the directory h, as ReadDir
// does: name is one component, matched exactly (a name ReadDir returned).
// Relative to the open directory it costs no path walk, which is what a
// directory enumeration re-checking each entry it returns needs.
func (h *Handle) StatChild(ctx context.Context, name string) (FileInfo, error) {
	if err := h.check("stat"); err != nil {
		return FileInfo{}, err
	}
	defer h.release()
	if !h.isDir {
		return FileInfo{}, newErr("stat", h.Path(), ErrNotDirectory)
	}
	if !listable(name) || (name == hiddenDir && h.f.id == h.v.rootIno) {
		return FileInfo{}, newErr("stat", name, ErrNotFound)
	}
	fd, err := openEntry(h.fd, name)
	if err != nil {
		return FileInfo{}, sysErr("stat", name, err)
	}
	defer unix.Close(fd)
	return h.v.infoFD(ctx, fd, name)
}

// openEntry opens a directory entry to describe it: never through a
// symbolic link, never blocking on a FIFO.
func openEntry(dirfd int, name string) (int, error) {
	return unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
}

// listable reports whether an on-disk name is reachable through SMB.
func listable(name string) bool {
	return utf8.ValidString(name) && checkComponent(name, true) == nil
}
