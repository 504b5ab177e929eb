// Package dcerpc is sofs's connection-oriented DCE/RPC server engine
// ([C706] chapter 12, [MS-RPCE] 2.2.2 and 3.3): binds and alter contexts,
// request and response fragments, faults, and the NDR stubs of the
// interfaces in its sub-packages. Two transports carry it:
//
//   - ncacn_np, an SMB named pipe (Pipe): the SMB server feeds the bytes a
//     client writes to the pipe and reads the answers back, one pipe message
//     per PDU, as Windows's message-mode pipes deliver them;
//   - ncacn_ip_tcp (TCPServer): one goroutine reads each TCP connection's
//     PDUs and one worker runs its calls, so that a long-poll call (the
//     witness's AsyncNotify) can wait while the connection is watched for
//     closure.
//
// The endpoint mapper ([C706] appendix O, EPMapper) that tells clients which
// TCP port serves an interface is EndpointMapper.
//
// RPC-level authentication (auth.go) is NTLMSSP, bare or in SPNEGO, at the
// connect, packet, integrity and privacy levels, on transports configured
// with an NTLM acceptor (TCPConfig.NTLM); unauthenticated binds are still
// served, and each Interface decides from Call.User and Call.AuthLevel
// whom it answers (the witness: authenticated users at integrity or
// privacy; the endpoint mapper: anyone). On ncacn_np the SMB session has already authenticated the
// client, and PDUs carrying auth verifiers are refused.
package dcerpc

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strings"

	"sofs.io/sofs/dcerpc/srvsvc"
)

// Interface is one RPC interface a transport serves.
type Interface struct {
	// Syntax is the interface's abstract syntax; a presentation context
	// naming another syntax or version is rejected.
	Syntax SyntaxID
	// Call executes one operation and returns its response stub. ctx ends
	// when the connection closes. Errors that wrap ErrUnknownOpnum,
	// ErrBadStub or ErrInvalidTag, or are a Fault, become the matching
	// fault PDU; any other error becomes nca_s_fault_unspec.
	Call func(ctx context.Context, c *Call) ([]byte, error)
}

// Call is one complete request as an Interface sees it.
type Call struct {
	Opnum uint16
	// Stub is the reassembled request stub; it must not be retained after
	// Call returns.
	Stub []byte
	// Local and Remote are the transport addresses of the connection; nil
	// on ncacn_np.
	Local, Remote net.Addr
	// User is the name the client authenticated as at the RPC level; ""
	// for an unauthenticated association.
	User string
	// AuthLevel is the association's RPC authentication level once its
	// security context is established (AuthLevelIntegrity, ...); 0 for
	// an unauthenticated association.
	AuthLevel uint8
}

// RPC authentication levels ([MS-RPCE] 2.2.1.1.8) an Interface may
// require of a Call.
const (
	AuthLevelIntegrity = authLevelIntegrity // RPC_C_AUTHN_LEVEL_PKT_INTEGRITY: every PDU signed
	AuthLevelPrivacy   = authLevelPrivacy   // RPC_C_AUTHN_LEVEL_PKT_PRIVACY: every PDU sealed
)

// Errors an Interface returns to ask for a specific fault.
var (
	// ErrUnknownOpnum becomes nca_s_op_rng_error.
	ErrUnknownOpnum = errors.New("dcerpc: unknown opnum")
	// ErrBadStub becomes nca_s_fault_ndr: the stub does not decode.
	ErrBadStub = errors.New("dcerpc: malformed stub")
	// ErrInvalidTag becomes nca_s_fault_invalid_tag.
	ErrInvalidTag = errors.New("dcerpc: invalid union tag")
)

// Fault is an error that is sent as a fault PDU with this status
// ([MS-RPCE] 2.2.2.11), for example FaultContextMismatch for a context
// handle the server does not know.
type Fault uint32

func (f Fault) Error() string { return "dcerpc fault " + hex32(uint32(f)) }

// Fault statuses an Interface may return.
const (
	// FaultContextMismatch is nca_s_fault_context_mismatch: a context
	// handle that does not name a live server context ([C706] appendix E).
	FaultContextMismatch Fault = 0x1c00001a
	// FaultAccessDenied is nca_s_fault_access_denied.
	FaultAccessDenied Fault = faultAccessDenied
)

func hex32(v uint32) string {
	const digits = "0123456789abcdef"
	b := []byte("0x00000000")
	for i := 9; i >= 2; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b)
}

// ShareInfo describes one share for srvsvc; see srvsvc.ShareInfo.
type ShareInfo = srvsvc.ShareInfo

// ServerInfo describes the server for srvsvc; see srvsvc.ServerInfo.
type ServerInfo = srvsvc.ServerInfo

// SrvsvcBackend supplies what the srvsvc pipe reports.
type SrvsvcBackend = srvsvc.Backend

// SrvsvcInterface returns the srvsvc interface ([MS-SRVS]) over b.
func SrvsvcInterface(b SrvsvcBackend) *Interface {
	return &Interface{
		Syntax: srvsvcSyntax,
		Call: func(_ context.Context, c *Call) ([]byte, error) {
			return srvsvc.Call(b, c.Opnum, c.Stub)
		},
	}
}

// Pipe is one client's open of a named pipe. It is not safe for concurrent
// use; the server serialises calls per open.
type Pipe interface {
	// Write consumes bytes written by the client (SMB2 WRITE); they may hold
	// a partial PDU or several PDUs.
	Write(p []byte) error
	// Read returns up to max bytes of the next pending response message
	// (SMB2 READ). If more of that message remains, more is true and the
	// server answers STATUS_BUFFER_OVERFLOW. With nothing pending it
	// returns (nil, false, ErrNoData).
	Read(max int) (data []byte, more bool, err error)
	// Transact is Write(in) followed by Read(max) (FSCTL_PIPE_TRANSCEIVE).
	Transact(in []byte, max int) (out []byte, more bool, err error)
	// Close releases the pipe; later calls fail with ErrClosed.
	Close()
}

// ErrNoData reports that no response data is pending.
var ErrNoData = errors.New("rpc: no data pending")

// ErrMalformed reports bytes that are not a valid PDU stream. The pipe or
// connection is broken afterwards, as Windows drops the association: a byte
// stream cannot be resynchronised once framing is lost.
var ErrMalformed = errors.New("rpc: malformed PDU")

// ErrBacklog reports a client that keeps sending requests without reading
// the responses, beyond maxPending bytes.
var ErrBacklog = errors.New("rpc: too many unread responses")

// ErrClosed reports use of a closed pipe.
var ErrClosed = errors.New("rpc: pipe closed")

// NewPipe returns a pipe for name, or ok=false if no such pipe exists (the
// server then answers STATUS_OBJECT_NAME_NOT_FOUND). Names are matched
// case-insensitively with or without a `\PIPE\` prefix; only "srvsvc" is
// served.
func NewPipe(name string, b SrvsvcBackend) (Pipe, bool) {
	n := strings.TrimPrefix(name, `\`)
	if len(n) >= 5 && strings.EqualFold(n[:5], `PIPE\`) {
		n = n[5:]
	}
	if !strings.EqualFold(n, "srvsvc") {
		return nil, false
	}
	return newPipe(newAssoc([]*Interface{SrvsvcInterface(b)}, `\PIPE\srvsvc`, rand.Uint32()|1)), true
}
