package clusterstate

import (
	"context"
	"sync"
	"time"

	"sofs.io/sofs/csv"
)

// Change notifications across nodes. A change is made through one node,
// but the directory may be watched through any: each node tells the
// others the union of the completion filters its watches of a volume have
// whenever it changes (methodInterest), and forwards the changes made
// through it under a node's filter to that node (methodEvents), which
// publishes them to its watches. The node making a change needs the
// others' filters even when it watches nothing itself: its volume's event
// sources test them before computing an event at all (a write stats the
// file only when someone watches sizes), so each node hands the union of
// the others' filters to its volumes (csv.NotifyRelay.Subscribe). Telling
// the others is synchronous when a watch adds a bit to the node's filter,
// so every change made anywhere after that reaches it; forwarding is not,
// so no change waits for another node's watchers.

type interestRequest struct {
	Vol string `json:"vol"`
	On  bool   `json:"on"`
	// Filter is the union of the completion filters of the sender's
	// watches of the volume, when On. A node older than it sends none
	// and is sent everything.
	Filter uint32 `json:"filter,omitempty"`
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
	subs     map[string][]subscriber      // vol → this node's volumes
	watching map[string]*[32]int          // vol → this node's watches per filter bit
	told     map[string]uint32            // vol → the filter the others were last told
	telling  map[string]*sync.Mutex       // vol → orders telling the others the filter
	interest map[string]map[uint16]uint32 // vol → peers that watch it, with their filters
	senders  map[uint16]*eventSender

	locals   map[string][]csv.LocalOpens // vol → this node's volumes
	streams  map[string]int              // vol → this node's StreamsOpen(true) count
	streamAt map[string]map[uint16]bool  // vol → peers with open streams
}

// subscriber is one of this node's volumes (csv.NotifyRelay.Subscribe).
type subscriber struct {
	publish func(...csv.Event)
	watched func(filter uint32)
}

func newNotifier() *notifier {
	return &notifier{subs: make(map[string][]subscriber), watching: make(map[string]*[32]int),
		told: make(map[string]uint32), telling: make(map[string]*sync.Mutex),
		interest: make(map[string]map[uint16]uint32), senders: make(map[uint16]*eventSender),
		locals: make(map[string][]csv.LocalOpens), streams: make(map[string]int), streamAt: make(map[string]map[uint16]bool)}
}

// allFilters is the filter of a peer that announced its watches without
// one (an older version): it is sent every change.
const allFilters = ^uint32(0)

// eventSender forwards change batches to one peer, in order.
type eventSender struct {
	q    chan eventsRequest
	done chan struct{}
}

// Subscribe implements csv.NotifyRelay.
func (t *Table) Subscribe(publish func(...csv.Event), watched func(filter uint32)) {
	nf := t.n.nf
	nf.mu.Lock()
	defer nf.mu.Unlock()
	nf.subs[t.vol] = append(nf.subs[t.vol], subscriber{publish: publish, watched: watched})
	watched(nf.remoteFilterLocked(t.vol))
}

// remoteFilterLocked is the union of the filters other nodes watch vol
// with; nf.mu held.
func (nf *notifier) remoteFilterLocked(vol string) uint32 {
	var f uint32
	for _, pf := range nf.interest[vol] {
		f |= pf
	}
	return f
}

// pushWatchedLocked hands this node's volumes of vol the other nodes'
// filters; nf.mu held.
func (nf *notifier) pushWatchedLocked(vol string) {
	f := nf.remoteFilterLocked(vol)
	for _, sub := range nf.subs[vol] {
		sub.watched(f)
	}
}

// tellingLocked returns the mutex that orders telling the others vol's
// filter; nf.mu held.
func (nf *notifier) tellingLocked(vol string) *sync.Mutex {
	mu := nf.telling[vol]
	if mu == nil {
		mu = new(sync.Mutex)
		nf.telling[vol] = mu
	}
	return mu
}

// Watching implements csv.NotifyRelay: it counts this node's watches of
// t's volume per filter bit and, when the union of their filters changes,
// tells every other node and waits for them. Announcements of a volume
// are made one at a time, each with the union current when it is made,
// so the last one a peer gets is the current one.
func (t *Table) Watching(ctx context.Context, filter uint32, on bool) error {
	n := t.n
	nf := n.nf
	nf.mu.Lock()
	tell := nf.tellingLocked(t.vol)
	nf.mu.Unlock()
	tell.Lock()
	defer tell.Unlock()
	nf.mu.Lock()
	counts := nf.watching[t.vol]
	if counts == nil {
		counts = new([32]int)
		nf.watching[t.vol] = counts
	}
	var now uint32
	for b := range counts {
		if filter&(1<<b) != 0 {
			if on {
				counts[b]++
			} else if counts[b] > 0 {
				counts[b]--
			}
		}
		if counts[b] > 0 {
			now |= 1 << b
		}
	}
	if now == 0 {
		delete(nf.watching, t.vol)
	}
	changed := now != nf.told[t.vol]
	if now == 0 {
		delete(nf.told, t.vol)
	} else {
		nf.told[t.vol] = now
	}
	nf.mu.Unlock()
	if !changed {
		return nil
	}
	n.mu.Lock()
	members := n.view.Members
	n.mu.Unlock()
	n.tellAll(ctx, members, interestRequest{Vol: t.vol, On: now != 0, Filter: now})
	return ctx.Err()
}

// tellAll tells every other node of members req, and waits for them.
func (n *Node) tellAll(ctx context.Context, members map[uint16]string, req interestRequest) {
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
}

// announce counts this node's open named streams of t's volume and, when
// the first opens or the last closes, tells every other node and waits
// for them.
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
	n.tellAll(ctx, members, req)
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

// Forward implements csv.NotifyRelay: each node that watches the volume
// gets the events under its filter, if any.
func (t *Table) Forward(events []csv.Event) {
	n := t.n
	nf := n.nf
	type batch struct {
		snd *eventSender
		evs []csv.Event
	}
	nf.mu.Lock()
	var to []batch
	for s, f := range nf.interest[t.vol] {
		if s == n.self {
			continue
		}
		if evs := eventsUnder(events, f); len(evs) > 0 {
			to = append(to, batch{n.senderLocked(s), evs})
		}
	}
	nf.mu.Unlock()
	for _, b := range to {
		select {
		case b.snd.q <- eventsRequest{Vol: t.vol, Events: b.evs}:
		default:
			n.log.Warn().Str("volume", t.vol).Msg("change notifications for another node dropped: its queue is full")
		}
	}
}

// eventsUnder returns the events a watch with filter could report
// (events itself when that is all of them).
func eventsUnder(events []csv.Event, filter uint32) []csv.Event {
	for i, e := range events {
		if e.Filter&filter != 0 {
			continue
		}
		out := append([]csv.Event{}, events[:i]...)
		for _, e := range events[i+1:] {
			if e.Filter&filter != 0 {
				out = append(out, e)
			}
		}
		return out
	}
	return events
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

// gotInterest records that peer from watches vol with req.Filter, or has
// open streams there (or stopped). A new filter reaches this node's
// volumes before the answer, so a change made through them once the
// watcher has its answer is forwarded.
func (n *Node) gotInterest(from uint16, req interestRequest) {
	nf := n.nf
	nf.mu.Lock()
	defer nf.mu.Unlock()
	if req.Streams {
		setPeer(nf.streamAt, req.Vol, from, req.On, true)
		return
	}
	f := req.Filter
	if f == 0 {
		f = allFilters
	}
	setPeer(nf.interest, req.Vol, from, req.On, f)
	nf.pushWatchedLocked(req.Vol)
}

// setPeer records peer from's value in all[vol], or removes it (on false).
func setPeer[V any](all map[string]map[uint16]V, vol string, from uint16, on bool, v V) {
	m := all[vol]
	if on {
		if m == nil {
			m = make(map[uint16]V)
			all[vol] = m
		}
		m[from] = v
		return
	}
	delete(m, from)
	if len(m) == 0 {
		delete(all, vol)
	}
}

// gotEvents publishes another node's changes to this node's watches.
func (n *Node) gotEvents(req eventsRequest) {
	nf := n.nf
	nf.mu.Lock()
	subs := append([]subscriber{}, nf.subs[req.Vol]...)
	nf.mu.Unlock()
	for _, sub := range subs {
		sub.publish(req.Events...)
	}
}

// membersChanged tells peers that joined what this node watches, and
// forgets the interest and senders of peers that left.
func (n *Node) notifyMembersChanged(old, v View) {
	nf := n.nf
	nf.mu.Lock()
	left := false
	for s := range old.Members {
		if v.live(s) {
			continue
		}
		left = true
		for vol := range nf.interest {
			setPeer(nf.interest, vol, s, false, 0)
		}
		for vol := range nf.streamAt {
			setPeer(nf.streamAt, vol, s, false, false)
		}
		if snd := nf.senders[s]; snd != nil {
			close(snd.done)
			delete(nf.senders, s)
		}
	}
	if left {
		for vol := range nf.subs {
			nf.pushWatchedLocked(vol)
		}
	}
	var watched []string
	for vol := range nf.told {
		watched = append(watched, vol)
	}
	var streams []interestRequest
	for vol := range nf.streams {
		streams = append(streams, interestRequest{Vol: vol, On: true, Streams: true})
	}
	nf.mu.Unlock()
	if len(watched) == 0 && len(streams) == 0 {
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
			for _, vol := range watched {
				n.tellWatched(s, addr, vol)
			}
			for _, req := range streams {
				n.tellInterest(n.ctx, s, addr, req)
			}
		}(s, addr)
	}
}

// tellWatched tells a node that joined this node's filter for vol, as it
// is when told: in order with Watching's announcements, so that a late
// one cannot undo a later change.
func (n *Node) tellWatched(s uint16, addr, vol string) {
	nf := n.nf
	nf.mu.Lock()
	tell := nf.tellingLocked(vol)
	nf.mu.Unlock()
	tell.Lock()
	defer tell.Unlock()
	nf.mu.Lock()
	f := nf.told[vol]
	nf.mu.Unlock()
	if f != 0 {
		n.tellInterest(n.ctx, s, addr, interestRequest{Vol: vol, On: true, Filter: f})
	}
}
