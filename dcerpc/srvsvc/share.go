package srvsvc

import (
	"fmt"

	"sofs.io/sofs/dcerpc/ndr"
)

// shareFixedSize returns the size of the scalar part of SHARE_INFO_<level>
// ([MS-SRVS] 2.2.4.22 to 2.2.4.29), or 0 for a level this package does not
// encode. It bounds array counts before allocation.
func shareFixedSize(level uint32) int {
	switch level {
	case 0:
		return 4 // shi0_netname
	case 1:
		return 12 // netname, type, remark
	case 2:
		return 32 // netname, type, remark, permissions, max_uses, current_uses, path, passwd
	case 501:
		return 16 // netname, type, remark, flags
	case 502:
		return 40 // level 2, then reserved and security_descriptor
	case 1005:
		return 4 // shi1005_flags
	}
	return 0
}

// writeShareScalars writes the fixed part of SHARE_INFO_<level>; its string
// referents follow in writeShareBuffers, after every element of an enclosing
// array, as NDR defers embedded pointers ([C706] 14.3.12.3).
func writeShareScalars(w *ndr.Writer, level uint32, s *ShareInfo) {
	if level == 1005 {
		// shi1005_flags: no DFS, manual client-side caching, the Windows
		// default for a new share.
		w.Uint32(0)
		return
	}
	w.Pointer(true) // netname
	if level == 0 {
		return
	}
	w.Uint32(s.Type)
	w.Pointer(true) // remark, "" rather than NULL as Windows sends
	switch level {
	case 2, 502:
		// Share-level permissions are not used by user-level security
		// servers ([MS-SRVS] 2.2.4.24), so Windows reports 0.
		w.Uint32(0)
		w.Uint32(shiUsesUnlimited)
		w.Uint32(0)      // current_uses: not tracked per share
		w.Pointer(true)  // path
		w.Pointer(false) // passwd: never disclosed
		if level == 502 {
			// No security descriptor: sofs enforces access on the
			// files, and Windows sends none to non-administrators.
			w.Uint32(0)      // shi502_reserved, the descriptor's length
			w.Pointer(false) // shi502_security_descriptor
		}
	case 501:
		w.Uint32(0) // shi501_flags, as shi1005_flags above
	}
}

// writeShareBuffers writes the deferred strings of SHARE_INFO_<level> in
// the order their pointers appeared.
func writeShareBuffers(w *ndr.Writer, level uint32, s *ShareInfo) {
	if level == 1005 {
		return
	}
	w.String(s.Name)
	if level == 0 {
		return
	}
	w.String(s.Comment)
	if level == 2 || level == 502 {
		w.String(s.Path)
	}
}

// shareRefs records which embedded pointers of a decoded SHARE_INFO were
// non-NULL, so that their referents can be read in deferred order.
type shareRefs struct {
	name, remark, path, passwd, sd bool
}

// readShareScalars reads the fixed part of SHARE_INFO_<level>.
func readShareScalars(r *ndr.Reader, level uint32, s *ShareInfo) (shareRefs, error) {
	var refs shareRefs
	var err error
	if level == 1005 {
		_, err = r.Uint32()
		return refs, err
	}
	if refs.name, err = r.Pointer(); err != nil || level == 0 {
		return refs, err
	}
	if s.Type, err = r.Uint32(); err != nil {
		return refs, err
	}
	if refs.remark, err = r.Pointer(); err != nil {
		return refs, err
	}
	switch level {
	case 2, 502:
		for range 3 { // permissions, max_uses, current_uses
			if _, err = r.Uint32(); err != nil {
				return refs, err
			}
		}
		if refs.path, err = r.Pointer(); err != nil {
			return refs, err
		}
		if refs.passwd, err = r.Pointer(); err != nil || level == 2 {
			return refs, err
		}
		if _, err = r.Uint32(); err != nil { // shi502_reserved
			return refs, err
		}
		refs.sd, err = r.Pointer()
	case 501:
		_, err = r.Uint32()
	}
	return refs, err
}

// readShareBuffers reads the deferred strings announced by refs.
func readShareBuffers(r *ndr.Reader, refs shareRefs, s *ShareInfo) error {
	for _, f := range []struct {
		present bool
		dst     *string
		what    string
	}{
		{refs.name, &s.Name, "netname"},
		{refs.remark, &s.Comment, "remark"},
		{refs.path, &s.Path, "path"},
		{refs.passwd, nil, "passwd"},
	} {
		if !f.present {
			continue
		}
		v, err := r.String()
		if err != nil {
			return fmt.Errorf("%s: %w", f.what, err)
		}
		if f.dst != nil {
			*f.dst = v
		}
	}
	if refs.sd {
		// [size_is(shi502_reserved)] unsigned char*: a conformant byte
		// array, skipped since sofs has no use for a client's descriptor.
		n, err := r.Count(1)
		if err != nil {
			return fmt.Errorf("security descriptor: %w", err)
		}
		if err := r.Skip(n); err != nil {
			return fmt.Errorf("security descriptor: %w", err)
		}
	}
	return nil
}

// writeShareArray writes a SHARE_INFO_<level>_CONTAINER body:
// EntriesRead, a unique pointer to the conformant array, then the array's
// scalars followed by every element's deferred strings.
func writeShareArray(w *ndr.Writer, level uint32, shares []ShareInfo) {
	w.Uint32(uint32(len(shares)))
	w.Pointer(len(shares) > 0)
	if len(shares) == 0 {
		return
	}
	w.Uint32(uint32(len(shares))) // conformance, size_is(EntriesRead)
	for i := range shares {
		writeShareScalars(w, level, &shares[i])
	}
	for i := range shares {
		writeShareBuffers(w, level, &shares[i])
	}
}

// readShareArray reads what writeShareArray writes.
func readShareArray(r *ndr.Reader, level uint32) ([]ShareInfo, error) {
	fixed := shareFixedSize(level)
	if fixed == 0 {
		return nil, fmt.Errorf("container of level %d: %w", level, ErrInvalidTag)
	}
	entries, err := r.Uint32()
	if err != nil {
		return nil, fmt.Errorf("entries read: %w", err)
	}
	present, err := r.Pointer()
	if err != nil || !present {
		return nil, err
	}
	n, err := r.Count(fixed)
	if err != nil {
		return nil, fmt.Errorf("share array: %w", err)
	}
	if uint32(n) != entries {
		return nil, fmt.Errorf("array size %d != entries read %d: %w", n, entries, ndr.ErrInvalid)
	}
	out := make([]ShareInfo, n)
	refs := make([]shareRefs, n)
	for i := range out {
		if refs[i], err = readShareScalars(r, level, &out[i]); err != nil {
			return nil, fmt.Errorf("share %d: %w", i, err)
		}
	}
	for i := range out {
		if err := readShareBuffers(r, refs[i], &out[i]); err != nil {
			return nil, fmt.Errorf("share %d: %w", i, err)
		}
	}
	return out, nil
}
