// Package rpc serves DCE/RPC connection-oriented PDUs ([C706] chapter 12,
// [MS-RPCE] 2.2.2) over SMB named pipes (ncacn_np), so that clients can
// enumerate shares through the srvsvc interface ([MS-SRVS]) on IPC$.
//
// A Pipe is one client's open of a pipe. Bytes the client writes are split
// into PDUs, each PDU is answered at once, and every answering PDU is queued
// as one pipe message, as Windows's message-mode pipes deliver them.
// There is no RPC-level authentication: the SMB session already
// authenticated the client, and PDUs carrying auth verifiers are refused.
package rpc

import (
	"errors"
	"math/rand/v2"
	"strings"

	"sofs.io/sofs/smbserver/rpc/srvsvc"
)

// ShareInfo describes one share for srvsvc; see srvsvc.ShareInfo.
type ShareInfo = srvsvc.ShareInfo

// ServerInfo describes the server for srvsvc; see srvsvc.ServerInfo.
type ServerInfo = srvsvc.ServerInfo

// SrvsvcBackend supplies what the srvsvc pipe reports.
type SrvsvcBackend = srvsvc.Backend

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

// ErrMalformed reports bytes that are not a valid PDU stream. The pipe is
// broken afterwards, as Windows drops the association: a byte stream
// cannot be resynchronised once framing is lost.
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
	return newConn(srvsvcInterface(b), rand.Uint32()|1), true
}
