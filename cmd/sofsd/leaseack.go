package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

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

// castClientSince names the gather that asks each node since when it has
// had a client's oldest connection; castSendLeaseBreak the cast that
// sends a lease break on it (smbserver/leaseack.go: lease breaks go to a
// client's oldest connection, as on one server).
const (
	castClientSince    = "smb.client-since"
	castSendLeaseBreak = "smb.send-lease-break"
)

type clientSinceReply struct {
	Found bool      `json:"found"`
	Since time.Time `json:"since"`
}

type leaseBreakCast struct {
	Client [16]byte `json:"client"`
	Body   []byte   `json:"body"`
}

// leaseBreakElsewhere is smbserver.Config.LeaseBreakElsewhere.
func (o *openState) leaseBreakElsewhere(ctx context.Context, client [16]byte, local bool, since time.Time, body []byte) bool {
	q, err := json.Marshal(client)
	if err != nil {
		return false
	}
	replies, _ := o.node.Gather(ctx, castClientSince, q) // a node that cannot answer is not chosen
	var best uint16
	var found bool
	for s, b := range replies {
		var r clientSinceReply
		if json.Unmarshal(b, &r) != nil || !r.Found {
			continue
		}
		if (!local && !found) || r.Since.Before(since) {
			best, since, found, local = s, r.Since, true, true
		}
	}
	if !found {
		return false
	}
	msg, err := json.Marshal(leaseBreakCast{Client: client, Body: body})
	if err != nil {
		return false
	}
	// On an error the break goes out on this node's connection: any
	// connection of the client may carry it.
	rep, err := o.node.CastTo(ctx, best, castSendLeaseBreak, msg)
	if err != nil {
		return false
	}
	var sent bool
	return json.Unmarshal(rep, &sent) == nil && sent
}

// serveLeaseBreaks answers the other nodes' questions about this node's
// client connections and sends the lease breaks they route here.
func (o *openState) serveLeaseBreaks(srv *smbserver.Server) {
	o.node.HandleGather(castClientSince, func(_ context.Context, body []byte) ([]byte, error) {
		var client [16]byte
		if err := json.Unmarshal(body, &client); err != nil {
			return nil, fmt.Errorf("client-since gather: %w", err)
		}
		since, ok := srv.ClientSince(client)
		return json.Marshal(clientSinceReply{Found: ok, Since: since})
	})
	o.node.HandleGather(castSendLeaseBreak, func(_ context.Context, body []byte) ([]byte, error) {
		var m leaseBreakCast
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, fmt.Errorf("send-lease-break cast: %w", err)
		}
		return json.Marshal(srv.SendLeaseBreak(m.Client, m.Body))
	})
}
