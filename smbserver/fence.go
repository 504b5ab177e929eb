package smbserver

import (
	"errors"
	"fmt"
)

// Fencing: a node that can no longer prove it holds its cluster lease
// must not act on its opens, because another node may have taken them
// over (docs/architecture.md, fencing). Config.MayServe is the proof,
// read from a clock rather than from a goroutine's view, so it holds even
// for a process that wakes from a pause with requests already queued.
//
// A refused request is never answered: the connection is dropped, which
// is exactly what a dead node looks like to a client. Windows (and every
// SMB 3 client) answers a dropped connection by reconnecting through the
// cluster name, to another node, and replaying or reclaiming its durable
// and persistent handles there; an error status would instead reach the
// application (STATUS_FILE_NOT_AVAILABLE and the like end a VM's disk
// I/O), and a success would be a lie.

// errFenced closes the connection without a response.
var errFenced = errors.New("smbserver: this node is fenced")

// mayServe asks the lease clock, counting refusals, so that a request can
// tell whether anything it did was refused while it ran (a csv call
// refused by the same clock, whose error the handler may have turned into
// an ordinary status).
func (s *Server) mayServe() error {
	if s.cfg.MayServe == nil {
		return nil
	}
	if err := s.cfg.MayServe(); err != nil {
		s.refusals.Add(1)
		return err
	}
	return nil
}

// fenceGate is a request's view of the lease clock between its start and
// its response.
type fenceGate struct {
	on       bool
	refusals uint64
}

// enterFence checks the lease clock as a request starts.
func (c *conn) enterFence() (fenceGate, error) {
	s := c.srv
	if s.cfg.MayServe == nil {
		return fenceGate{}, nil
	}
	g := fenceGate{on: true, refusals: s.refusals.Load()}
	return g, s.mayServe()
}

// leaveFence checks again before the response goes out: a request that
// waited (for a lock, a break, another node, stable storage) or was
// refused anywhere meanwhile is not answered.
func (c *conn) leaveFence(g fenceGate) error {
	if !g.on {
		return nil
	}
	if err := c.srv.mayServe(); err != nil {
		return err
	}
	if c.srv.refusals.Load() != g.refusals {
		return errors.New("the lease clock refused an operation while the request ran")
	}
	return nil
}

// fenced logs a refused request and returns the error that drops its
// connection.
func (c *conn) fenced(r *request, when string, err error) error {
	c.log.Warn().Err(err).Stringer("cmd", r.hdr.Command).Uint64("mid", r.hdr.MessageID).Str("when", when).
		Msg("fenced: request not executed or not answered; dropping the connection")
	return fmt.Errorf("%w: %v %s: %w", errFenced, r.hdr.Command, when, err)
}

// Fence drops every connection at once, without answering what they have
// in flight: a node that lost its lease looks dead to its clients, so
// they reconnect to another node now rather than after their own
// time-outs. New connections are the caller's to refuse (sofsd's
// listener); requests that still arrive are refused by Config.MayServe.
// It returns how many connections it dropped.
func (s *Server) Fence() int {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	for c := range s.conns {
		c.cancel()
	}
	return len(s.conns)
}
