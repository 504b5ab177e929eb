package main

import (
	"context"
	"fmt"
	"net"

	"github.com/rs/zerolog"

	"sofs.io/sofs/csv/clusterstate"
	"sofs.io/sofs/namespace"
)

// openState is the node's part of the cluster-wide open state
// (csv/clusterstate): its slot for this run, its node-to-node listener,
// and the service that the SMB server's volumes use.
type openState struct {
	slot uint16
	addr string // advertised in the node record
	node *clusterstate.Node
}

// startOpenState takes a slot, listens for the other nodes and starts the
// service. It serves nothing until views arrive (followViews).
func startOpenState(ctx context.Context, cfg config, st *namespace.Store, log zerolog.Logger) (*openState, error) {
	slot, err := st.NextSlot(ctx)
	if err != nil {
		return nil, err
	}
	secret, err := st.ClusterSecret(ctx)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.PeerListen)
	if err != nil {
		return nil, fmt.Errorf("peer listen: %w", err)
	}
	n, err := clusterstate.NewNode(clusterstate.Config{Slot: slot, Secret: secret, Listener: ln, Logger: log})
	if err != nil {
		ln.Close()
		return nil, err
	}
	return &openState{slot: slot, addr: ln.Addr().String(), node: n}, nil
}

// followViews hands the open-state service every change of the live
// members and of the elected coordinator, until ctx ends.
func (o *openState) followViews(ctx context.Context, members *namespace.Members, el *namespace.Election, log zerolog.Logger) {
	var last clusterstate.View
	for {
		mch, ech := members.Changed(), el.Changed()
		v := buildView(members.Nodes(), el.Current())
		if !sameView(v, last) {
			o.node.SetView(v)
			log.Debug().Int64("epoch", v.Epoch).Uint16("coordinator", v.Coordinator).Int("members", len(v.Members)).Msg("open-state view")
			last = v
		}
		select {
		case <-ctx.Done():
			return
		case <-mch:
		case <-ech:
		}
	}
}

// buildView is the live nodes that run the open-state service, and the
// coordinator if it is one of them (a coordinator whose node is gone is
// none: its key goes with its lease, and the survivors elect another).
func buildView(nodes []namespace.NodeStatus, c namespace.Coordinator) clusterstate.View {
	v := clusterstate.View{Members: make(map[uint16]string)}
	for _, n := range nodes {
		if n.Live && n.Slot != 0 && n.PeerAddress != "" {
			v.Members[n.Slot] = n.PeerAddress
		}
	}
	if _, ok := v.Members[c.Slot]; ok && c.Epoch != 0 {
		v.Epoch, v.Coordinator = c.Epoch, c.Slot
	}
	return v
}

func sameView(a, b clusterstate.View) bool {
	if a.Epoch != b.Epoch || a.Coordinator != b.Coordinator || len(a.Members) != len(b.Members) {
		return false
	}
	for s, addr := range a.Members {
		if b.Members[s] != addr {
			return false
		}
	}
	return true
}
