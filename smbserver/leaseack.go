package smbserver

import (
	"context"
	"time"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/wire"
)

// Lease break acknowledgments across nodes. A client's lease is one per
// (ClientGuid, LeaseKey) whatever connection it uses ([MS-SMB2] 3.3.1.4),
// and it may acknowledge a break on any of its connections
// (smb2.lease.v2_complex2). In a cluster those connections may be on
// different nodes, and the node that received the acknowledgment may hold
// none of the lease's opens. It then asks the others
// (Config.AckLeaseElsewhere); one node holding the lease's opens
// (Server.HoldsLease) applies the acknowledgment as if it had arrived
// there (Server.AckLease): the
// coordinator's transition, the persistent handles' records and the
// cascade of further breaks all stay with the opens they belong to.

// LeaseAck is a lease break acknowledgment forwarded to the node holding
// the lease's opens.
type LeaseAck struct {
	Client [16]byte `json:"client"`
	Key    [16]byte `json:"key"`
	State  uint32   `json:"state"`
}

// AckLease applies a lease break acknowledgment another node received
// for a lease whose opens are on this server. found is false when none
// is; status is the acknowledgment's NTSTATUS otherwise.
func (s *Server) AckLease(ctx context.Context, a LeaseAck) (status uint32, found bool) {
	st, found := s.ackLease(ctx, nil, csv.LeaseKey{Client: a.Client, Key: a.Key}, a.State)
	return uint32(st), found
}

// HoldsLease reports whether this server has an open of client's lease
// key, for another node looking for where to apply an acknowledgment.
func (s *Server) HoldsLease(client, key [16]byte) bool {
	return s.ol.leaseOpen(csv.LeaseKey{Client: client, Key: key}) != nil
}

// ackLeaseElsewhere forwards an acknowledgment of a lease with no open on
// this server; STATUS_OBJECT_NAME_NOT_FOUND when no node has the lease, as
// on one server ([MS-SMB2] 3.3.5.22.2).
func (c *conn) ackLeaseElsewhere(r *request, key csv.LeaseKey, state uint32) wire.Status {
	f := c.srv.cfg.AckLeaseElsewhere
	if f == nil {
		return wire.StatusObjectNameNotFound
	}
	r.detach() // a round trip to the other nodes
	st, found, err := f(r.ctx, LeaseAck{Client: key.Client, Key: key.Key, State: state})
	if err != nil {
		c.log.Warn().Err(err).Msg("forwarding a lease break acknowledgment")
		return mapError(err)
	}
	if !found {
		return wire.StatusObjectNameNotFound
	}
	return wire.Status(st)
}

// Lease breaks across nodes. On one server a lease break goes to the
// client's oldest connection, whichever connection its opens came
// through (leasingCap; smb2.lease.v2_complex1 checks it). A client with
// connections on several nodes has its oldest on one of them, so before
// sending a lease break on its own connection a node asks the others
// (Config.LeaseBreakElsewhere) whether the client has an older one
// there, and if so that node sends it. Connection ages come from each
// node's clock: with skewed clocks the choice may be another live
// connection of the client, which the protocol allows (any connection of
// the client may carry the break and its acknowledgment).

// leaseBreakRouteTimeout bounds the question to the other nodes: the
// break goes out on this node's connection if they cannot answer in
// time, rather than waiting for the cast's own, longer, bound.
const leaseBreakRouteTimeout = 2 * time.Second

// leaseBreakElsewhere sends a lease break notification body through the
// node holding the client's oldest connection when that is not this one.
// local tells whether this node has a connection to send it on, since
// when the oldest of them was recorded (zero if unknown: it stays here).
func (s *Server) leaseBreakElsewhere(client [16]byte, local bool, since time.Time, body []byte) bool {
	f := s.cfg.LeaseBreakElsewhere
	if f == nil {
		return false
	}
	// No request owns a break (it may come from another node's change),
	// so the bound is the only deadline.
	ctx, cancel := context.WithTimeout(context.Background(), leaseBreakRouteTimeout)
	defer cancel()
	return f(ctx, client, local, since, body)
}

// ClientSince reports when the oldest live connection of client on this
// server was recorded, for another node choosing where a lease break
// goes.
func (s *Server) ClientSince(client [16]byte) (time.Time, bool) {
	reg := s.ol
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if c := reg.clientConn(client); c != nil {
		return c.clientSince, true
	}
	return time.Time{}, false
}

// SendLeaseBreak sends a lease break notification body that another node
// built on client's oldest connection here; false if it has none.
func (s *Server) SendLeaseBreak(client [16]byte, body []byte) bool {
	// Only a notification's fixed size is sent as one; anything else is
	// not a body this server would build.
	if len(body) != len((&wire.LeaseBreakNotification{}).AppendTo(nil)) {
		return false
	}
	reg := s.ol
	reg.mu.Lock()
	c := reg.clientConn(client)
	reg.mu.Unlock()
	if c == nil {
		return false
	}
	if err := c.sendBreak(nil, 0, body); err != nil {
		c.log.Debug().Err(err).Msg("lease break from another node not sent")
		return false
	}
	return true
}
