package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/namespace"
	"sofs.io/sofs/smbserver"
)

// Drain (brief rule 7): a node an operator drains stops taking clients,
// drops the connections it has so that its clients reconnect through
// other nodes (which pull their handles over as they reclaim them), and
// hands every durable or persistent handle still here to another node,
// until it holds none. Then it can be stopped without any client seeing
// an error: `sofsctl node drain --wait` returns at that point.

// castPullHandle asks a node to take a handle over from the caller.
const castPullHandle = "smb.pull-handle"

type pullCall struct {
	ID   uint64 `json:"id"`
	From string `json:"from"`
}

// drainInterval is how often a draining node tries again to hand over
// what it still holds (handles whose connections were still closing, a
// target that was busy).
const drainInterval = time.Second

type drainer struct {
	m   *membership
	loc handleLocator
	srv *smbserver.Server
	log zerolog.Logger
}

// servePulls answers other nodes' requests to take their handles.
func (d drainer) servePulls() {
	d.loc.node.HandleGather(castPullHandle, func(ctx context.Context, body []byte) ([]byte, error) {
		c, err := decodePullCall(body, d.loc.self)
		if err != nil {
			return nil, err
		}
		ok, err := d.srv.Pull(ctx, c.From, c.ID)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("handle %016x not restored here", c.ID)
		}
		return nil, nil
	})
}

// run drains the node whenever it is marked draining, until ctx ends.
func (d drainer) run(ctx context.Context) {
	tick := time.NewTicker(drainInterval)
	defer tick.Stop()
	dropped := false
	for {
		ch := d.m.members.Changed()
		reg := d.m.reg.Load()
		switch {
		case reg != nil && d.m.draining(reg):
			if !dropped {
				// Off they go, each to reconnect through another node.
				n := d.srv.Fence()
				d.log.Info().Int("dropped_connections", n).Msg("draining: new connections refused, existing ones dropped; handing handles over")
				dropped = true
			}
			d.handOver(ctx)
		default:
			dropped = false
		}
		select {
		case <-ctx.Done():
			return
		case <-ch:
		case <-tick.C:
		}
	}
}

// handOver gives every handle this node still holds to the other nodes
// that serve, in turn.
func (d drainer) handOver(ctx context.Context) {
	ids := d.srv.DurableIDs()
	if len(ids) == 0 {
		return
	}
	var targets []namespace.NodeStatus
	for _, n := range d.m.members.Nodes() {
		if n.ID != d.m.self && n.Live && n.State == namespace.NodeUp && n.Slot != 0 {
			targets = append(targets, n)
		}
	}
	if len(targets) == 0 {
		d.log.Warn().Int("handles", len(ids)).Msg("draining: no other node serves; the handles stay here")
		return
	}
	moved := 0
	for i, id := range ids {
		t := targets[i%len(targets)]
		body, err := json.Marshal(pullCall{ID: id, From: d.loc.self})
		if err != nil {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = d.loc.node.Call(cctx, t.Slot, castPullHandle, body)
		cancel()
		if err != nil {
			d.log.Debug().Err(err).Uint64("file_id", id).Str("to", t.Name).Msg("draining: hand-over not done yet")
			continue
		}
		moved++
	}
	if moved > 0 {
		d.log.Info().Int("moved", moved).Int("left", len(ids)-moved).Msg("draining: handed handles over")
	}
}
