package fscc

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
)

// EncodeUTF16 appends s encoded as UTF-16LE, the string encoding of every
// [MS-FSCC] structure. Invalid UTF-8 in s is encoded as U+FFFD.
func EncodeUTF16(b []byte, s string) []byte {
	for _, r := range s {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			b = binary.LittleEndian.AppendUint16(b, uint16(r1))
			b = binary.LittleEndian.AppendUint16(b, uint16(r2))
			continue
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(r))
	}
	return b
}

// putUTF16 writes s as UTF-16LE into dst, which the caller sized with
// utf16Len.
func putUTF16(dst []byte, s string) {
	_ = EncodeUTF16(dst[:0:len(dst)], s)
}

// utf16Len returns the number of bytes EncodeUTF16 appends for s.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 4
		} else {
			n += 2
		}
	}
	return n
}

// DecodeUTF16 decodes UTF-16LE bytes. An odd length or an unpaired
// surrogate is rejected with ErrMalformed: NTFS would accept such names,
// but the POSIX back end stores UTF-8, and mapping the lone surrogate to
// U+FFFD would let two different client names alias one file.
func DecodeUTF16(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", fmt.Errorf("utf-16 string of odd length %d: %w", len(b), ErrMalformed)
	}
	var sb strings.Builder
	sb.Grow(len(b) / 2)
	for i := 0; i < len(b); i += 2 {
		u := rune(binary.LittleEndian.Uint16(b[i:]))
		switch {
		case u >= 0xD800 && u < 0xDC00:
			if i+4 > len(b) {
				return "", fmt.Errorf("utf-16 high surrogate at byte %d without a low one: %w", i, ErrMalformed)
			}
			u2 := rune(binary.LittleEndian.Uint16(b[i+2:]))
			if u2 < 0xDC00 || u2 >= 0xE000 {
				return "", fmt.Errorf("utf-16 high surrogate at byte %d without a low one: %w", i, ErrMalformed)
			}
			sb.WriteRune(utf16.DecodeRune(u, u2))
			i += 2
		case u >= 0xDC00 && u < 0xE000:
			return "", fmt.Errorf("utf-16 unpaired low surrogate at byte %d: %w", i, ErrMalformed)
		default:
			sb.WriteRune(u)
		}
	}
	return sb.String(), nil
}
