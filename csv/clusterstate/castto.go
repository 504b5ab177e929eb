package clusterstate

import (
	"context"
	"fmt"
)

// CastTo sends body to one node's handler for name (HandleCast,
// HandleGather) and returns its answer: the second step after a Gather
// found which node should act, when only one may (sending one
// notification on one client's connection).
func (n *Node) CastTo(ctx context.Context, slot uint16, name string, body []byte) ([]byte, error) {
	n.mu.Lock()
	addr, ok := n.view.Members[slot]
	n.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("clusterstate: cast %q to node %d: not a live member", name, slot)
	}
	cctx, cancel := context.WithTimeout(ctx, castTimeout)
	defer cancel()
	p, err := n.tr.peer(cctx, slot, addr)
	if err != nil {
		return nil, fmt.Errorf("clusterstate: cast %q to node %d: %w", name, slot, err)
	}
	var rep castReply
	if err := p.do(cctx, methodCast, castRequest{Name: name, Body: body}, &rep); err != nil {
		return nil, fmt.Errorf("clusterstate: cast %q to node %d: %w", name, slot, err)
	}
	return rep.Body, nil
}
