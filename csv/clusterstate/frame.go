package clusterstate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Node-to-node frames. Every message between two nodes' open-state
// services is one frame on a TLS connection (transport.go):
//
//	length  uint32, big endian: bytes that follow, 10..maxFrame
//	kind    uint8: kindCall, kindReply, kindFail, kindCancel
//	id      uint64, big endian: the call the frame belongs to
//	method  uint8: the call's method (calls; 0 otherwise)
//	body    JSON: the method's request or reply, or a wireError
//
// JSON keeps the bodies self-describing and lets the decoder refuse
// anything malformed with one standard library call; the frame cap bounds
// what one peer can make another allocate.

const (
	kindCall   = 1
	kindReply  = 2
	kindFail   = 3
	kindCancel = 4

	frameHeader = 1 + 8 + 1
	// maxFrame bounds one frame. The largest bodies are the replicas a
	// node sends to a new coordinator, which are split so that no frame
	// exceeds half of this; everything else is a few hundred bytes.
	maxFrame = 16 << 20
)

// errFrame reports a frame that breaks the format; the connection is
// closed, since the stream can no longer be trusted to be in sync.
var errFrame = errors.New("clusterstate: malformed frame")

type frame struct {
	kind   uint8
	id     uint64
	method uint8
	body   []byte
}

// appendFrame encodes f.
func appendFrame(dst []byte, f frame) []byte {
	n := frameHeader + len(f.body)
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	dst = append(dst, f.kind)
	dst = binary.BigEndian.AppendUint64(dst, f.id)
	dst = append(dst, f.method)
	return append(dst, f.body...)
}

// readFrame reads one frame from r. It never allocates more than the
// frame's announced length, which it checks against maxFrame first.
func readFrame(r io.Reader) (frame, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return frame{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < frameHeader || n > maxFrame {
		return frame{}, fmt.Errorf("%w: length %d", errFrame, n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return frame{}, err
	}
	return parseFrame(buf)
}

// parseFrame decodes the bytes after the length.
func parseFrame(buf []byte) (frame, error) {
	if len(buf) < frameHeader {
		return frame{}, fmt.Errorf("%w: %d bytes", errFrame, len(buf))
	}
	f := frame{kind: buf[0], id: binary.BigEndian.Uint64(buf[1:9]), method: buf[9], body: buf[frameHeader:]}
	switch f.kind {
	case kindCall:
		if f.method == 0 || f.method >= methodLimit {
			return frame{}, fmt.Errorf("%w: method %d", errFrame, f.method)
		}
	case kindReply, kindFail, kindCancel:
		if f.method != 0 {
			return frame{}, fmt.Errorf("%w: method %d on kind %d", errFrame, f.method, f.kind)
		}
	default:
		return frame{}, fmt.Errorf("%w: kind %d", errFrame, f.kind)
	}
	return f, nil
}
