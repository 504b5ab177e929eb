package rpc

import (
	"fmt"
)

// conn is the state of one pipe open: one DCE/RPC association
// ([C706] 12.2) carried over the pipe's byte stream.
type conn struct {
	iface iface
	// in holds the bytes of an incomplete PDU between Writes; it never
	// exceeds one frag_length, hence 64 KiB.
	in []byte
	// out queues response messages, one PDU each; pending is their total
	// unread size.
	out     [][]byte
	pending int
	// bound is set by the first successful BIND.
	bound bool
	// assocGroup is the association group id announced in bind_ack.
	assocGroup uint32
	// xmitFrag is the negotiated fragment size for responses.
	xmitFrag int
	// contexts holds the accepted presentation context ids.
	contexts map[uint16]struct{}
	// features is the bind time feature set acknowledged, if any.
	features uint16
	// req is the request being reassembled, if any.
	req *partialRequest
	// broken, once set, is returned by every later call.
	broken error
}

// partialRequest is a fragmented request awaiting its LAST_FRAG
// ([C706] 12.6.3.7).
type partialRequest struct {
	callID uint32
	ctxID  uint16
	opnum  uint16
	stub   []byte
}

func newConn(i iface, assocGroup uint32) *conn {
	return &conn{
		iface:      i,
		assocGroup: assocGroup,
		xmitFrag:   maxXmitFrag,
		contexts:   make(map[uint16]struct{}),
	}
}

// Write splits the stream into PDUs and answers each complete one.
func (c *conn) Write(p []byte) error {
	if c.broken != nil {
		return c.broken
	}
	buf := p
	if len(c.in) > 0 {
		c.in = append(c.in, p...)
		buf = c.in
	}
	for len(buf) >= headerLen {
		h, err := parseHeader(buf)
		if err != nil {
			return c.fail(err)
		}
		if len(buf) < int(h.fragLen) {
			break
		}
		if err := c.handle(h, buf[:h.fragLen]); err != nil {
			return c.fail(err)
		}
		buf = buf[h.fragLen:]
	}
	// Keep only the incomplete tail, in a buffer of its own so that the
	// caller's slice is never retained.
	c.in = append([]byte(nil), buf...)
	return nil
}

// fail breaks the pipe: once framing is lost no later byte can be trusted.
func (c *conn) fail(err error) error {
	c.broken = fmt.Errorf("rpc pipe broken: %w", err)
	c.in, c.out, c.pending, c.req = nil, nil, 0, nil
	return c.broken
}

// Read returns the next pending message, or as much of it as fits in max.
func (c *conn) Read(limit int) ([]byte, bool, error) {
	if c.broken != nil {
		return nil, false, c.broken
	}
	if len(c.out) == 0 {
		return nil, false, ErrNoData
	}
	n := min(max(limit, 0), len(c.out[0]))
	data := c.out[0][:n:n]
	c.out[0] = c.out[0][n:]
	c.pending -= n
	if len(c.out[0]) > 0 {
		return data, true, nil
	}
	c.out[0] = nil
	c.out = c.out[1:]
	return data, false, nil
}

// Transact writes in and reads the first response message.
func (c *conn) Transact(in []byte, limit int) ([]byte, bool, error) {
	if err := c.Write(in); err != nil {
		return nil, false, err
	}
	return c.Read(limit)
}

// Close releases the pipe's buffers.
func (c *conn) Close() {
	c.fail(ErrClosed)
	c.broken = ErrClosed
}

// queue appends one response message.
func (c *conn) queue(pdu []byte) error {
	if c.pending+len(pdu) > maxPending {
		return ErrBacklog
	}
	c.out = append(c.out, pdu)
	c.pending += len(pdu)
	return nil
}

// handle answers one complete PDU ([C706] 12.5 and [MS-RPCE] 3.3.3).
func (c *conn) handle(h header, pdu []byte) error {
	if h.versMinor > 1 {
		if h.ptype == ptypeBind {
			return c.queue(bindNak(h.callID, nakProtocolVersionNotSupported))
		}
		return fmt.Errorf("rpc version 5.%d: %w", h.versMinor, ErrMalformed)
	}
	switch h.ptype {
	case ptypeBind, ptypeAlterContext:
		return c.handleBind(h, pdu)
	case ptypeRequest:
		return c.handleRequest(h, pdu)
	case ptypeCoCancel:
		// Calls run to completion inside Write, so there is never one to
		// cancel ([C706] 12.6.4.1 lets a server ignore co_cancel).
		return nil
	case ptypeOrphaned:
		// [C706] 12.6.4.8: the client abandons the call being sent.
		if c.req != nil && c.req.callID == h.callID {
			c.req = nil
		}
		return nil
	}
	// auth3 has no meaning without RPC-level auth; the rest are sent only
	// by servers.
	return fmt.Errorf("unexpected PDU type %d: %w", h.ptype, ErrMalformed)
}
