package csv

import (
	"strings"

	"golang.org/x/sys/unix"
)

// Short (8.3) names ([MS-FSCC] 2.1.5.2.1). NTFS gives a file whose name is
// not a valid 8.3 name a second, 8.3 name, reported by
// FileAlternateNameInformation and in the ShortName of directory entries,
// and accepted wherever a path component is. sofs does not store short
// names: a file's short name is computed from its long name, so it is
// stable for the life of the name and costs nothing to keep. It has the
// form PR~HHHHH.EXT, like the hashed form NTFS falls back to: up to two
// characters of the name, a tilde, five base-36 characters (about 26
// bits) of a hash of the case-folded long name, and up to three
// characters of the extension. Unlike NTFS's numbering the hash is not
// guaranteed unique in a directory: two names sharing the prefix, the
// extension and the hash share a short name (about one chance in 60
// million per pair), and an open by that short name finds the first of
// them in byte order.

// valid83 reports whether c may appear in an 8.3 name component ([MS-FSCC]
// 2.1.5.2.1: letters, digits and $%'-_@~`!(){}^#&; not space or
// "*+,./:;<=>?[\]| and no characters beyond ASCII).
func valid83(c byte) bool {
	switch {
	case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("$%'-_@~`!(){}^#&", c) >= 0
}

// is83 reports whether name is already a valid 8.3 name (in any case): a
// base of 1 to 8 characters and an optional extension of 1 to 3 after a
// single dot. Such a name is its own short name.
func is83(name string) bool {
	base, ext, dot := strings.Cut(name, ".")
	if len(base) == 0 || len(base) > 8 || len(ext) > 3 || (dot && len(ext) == 0) {
		return false
	}
	for i := 0; i < len(base); i++ {
		if !valid83(base[i]) {
			return false
		}
	}
	for i := 0; i < len(ext); i++ {
		if !valid83(ext[i]) {
			return false
		}
	}
	return true
}

// ShortName returns the 8.3 name of a file named name, or "" when name is
// itself a valid 8.3 name (then it has no separate short name, as on
// NTFS) or is "" (the share root).
func ShortName(name string) string {
	if name == "" || is83(name) {
		return ""
	}
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		base, ext = name[:i], name[i+1:]
	}
	var b strings.Builder
	b.Grow(12)
	n := 0
	for i := 0; i < len(base) && n < 2; i++ {
		if c := base[i]; valid83(c) && c != '~' {
			b.WriteByte(upper83(c))
			n++
		}
	}
	if n == 0 {
		b.WriteByte('_')
	}
	b.WriteByte('~')
	// FNV-1a over the case-folded name: names that differ only in case
	// are the same file on this volume and must share the short name.
	h := uint32(2166136261)
	for _, c := range []byte(foldKey(name)) {
		h = (h ^ uint32(c)) * 16777619
	}
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	var hash [5]byte
	for i := len(hash) - 1; i >= 0; i-- {
		hash[i] = digits[h%36]
		h /= 36
	}
	b.Write(hash[:])
	n = 0
	for i := 0; i < len(ext) && n < 3; i++ {
		if c := ext[i]; valid83(c) {
			if n == 0 {
				b.WriteByte('.')
			}
			b.WriteByte(upper83(c))
			n++
		}
	}
	return b.String()
}

func upper83(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// mayBeShortName reports whether a client-sent component has the shape of
// a name ShortName generates (PR~HHHHH or PR~HHHHH.EXT, in any case),
// which is worth a directory scan when no long name matches.
func mayBeShortName(name string) bool {
	if !is83(name) {
		return false
	}
	base, _, _ := strings.Cut(name, ".")
	i := strings.IndexByte(base, '~')
	if i < 1 || i > 2 || len(base) != i+6 {
		return false
	}
	for _, c := range []byte(base[i+1:]) {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// lookupShort finds the entry of directory dirfd whose short name is name
// (case-insensitively), or returns "".
func lookupShort(dirfd int, name string) (string, error) {
	names, err := scanNames(dirfd)
	if err != nil {
		return "", err
	}
	found := ""
	for _, n := range names {
		if s := ShortName(n); s != "" && strings.EqualFold(s, name) && listable(n) && (found == "" || n < found) {
			found = n
		}
	}
	return found, nil
}

// statShort is lookup's fallback for short names.
func (v *Volume) statShort(d *dirRef, name string, st *unix.Statx_t) (string, error) {
	if !mayBeShortName(name) {
		return "", ErrNotFound
	}
	found, err := lookupShort(d.fd, name)
	if err != nil {
		return "", err
	}
	if found == "" {
		return "", ErrNotFound
	}
	if err := statAt(d.fd, found, st); err != nil {
		if err == unix.ENOENT {
			return "", ErrNotFound
		}
		return "", err
	}
	return found, nil
}
