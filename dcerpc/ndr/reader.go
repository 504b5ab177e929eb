package ndr

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
)

// ErrShort reports that the buffer ended before a value was complete.
var ErrShort = errors.New("ndr: buffer too short")

// ErrInvalid reports a value that is well framed but not valid NDR, such as a
// string whose actual count exceeds its maximum count.
var ErrInvalid = errors.New("ndr: invalid encoding")

// Reader is a bounds-checked cursor over NDR little-endian data.
type Reader struct {
	b   []byte
	off int
}

// NewReader returns a Reader positioned at the start of b; alignment is
// computed relative to b[0].
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Offset returns the number of bytes consumed so far.
func (r *Reader) Offset() int { return r.off }

// Remaining returns the number of bytes not yet consumed.
func (r *Reader) Remaining() int { return len(r.b) - r.off }

// Align skips padding so that the offset becomes a multiple of n, a power of
// two ([C706] 14.2.2). The padding content is not checked, as Windows does not.
func (r *Reader) Align(n int) error {
	pad := (n - r.off%n) % n
	if pad > r.Remaining() {
		return fmt.Errorf("align %d at %d: %w", n, r.off, ErrShort)
	}
	r.off += pad
	return nil
}

// Skip consumes n bytes.
func (r *Reader) Skip(n int) error {
	if n < 0 || n > r.Remaining() {
		return fmt.Errorf("skip %d at %d: %w", n, r.off, ErrShort)
	}
	r.off += n
	return nil
}

// Bytes returns the next n bytes without copying.
func (r *Reader) Bytes(n int) ([]byte, error) {
	if n < 0 || n > r.Remaining() {
		return nil, fmt.Errorf("read %d bytes at %d: %w", n, r.off, ErrShort)
	}
	b := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return b, nil
}

// Uint8 reads one octet.
func (r *Reader) Uint8() (uint8, error) {
	if r.Remaining() < 1 {
		return 0, fmt.Errorf("uint8 at %d: %w", r.off, ErrShort)
	}
	v := r.b[r.off]
	r.off++
	return v, nil
}

// Uint16 aligns to 2 and reads a little-endian 16-bit integer.
func (r *Reader) Uint16() (uint16, error) {
	if err := r.Align(2); err != nil {
		return 0, err
	}
	if r.Remaining() < 2 {
		return 0, fmt.Errorf("uint16 at %d: %w", r.off, ErrShort)
	}
	v := binary.LittleEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v, nil
}

// Uint32 aligns to 4 and reads a little-endian 32-bit integer.
func (r *Reader) Uint32() (uint32, error) {
	if err := r.Align(4); err != nil {
		return 0, err
	}
	if r.Remaining() < 4 {
		return 0, fmt.Errorf("uint32 at %d: %w", r.off, ErrShort)
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v, nil
}

// Pointer reads the referent id of a unique or full pointer ([C706] 14.3.10);
// zero means NULL, and the referent, if any, follows later in the stream
// where the caller's deferral order puts it.
func (r *Reader) Pointer() (present bool, err error) {
	id, err := r.Uint32()
	if err != nil {
		return false, fmt.Errorf("pointer: %w", err)
	}
	return id != 0, nil
}

// Count reads a 32-bit conformance or variance count and checks that count
// elements of at least minElem bytes each can still fit in the buffer, so a
// caller may allocate count elements safely. minElem must be at least 1.
func (r *Reader) Count(minElem int) (int, error) {
	v, err := r.Uint32()
	if err != nil {
		return 0, err
	}
	// Widen before multiplying: uint32 times a small element size cannot
	// overflow uint64.
	if uint64(v)*uint64(minElem) > uint64(r.Remaining()) {
		return 0, fmt.Errorf("count %d of %d-byte elements with %d bytes left: %w", v, minElem, r.Remaining(), ErrShort)
	}
	return int(v), nil
}

// String reads a conformant varying string of UTF-16LE code units, the
// representation of a [string] wchar_t* referent ([C706] 14.3.4): maximum
// count, offset, actual count, then the code units, which must end in a NUL
// terminator that is not part of the result. Unpaired surrogates become
// U+FFFD.
func (r *Reader) String() (string, error) {
	maxCount, err := r.Uint32()
	if err != nil {
		return "", fmt.Errorf("string max count: %w", err)
	}
	offset, err := r.Uint32()
	if err != nil {
		return "", fmt.Errorf("string offset: %w", err)
	}
	actual, err := r.Count(2)
	if err != nil {
		return "", fmt.Errorf("string actual count: %w", err)
	}
	// [C706] 14.3.3.2: the transmitted range must lie inside the conformant
	// array. MIDL-generated stubs also insist on a zero offset for strings.
	if offset != 0 || uint64(actual) > uint64(maxCount) {
		return "", fmt.Errorf("string offset %d actual %d max %d: %w", offset, actual, maxCount, ErrInvalid)
	}
	if actual == 0 {
		return "", fmt.Errorf("string without terminator: %w", ErrInvalid)
	}
	raw, err := r.Bytes(2 * actual)
	if err != nil {
		return "", err
	}
	units := make([]uint16, actual)
	for i := range units {
		units[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	if units[actual-1] != 0 {
		return "", fmt.Errorf("string not NUL-terminated: %w", ErrInvalid)
	}
	return string(utf16.Decode(units[:actual-1])), nil
}
