package smbserver

import (
	"context"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/wire"
)

// Lease break acknowledgments across nodes. A client's lease is one per
// (ClientGuid, LeaseKey) whatever connection it uses ([MS-SMB2] 3.3.1.4),
// and it may acknowledge a break on any of its connections
// (smb2.lease.v2_complex2). In a cluster those connections may be on
// different nodes, and the node that received the acknowledgment may hold
// none of the lease's opens. It then asks the others
// (Config.AckLeaseElsewhere); the node holding the lease's opens applies
// the acknowledgment as if it had arrived there (Server.AckLease): the
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
