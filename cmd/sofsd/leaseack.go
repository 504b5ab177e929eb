package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"sofs.io/sofs/smbserver"
)

// castLeaseHolders names the gather that asks which nodes hold opens of
// a lease, and castLeaseAck the cast that applies a lease break
// acknowledgment on one of them: one client may hold the lease through
// one node and acknowledge through another (smbserver/leaseack.go).
const (
	castLeaseHolders = "smb.lease-holders"
	castLeaseAck     = "smb.lease-ack"
)

type leaseAckReply struct {
	Found  bool   `json:"found"`
	Status uint32 `json:"status"`
}

// ackLeaseElsewhere is smbserver.Config.AckLeaseElsewhere. A lease's
// opens may be on several nodes, and exactly one of them must apply the
// acknowledgment: a second would find the lease no longer breaking, or,
// if the first acknowledgment let a queued break of the lease start,
// acknowledge that new break, which the client has not seen yet. So the
// holders are found first and the one with the lowest slot applies it.
func (o *openState) ackLeaseElsewhere(ctx context.Context, a smbserver.LeaseAck) (uint32, bool, error) {
	body, err := json.Marshal(a)
	if err != nil {
		return 0, false, err
	}
	replies, gerr := o.node.Gather(ctx, castLeaseHolders, body)
	var holder uint16
	var found bool
	for s, b := range replies {
		var has bool
		if err := json.Unmarshal(b, &has); err != nil {
			return 0, false, fmt.Errorf("a node's lease holders answer: %w", err)
		}
		if has && (!found || s < holder) {
			holder, found = s, true
		}
	}
	if !found {
		return 0, false, gerr
	}
	rep, err := o.node.CastTo(ctx, holder, castLeaseAck, body)
	if err != nil {
		return 0, false, fmt.Errorf("lease break acknowledgment through node %d: %w", holder, err)
	}
	r, err := decodeLeaseAckReply(rep)
	if err != nil {
		return 0, false, fmt.Errorf("node %d's lease acknowledgment: %w", holder, err)
	}
	return r.Status, r.Found, nil
}

// serveLeaseAcks answers the other nodes' lease-holder questions and
// applies the acknowledgments they forward.
func (o *openState) serveLeaseAcks(srv *smbserver.Server) {
	o.node.HandleGather(castLeaseHolders, func(_ context.Context, body []byte) ([]byte, error) {
		a, err := decodeLeaseAck(body)
		if err != nil {
			return nil, err
		}
		return json.Marshal(srv.HoldsLease(a.Client, a.Key))
	})
	o.node.HandleGather(castLeaseAck, func(ctx context.Context, body []byte) ([]byte, error) {
		a, err := decodeLeaseAck(body)
		if err != nil {
			return nil, err
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
		r, err := decodeClientSinceReply(b)
		if err != nil || !r.Found {
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
		client, err := decodeClientSince(body)
		if err != nil {
			return nil, err
		}
		since, ok := srv.ClientSince(client)
		return json.Marshal(clientSinceReply{Found: ok, Since: since})
	})
	o.node.HandleGather(castSendLeaseBreak, func(_ context.Context, body []byte) ([]byte, error) {
		m, err := decodeLeaseBreakCast(body)
		if err != nil {
			return nil, err
		}
		return json.Marshal(srv.SendLeaseBreak(m.Client, m.Body))
	})
}
