package csv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Extended attributes ([MS-FSCC] 2.4.15; [MS-FSA] 2.1.5.14, FileFullEaInformation)
// are stored as one packed xattr per file, eaXattr, holding the whole list
// in the FILE_FULL_EA_INFORMATION layout (entries 4-byte aligned, the last
// one unpadded). One xattr rather than one per EA because Windows applies
// an EA list all or nothing: a single fsetxattr replaces the list
// atomically, so a crash or a concurrent reader never sees half of a
// SET_INFO. The layout being the wire form also makes its length the
// FileEaInformation EaSize. Whether a file has EAs at all is a bit in the
// meta record (metaFlagEAs), so the many files without any cost no extra
// system call when they are listed or stat'ed.

// eaXattr is the extended attribute holding a file's EA list.
const eaXattr = "user.sofs.ea"

// MaxEAListSize bounds a file's EA list in its FILE_FULL_EA_INFORMATION
// form. NTFS keeps a file's EAs within 64 KiB, and 65536 is also the
// largest value Linux lets one xattr hold (XATTR_SIZE_MAX); a list that
// would be larger is ErrEATooLarge. Backing file systems with smaller
// xattr space (ext4 without ea_inode: one block) refuse earlier, with the
// same error.
const MaxEAListSize = 65536

// ErrEATooLarge means the EA list would exceed what the file can hold
// (STATUS_EA_TOO_LARGE).
var ErrEATooLarge = errors.New("csv: extended attributes too large")

// ErrNoEAs means the backing file system cannot store extended attributes
// (STATUS_EAS_NOT_SUPPORTED).
var ErrNoEAs = errors.New("csv: extended attributes not supported by the backing file system")

// EA is one extended attribute. Names are compared case-insensitively and
// stored upper-cased, as NTFS does; validating them against the
// protocol's rules is the caller's job.
type EA struct {
	Name  string
	Value []byte
	// NeedEA is FILE_NEED_EA: the file cannot be understood without
	// this EA.
	NeedEA bool
}

// eaFlagNeed is FILE_NEED_EA in an entry's Flags byte.
const eaFlagNeed = 0x80

// eaEntrySize is the unpadded size of one entry: NextEntryOffset (4),
// Flags (1), EaNameLength (1), EaValueLength (2), the name, its NUL and
// the value.
func eaEntrySize(ea *EA) int { return 8 + len(ea.Name) + 1 + len(ea.Value) }

// EAListSize is the size of eas in the FILE_FULL_EA_INFORMATION layout
// (what FileEaInformation reports as EaSize).
func EAListSize(eas []EA) int {
	n := 0
	for i := range eas {
		if i > 0 {
			n = (n + 3) &^ 3
		}
		n += eaEntrySize(&eas[i])
	}
	return n
}

// encodeEAs packs eas; names must be 1..255 bytes and values at most
// 65535 bytes (the fields' widths), which SetEAs checks first.
func encodeEAs(eas []EA) []byte {
	b := make([]byte, 0, EAListSize(eas))
	for i := range eas {
		ea := &eas[i]
		size := eaEntrySize(ea)
		next := 0
		if i < len(eas)-1 {
			next = (size + 3) &^ 3
		}
		var flags byte
		if ea.NeedEA {
			flags = eaFlagNeed
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(next))
		b = append(b, flags, byte(len(ea.Name)))
		b = binary.LittleEndian.AppendUint16(b, uint16(len(ea.Value)))
		b = append(b, ea.Name...)
		b = append(b, 0)
		b = append(b, ea.Value...)
		for j := size; j < next; j++ {
			b = append(b, 0)
		}
	}
	return b
}

// decodeEAs parses a stored list. The bytes are untrusted (anyone with
// access to the backing directory can write the xattr): a malformed list
// is an error, never a panic, and the entry count is bounded by len(b).
func decodeEAs(b []byte) ([]EA, error) {
	var out []EA
	off := 0
	for off < len(b) {
		e := b[off:]
		if len(e) < 9 {
			return nil, fmt.Errorf("stored EA list: truncated entry at %d", off)
		}
		next := int(binary.LittleEndian.Uint32(e))
		nameLen := int(e[5])
		valLen := int(binary.LittleEndian.Uint16(e[6:]))
		size := 8 + nameLen + 1 + valLen
		if nameLen == 0 || size > len(e) || e[8+nameLen] != 0 {
			return nil, fmt.Errorf("stored EA list: bad entry at %d", off)
		}
		out = append(out, EA{
			Name:   string(e[8 : 8+nameLen]),
			Value:  append([]byte(nil), e[9+nameLen:size]...),
			NeedEA: e[4]&eaFlagNeed != 0,
		})
		if next == 0 {
			return out, nil
		}
		if next < size || next > len(e) {
			return nil, fmt.Errorf("stored EA list: bad NextEntryOffset at %d", off)
		}
		off += next
	}
	return out, nil
}

// upperASCII upper-cases ASCII letters only: EA names are OEM strings
// and the server admits only ASCII, so this is the whole of NTFS's
// upcasing for them.
func upperASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			return strings.ToUpper(s)
		}
	}
	return s
}

// readEAs reads the EA list of the object open as fd; nil when it has none.
func (v *Volume) readEAs(fd int) ([]EA, error) {
	if !v.xattrs {
		return nil, nil
	}
	// Size first: lists are small and rare, so two calls cost less than
	// a 64 KiB buffer on every query.
	for range maxRetries {
		n, err := unix.Fgetxattr(fd, eaXattr, nil)
		if err == unix.ENODATA {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if n > MaxEAListSize {
			return nil, fmt.Errorf("stored EA list of %d bytes: %w", n, ErrEATooLarge)
		}
		buf := make([]byte, n)
		m, err := unix.Fgetxattr(fd, eaXattr, buf)
		if err == unix.ERANGE {
			continue // grew between the calls
		}
		if err == unix.ENODATA {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return decodeEAs(buf[:m])
	}
	return nil, unix.EAGAIN
}

// writeEAs stores eas as the object's whole list (removing the xattr
// when it is empty) and records in the meta record whether there are any.
func (v *Volume) writeEAs(fd int, eas []EA, path string) error {
	if !v.xattrs {
		if len(eas) == 0 {
			return nil
		}
		return newErr("set EAs", path, ErrNoEAs)
	}
	if len(eas) == 0 {
		if err := unix.Fremovexattr(fd, eaXattr); err != nil && err != unix.ENODATA {
			return sysErr("set EAs", path, err)
		}
	} else {
		err := unix.Fsetxattr(fd, eaXattr, encodeEAs(eas), 0)
		switch {
		case err == unix.E2BIG || err == unix.ENOSPC || err == unix.ERANGE:
			// The backing file system has no room for the list in the
			// inode's xattr space.
			return newErr("set EAs", path, ErrEATooLarge)
		case err != nil:
			return sysErr("set EAs", path, err)
		}
	}
	return v.updateMetaFD(fd, path, func(m *meta) { m.hasEAs = len(eas) > 0 })
}

// updateMetaFD reads, changes and writes back the meta record of fd.
func (v *Volume) updateMetaFD(fd int, path string, change func(*meta)) error {
	m, ok, err := v.readMeta(fd)
	if err != nil {
		return sysErr("read meta", path, err)
	}
	if !ok {
		var st unix.Statx_t
		if err := statFD(fd, &st); err != nil {
			return sysErr("read meta", path, err)
		}
		m = meta{attrs: defaultAttrs(st.Mode&unix.S_IFMT == unix.S_IFDIR), created: defaultCreated(&st), hasCreated: true}
	}
	change(&m)
	if err := v.writeMeta(fd, m); err != nil {
		return sysErr("write meta", path, err)
	}
	return nil
}

// eaSize returns the EaSize of the object open as fd given its meta
// record: 0 without the EA flag, else the stored list's length.
func (v *Volume) eaSize(fd int, m meta, ok bool) (uint32, error) {
	if !ok || !m.hasEAs || !v.xattrs {
		return 0, nil
	}
	n, err := unix.Fgetxattr(fd, eaXattr, nil)
	if err == unix.ENODATA {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return uint32(n), nil
}

// mergeEAs applies changes to cur as one FileFullEaInformation SET does
// ([MS-FSA] 2.1.5.14, FileFullEaInformation): a non-empty value adds or replaces the EA of
// that name, an empty one deletes it (deleting an absent EA is no
// error). Names are upper-cased. The result keeps cur's order, with new
// names appended.
func mergeEAs(cur, changes []EA) []EA {
	out := append([]EA(nil), cur...)
	for _, c := range changes {
		name := upperASCII(c.Name)
		i := -1
		for j := range out {
			if out[j].Name == name {
				i = j
				break
			}
		}
		switch {
		case len(c.Value) == 0 && i >= 0:
			out = append(out[:i], out[i+1:]...)
		case len(c.Value) == 0:
		case i >= 0:
			out[i] = EA{Name: name, Value: c.Value, NeedEA: c.NeedEA}
		default:
			out = append(out, EA{Name: name, Value: c.Value, NeedEA: c.NeedEA})
		}
	}
	return out
}

// checkEAs refuses lists the packed form cannot represent or that exceed
// MaxEAListSize.
func checkEAs(eas []EA, path string) error {
	for i := range eas {
		if len(eas[i].Name) == 0 || len(eas[i].Name) > 255 || len(eas[i].Value) > 0xFFFF || strings.IndexByte(eas[i].Name, 0) >= 0 {
			return newErr("set EAs", path, ErrInvalidParameter)
		}
	}
	if EAListSize(eas) > MaxEAListSize {
		return newErr("set EAs", path, ErrEATooLarge)
	}
	return nil
}

// metaFD is the descriptor whose meta record, EAs and times describe the
// open object: the base file's for a named stream, else the handle's own.
func (h *Handle) metaFD() int {
	if h.base != nil {
		return h.base.fd
	}
	return h.fd
}

// EAs returns the object's extended attributes, names upper-cased, in
// stored order; nil when it has none.
func (h *Handle) EAs() ([]EA, error) {
	if err := h.check("query EAs"); err != nil {
		return nil, err
	}
	defer h.release()
	eas, err := h.v.readEAs(h.metaFD())
	if err != nil {
		return nil, sysErr("query EAs", h.Path(), err)
	}
	return eas, nil
}

// SetEAs applies changes to the object's EA list atomically (see
// mergeEAs): either all of them take effect or none.
func (h *Handle) SetEAs(changes []EA) error {
	if err := h.checkWrite("set EAs"); err != nil {
		return err
	}
	defer h.release()
	v := h.v
	// Serialise read-modify-write cycles of the same volume; EA changes
	// are rare, so one lock is enough.
	v.eaMu.Lock()
	defer v.eaMu.Unlock()
	fd := h.metaFD()
	cur, err := v.readEAs(fd)
	if err != nil {
		return sysErr("set EAs", h.Path(), err)
	}
	next := mergeEAs(cur, changes)
	if err := checkEAs(next, h.Path()); err != nil {
		return err
	}
	if err := v.writeEAs(fd, next, h.Path()); err != nil {
		return err
	}
	h.notifyObject(ActionModified, NotifyEA)
	return nil
}

// applyCreateEAs stores the EA buffer of a CREATE on a new or overwritten
// file, replacing whatever list it had ([MS-SMB2] 3.3.5.9.2).
func (v *Volume) applyCreateEAs(fd int, eas []EA, replace bool, path string) error {
	if len(eas) == 0 && !replace {
		return nil
	}
	next := mergeEAs(nil, eas)
	if err := checkEAs(next, path); err != nil {
		return err
	}
	if len(next) == 0 {
		m, ok, err := v.readMeta(fd)
		if err != nil || !ok || !m.hasEAs {
			return nil // nothing to remove
		}
	}
	v.eaMu.Lock()
	defer v.eaMu.Unlock()
	return v.writeEAs(fd, next, path)
}

// SupportsEAs reports whether the backing file system stores extended
// attributes (and so whether the volume can keep EAs).
func (v *Volume) SupportsEAs() bool { return v.xattrs }
