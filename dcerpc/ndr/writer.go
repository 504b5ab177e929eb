package ndr

import (
	"encoding/binary"
	"unicode/utf16"
)

// firstReferent is the referent id of the first non-NULL pointer a Writer
// emits. Any non-zero value is valid for unique pointers; Windows and Samba
// both start here and step by 4, which keeps captures comparable.
const firstReferent = 0x00020000

// Writer appends NDR little-endian data to a buffer.
type Writer struct {
	b       []byte
	nextRef uint32
}

// NewWriter returns an empty Writer; alignment is relative to its first byte.
func NewWriter() *Writer { return &Writer{nextRef: firstReferent} }

// Bytes returns the encoded data.
func (w *Writer) Bytes() []byte { return w.b }

// Len returns the number of bytes written so far.
func (w *Writer) Len() int { return len(w.b) }

// Align appends zero padding up to a multiple of n, a power of two.
func (w *Writer) Align(n int) {
	for len(w.b)%n != 0 {
		w.b = append(w.b, 0)
	}
}

// Uint8 appends one octet.
func (w *Writer) Uint8(v uint8) { w.b = append(w.b, v) }

// Uint16 aligns to 2 and appends v little-endian.
func (w *Writer) Uint16(v uint16) {
	w.Align(2)
	w.b = binary.LittleEndian.AppendUint16(w.b, v)
}

// Uint32 aligns to 4 and appends v little-endian.
func (w *Writer) Uint32(v uint32) {
	w.Align(4)
	w.b = binary.LittleEndian.AppendUint32(w.b, v)
}

// Raw appends p unchanged.
func (w *Writer) Raw(p []byte) { w.b = append(w.b, p...) }

// Pointer appends a unique pointer: a fresh referent id when present, else
// zero. The caller writes the referent later, in deferred order.
func (w *Writer) Pointer(present bool) {
	if !present {
		w.Uint32(0)
		return
	}
	w.Uint32(w.nextRef)
	w.nextRef += 4
}

// String appends s as a conformant varying, NUL-terminated UTF-16LE string
// ([C706] 14.3.4): maximum count and actual count both include the
// terminator, and the offset is zero.
func (w *Writer) String(s string) {
	units := utf16.Encode([]rune(s))
	n := uint32(len(units) + 1)
	w.Uint32(n)
	w.Uint32(0)
	w.Uint32(n)
	for _, u := range units {
		w.b = binary.LittleEndian.AppendUint16(w.b, u)
	}
	w.b = binary.LittleEndian.AppendUint16(w.b, 0)
}
