package main

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/namespace"
)

// Death watch: a node whose process is gone (crashed, killed, out of
// memory) holds its etcd lease until the lease expires, 5 s or more (a
// TTL more when it also led etcd), and its clients wait that long for
// their handles. Every node therefore probes the others' SMB and
// node-to-node ports; when both refuse connections twice in a row, no
// process listens on them any more, and the node's lease is revoked at
// once, so its handles are adopted within a second.
//
// Why a refusal, and only a refusal, proves the process gone: the kernel
// answers a connection to a port nobody listens on with a reset. A paused
// (SIGSTOP), overloaded or partitioned node does not refuse: its kernel
// still queues connections, or nothing answers at all, and such a node
// keeps its lease until it expires, as its own fencing assumes (it stops
// I/O before the lease can expire). Both listeners must refuse: a node
// closes its SMB listener first when it stops, and its node-to-node
// listener only after its own lease is revoked.

const (
	// deathProbeInterval is how often each other node is probed.
	deathProbeInterval = 250 * time.Millisecond
	// deathProbeTimeout bounds one connection attempt; a timeout proves
	// nothing.
	deathProbeTimeout = 200 * time.Millisecond
	// deathRefusals is how many probes in a row must find both ports
	// refusing.
	deathRefusals = 2
)

// watchDeaths probes the other live nodes until ctx ends.
func watchDeaths(ctx context.Context, st *namespace.Store, members *namespace.Members, self string, log zerolog.Logger) {
	refused := make(map[string]int)
	tick := time.NewTicker(deathProbeInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		seen := make(map[string]bool)
		for _, n := range members.Nodes() {
			if !n.Live || n.ID == self || n.PeerAddress == "" || len(n.SMBAddresses) == 0 {
				continue
			}
			seen[n.ID] = true
			if !portRefused(ctx, n.SMBAddresses[0]) || !portRefused(ctx, n.PeerAddress) {
				refused[n.ID] = 0
				continue
			}
			refused[n.ID]++
			if refused[n.ID] < deathRefusals {
				continue
			}
			refused[n.ID] = 0
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			ok, err := st.EndDeadNode(rctx, n.ID, n.PeerAddress)
			cancel()
			switch {
			case err != nil:
				log.Warn().Err(err).Str("node", n.Name).Msg("death watch: could not end a node whose ports refuse connections")
			case ok:
				log.Warn().Str("node", n.Name).Str("smb", n.SMBAddresses[0]).Str("peer", n.PeerAddress).
					Msg("death watch: node's process is gone (its ports refuse connections); its lease revoked so its handles are adopted now")
			}
		}
		for id := range refused {
			if !seen[id] {
				delete(refused, id)
			}
		}
	}
}

// portRefused reports whether a connection to addr is refused (a reset:
// nothing listens there).
func portRefused(ctx context.Context, addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || host == "" || ip != nil && ip.IsUnspecified() {
		return false // not an address this node can probe
	}
	d := net.Dialer{Timeout: deathProbeTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}
