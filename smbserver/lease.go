package smbserver

import (
	"context"
	"errors"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/wire"
)

// leaseRequest extracts the RqLs create context of a CREATE that asked for
// SMB2_OPLOCK_LEVEL_LEASE ([MS-SMB2] 3.3.5.9.8 v1, 3.3.5.9.11 v2). No
// lease (nil, success) when the dialect has no leasing or the context is
// absent; v2 contexts count only on SMB 3.x.
func (c *conn) leaseRequest(req *wire.CreateRequest) (*csv.LeaseRequest, wire.Status) {
	if c.dialect < Dialect210 || req.RequestedOplockLevel != wire.OplockLevelLease {
		return nil, wire.StatusSuccess
	}
	for _, cc := range req.Contexts {
		if cc.Name != wire.CreateContextRequestLease {
			continue
		}
		l, err := wire.DecodeLease(cc.Data)
		if err != nil {
			// [MS-SMB2] 3.3.5.9.8: a malformed lease context is ignored
			// (Windows opens without a lease).
			return nil, wire.StatusSuccess
		}
		if l.V2 && c.dialect < Dialect300 {
			return nil, wire.StatusSuccess
		}
		lr := &csv.LeaseRequest{
			Key:     csv.LeaseKey{Client: c.clientGUID, Key: l.LeaseKey},
			State:   l.LeaseState & (wire.LeaseReadCaching | wire.LeaseHandleCache | wire.LeaseWriteCache),
			Version: 1,
			// [MS-SMB2] 3.3.5.9.8, 3.3.5.9.11: a lease on a directory
			// only where directory leasing was negotiated (SMB 3.x).
			AllowDirectory: c.serverCaps&wire.GlobalCapDirectoryLeasing != 0,
		}
		if l.V2 {
			lr.Version = 2
			lr.Epoch = l.Epoch
			if l.LeaseFlags&wire.LeaseFlagParentKeySet != 0 {
				lr.ParentKey, lr.HasParent = l.ParentLeaseKey, true
			}
		}
		return lr, wire.StatusSuccess
	}
	return nil, wire.StatusSuccess
}

// leaseResponse is the RqLs response context of a granted lease
// ([MS-SMB2] 2.2.14.2.10, 2.2.14.2.11).
func leaseResponse(req *csv.LeaseRequest, g *csv.LeaseGrant) wire.Lease {
	l := wire.Lease{
		V2:         g.Version >= 2, // the lease's version, not the request's
		LeaseKey:   req.Key.Key,
		LeaseState: g.State,
	}
	if g.Breaking {
		l.LeaseFlags |= wire.LeaseFlagBreakInProgress
	}
	if l.V2 {
		l.Epoch = g.Epoch
		if g.HasParent {
			l.LeaseFlags |= wire.LeaseFlagParentKeySet
			l.ParentLeaseKey = g.ParentKey
		}
	}
	return l
}

// handleLeaseBreakAck applies a lease break acknowledgment ([MS-SMB2]
// 3.3.5.22.2) and answers with the acknowledged state.
func (c *conn) handleLeaseBreakAck(r *request) wire.Status {
	var req wire.LeaseBreakAcknowledgment
	if err := req.Decode(r.msg); err != nil {
		return wire.StatusInvalidParameter
	}
	if c.dialect < Dialect210 {
		return wire.StatusInvalidParameter
	}
	key := csv.LeaseKey{Client: c.clientGUID, Key: req.LeaseKey}
	st, found := c.srv.ackLease(r.ctx, r, key, req.LeaseState)
	if !found {
		// The client may hold the lease's opens through another node
		// of a cluster and acknowledge through this one (leaseack.go).
		st = c.ackLeaseElsewhere(r, key, req.LeaseState)
	}
	if st != wire.StatusSuccess {
		return st
	}
	resp := wire.LeaseBreakResponse{LeaseKey: req.LeaseKey, LeaseState: req.LeaseState}
	r.out = resp.AppendTo(r.out)
	return wire.StatusSuccess
}

// ackLease applies a lease break acknowledgment to the lease key's opens
// on this server; found is false when it has none. r, when set, is the
// acknowledging request (detached before a persistent open's record is
// rewritten); nil when another node forwarded the acknowledgment.
func (s *Server) ackLease(ctx context.Context, r *request, key csv.LeaseKey, state uint32) (st wire.Status, found bool) {
	o := s.ol.leaseOpen(key)
	if o == nil || o.handle == nil {
		return wire.StatusObjectNameNotFound, false
	}
	next, err := o.handle.AckLease(ctx, key, state)
	switch {
	case errors.Is(err, csv.ErrNoLease):
		return wire.StatusObjectNameNotFound, true
	case errors.Is(err, csv.ErrNotBreaking):
		return wire.StatusUnsuccessful, true
	case errors.Is(err, csv.ErrBadAck):
		return wire.StatusRequestNotAccepted, true
	case err != nil:
		st := mapError(err)
		if st == wire.StatusUnexpectedIOError {
			s.log.Warn().Err(err).Msg("lease break acknowledgment")
		}
		return st, true
	}
	if r != nil && o.tree != nil && o.tree.share.ContinuouslyAvailable {
		r.detach() // conn.go: persistent opens' records are rewritten
	}
	s.durableLeaseAcked(key, state) // records.go
	s.deliverBreaks(next)
	return wire.StatusSuccess, true
}
