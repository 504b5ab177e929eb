// Package smbserver is the SMB2/3 protocol engine of sofs: transport,
// negotiate, authentication, sessions, tree connects, opens and the command
// handlers. It reaches storage only through package csv.
package smbserver

import (
	"context"
	"net"
)

// Server serves SMB2/3 on any number of listeners.
type Server struct {
	cfg Config
}

// New validates cfg and returns a server ready to Serve.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Server{cfg: cfg}, nil
}

// Serve accepts connections on ln until ctx is cancelled or ln fails.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	<-ctx.Done()
	return ln.Close()
}
