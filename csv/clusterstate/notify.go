package clusterstate

import (
	"context"
	"sync"
	"time"

	"sofs.io/sofs/csv"
)

// Change notifications across nodes. A change is made through one node,
// but the directory may be watched through any: each node tells the
// others when it starts and stops watching a volume (methodInterest), and
// forwards the changes made through it to the nodes that watch
// (methodEvents), which publish them to their watches. Telling the others
// is synchronous when a volume's first watch is armed, so every change
// made anywhere after that reaches it; forwarding is not, so no change
// waits for another node's watchers.

type interestRequest struct {
	Vol string `json:"vol"`
	On  bool   `json:"on"`
	// Streams: the interest is in questions about open named streams
	// (remote.go), not in change notifications.
	Streams bool `json:"streams,omitempty"`
}

type eventsRequest struct {
	Vol    string      `json:"vol"`
	Events []csv.Event `json:"events"`
}

const (
	// maxEventBatches bounds the changes queued for one peer; beyond it
	// they are dropped (and logged), as a watch drops what overflows its
	// own queue.
	maxEventBatches = 4096
	// interestTimeout bounds telling one peer about a watch.
	interestTimeout = 5 * time.Second
)

// notifier is the node's part of the relay.
type notifier struct {
	mu       sync.Mutex
	subs     map[string][]func(...csv.Event) // vol → local publishers
	watching map[string]int                  // vol → local Watching(true) count
	interest map[string]map[uint16]bool      // vol → peers that watch it
	senders  map[uint16]*eventSender

	locals   map[string][]csv.LocalOpens // vol → this node's volumes
	streams  map[string]int              // vol → this node's StreamsOpen(true) count
	streamAt map[string]map[uint16]bool  // vol → peers with open streams
}

func newNotifier() *notifier {
	return &notifier{subs: make(map[string][]func(...csv.Event)), watching: make(map[string]int),
		interest: make(map[string]map[uint16]bool), senders: make(map[uint16]*eventSender),
		locals: make(map[string][]csv.LocalOpens), streams: make(map[string]int), streamAt: make(map[string]map[uint16]bool)}
}

// eventSender forwards change batches to one peer, in order.
type eventSender struct {
	q    chan eventsRequest
	done chan struct{}
}

// Subscribe implements csv.NotifyRelay.
func (t *Table) Subscribe(publish func(...csv.Event)) {
	nf := t.n.nf
	nf.mu.Lock()
	nf.subs[t.vol] = append(nf.subs[t.vol], publish)
	nf.mu.Unlock()
}

// Watching implements csv.NotifyRelay.
func (t *Table) Watching(ctx context.Context, on bool) error {
	return t.announce(ctx, t.n.nf.watching, interestRequest{Vol: t.vol, On: on})
}

// announce counts this node's interest of one kind in t's volume and,
// when it starts or ends, tells every other node and waits for them.
func (t *Table) announce(ctx context.Context, counts map[string]int, req interestRequest) error {
	n := t.n
	nf := n.nf
	on := req.On
	nf.mu.Lock()
	before := counts[t.vol]
	if on {
		counts[t.vol]++
	} else if before > 0 {
		counts[t.vol]--
	}
	after := counts[t.vol]
	if after == 0 {
		delete(counts, t.vol)
	}
	nf.mu.Unlock()
	if (before == 0) == (after == 0) {
		return nil
	}
	n.mu.Lock()
	members := n.view.Members
	n.mu.Unlock()
	var wg sync.WaitGroup
	for s, addr := range members {
		if s == n.self {
			continue
		}
		wg.Add(1)
		go func(s uint16, addr string) {
			defer wg.Done()
			n.tellInterest(ctx, s, addr, req)
		}(s, addr)
	}
	wg.Wait()
	return ctx.Err()
}

func (n *Node) tellInterest(ctx context.Context, s uint16, addr string, req interestRequest) {
	ictx, cancel := context.WithTimeout(ctx, interestTimeout)
	defer cancel()
	p, err := n.tr.peer(ictx, s, addr)
	if err == nil {
		err = p.do(ictx, methodInterest, req, nil)
	}
	if err != nil {
		n.log.Warn().Err(err).Uint16("peer", s).Str("volume", req.Vol).Msg("could not tell a node about change-notify watches")
	}
}

// Forward implements csv.NotifyRelay.
func (t *Table) Forward(events []csv.Event) {
	n := t.n
	nf := n.nf
	nf.mu.Lock()
	var to []*eventSender
	for s := range nf.interest[t.vol] {
		if s != n.self {
			to = append(to, n.senderLocked(s))
		}
	}
	nf.mu.Unlock()
	for _, snd := range to {
		select {
		case snd.q <- eventsRequest{Vol: t.vol, Events: events}:
		default:
			n.log.Warn().Str("volume", t.vol).Msg("change notifications for another node dropped: its queue is full")
		}
	}
}

// senderLocked returns the sender to slot s, starting it; nf.mu held.
func (n *Node) senderLocked(s uint16) *eventSender {
	nf := n.nf
	snd := nf.senders[s]
	if snd != nil {
		return snd
	}
	snd = &eventSender{q: make(chan eventsRequest, maxEventBatches), done: make(chan struct{})}
	nf.senders[s] = snd
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			select {
			case req := <-snd.q:
				n.sendEvents(s, req)
			case <-snd.done:
				return
			case <-n.stop:
				return
			}
		}
	}()
	return snd
}

func (n *Node) sendEvents(s uint16, req eventsRequest) {
	n.mu.Lock()
	addr, ok := n.view.Members[s]
	n.mu.Unlock()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, interestTimeout)
	defer cancel()
	p, err := n.tr.peer(ctx, s, addr)
	if err == nil {
		err = p.do(ctx, methodEvents, req, nil)
	}
	if err != nil {
		n.log.Debug().Err(err).Uint16("peer", s).Msg("change notifications not delivered")
	}
}

// gotInterest records that peer from watches vol, or has open streams
// there (or stopped).
func (n *Node) gotInterest(from uint16, req interestRequest) {
	nf := n.nf
	nf.mu.Lock()
	defer nf.mu.Unlock()
	all := nf.interest
	if req.Streams {
		all = nf.streamAt
	}
	m := all[req.Vol]
	if req.On {
		if m == nil {
			m = make(map[uint16]bool)
			all[req.Vol] = m
		}
		m[from] = true
		return
	}
	delete(m, from)
	if len(m) == 0 {
		delete(all, req.Vol)
	}
}

// gotEvents publishes another node's changes to this node's watches.
func (n *Node) gotEvents(req eventsRequest) {
	nf := n.nf
	nf.mu.Lock()
	subs := append([]func(...csv.Event){}, nf.subs[req.Vol]...)
	nf.mu.Unlock()
	for _, publish := range subs {
		publish(req.Events...)
	}
}

// membersChanged tells peers that joined what this node watches, and
// forgets the interest and senders of peers that left.
func (n *Node) notifyMembersChanged(old, v View) {
	nf := n.nf
	nf.mu.Lock()
	for s := range old.Members {
		if v.live(s) {
			continue
		}
		for _, all := range []map[string]map[uint16]bool{nf.interest, nf.streamAt} {
			for vol, m := range all {
				delete(m, s)
				if len(m) == 0 {
					delete(all, vol)
				}
			}
		}
		if snd := nf.senders[s]; snd != nil {
			close(snd.done)
			delete(nf.senders, s)
		}
	}
	var tell []interestRequest
	for vol := range nf.watching {
		tell = append(tell, interestRequest{Vol: vol, On: true})
	}
	for vol := range nf.streams {
		tell = append(tell, interestRequest{Vol: vol, On: true, Streams: true})
	}
	nf.mu.Unlock()
	if len(tell) == 0 {
		return
	}
	for s, addr := range v.Members {
		if s == n.self {
			continue
		}
		if _, was := old.Members[s]; was {
			continue
		}
		go func(s uint16, addr string) {
			for _, req := range tell {
				n.tellInterest(n.ctx, s, addr, req)
			}
		}(s, addr)
	}
}
