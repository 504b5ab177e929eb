package csv

import (
	"strings"
	"unicode/utf8"
)

// Limits on client-sent names. Windows allows 255 UTF-16 units per
// component and 32,767 for a whole path; we count UTF-8 bytes because that
// is what the backing file system limits (NAME_MAX is 255 bytes on Linux),
// so a long non-ASCII name may be refused that Windows would accept.
const (
	maxComponentBytes = 255
	maxPathBytes      = 32767
)

// defaultStreamSuffix names the unnamed data stream ([MS-FSCC] 2.1.5.1:
// "::$DATA" is the default stream of a file); "name::$DATA" is the file
// itself, so we accept it on the final component.
const defaultStreamSuffix = "::$DATA"

// parsePath validates an SMB path relative to the share root (backslash
// separated, no leading backslash, "" for the root) and returns its
// components. It rejects everything that could escape the root or that
// Windows rejects in names ([MS-FSCC] 2.1.5.2 filename rules): empty, "."
// and ".." components, '/', control characters, the wildcard and quoting
// characters " * < > ? |, invalid UTF-8, and reserved DOS device names.
// A ':' means a stream: "::$DATA" on the last component is stripped, any
// other stream is ErrStreamsUnsupported (ErrInvalidName in a directory
// component).
func parsePath(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if len(p) > maxPathBytes {
		return nil, newErr("parse", p, ErrNameTooLong)
	}
	if !utf8.ValidString(p) {
		return nil, newErr("parse", p, ErrInvalidName)
	}
	comps := strings.Split(p, `\`)
	last := len(comps) - 1
	if len(comps[last]) >= len(defaultStreamSuffix) &&
		strings.EqualFold(comps[last][len(comps[last])-len(defaultStreamSuffix):], defaultStreamSuffix) {
		comps[last] = comps[last][:len(comps[last])-len(defaultStreamSuffix)]
	}
	for i, c := range comps {
		if err := checkComponent(c, i == last); err != nil {
			return nil, newErr("parse", p, err)
		}
	}
	return comps, nil
}

// checkComponent validates one name component and returns the sentinel
// kind of its problem, or nil.
func checkComponent(c string, last bool) error {
	if c == "" || c == "." || c == ".." {
		return ErrInvalidName
	}
	if len(c) > maxComponentBytes {
		return ErrNameTooLong
	}
	for i := 0; i < len(c); i++ {
		switch b := c[i]; {
		case b < 0x20, b == 0x7f:
			return ErrInvalidName
		case b == ':':
			if last {
				return ErrStreamsUnsupported
			}
			return ErrInvalidName
		case b == '/', b == '"', b == '*', b == '<', b == '>', b == '?', b == '|', b == '\\':
			return ErrInvalidName
		}
	}
	if isDeviceName(c) {
		return ErrInvalidName
	}
	return nil
}

// isDeviceName reports whether c is a reserved DOS device name, with or
// without an extension ("NUL", "con.txt", "COM1 .log"): Win32 maps these to
// devices in every directory, so a file by that name would be unreachable
// from Windows clients and confusing to all others.
func isDeviceName(c string) bool {
	base := c
	if i := strings.IndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	base = strings.TrimRight(base, " ")
	switch len(base) {
	case 3:
		for _, d := range [...]string{"CON", "PRN", "AUX", "NUL"} {
			if strings.EqualFold(base, d) {
				return true
			}
		}
	case 4:
		if base[3] < '1' || base[3] > '9' {
			return false
		}
		return strings.EqualFold(base[:3], "COM") || strings.EqualFold(base[:3], "LPT")
	}
	return false
}

// diskPath joins on-disk components into the '/'-separated path used with
// the root descriptor; "" is the root itself.
func diskPath(comps []string) string { return strings.Join(comps, "/") }

// smbPath converts an on-disk relative path to the backslash form.
func smbPath(disk string) string { return strings.ReplaceAll(disk, "/", `\`) }

// splitDisk splits an on-disk relative path into parent and final name.
func splitDisk(disk string) (parent, name string) {
	i := strings.LastIndexByte(disk, '/')
	if i < 0 {
		return "", disk
	}
	return disk[:i], disk[i+1:]
}
