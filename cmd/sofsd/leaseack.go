package main

import (
	"context"
	"encoding/json"
	"fmt"

	"sofs.io/sofs/smbserver"
)

// castLeaseAck names the gather that forwards a lease break
// acknowledgment to the node holding the lease's opens: one client may
// hold the lease through one node and acknowledge through another
// (smbserver/leaseack.go).
const castLeaseAck = "smb.lease-ack"

type leaseAckReply struct {
	Found  bool   `json:"found"`
	Status uint32 `json:"status"`
}

// ackLeaseElsewhere is smbserver.Config.AckLeaseElsewhere. A lease's
// opens are on one node or several; the first node that holds any
// applies the acknowledgment and the others find the lease no longer
// breaking, so the answer of a node that found it and succeeded wins.
func (o *openState) ackLeaseElsewhere(ctx context.Context, a smbserver.LeaseAck) (uint32, bool, error) {
	body, err := json.Marshal(a)
	if err != nil {
		return 0, false, err
	}
	replies, gerr := o.node.Gather(ctx, castLeaseAck, body)
	var best leaseAckReply
	for _, b := range replies {
		var r leaseAckReply
		if err := json.Unmarshal(b, &r); err != nil {
			return 0, false, fmt.Errorf("a node's lease acknowledgment: %w", err)
		}
		if r.Found && (!best.Found || r.Status == 0) {
			best = r
		}
	}
	if best.Found {
		return best.Status, true, nil
	}
	return 0, false, gerr
}

// serveLeaseAcks applies the acknowledgments other nodes forward.
func (o *openState) serveLeaseAcks(srv *smbserver.Server) {
	o.node.HandleGather(castLeaseAck, func(ctx context.Context, body []byte) ([]byte, error) {
		var a smbserver.LeaseAck
		if err := json.Unmarshal(body, &a); err != nil {
			return nil, fmt.Errorf("lease-ack gather: %w", err)
		}
		st, found := srv.AckLease(ctx, a)
		return json.Marshal(leaseAckReply{Found: found, Status: st})
	})
}
