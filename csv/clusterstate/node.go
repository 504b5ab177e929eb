package clusterstate

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/csv/openstate"
)

// View is the cluster as the open-state service needs it: the live
// members' peer addresses by slot, and the coordinator with its epoch.
// The wiring (cmd/sofsd) builds it from the namespace's membership and
// election and hands every change to Node.SetView.
type View struct {
	// Epoch identifies one coordinator's term (the etcd revision at which
	// it was elected); 0 means there is no coordinator yet.
	Epoch       int64
	Coordinator uint16
	// Members maps the slot of every live node, this one included, to
	// the address of its node-to-node listener.
	Members map[uint16]string
}

func (v View) live(slot uint16) bool { _, ok := v.Members[slot]; return ok }

// Config configures a Node.
type Config struct {
	// Slot is this node's number in the cluster (1..65535), unique among
	// nodes and stable across restarts.
	Slot uint16
	// Secret is the cluster secret every member knows (transport.go).
	Secret []byte
	// Listener accepts the other nodes' connections.
	Listener net.Listener
	// ServerTLS and ClientTLS, if both are set, are the cluster CA's
	// mutual-TLS configurations for this node (namespace/clustertls): the
	// channel then accepts only peers with a certificate the CA issued,
	// besides their proof of the secret.
	ServerTLS, ClientTLS *tls.Config
	Logger               zerolog.Logger
	// RetryLimit bounds how long a call waits for a coordinator (an
	// election, a rebuild) before it fails; 0 means 30 s.
	RetryLimit time.Duration
	// Observer, if set, receives the node's measurements.
	Observer Observer
	// OnFenced, if set, is called once when the coordinator refuses this
	// node because it released the node's opens (ErrFenced): the node
	// left the cluster (lost its lease) and came back with opens the
	// cluster no longer knows. sofsd stops and restarts clean.
	OnFenced func()
}

// Observer receives what the node measures (sofsd turns it into
// Prometheus metrics). Its methods must be quick and safe for concurrent
// use.
type Observer interface {
	// Call reports one call this node made to another: its method,
	// duration and error (nil on success).
	Call(method string, d time.Duration, err error)
	// RemoteBreaks reports breaks this node, as coordinator, sent to
	// another node's opens.
	RemoteBreaks(n int)
}

// Node is one node's open-state service: the tables its volumes use, the
// coordinator role when the election gives it, and the replicas it keeps
// of objects it holds opens of.
type Node struct {
	self  uint16
	log   zerolog.Logger
	tr    *transport
	limit time.Duration

	mu      sync.Mutex
	view    View
	ready   bool          // rejoined the coordinator of view.Epoch
	changed chan struct{} // closed when view or ready changes
	coord   *coordinator  // set while this node coordinates
	deliver func([]openstate.Break)

	repMu sync.Mutex
	reps  map[string]map[uint64]*replica // vol → object → replica

	dl       delegations // objects this node owns (delegate.go)
	maxDeleg int         // maxDelegated; smaller in tests
	// noDeleg: as coordinator, delegate nothing (tests of the remote
	// path).
	noDeleg bool

	onFenced   func()
	fencedOnce sync.Once

	nf   *notifier // change notifications (notify.go)
	dirs dirFlags  // directory-lease flags learned (dirlease.go)
	obs  Observer
	// casts are the handlers of cast.go, guarded by nf.mu.
	casts map[string]func(context.Context, []byte) ([]byte, error)

	breaks chan []openstate.Break // local deliveries of pushed breaks, in order
	// ctx is the root of the node's own background work (rejoins,
	// rebuilds, releases of lost members' opens); Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	stop   chan struct{}
	wg     sync.WaitGroup
}

// idShift places a node's slot above the 48 bits of its local ids, so
// that open ids and lock owners are unique cluster-wide and name the node
// that holds them.
const idShift = 48

// NewNode starts serving peers on cfg.Listener. Call SetView before the
// tables are used, and Close at the end.
func NewNode(cfg Config) (*Node, error) {
	if cfg.Slot == 0 {
		return nil, errors.New("clusterstate: slot 0 is reserved")
	}
	n := &Node{
		self: cfg.Slot, log: cfg.Logger.With().Str("component", "openstate").Uint16("slot", cfg.Slot).Logger(),
		limit: cfg.RetryLimit, changed: make(chan struct{}),
		reps: make(map[string]map[uint64]*replica), nf: newNotifier(), breaks: make(chan []openstate.Break, 1024), stop: make(chan struct{}),
	}
	if n.limit == 0 {
		n.limit = 30 * time.Second
	}
	n.maxDeleg = maxDelegated
	n.ctx, n.cancel = context.WithCancel(context.Background())
	tr, err := newTransport(cfg.Slot, cfg.Secret, n.log, n.handle)
	if err != nil {
		return nil, err
	}
	tr.serverTLS, tr.clientTLS = peerTLS(cfg.ServerTLS, cfg.ClientTLS)
	tr.obs = cfg.Observer
	n.obs = cfg.Observer
	n.onFenced = cfg.OnFenced
	n.tr = tr
	n.wg.Add(1)
	go n.deliverLoop()
	if cfg.Listener != nil {
		go tr.serve(cfg.Listener)
	}
	return n, nil
}

// Close stops the node.
func (n *Node) Close() {
	n.cancel()
	n.tr.close()
	n.mu.Lock()
	select {
	case <-n.stop:
	default:
		close(n.stop)
	}
	n.mu.Unlock()
	n.wg.Wait()
}

// SetBreakHandler sets where breaks for this node's opens that another
// node's change started are delivered (the SMB server's break delivery).
func (n *Node) SetBreakHandler(f func([]openstate.Break)) {
	n.mu.Lock()
	n.deliver = f
	n.mu.Unlock()
}

// deliverLoop hands pushed breaks to the SMB server in arrival order, off
// the goroutine that answers the coordinator: delivering may wait on a
// client's socket, which must never hold up another node.
func (n *Node) deliverLoop() {
	defer n.wg.Done()
	for {
		select {
		case bs := <-n.breaks:
			n.mu.Lock()
			f := n.deliver
			n.mu.Unlock()
			if f != nil {
				f(bs)
			}
		case <-n.stop:
			return
		}
	}
}

// queueBreaks hands breaks to deliverLoop without waiting: it runs while
// the coordinator holds its transition lock (a push, or its own
// deliveries), so a full queue (a delivery stuck on a client's socket)
// must cost the breaks, not stall every node. A break that is dropped is
// never acknowledged; the open waiting for it proceeds at the break
// timeout, as when a client does not answer.
func (n *Node) queueBreaks(bs []openstate.Break) {
	if len(bs) == 0 {
		return
	}
	select {
	case n.breaks <- bs:
	default:
		n.log.Error().Int("breaks", len(bs)).Msg("break delivery queue full: breaks dropped (their opens wait for the break timeout)")
	}
}

// SetView installs a new view of the cluster. A new epoch makes this node
// rejoin the new coordinator (or become it) before any further call; a
// member that left has its opens released by the coordinator.
func (n *Node) SetView(v View) {
	n.mu.Lock()
	old := n.view
	n.view = v
	var start *coordinator
	var stopOld *coordinator
	if v.Epoch != old.Epoch || v.Coordinator != old.Coordinator {
		n.ready = false
		if n.coord != nil && n.coord.epoch != v.Epoch {
			stopOld = n.coord
			n.coord = nil
		}
		if v.Epoch != 0 && v.Coordinator == n.self {
			start = newCoordinator(n, v.Epoch)
			n.coord = start
		}
	}
	c := n.coord
	close(n.changed)
	n.changed = make(chan struct{})
	n.mu.Unlock()
	if v.Epoch != old.Epoch || v.Coordinator != old.Coordinator || old.live(n.self) && !v.live(n.self) {
		// Delegations end with their coordinator's term; their state
		// goes to the next one with this node's replicas. A node that
		// is no longer a member applies nothing alone either.
		n.endDelegations(v.Epoch)
	}
	for slot := range old.Members {
		if !v.live(slot) {
			n.tr.dropPeer(slot)
		}
	}
	n.notifyMembersChanged(old, v)
	if stopOld != nil {
		stopOld.close()
	}
	if v.Epoch == 0 {
		return
	}
	if start != nil {
		go start.rebuild(v)
		return
	}
	if c != nil {
		c.membersChanged(old, v)
	}
	if v.Epoch != old.Epoch || v.Coordinator != old.Coordinator {
		go n.rejoin(v)
	}
}

// current returns the view once this node may call its coordinator, or
// fails when ctx ends or the retry limit passes.
func (n *Node) current(ctx context.Context, deadline time.Time) (View, error) {
	for {
		n.mu.Lock()
		v, ok, ch := n.view, n.ready, n.changed
		n.mu.Unlock()
		if ok && v.Epoch != 0 {
			return v, nil
		}
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-ch:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return View{}, ctx.Err()
		case <-t.C:
			return View{}, fmt.Errorf("clusterstate: no coordinator within %s: %w", n.limit, errNotReady)
		}
	}
}

func (n *Node) setReady(epoch int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.view.Epoch != epoch || n.ready {
		return
	}
	n.ready = true
	close(n.changed)
	n.changed = make(chan struct{})
}

// fenced reports ErrFenced to OnFenced, once.
func (n *Node) fenced(err error) {
	if !errors.Is(err, ErrFenced) {
		return
	}
	n.fencedOnce.Do(func() {
		n.log.Error().Msg("the open-state coordinator released this node's opens (the node left the cluster): it must restart")
		// The coordinator dropped what this node owned: it must not
		// apply anything alone either (epoch -1 takes no new grant).
		n.endDelegations(-1)
		if n.onFenced != nil {
			n.onFenced()
		}
	})
}

// waitChange waits for the next view change, a short backoff or ctx.
func (n *Node) waitChange(ctx context.Context, backoff time.Duration) {
	n.mu.Lock()
	ch := n.changed
	n.mu.Unlock()
	t := time.NewTimer(backoff)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
}

// rejoin sends this node's replicas to the coordinator of v.
func (n *Node) rejoin(v View) {
	ctx := n.ctx
	batches := n.replicaBatches()
	for attempt := 0; ; attempt++ {
		n.mu.Lock()
		cur := n.view
		n.mu.Unlock()
		if cur.Epoch != v.Epoch || ctx.Err() != nil {
			return
		}
		err := n.sendRejoin(ctx, v, batches)
		if errors.Is(err, ErrFenced) {
			n.fenced(err)
			return
		}
		if err == nil {
			n.setReady(v.Epoch)
			n.log.Info().Int64("epoch", v.Epoch).Uint16("coordinator", v.Coordinator).Msg("rejoined the open-state coordinator")
			return
		}
		n.log.Debug().Err(err).Int("attempt", attempt).Msg("rejoin failed; retrying")
		n.waitChange(ctx, backoff(attempt))
	}
}

func backoff(attempt int) time.Duration {
	d := 20 * time.Millisecond << min(attempt, 5)
	return d
}

func (n *Node) sendRejoin(ctx context.Context, v View, batches [][]replica) error {
	addr, ok := v.Members[v.Coordinator]
	if !ok {
		return fmt.Errorf("clusterstate: coordinator %d has no address", v.Coordinator)
	}
	p, err := n.tr.peer(ctx, v.Coordinator, addr)
	if err != nil {
		return err
	}
	for i, b := range batches {
		req := rejoinRequest{Epoch: v.Epoch, Replicas: b, Last: i == len(batches)-1}
		if err := p.do(ctx, methodRejoin, req, nil); err != nil {
			return err
		}
	}
	return nil
}

// replicaBatches copies the replicas in batches that fit a frame.
func (n *Node) replicaBatches() [][]replica {
	const perBatch = 256
	n.repMu.Lock()
	defer n.repMu.Unlock()
	var out [][]replica
	var cur []replica
	for _, objs := range n.reps {
		for _, r := range objs {
			cur = append(cur, *r)
			if len(cur) == perBatch {
				out = append(out, cur)
				cur = nil
			}
		}
	}
	return append(out, cur) // the last (possibly empty) batch says Last
}

// storeReplica keeps r if it is newer than the copy held and this node
// still holds opens of the object; otherwise it drops the copy.
func (n *Node) storeReplica(r replica) {
	n.repMu.Lock()
	defer n.repMu.Unlock()
	if cur := n.reps[r.Vol][r.Obj]; cur != nil && (cur.Epoch > r.Epoch || cur.Epoch == r.Epoch && cur.Version >= r.Version) {
		return
	}
	n.putReplicaLocked(r)
}

// putReplicaLocked keeps r as this node's replica of its object, or drops
// the replica when this node holds neither opens nor locks of it. Call
// with repMu held.
func (n *Node) putReplicaLocked(r replica) {
	objs := n.reps[r.Vol]
	ownLocks := false
	for _, l := range r.Locks {
		if slotOf(l.Owner) == n.self {
			ownLocks = true
		}
	}
	if r.Holders[n.self] == 0 && !ownLocks && !(r.Standby == n.self && hasPersistentEntry(r)) {
		if objs != nil {
			delete(objs, r.Obj)
		}
		return
	}
	if objs == nil {
		objs = make(map[uint64]*replica)
		n.reps[r.Vol] = objs
	}
	objs[r.Obj] = &r
}

// hasPersistentEntry reports whether r's state has the entry of a
// persistent handle.
func hasPersistentEntry(r replica) bool {
	if r.State == nil {
		return false
	}
	for _, e := range r.State.Entries {
		if e.Persistent {
			return true
		}
	}
	return false
}

// replicaLocks returns the locks of a replica (for CheckIO off the
// coordinator).
func (n *Node) replicaLocks(vol string, obj uint64) []openstate.HeldLock {
	n.repMu.Lock()
	defer n.repMu.Unlock()
	if r := n.reps[vol][obj]; r != nil {
		return r.Locks
	}
	return nil
}

// handle serves the calls of other nodes.
func (n *Node) handle(ctx context.Context, from uint16, method uint8, body []byte) (any, error) {
	switch method {
	case methodOp:
		var req opRequest
		if err := decodeBody(body, &req); err != nil {
			return nil, err
		}
		c, err := n.coordinatorFrom(req.Epoch, from)
		if err != nil {
			return nil, err
		}
		return c.apply(ctx, from, &req)
	case methodWait:
		var req waitRequest
		if err := decodeBody(body, &req); err != nil {
			return nil, err
		}
		c, err := n.coordinatorFrom(req.Epoch, from)
		if err != nil {
			return nil, err
		}
		return empty{}, c.wait(ctx, req.Vol, req.Obj, req.Gen)
	case methodLockWait:
		var req lockWaitRequest
		if err := decodeBody(body, &req); err != nil {
			return nil, err
		}
		c, err := n.coordinatorFrom(req.Epoch, from)
		if err != nil {
			return nil, err
		}
		return empty{}, c.lockWait(ctx, req.Waiter)
	case methodPush:
		var req pushRequest
		if err := decodeBody(body, &req); err != nil {
			return nil, err
		}
		n.mu.Lock()
		ok := n.view.Epoch == req.Epoch && n.view.live(from) && n.view.Coordinator == from
		n.mu.Unlock()
		if !ok {
			return nil, errWrongEpoch
		}
		for _, r := range req.Replicas {
			n.storeReplica(r)
		}
		n.queueBreaks(n.localBreaks(req.Breaks))
		return empty{}, nil
	case methodInterest:
		var req interestRequest
		if err := decodeBody(body, &req); err != nil {
			return nil, err
		}
		n.gotInterest(from, req)
		return empty{}, nil
	case methodEvents:
		var req eventsRequest
		if err := decodeBody(body, &req); err != nil {
			return nil, err
		}
		n.gotEvents(req)
		return empty{}, nil
	case methodQuery:
		var req queryRequest
		if err := decodeBody(body, &req); err != nil {
			return nil, err
		}
		return n.answer(ctx, req)
	case methodDirLeases:
		var req dirLeasesRequest
		if err := decodeBody(body, &req); err != nil {
			return nil, err
		}
		n.mu.Lock()
		ok := n.view.Epoch == req.Epoch && n.view.Coordinator == from
		n.mu.Unlock()
		if !ok {
			return nil, errWrongEpoch
		}
		n.dirs.learn(req.Epoch, req.Vol, req.Ver, req.On)
		return empty{}, nil
	case methodCast:
		var req castRequest
		if err := decodeBody(body, &req); err != nil {
			return nil, err
		}
		return n.gotCast(ctx, req)
	case methodRecall:
		var req recallRequest
		if err := decodeBody(body, &req); err != nil {
			return nil, err
		}
		return n.recalled(from, req)
	case methodGiveBack:
		var req giveBackRequest
		if err := decodeBody(body, &req); err != nil {
			return nil, err
		}
		c, err := n.coordinatorFrom(req.Epoch, from)
		if err != nil {
			return nil, err
		}
		c.gaveBack(from, req)
		return empty{}, nil
	case methodRejoin:
		var req rejoinRequest
		if err := decodeBody(body, &req); err != nil {
			return nil, err
		}
		n.mu.Lock()
		c := n.coord
		n.mu.Unlock()
		if c == nil || c.epoch != req.Epoch {
			return nil, errWrongEpoch
		}
		if c.isGone(from) {
			return nil, ErrFenced
		}
		return empty{}, c.rejoined(from, req)
	}
	return nil, fmt.Errorf("%w: method %d", errFrame, method)
}

// coordinatorFrom is coordinatorFor for a call from slot from, refusing
// a node whose opens this coordinator released.
func (n *Node) coordinatorFrom(epoch int64, from uint16) (*coordinator, error) {
	c, err := n.coordinatorFor(epoch)
	if err != nil {
		return nil, err
	}
	if c.isGone(from) {
		return nil, ErrFenced
	}
	return c, nil
}

// coordinatorFor returns this node's coordinator role for epoch, once it
// is ready.
func (n *Node) coordinatorFor(epoch int64) (*coordinator, error) {
	n.mu.Lock()
	c := n.coord
	n.mu.Unlock()
	if c == nil || c.epoch != epoch {
		return nil, errWrongEpoch
	}
	if !c.isReady() {
		return nil, errNotReady
	}
	return c, nil
}

// global and local translate ids between this node's numbering and the
// cluster's.
func (n *Node) global(id uint64) uint64 {
	if id == 0 {
		return 0
	}
	return uint64(n.self)<<idShift | id&(1<<idShift-1)
}

func slotOf(id uint64) uint16 { return uint16(id >> idShift) }

func (n *Node) localID(id uint64) uint64 {
	if slotOf(id) != n.self {
		return 0
	}
	return id & (1<<idShift - 1)
}

// localBreaks translates breaks addressed to this node's opens.
func (n *Node) localBreaks(bs []openstate.Break) []openstate.Break {
	out := make([]openstate.Break, 0, len(bs))
	for _, b := range bs {
		b.OpenID = n.localID(b.OpenID)
		ids := make([]uint64, 0, len(b.OpenIDs))
		for _, id := range b.OpenIDs {
			if l := n.localID(id); l != 0 {
				ids = append(ids, l)
			}
		}
		b.OpenIDs = ids
		out = append(out, b)
	}
	return out
}

// mayCache reports whether a write through open may need to break
// another holder's read caching: false only when this node's replica
// proves that no other open of the object caches anything, which spares
// every WRITE a call to the coordinator in the common case.
func (n *Node) mayCache(vol string, obj uint64) bool {
	n.mu.Lock()
	coord := n.coord != nil
	n.mu.Unlock()
	if coord {
		return true
	}
	if _, o := n.dl.lookup(vol, obj); o != nil {
		return true // the local table answers, without a round trip
	}
	n.repMu.Lock()
	defer n.repMu.Unlock()
	r := n.reps[vol][obj]
	if r == nil || r.State == nil {
		return true
	}
	// Every oplock counts, the writer's own included: a write breaks
	// its own level II oplock too ([MS-FSA] 2.1.4.12; smbtorture
	// smb2.oplock.levelii500, brl1).
	for _, e := range r.State.Entries {
		if e.Oplock != openstate.OplockNone || e.Breaking {
			return true
		}
	}
	for _, l := range r.State.Leases {
		if l.State&openstate.CacheRead != 0 || l.Breaking {
			return true
		}
	}
	return false
}
