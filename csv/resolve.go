package csv

import (
	"errors"
	"strings"

	"golang.org/x/sys/unix"
)

// resolveFlags confine openat2 to the tree below the descriptor it starts
// from: no "..", absolute paths or symbolic links of any kind, and no mount
// points (so inode numbers are unique FileIDs).
const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS |
	unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// maxRetries bounds retries of EINTR and of the EAGAIN that openat2 returns
// when a concurrent rename makes RESOLVE_BENEATH unable to prove safety.
const maxRetries = 16

// statxMask is what we ask statx for.
const statxMask = unix.STATX_BASIC_STATS | unix.STATX_BTIME

// openBeneath opens rel (a '/'-joined path of validated components, never
// "" or containing "..") relative to dirfd without leaving the tree below
// it and without following any symbolic link.
func (v *Volume) openBeneath(dirfd int, rel string, flags int, mode uint32) (int, error) {
	flags |= unix.O_CLOEXEC | unix.O_NOFOLLOW
	if flags&unix.O_PATH == 0 {
		// openat2 refuses flags O_PATH ignores, O_NOCTTY among them.
		flags |= unix.O_NOCTTY
	}
	if !v.noOpenat2 {
		how := unix.OpenHow{Flags: uint64(flags), Mode: uint64(mode), Resolve: resolveFlags}
		for range maxRetries {
			fd, err := unix.Openat2(dirfd, rel, &how)
			if err == unix.EINTR || err == unix.EAGAIN {
				continue
			}
			return fd, err
		}
		return -1, unix.EAGAIN
	}
	return v.openPerComponent(dirfd, rel, flags, mode)
}

// openPerComponent is the fallback for kernels without openat2 (before
// 5.6, or a seccomp profile that hides it): every directory component is
// opened with O_PATH|O_DIRECTORY|O_NOFOLLOW, refusing symbolic links and
// other devices, and the last with O_NOFOLLOW. Components never contain '/'
// or "..", so each step stays below dirfd.
func (v *Volume) openPerComponent(dirfd int, rel string, flags int, mode uint32) (int, error) {
	comps := strings.Split(rel, "/")
	cur := dirfd
	release := func() {
		if cur != dirfd {
			unix.Close(cur)
		}
	}
	for _, c := range comps[:len(comps)-1] {
		fd, err := unix.Openat(cur, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == unix.ENOTDIR {
			// O_PATH|O_NOFOLLOW on a link yields ENOTDIR with O_DIRECTORY;
			// report links as openat2 does.
			var st unix.Statx_t
			if unix.Statx(cur, c, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_TYPE, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				err = unix.ELOOP
			}
		}
		release()
		if err != nil {
			return -1, err
		}
		cur = fd
		if err := v.sameDev(cur); err != nil {
			release()
			return -1, err
		}
	}
	fd, err := unix.Openat(cur, comps[len(comps)-1], flags, mode)
	release()
	if err != nil {
		return -1, err
	}
	if err := v.sameDev(fd); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// sameDev refuses a descriptor on another file system than the root (the
// fallback's stand-in for RESOLVE_NO_XDEV; bind mounts of the same file
// system are not detected by it).
func (v *Volume) sameDev(fd int) error {
	var st unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_TYPE, &st); err != nil {
		return err
	}
	if unix.Mkdev(st.Dev_major, st.Dev_minor) != v.dev {
		return unix.EXDEV
	}
	return nil
}

// statAt stats one name in a directory without following a final link.
func statAt(dirfd int, name string, st *unix.Statx_t) error {
	for range maxRetries {
		err := unix.Statx(dirfd, name, unix.AT_SYMLINK_NOFOLLOW, statxMask, st)
		if err != unix.EINTR {
			return err
		}
	}
	return unix.EINTR
}

// statFD stats an open descriptor.
func statFD(fd int, st *unix.Statx_t) error {
	for range maxRetries {
		err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, statxMask, st)
		if err != unix.EINTR {
			return err
		}
	}
	return unix.EINTR
}

// dirRef is a directory descriptor from a walk; the root's is borrowed.
type dirRef struct {
	fd    int
	owned bool
	st    unix.Statx_t
	disk  string // on-disk path relative to the root
}

func (d *dirRef) close() {
	if d.owned && d.fd >= 0 {
		unix.Close(d.fd)
		d.fd = -1
	}
}

// walkDir opens the directory named by comps (client spelling), matching
// each component case-insensitively where the exact name is missing. A
// missing or non-directory component is ErrPathNotFound; a symbolic link
// or mount point is ErrAccessDenied.
func (v *Volume) walkDir(op, path string, comps []string) (*dirRef, error) {
	d := &dirRef{fd: v.rootfd}
	if len(comps) == 0 {
		if err := statFD(v.rootfd, &d.st); err != nil {
			return nil, sysErr(op, path, err)
		}
		return d, nil
	}
	// Fast path: the names are spelled as on disk.
	rel := diskPath(comps)
	fd, err := v.openBeneath(v.rootfd, rel, unix.O_PATH|unix.O_DIRECTORY, 0)
	switch {
	case err == nil:
		d.fd, d.owned, d.disk = fd, true, rel
		if err := statFD(fd, &d.st); err != nil {
			d.close()
			return nil, sysErr(op, path, err)
		}
		return d, nil
	case err != unix.ENOENT && err != unix.ENOTDIR:
		return nil, sysErr(op, path, err)
	}
	// Slow path: component by component.
	if err := statFD(v.rootfd, &d.st); err != nil {
		return nil, sysErr(op, path, err)
	}
	actual := make([]string, 0, len(comps))
	for _, c := range comps {
		name, st, err := v.lookup(d, c)
		if err != nil {
			d.close()
			if errors.Is(err, ErrNotFound) {
				return nil, newErr(op, path, ErrPathNotFound)
			}
			return nil, sysErr(op, path, err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
		case unix.S_IFLNK:
			d.close()
			return nil, newErr(op, path, ErrAccessDenied)
		default:
			d.close()
			return nil, newErr(op, path, ErrPathNotFound)
		}
		fd, err := v.openBeneath(d.fd, name, unix.O_PATH|unix.O_DIRECTORY, 0)
		d.close()
		if err != nil {
			if err == unix.ENOENT || err == unix.ENOTDIR {
				return nil, newErr(op, path, ErrPathNotFound)
			}
			return nil, sysErr(op, path, err)
		}
		d.fd, d.owned = fd, true
		if err := statFD(fd, &d.st); err != nil {
			d.close()
			return nil, sysErr(op, path, err)
		}
		actual = append(actual, name)
	}
	d.disk = diskPath(actual)
	return d, nil
}

// lookup finds the on-disk spelling of name in directory d: the exact name
// if it exists (no scan), else a case-insensitive match from the cache,
// else the name whose 8.3 short name name is (see ShortName). It returns
// ErrNotFound (bare) when there is none.
func (v *Volume) lookup(d *dirRef, name string) (string, unix.Statx_t, error) {
	found, st, err := v.lookupName(d, name)
	if err == nil && d.disk == "" && strings.EqualFold(found, hiddenDir) {
		// No spelling of a name at the root, short names included,
		// reaches the volume's private area (stream.go).
		return "", st, ErrNotFound
	}
	return found, st, err
}

func (v *Volume) lookupName(d *dirRef, name string) (string, unix.Statx_t, error) {
	var st unix.Statx_t
	err := statAt(d.fd, name, &st)
	if err == nil {
		return name, st, nil
	}
	if err != unix.ENOENT {
		return "", st, err
	}
	found, err := v.cache.lookup(d.fd, &d.st, name)
	if err != nil {
		return "", st, err
	}
	if found == "" {
		// Not a long name: perhaps the short name of one (shortname.go).
		found, err := v.statShort(d, name, &st)
		return found, st, err
	}
	if err := statAt(d.fd, found, &st); err != nil {
		if err == unix.ENOENT {
			return "", st, ErrNotFound
		}
		return "", st, err
	}
	return found, st, nil
}
