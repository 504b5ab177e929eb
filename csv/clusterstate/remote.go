package clusterstate

import (
	"context"
	"sync"

	"sofs.io/sofs/csv"
)

// Questions about opens that only the node holding them can answer
// (csv.RemoteOpens): a directory about to be renamed must have no open
// object below it on any node, and a file's named streams are checked on
// every node that has streams open. Open objects are known by path only
// where they were opened, so these are asked of the nodes, not of the
// coordinator. Directory renames ask every node; stream questions only the
// nodes that said they have streams open (announced like watches).

const (
	queryBelow = iota + 1
	queryStreams
	queryDenyDelete
)

type queryRequest struct {
	Vol  string `json:"vol"`
	Kind int    `json:"kind"`
	Disk string `json:"disk,omitempty"`
	Base uint64 `json:"base,omitempty"`
}

type queryReply struct {
	Yes bool `json:"yes"`
}

var _ csv.RemoteOpens = (*Table)(nil)

// SubscribeOpens implements csv.RemoteOpens.
func (t *Table) SubscribeOpens(local csv.LocalOpens) {
	nf := t.n.nf
	nf.mu.Lock()
	nf.locals[t.vol] = append(nf.locals[t.vol], local)
	nf.mu.Unlock()
}

// StreamsOpen implements csv.RemoteOpens.
func (t *Table) StreamsOpen(ctx context.Context, on bool) error {
	return t.announce(ctx, t.n.nf.streams, interestRequest{Vol: t.vol, On: on, Streams: true})
}

// OpenBelow implements csv.RemoteOpens.
func (t *Table) OpenBelow(ctx context.Context, disk string) (bool, error) {
	return t.ask(ctx, false, queryRequest{Vol: t.vol, Kind: queryBelow, Disk: disk})
}

// OpenStreams implements csv.RemoteOpens.
func (t *Table) OpenStreams(ctx context.Context, baseID uint64) (bool, error) {
	return t.ask(ctx, true, queryRequest{Vol: t.vol, Kind: queryStreams, Base: baseID})
}

// StreamsDenyDelete implements csv.RemoteOpens.
func (t *Table) StreamsDenyDelete(ctx context.Context, baseID uint64) (bool, error) {
	return t.ask(ctx, true, queryRequest{Vol: t.vol, Kind: queryDenyDelete, Base: baseID})
}

// ask puts q to the other live nodes (only those with open streams when
// streams is set) and reports whether any says yes. A node that cannot
// be asked is leaving: its opens are released with its membership.
func (t *Table) ask(ctx context.Context, streams bool, q queryRequest) (bool, error) {
	n := t.n
	n.mu.Lock()
	members := n.view.Members
	n.mu.Unlock()
	var targets map[uint16]string
	if streams {
		n.nf.mu.Lock()
		targets = make(map[uint16]string)
		for s := range n.nf.streamAt[t.vol] {
			if addr, ok := members[s]; ok {
				targets[s] = addr
			}
		}
		n.nf.mu.Unlock()
	} else {
		targets = members
	}
	var mu sync.Mutex
	yes := false
	var wg sync.WaitGroup
	for s, addr := range targets {
		if s == n.self {
			continue
		}
		wg.Add(1)
		go func(s uint16, addr string) {
			defer wg.Done()
			qctx, cancel := context.WithTimeout(ctx, interestTimeout)
			defer cancel()
			var rep queryReply
			p, err := n.tr.peer(qctx, s, addr)
			if err == nil {
				err = p.do(qctx, methodQuery, q, &rep)
			}
			if err != nil {
				n.log.Warn().Err(err).Uint16("peer", s).Msg("could not ask a node about its opens")
				return
			}
			if rep.Yes {
				mu.Lock()
				yes = true
				mu.Unlock()
			}
		}(s, addr)
	}
	wg.Wait()
	return yes, ctx.Err()
}

// answer answers another node's question from this node's volumes.
func (n *Node) answer(ctx context.Context, q queryRequest) (queryReply, error) {
	n.nf.mu.Lock()
	locals := append([]csv.LocalOpens(nil), n.nf.locals[q.Vol]...)
	n.nf.mu.Unlock()
	for _, l := range locals {
		var yes bool
		var err error
		switch q.Kind {
		case queryBelow:
			yes = l.LocalOpenBelow(q.Disk)
		case queryStreams:
			yes = l.LocalOpenStreams(q.Base)
		case queryDenyDelete:
			yes, err = l.LocalStreamsDenyDelete(ctx, q.Base)
		default:
			return queryReply{}, errFrame
		}
		if err != nil {
			return queryReply{}, err
		}
		if yes {
			return queryReply{Yes: true}, nil
		}
	}
	return queryReply{}, nil
}
