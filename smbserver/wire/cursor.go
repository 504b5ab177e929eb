package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every decode error. The server answers a
// malformed request with STATUS_INVALID_PARAMETER and keeps the connection.
var ErrMalformed = errors.New("malformed SMB2 message")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

var le = binary.LittleEndian

// Body returns the fixed-and-variable part of one message after its header
// and checks that the body is at least the command's fixed StructureSize
// (without the one variable byte some commands count) and that the
// StructureSize field matches want ([MS-SMB2] 2.2: each request begins with
// StructureSize).
func Body(msg []byte, want uint16) ([]byte, error) {
	if len(msg) < HeaderSize+2 {
		return nil, malformed("message of %d bytes has no body", len(msg))
	}
	body := msg[HeaderSize:]
	if got := le.Uint16(body); got != want {
		return nil, malformed("StructureSize %d, want %d", got, want)
	}
	fixed := int(want &^ 1) // odd sizes count one byte of the variable buffer
	if len(body) < fixed {
		return nil, malformed("body of %d bytes shorter than fixed part %d", len(body), fixed)
	}
	return body, nil
}

// Region returns msg[off:off+length] after checking that the region lies
// inside msg and does not overlap the fixed part of the body (which ends at
// minOff). A zero length yields a nil slice whatever the offset, as clients
// send offset 0 with empty buffers.
func Region(msg []byte, off, length uint32, minOff int) ([]byte, error) {
	if length == 0 {
		return nil, nil
	}
	o, n := int(off), int(length)
	if o < minOff {
		return nil, malformed("buffer offset %d inside fixed part (ends at %d)", o, minOff)
	}
	if o+n > len(msg) {
		return nil, malformed("buffer [%d,+%d) past message end %d", o, n, len(msg))
	}
	return msg[o : o+n : o+n], nil
}

// Pad8 appends zero bytes to b until len(b) is a multiple of 8.
func Pad8(b []byte) []byte {
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	return b
}

func appendU16(b []byte, v uint16) []byte { return le.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return le.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return le.AppendUint64(b, v) }
