package clusterstate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Casts: a request to every other live node, answered when each has
// acted on it. The open state itself never needs one; the SMB server uses
// them for what lives in its own tables (closing an application
// instance's durable opens wherever they are).

type castRequest struct {
	Name string `json:"name"`
	Body []byte `json:"body"`
}

type castReply struct {
	Body []byte `json:"body,omitempty"`
}

// castTimeout bounds one node's answer to a cast.
const castTimeout = 10 * time.Second

// HandleCast registers fn for casts called name. Register before the
// node's view is set.
func (n *Node) HandleCast(name string, fn func(ctx context.Context, body []byte) error) {
	n.HandleGather(name, func(ctx context.Context, body []byte) ([]byte, error) { return nil, fn(ctx, body) })
}

// HandleGather registers fn for casts called name whose answers the
// caller collects (Gather).
func (n *Node) HandleGather(name string, fn func(ctx context.Context, body []byte) ([]byte, error)) {
	n.nf.mu.Lock()
	defer n.nf.mu.Unlock()
	if n.casts == nil {
		n.casts = make(map[string]func(context.Context, []byte) ([]byte, error))
	}
	n.casts[name] = fn
}

// Cast sends body to every other live node's handler for name and waits
// for them. A node that cannot be reached is leaving, and what it held
// goes with it; the first handler error is returned.
func (n *Node) Cast(ctx context.Context, name string, body []byte) error {
	_, err := n.Gather(ctx, name, body)
	return err
}

// Gather is Cast that also returns each node's answer, by slot. Nodes
// that could not be reached are missing from the map.
func (n *Node) Gather(ctx context.Context, name string, body []byte) (map[uint16][]byte, error) {
	out := make(map[uint16][]byte)
	n.mu.Lock()
	members := n.view.Members
	n.mu.Unlock()
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for s, addr := range members {
		if s == n.self {
			continue
		}
		wg.Add(1)
		go func(s uint16, addr string) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, castTimeout)
			defer cancel()
			var rep castReply
			p, err := n.tr.peer(cctx, s, addr)
			if err == nil {
				err = p.do(cctx, methodCast, castRequest{Name: name, Body: body}, &rep)
			}
			if err == nil {
				mu.Lock()
				out[s] = rep.Body
				mu.Unlock()
			}
			if err != nil {
				n.log.Warn().Err(err).Uint16("peer", s).Str("cast", name).Msg("cast to a node failed")
				mu.Lock()
				if first == nil && !retryable(err) {
					first = err
				}
				mu.Unlock()
			}
		}(s, addr)
	}
	wg.Wait()
	return out, first
}

func (n *Node) gotCast(ctx context.Context, req castRequest) (castReply, error) {
	n.nf.mu.Lock()
	fn := n.casts[req.Name]
	n.nf.mu.Unlock()
	if fn == nil {
		return castReply{}, fmt.Errorf("clusterstate: no handler for cast %q", req.Name)
	}
	b, err := fn(ctx, req.Body)
	return castReply{Body: b}, err
}

// ErrNotMember: Call named a slot that is not a live member.
var ErrNotMember = errors.New("clusterstate: no such live member")

// Call sends body to one live node's handler for name and returns its
// answer (a cast to one node: handing a handle over to the node its
// client reconnected through).
func (n *Node) Call(ctx context.Context, slot uint16, name string, body []byte) ([]byte, error) {
	n.mu.Lock()
	addr, ok := n.view.Members[slot]
	n.mu.Unlock()
	if !ok || slot == n.self {
		return nil, fmt.Errorf("%w: slot %d", ErrNotMember, slot)
	}
	cctx, cancel := context.WithTimeout(ctx, castTimeout)
	defer cancel()
	p, err := n.tr.peer(cctx, slot, addr)
	if err != nil {
		return nil, err
	}
	var rep castReply
	if err := p.do(cctx, methodCast, castRequest{Name: name, Body: body}, &rep); err != nil {
		return nil, err
	}
	return rep.Body, nil
}
