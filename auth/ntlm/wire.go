package ntlm

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
)

// field reads the (Len, MaxLen, Offset) descriptor at pos in msg and returns
// the bytes it points to ([MS-NLMP] 2.2.1: "Fields" structures). The offset
// of a non-empty field must lie past the fixed part (minOff), and the whole
// field inside msg. The arithmetic is done in int: msg is capped at
// maxMessage, so a uint16 length plus a uint32 offset cannot overflow.
func field(msg []byte, pos, minOff int, name string) ([]byte, error) {
	if pos+8 > len(msg) {
		return nil, fmt.Errorf("%w: %s descriptor past end", ErrMalformed, name)
	}
	n := int(binary.LittleEndian.Uint16(msg[pos:]))
	off := int(binary.LittleEndian.Uint32(msg[pos+4:]))
	if n == 0 {
		return nil, nil
	}
	if off < minOff || off > len(msg) || n > len(msg)-off {
		return nil, fmt.Errorf("%w: %s at %d+%d outside %d-byte message", ErrMalformed, name, off, n, len(msg))
	}
	return msg[off : off+n], nil
}

// putField writes a (Len, MaxLen, Offset) descriptor at pos.
func putField(msg []byte, pos, n, off int) {
	binary.LittleEndian.PutUint16(msg[pos:], uint16(n))
	binary.LittleEndian.PutUint16(msg[pos+2:], uint16(n))
	binary.LittleEndian.PutUint32(msg[pos+4:], uint32(off))
}

// header checks the signature and message type of msg.
func header(msg []byte, typ uint32, minLen int) error {
	if len(msg) > maxMessage {
		return fmt.Errorf("%w: %d-byte message exceeds %d", ErrMalformed, len(msg), maxMessage)
	}
	if len(msg) < minLen {
		return fmt.Errorf("%w: %d-byte message shorter than %d", ErrMalformed, len(msg), minLen)
	}
	if string(msg[:8]) != signature {
		return fmt.Errorf("%w: bad signature", ErrMalformed)
	}
	if got := binary.LittleEndian.Uint32(msg[8:]); got != typ {
		return fmt.Errorf("%w: message type %d, want %d", ErrMalformed, got, typ)
	}
	return nil
}

// decodeString turns a message string into Go: UTF-16LE when unicode is
// set, otherwise the OEM code page, taken as Latin-1 because the server
// cannot know the client's code page and ASCII (the only portable subset)
// maps to itself.
func decodeString(b []byte, unicode bool) (string, error) {
	if !unicode {
		var sb strings.Builder
		for _, c := range b {
			sb.WriteRune(rune(c))
		}
		return sb.String(), nil
	}
	if len(b)%2 != 0 {
		return "", fmt.Errorf("%w: odd-length UTF-16 string", ErrMalformed)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u)), nil
}

// encodeString is the inverse of decodeString; OEM runes beyond Latin-1
// become '?'.
func encodeString(s string, unicode bool) []byte {
	if !unicode {
		b := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 0xff {
				r = '?'
			}
			b = append(b, byte(r))
		}
		return b
	}
	return utf16le(s)
}

// utf16le encodes s as UTF-16LE, the RPC_UNICODE_STRING form the NTLM
// one-way functions hash ([MS-NLMP] 3.3.2).
func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}
