package witness

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// A node's etcd lease outlives a crash by up to its TTL (5 s by default),
// which is how long the cluster takes to know. A crashed process's SMB
// port, though, refuses connections at once. So while clients wait for news
// of a node, this node's witness probes that node's SMB address: a refused
// connection (RST, the port closed) twice in a row marks the node
// suspected down, and its clients are told unavailable without waiting for
// the lease. A probe that times out proves nothing (a partition, a busy
// host) and changes nothing: the lease decides those cases. A node that
// accepts a connection again, or takes a new lease, is no longer suspected.
const (
	// probeEvery is the probe interval: a crash is reported within about
	// two intervals.
	probeEvery = 400 * time.Millisecond
	// probeTimeout bounds one connection attempt; a refusal on a live
	// network arrives in a round trip.
	probeTimeout = 300 * time.Millisecond
	// refusalsToSuspect is how many refusals in a row make a node
	// suspected: one could be a restart's window between close and bind.
	refusalsToSuspect = 2
)

// prober tracks which nodes have waiting clients and probes them.
type prober struct {
	svc *Service

	mu        sync.Mutex
	watched   map[string]int    // node id -> waiting AsyncNotify calls
	refusals  map[string]int    // node id -> refusals in a row
	suspected map[string]string // node id -> lease (StartedAt) it was suspected under
	changed   chan struct{}
	running   bool
}

func newProber(s *Service) *prober {
	return &prober{svc: s, watched: map[string]int{}, refusals: map[string]int{},
		suspected: map[string]string{}, changed: make(chan struct{})}
}

// watch registers a waiter for node id until the returned function is
// called; the probe loop runs while anything is watched.
func (p *prober) watch(id string) (stop func()) {
	p.mu.Lock()
	p.watched[id]++
	start := !p.running
	p.running = true
	p.mu.Unlock()
	if start {
		go p.loop()
	}
	return func() {
		p.mu.Lock()
		if p.watched[id]--; p.watched[id] <= 0 {
			delete(p.watched, id)
		}
		p.mu.Unlock()
	}
}

// Changed is closed at the next change of suspicion.
func (p *prober) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// suspect reports whether node id is suspected down under its current
// registration (a node that registered again since is not).
func (p *prober) suspect(id, started string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.suspected[id]
	return ok && s == started
}

func (p *prober) loop() {
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for range t.C {
		p.mu.Lock()
		if len(p.watched) == 0 {
			p.running = false
			p.refusals, p.suspected = map[string]int{}, map[string]string{}
			p.mu.Unlock()
			return
		}
		ids := make([]string, 0, len(p.watched))
		for id := range p.watched {
			ids = append(ids, id)
		}
		p.mu.Unlock()
		for _, id := range ids {
			p.probe(id)
		}
	}
}

// probe dials node id's first SMB address once and updates its state.
func (p *prober) probe(id string) {
	n, ok := p.svc.cfg.Members.Node(id)
	if !ok || !n.Live || len(n.SMBAddresses) == 0 {
		return
	}
	started := n.StartedAt.String()
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", n.SMBAddresses[0])
	refused := errors.Is(err, syscall.ECONNREFUSED)
	if err == nil {
		c.Close()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	before := p.suspected[id] == started
	switch {
	case refused:
		p.refusals[id]++
		if p.refusals[id] >= refusalsToSuspect {
			p.suspected[id] = started
		}
	case err == nil:
		p.refusals[id] = 0
		delete(p.suspected, id)
	}
	if after := p.suspected[id] == started; after != before {
		p.svc.cfg.Log.Info().Str("node", id).Bool("suspected", after).Msg("witness: SMB port probe changed the node's state")
		close(p.changed)
		p.changed = make(chan struct{})
	}
}
