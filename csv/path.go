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

// parsePath validates an SMB path relative to the share root (backslash
// separated, no leading backslash, "" for the root) and returns its
// components. It rejects everything that could escape the root or that
// Windows rejects in names ([MS-FSCC] 2.1.5.2 filename rules): empty, "."
// and ".." components, '/', control characters, the wildcard and quoting
// characters " * < > ? |, invalid UTF-8, and reserved DOS device names,
// and it keeps clients out of the volume's hidden area (hiddenDir). A
// "::$DATA" suffix on the last component is the file itself; a named
// stream is ErrStreamsUnsupported (callers that open streams use
// parseStreamPath).
func parsePath(p string) ([]string, error) {
	comps, sp, err := parseStreamPath(p)
	if err != nil {
		return nil, err
	}
	if sp.name != "" {
		return nil, newErr("parse", p, ErrStreamsUnsupported)
	}
	return comps, nil
}

// streamPart is the stream part of a path's last component ([MS-FSCC]
// 2.1.5.3: "file:stream:type").
type streamPart struct {
	// name is the stream name as the client spelled it; "" for the
	// default (unnamed) data stream.
	name string
	// explicit is set when the client named the default stream
	// ("file::$DATA"), which a directory does not have.
	explicit bool
}

// parseStreamPath is parsePath that also accepts a named data stream on
// the last component: "name:stream" or "name:stream:$DATA" (the type
// compared case-insensitively). Any other type, an empty type
// ("name:stream:") or an empty stream name without a type ("name:") is
// ErrInvalidName, as are stream names containing '/', '\', ':' or NUL
// (smb2.streams.names2).
func parseStreamPath(p string) ([]string, streamPart, error) {
	var sp streamPart
	if p == "" {
		return nil, sp, nil
	}
	if len(p) > maxPathBytes {
		return nil, sp, newErr("parse", p, ErrNameTooLong)
	}
	if !utf8.ValidString(p) {
		return nil, sp, newErr("parse", p, ErrInvalidName)
	}
	comps := strings.Split(p, `\`)
	last := len(comps) - 1
	if i := strings.IndexByte(comps[last], ':'); i >= 0 {
		var err error
		sp, err = parseStreamSuffix(comps[last][i+1:])
		if err != nil {
			return nil, sp, newErr("parse", p, err)
		}
		comps[last] = comps[last][:i]
	}
	for i, c := range comps {
		if err := checkComponent(c, i == last); err != nil {
			return nil, sp, newErr("parse", p, err)
		}
	}
	if strings.EqualFold(comps[0], hiddenDir) {
		// The hidden area does not exist for clients; refusing the name
		// (rather than reporting it absent) also keeps a client from
		// creating a second spelling of it on a case-sensitive disk.
		return nil, sp, newErr("parse", p, ErrAccessDenied)
	}
	return comps, sp, nil
}

// maxStreamNameBytes bounds a stream name: the name is stored as a file
// name with a two-byte prefix (stream.go), and NAME_MAX is 255 bytes.
const maxStreamNameBytes = maxComponentBytes - len(streamFilePrefix)

// parseStreamSuffix parses what follows the first ':' of a component.
func parseStreamSuffix(s string) (streamPart, error) {
	name, typ, hasType := strings.Cut(s, ":")
	if hasType && !strings.EqualFold(typ, "$DATA") {
		return streamPart{}, ErrInvalidName
	}
	if name == "" {
		if !hasType {
			return streamPart{}, ErrInvalidName // "file:"
		}
		return streamPart{explicit: true}, nil // "file::$DATA"
	}
	if len(name) > maxStreamNameBytes {
		return streamPart{}, ErrNameTooLong
	}
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case 0, '/', '\\':
			return streamPart{}, ErrInvalidName
		}
	}
	return streamPart{name: name}, nil
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
