package clusterstate

import (
	"context"
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

// castTimeout bounds one node's answer to a cast.
const castTimeout = 10 * time.Second

// HandleCast registers fn for casts called name. Register before the
// node's view is set.
func (n *Node) HandleCast(name string, fn func(ctx context.Context, body []byte) error) {
	n.nf.mu.Lock()
	defer n.nf.mu.Unlock()
	if n.casts == nil {
		n.casts = make(map[string]func(context.Context, []byte) error)
	}
	n.casts[name] = fn
}

// Cast sends body to every other live node's handler for name and waits
// for them. A node that cannot be reached is leaving, and what it held
// goes with it; the first handler error is returned.
func (n *Node) Cast(ctx context.Context, name string, body []byte) error {
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
			p, err := n.tr.peer(cctx, s, addr)
			if err == nil {
				err = p.do(cctx, methodCast, castRequest{Name: name, Body: body}, nil)
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
	return first
}

func (n *Node) gotCast(ctx context.Context, req castRequest) error {
	n.nf.mu.Lock()
	fn := n.casts[req.Name]
	n.nf.mu.Unlock()
	if fn == nil {
		return fmt.Errorf("clusterstate: no handler for cast %q", req.Name)
	}
	return fn(ctx, req.Body)
}
