// Package rpc connects the SMB server's named pipes (ncacn_np) to the
// DCE/RPC engine in package dcerpc, which the witness service shares over
// TCP. It only re-exports what the SMB server uses, so that the engine can
// serve both without the witness importing the SMB server.
package rpc

import "sofs.io/sofs/dcerpc"

// ShareInfo describes one share for srvsvc.
type ShareInfo = dcerpc.ShareInfo

// ServerInfo describes the server for srvsvc.
type ServerInfo = dcerpc.ServerInfo

// SrvsvcBackend supplies what the srvsvc pipe reports.
type SrvsvcBackend = dcerpc.SrvsvcBackend

// Pipe is one client's open of a named pipe; see dcerpc.Pipe.
type Pipe = dcerpc.Pipe

// Errors a Pipe returns; see package dcerpc.
var (
	ErrNoData    = dcerpc.ErrNoData
	ErrMalformed = dcerpc.ErrMalformed
	ErrBacklog   = dcerpc.ErrBacklog
	ErrClosed    = dcerpc.ErrClosed
)

// NewPipe returns a pipe for name, or ok=false if no such pipe exists; see
// dcerpc.NewPipe.
func NewPipe(name string, b SrvsvcBackend) (Pipe, bool) { return dcerpc.NewPipe(name, b) }
