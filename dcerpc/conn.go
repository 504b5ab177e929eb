package dcerpc

import (
	"context"
	"fmt"
	"net"

	"sofs.io/sofs/auth/ntlm"
)

// assoc is the state of one DCE/RPC association ([C706] 12.2) carried over
// one byte stream: a pipe open or a TCP connection. It is not safe for
// concurrent use; its transport calls handle from one goroutine.
type assoc struct {
	ifaces []*Interface
	// secondaryAddr is the port_spec of bind_ack: the pipe's name on
	// ncacn_np, the decimal port on ncacn_ip_tcp ([MS-RPCE] 2.1.1.1/2).
	secondaryAddr string
	// emit sends one PDU to the client; set by the transport.
	emit func([]byte) error
	// bound is set by the first successful BIND.
	bound bool
	// assocGroup is the association group id announced in bind_ack.
	assocGroup uint32
	// xmitFrag is the negotiated fragment size for responses. It is set
	// only by the first bind, before any call can run.
	xmitFrag int
	// contexts maps accepted presentation context ids to their interface.
	contexts map[uint16]*Interface
	// features is the bind time feature set acknowledged, if any.
	features uint16
	// req is the request being reassembled, if any.
	req *partialRequest
	// local and remote are the transport's addresses, passed to calls.
	local, remote net.Addr
	// ntlm authenticates RPC clients; nil refuses RPC-level auth.
	ntlm *ntlm.Server
	// krb5, if set, accepts Kerberos (bare, auth type 16, or in SPNEGO).
	krb5 KerberosAcceptor
	// auth is the association's security context, once a bind asked
	// for one; headerSign records PFC_SUPPORT_HEADER_SIGN.
	auth       *authState
	headerSign bool
}

// partialRequest is a fragmented request awaiting its LAST_FRAG
// ([C706] 12.6.3.7).
type partialRequest struct {
	callID uint32
	ctxID  uint16
	opnum  uint16
	stub   []byte
}

// pendingCall is a complete request ready to run.
type pendingCall struct {
	callID uint32
	ctxID  uint16
	iface  *Interface
	call   Call
	// prot is how the response is protected, fixed when the request is
	// accepted: the worker that answers must not read the association's
	// auth state, which the reader goroutine owns.
	prot protection
}

func newAssoc(ifaces []*Interface, secondaryAddr string, assocGroup uint32) *assoc {
	return &assoc{
		ifaces:        ifaces,
		secondaryAddr: secondaryAddr,
		assocGroup:    assocGroup,
		xmitFrag:      maxXmitFrag,
		contexts:      make(map[uint16]*Interface),
	}
}

// handle answers one complete PDU ([C706] 12.5 and [MS-RPCE] 3.3.3). A
// request that completes a call is returned for the transport to run with
// run; everything else is answered through emit at once.
func (a *assoc) handle(h header, pdu []byte) (*pendingCall, error) {
	if h.versMinor > 1 {
		if h.ptype == ptypeBind {
			return nil, a.emit(bindNak(h.callID, nakProtocolVersionNotSupported))
		}
		return nil, fmt.Errorf("rpc version 5.%d: %w", h.versMinor, ErrMalformed)
	}
	switch h.ptype {
	case ptypeBind, ptypeAlterContext:
		return nil, a.handleBind(h, pdu)
	case ptypeRequest:
		return a.handleRequest(h, pdu)
	case ptypeCoCancel:
		// [C706] 12.6.4.1 lets a server ignore co_cancel; a call that
		// waits ends when its connection closes.
		return nil, nil
	case ptypeOrphaned:
		// [C706] 12.6.4.8: the client abandons the call being sent.
		if a.req != nil && a.req.callID == h.callID {
			a.req = nil
		}
		return nil, nil
	case ptypeAuth3:
		// [MS-RPCE] 3.3.1.5.6: the third leg of a three-leg mechanism
		// has no answer; a failure shows on the next call.
		v, _, err := splitAuth(h, pdu, headerLen)
		if err != nil {
			return nil, err
		}
		if _, err := a.authLeg(h.ptype, v); err != nil && a.auth != nil {
			a.auth.failed = true
		}
		return nil, nil
	}
	// The rest are sent only by servers.
	return nil, fmt.Errorf("unexpected PDU type %d: %w", h.ptype, ErrMalformed)
}

// run executes a complete call and sends its response fragments or fault
// through emit.
func (a *assoc) run(ctx context.Context, pc *pendingCall, emit func([]byte) error) error {
	out, err := runInterface(ctx, pc)
	if err != nil {
		status, notExec := faultFor(err)
		return emit(fault(pc.callID, pc.ctxID, status, notExec))
	}
	return a.respond(pc.callID, pc.ctxID, out, pc.prot, emit)
}

// runInterface calls the interface, turning a panic into an error so that
// one bad request cannot stop the server.
func runInterface(ctx context.Context, pc *pendingCall) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("panic in opnum %d: %v", pc.call.Opnum, r)
		}
	}()
	return pc.iface.Call(ctx, &pc.call)
}

// pipe is an association carried by an SMB named pipe: every PDU it sends
// is one queued pipe message.
type pipe struct {
	a *assoc
	// in holds the bytes of an incomplete PDU between Writes; it never
	// exceeds one frag_length, hence 64 KiB.
	in []byte
	// out queues response messages, one PDU each; pending is their total
	// unread size.
	out     [][]byte
	pending int
	// broken, once set, is returned by every later call.
	broken error
}

func newPipe(a *assoc) *pipe {
	p := &pipe{a: a}
	a.emit = p.queue
	return p
}

// Write splits the stream into PDUs and answers each complete one. Calls
// run inline: the SMB server serialises a pipe's requests, and srvsvc never
// waits.
func (p *pipe) Write(b []byte) error {
	if p.broken != nil {
		return p.broken
	}
	buf := b
	if len(p.in) > 0 {
		p.in = append(p.in, b...)
		buf = p.in
	}
	for len(buf) >= headerLen {
		h, err := parseHeader(buf)
		if err != nil {
			return p.fail(err)
		}
		if len(buf) < int(h.fragLen) {
			break
		}
		pc, err := p.a.handle(h, buf[:h.fragLen])
		if err == nil && pc != nil {
			err = p.a.run(context.Background(), pc, p.queue)
		}
		if err != nil {
			return p.fail(err)
		}
		buf = buf[h.fragLen:]
	}
	// Keep only the incomplete tail, in a buffer of its own so that the
	// caller's slice is never retained.
	p.in = append([]byte(nil), buf...)
	return nil
}

// fail breaks the pipe: once framing is lost no later byte can be trusted.
func (p *pipe) fail(err error) error {
	p.broken = fmt.Errorf("rpc pipe broken: %w", err)
	p.in, p.out, p.pending, p.a.req = nil, nil, 0, nil
	return p.broken
}

// Read returns the next pending message, or as much of it as fits in max.
func (p *pipe) Read(limit int) ([]byte, bool, error) {
	if p.broken != nil {
		return nil, false, p.broken
	}
	if len(p.out) == 0 {
		return nil, false, ErrNoData
	}
	n := min(max(limit, 0), len(p.out[0]))
	data := p.out[0][:n:n]
	p.out[0] = p.out[0][n:]
	p.pending -= n
	if len(p.out[0]) > 0 {
		return data, true, nil
	}
	p.out[0] = nil
	p.out = p.out[1:]
	return data, false, nil
}

// Transact writes in and reads the first response message.
func (p *pipe) Transact(in []byte, limit int) ([]byte, bool, error) {
	if err := p.Write(in); err != nil {
		return nil, false, err
	}
	return p.Read(limit)
}

// Close releases the pipe's buffers.
func (p *pipe) Close() {
	p.fail(ErrClosed)
	p.broken = ErrClosed
}

// queue appends one response message.
func (p *pipe) queue(pdu []byte) error {
	if p.pending+len(pdu) > maxPending {
		return ErrBacklog
	}
	p.out = append(p.out, pdu)
	p.pending += len(pdu)
	return nil
}
