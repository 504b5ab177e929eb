package dcerpc

import (
	"encoding/binary"
	"fmt"

	"sofs.io/sofs/dcerpc/ndr"
)

// PDU types ([C706] 12.6.4, [MS-RPCE] 2.2.2.2).
const (
	ptypeRequest      = 0
	ptypeResponse     = 2
	ptypeFault        = 3
	ptypeBind         = 11
	ptypeBindAck      = 12
	ptypeBindNak      = 13
	ptypeAlterContext = 14
	ptypeAlterResp    = 15
	ptypeAuth3        = 16
	ptypeShutdown     = 17
	ptypeCoCancel     = 18
	ptypeOrphaned     = 19
)

// pfc_flags ([C706] 12.6.3.1, [MS-RPCE] 2.2.2.3).
const (
	pfcFirstFrag     = 0x01
	pfcLastFrag      = 0x02
	pfcDidNotExecute = 0x20
	pfcObjectUUID    = 0x80
)

// Sizes and limits.
const (
	headerLen = 16
	// requestFixedLen is the request header before the optional object
	// UUID: common header, alloc_hint, p_cont_id, opnum ([C706] 12.6.4.9).
	requestFixedLen = 24
	// responseFixedLen is the response header: common header,
	// alloc_hint, p_cont_id, cancel_count, reserved ([C706] 12.6.4.10).
	responseFixedLen = 24
	// minFragSize is the smallest fragment size [C706] 12.6.3.1 lets an
	// endpoint announce; smaller values are raised to it.
	minFragSize = 1432
	// maxXmitFrag is the largest response fragment sofs sends and the
	// max_recv_frag it announces: the 4280 bytes Windows uses, which fits
	// a share list of dozens of entries in a single SMB2 READ of any size.
	maxXmitFrag = 4280
	// maxRequestStub caps a reassembled request. srvsvc requests are a few
	// hundred bytes; 1 MiB leaves room for any future interface while
	// bounding what one client can make the server buffer.
	maxRequestStub = 1 << 20
	// maxPending caps queued, unread response bytes per pipe. A share
	// enumeration is a few KiB; a client that queues more is not reading.
	maxPending = 4 << 20
	// maxContexts caps presentation contexts per pipe. Clients negotiate one
	// or two; each costs a map entry.
	maxContexts = 32
)

// header is the common header of every connection-oriented PDU
// ([C706] 12.6.3.1).
type header struct {
	vers, versMinor uint8
	ptype           uint8
	flags           uint8
	drep            [4]byte
	fragLen         uint16
	authLen         uint16
	callID          uint32
}

// drepLE is the packed data representation sofs sends and accepts:
// little-endian integers, ASCII characters, IEEE floating point
// ([C706] 14.1, [MS-RPCE] 2.2.2.1).
var drepLE = [4]byte{0x10, 0, 0, 0}

// parseHeader decodes and validates the common header at the start of b,
// which must hold at least headerLen bytes.
func parseHeader(b []byte) (header, error) {
	var h header
	if len(b) < headerLen {
		return h, fmt.Errorf("header of %d bytes: %w", len(b), ErrMalformed)
	}
	h.vers, h.versMinor, h.ptype, h.flags = b[0], b[1], b[2], b[3]
	copy(h.drep[:], b[4:8])
	h.fragLen = binary.LittleEndian.Uint16(b[8:])
	h.authLen = binary.LittleEndian.Uint16(b[10:])
	h.callID = binary.LittleEndian.Uint32(b[12:])
	// Version 5.0 and 5.1 share one PDU format; 5.1 only adds optional
	// features a 5.0 server may ignore ([C706] 12.6.2).
	if h.vers != 5 {
		return h, fmt.Errorf("rpc version %d.%d: %w", h.vers, h.versMinor, ErrMalformed)
	}
	// Only little-endian integers with ASCII characters are supported;
	// every Windows and Samba client sends them.
	if h.drep[0] != drepLE[0] {
		return h, fmt.Errorf("data representation %#x: %w", h.drep[0], ErrMalformed)
	}
	if int(h.fragLen) < headerLen || int(h.authLen) > int(h.fragLen)-headerLen {
		return h, fmt.Errorf("frag_length %d auth_length %d: %w", h.fragLen, h.authLen, ErrMalformed)
	}
	return h, nil
}

// newPDU starts an outgoing PDU of the given type; finishPDU fills in the
// fragment length once the body is written.
func newPDU(ptype, flags uint8, callID uint32) *ndr.Writer {
	w := ndr.NewWriter()
	w.Uint8(5)
	w.Uint8(0)
	w.Uint8(ptype)
	w.Uint8(flags)
	w.Raw(drepLE[:])
	w.Uint16(0) // frag_length, patched by finishPDU
	w.Uint16(0) // auth_length: never any auth
	w.Uint32(callID)
	return w
}

func finishPDU(w *ndr.Writer) []byte {
	b := w.Bytes()
	binary.LittleEndian.PutUint16(b[8:], uint16(len(b)))
	return b
}
