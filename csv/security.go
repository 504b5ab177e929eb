package csv

import (
	"context"
	"encoding/binary"
	"errors"

	"golang.org/x/sys/unix"
)

// sdXattr is the extended attribute naming an object's Windows security
// descriptor (a self-relative SECURITY_DESCRIPTOR, [MS-DTYP] 2.4.6) in the
// volume's descriptor store (sdstore.go). csv stores the bytes opaquely;
// the SMB server encodes, decodes and evaluates them.
const sdXattr = "user.sofs.sd"

// maxSDSize bounds a stored descriptor: the largest self-relative
// descriptor [MS-DTYP] allows (two ACLs of at most 64 KiB and two SIDs)
// fits. A larger store file is an error, never read whole.
const maxSDSize = 20 + 2*68 + 2*0xFFFF

// ErrSecurityUnsupported means the backing file system stores no user
// extended attributes, so security descriptors cannot be kept.
var ErrSecurityUnsupported = errors.New("csv: security descriptors need user xattrs on the backing file system")

// readSD reads the descriptor of the object open as fd; ok is false when
// there is none (or the file system has no xattrs). The attribute holds
// a security id (sdstore.go); an attribute of another size, or an id the
// store does not know, reads as none, so the server falls back to its
// default rather than failing the open.
func (v *Volume) readSD(fd int) (sd []byte, ok bool, err error) {
	if !v.xattrs {
		return nil, false, nil
	}
	var buf [sdIDSize]byte
	n, err := unix.Fgetxattr(fd, sdXattr, buf[:])
	switch {
	case err == unix.ENODATA || err == unix.ERANGE:
		return nil, false, nil
	case err != nil:
		return nil, false, err
	case n != sdIDSize:
		return nil, false, nil
	}
	return v.sds.get(v, binary.LittleEndian.Uint32(buf[:]))
}

// writeSD stores sd for the object open as fd.
func (v *Volume) writeSD(fd int, sd []byte) error {
	if !v.xattrs {
		return ErrSecurityUnsupported
	}
	if len(sd) > maxSDSize {
		return newErr("set security", "", ErrInvalidParameter)
	}
	id, err := v.sds.put(v, sd)
	if err != nil {
		return err
	}
	var buf [sdIDSize]byte
	binary.LittleEndian.PutUint32(buf[:], id)
	return unix.Fsetxattr(fd, sdXattr, buf[:], 0)
}

// SecurityDescriptor returns the descriptor stored with the open object;
// ok is false when none was ever stored (the server then computes a
// default).
func (h *Handle) SecurityDescriptor() (sd []byte, ok bool, err error) {
	if err := h.check("get security"); err != nil {
		return nil, false, err
	}
	defer h.release()
	sd, ok, err = h.v.readSD(h.fd)
	if err != nil {
		return nil, false, sysErr("get security", h.Path(), err)
	}
	return sd, ok, nil
}

// SetSecurityDescriptor stores sd with the open object, replacing any
// previous descriptor. Without xattr support it fails with
// ErrSecurityUnsupported: a change that cannot be kept is refused, not
// silently dropped.
func (h *Handle) SetSecurityDescriptor(sd []byte) error {
	if err := h.check("set security"); err != nil {
		return err
	}
	defer h.release()
	if h.v.readOnly {
		return newErr("set security", h.Path(), ErrReadOnly)
	}
	if err := h.v.writeSD(h.fd, sd); err != nil {
		if errors.Is(err, ErrSecurityUnsupported) {
			return newErr("set security", h.Path(), ErrSecurityUnsupported)
		}
		return sysErr("set security", h.Path(), err)
	}
	h.notifyObject(ActionModified, NotifySecurity)
	return nil
}

// SecurityDescriptorAt returns the descriptor stored with the object at
// path (nil when none is stored: the server then computes a default) and
// whether the object is a directory, without opening a Handle on it: the
// access check of CREATE needs both before the open takes effect. The
// error wraps ErrNotFound when the object does not exist.
func (v *Volume) SecurityDescriptorAt(ctx context.Context, path string) (sd []byte, isDir bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	comps, err := parsePath(path)
	if err != nil {
		return nil, false, err
	}
	if err := v.enter("get security", path); err != nil {
		return nil, false, err
	}
	defer v.life.RUnlock()
	if len(comps) == 0 {
		sd, _, err := v.readSD(v.rootfd)
		if err != nil {
			return nil, true, sysErr("get security", path, err)
		}
		return sd, true, nil
	}
	// Fast path, as in open: the client spelled every component as it is
	// on disk, and one confined open reaches the object (an access check
	// reads a descriptor on every CREATE).
	fd, err := v.openBeneath(v.rootfd, diskPath(comps), unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err == nil {
		defer unix.Close(fd)
		var st unix.Statx_t
		if err := statFD(fd, &st); err != nil {
			return nil, false, sysErr("get security", path, err)
		}
		t := st.Mode & unix.S_IFMT
		if t != unix.S_IFREG && t != unix.S_IFDIR {
			return nil, false, newErr("get security", path, ErrAccessDenied)
		}
		sd, _, err := v.readSD(fd)
		if err != nil {
			return nil, false, sysErr("get security", path, err)
		}
		return sd, t == unix.S_IFDIR, nil
	}
	if err != unix.ENOENT && err != unix.ENOTDIR {
		return nil, false, sysErr("get security", path, err)
	}
	d, err := v.walkDir("get security", path, comps[:len(comps)-1])
	if err != nil {
		return nil, false, err
	}
	defer d.close()
	name, st, err := v.lookup(d, comps[len(comps)-1])
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, false, newErr("get security", path, ErrNotFound)
		}
		return nil, false, sysErr("get security", path, err)
	}
	t := st.Mode & unix.S_IFMT
	if t != unix.S_IFREG && t != unix.S_IFDIR {
		return nil, false, newErr("get security", path, ErrAccessDenied)
	}
	fd, err = v.openBeneath(d.fd, name, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, false, sysErr("get security", path, err)
	}
	defer unix.Close(fd)
	sd, _, err = v.readSD(fd)
	if err != nil {
		return nil, false, sysErr("get security", path, err)
	}
	return sd, t == unix.S_IFDIR, nil
}
