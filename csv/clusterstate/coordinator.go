package clusterstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"sofs.io/sofs/csv/openstate"
)

// coordinator holds the authoritative open state of every object of the
// cluster during one epoch. Transitions are applied one at a time (mu),
// and a transition is answered only after the other nodes holding opens of
// the object have its new replica (and the breaks addressed to them): so
// any state a client could have observed survives the loss of this node
// on at least the nodes whose clients observed it.
type coordinator struct {
	n     *Node
	epoch int64

	readyOnce sync.Once
	readyCh   chan struct{}
	closed    chan struct{}

	// rejoin bookkeeping while rebuilding.
	rmu      sync.Mutex
	joined   map[uint16]bool
	incoming map[string]map[uint64]replica

	// mu serialises transitions and their pushes; vmu guards vols alone,
	// so that CheckIO on the READ/WRITE path never waits behind a push.
	mu   sync.Mutex
	vmu  sync.Mutex
	vols map[string]*coordVol
	// nextDgen numbers delegations (delegate.go); guarded by mu.
	nextDgen uint64

	// gone are the slots this coordinator released because they left;
	// their calls are refused (ErrFenced) if they come back.
	gone sync.Map // uint16 → struct{}

	wmu        sync.Mutex
	nextWaiter uint64
	waiters    map[uint64]lockWaiter
}

// lockWaiter is the release a refused Lock waits for.
type lockWaiter struct {
	ch      <-chan struct{}
	expires time.Time
}

// lockWaiterTTL bounds how long an unclaimed lock waiter is kept.
const lockWaiterTTL = 10 * time.Minute

type coordVol struct {
	objects *openstate.MemoryObjectTable
	locks   *openstate.MemoryLockTable
	holders map[uint64]map[uint16]int
	version map[uint64]uint64
	// dirOn and dirVer are the volume's directory-lease flag as the
	// other nodes were last told (dirlease.go).
	dirOn  bool
	dirVer uint64
	// removers names, for each object whose last open closed with delete
	// pending, the node that removes it from the disk and then forgets
	// it; if that node is lost first, the object is forgotten for it.
	removers map[uint64]uint16
	// deleg names the objects delegated to a node (delegate.go).
	deleg map[uint64]delegRec
	// standby names, for each object with a persistent handle's entry
	// that no live node but this one would otherwise have a copy of, the
	// node that keeps its replica (standbyFor).
	standby map[uint64]uint16
}

func newCoordinator(n *Node, epoch int64) *coordinator {
	return &coordinator{
		n: n, epoch: epoch, readyCh: make(chan struct{}), closed: make(chan struct{}),
		joined: make(map[uint16]bool), incoming: make(map[string]map[uint64]replica),
		vols: make(map[string]*coordVol), waiters: make(map[uint64]lockWaiter),
	}
}

func (c *coordinator) isReady() bool {
	select {
	case <-c.readyCh:
		return true
	default:
		return false
	}
}

func (c *coordinator) close() {
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
}

func (c *coordinator) vol(key string) *coordVol {
	c.vmu.Lock()
	defer c.vmu.Unlock()
	cv := c.vols[key]
	if cv == nil {
		cv = &coordVol{objects: openstate.NewMemoryObjectTable(), locks: openstate.NewMemoryLockTable(),
			holders: make(map[uint64]map[uint16]int), version: make(map[uint64]uint64), removers: make(map[uint64]uint16),
			deleg: make(map[uint64]delegRec), standby: make(map[uint64]uint16)}
		c.vols[key] = cv
	}
	return cv
}

func (cv *coordVol) hold(obj uint64, slot uint16, d int) {
	m := cv.holders[obj]
	if m == nil {
		if d <= 0 {
			return
		}
		m = make(map[uint16]int)
		cv.holders[obj] = m
	}
	m[slot] += d
	if m[slot] <= 0 {
		delete(m, slot)
	}
	if len(m) == 0 {
		delete(cv.holders, obj)
	}
}

// hasEntry reports whether obj has an open entry id.
func (cv *coordVol) hasEntry(obj, id uint64) bool {
	st, ok := cv.objects.Snapshot(obj)
	if !ok {
		return false
	}
	for _, e := range st.Entries {
		if e.ID == id {
			return true
		}
	}
	return false
}

// replica builds obj's replica with a new version.
func (c *coordinator) replica(vol string, cv *coordVol, obj uint64) replica {
	cv.version[obj]++
	r := replica{Vol: vol, Obj: obj, Epoch: c.epoch, Version: cv.version[obj]}
	if st, ok := cv.objects.Snapshot(obj); ok {
		r.State = &st
	}
	r.Locks = cv.locks.Snapshot(obj)
	if h := cv.holders[obj]; len(h) > 0 {
		r.Holders = make(map[uint16]int, len(h))
		for k, v := range h {
			r.Holders[k] = v
		}
	}
	r.Standby = cv.standby[obj]
	if r.State == nil && len(r.Locks) == 0 && len(r.Holders) == 0 {
		delete(cv.version, obj)
	}
	return r
}

// standbyFor keeps the entries of persistent handles alive beyond this
// coordinator. A replica lives on the nodes that hold opens of its
// object; the coordinator's own opens therefore have no copy elsewhere,
// and a persistent handle held through the coordinator would lose its
// share mode, lease and locks with it, for the moments until a survivor
// adopts the handle from its record (any other open could get in
// meanwhile). So while obj has a persistent entry and no live node other
// than this one holds opens of it, one other live node, its standby,
// keeps the replica (replica.Standby; the rebuild after this node's loss
// keeps the persistent entries it finds, as it does for any lost node's).
// standbyFor updates obj's standby after a change and adds to want the
// nodes that must get the new replica for it: the standby, and a former
// standby, which then drops its copy. Call with c.mu held.
func (c *coordinator) standbyFor(cv *coordVol, obj uint64, want map[uint16]bool) {
	self := c.n.self
	old := cv.standby[obj]
	persistent := cv.objects.HasPersistent(obj)
	if old == 0 && !persistent {
		return // the common case: nothing to keep, nobody to tell
	}
	c.n.mu.Lock()
	v := c.n.view
	c.n.mu.Unlock()
	sb := uint16(0)
	if persistent {
		covered := false
		for s := range cv.holders[obj] {
			if s != self && v.live(s) {
				covered = true
			}
		}
		if !covered {
			if old != 0 && old != self && v.live(old) {
				sb = old
			} else {
				for s := range v.Members {
					if s != self && (sb == 0 || s < sb) {
						sb = s
					}
				}
			}
		}
	}
	if sb != 0 {
		cv.standby[obj] = sb
		want[sb] = true
	} else {
		delete(cv.standby, obj)
	}
	if old != 0 && old != sb && old != self && v.live(old) {
		want[old] = true
	}
}

// apply runs one transition for node from.
func (c *coordinator) apply(ctx context.Context, from uint16, req *opRequest) (*opReply, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cv := c.vol(req.Vol)
	// An object delegated to a node comes back before anything else
	// touches it (delegate.go).
	recalled, skip, err := c.recallFor(ctx, req, cv)
	if err != nil {
		return nil, err
	}
	if skip != nil {
		c.noteDirLeases(ctx, req.Vol, cv, skip)
		return skip, nil
	}
	gen0 := cv.objects.Gen(req.Obj)
	before := make(map[uint16]bool)
	for s := range cv.holders[req.Obj] {
		before[s] = true
	}
	rep := &opReply{}
	obj := req.Obj
	var superseded bool
	if req.Kind == opAcquire && req.Entry != nil && req.Entry.Supersedes != 0 {
		superseded = cv.hasEntry(obj, req.Entry.Supersedes)
	}
	var breaks []openstate.Break
	var lockCh <-chan struct{}
	breaks, lockCh, err = applyOp(ctx, cv.objects, cv.locks, req, rep)
	switch req.Kind {
	case opAcquire:
		if err == nil && rep.Wait == nil {
			cv.hold(obj, from, 1)
			if superseded {
				// The adopted entry's node (live when a handle is
				// handed over, absent when it was lost) no longer
				// counts it.
				cv.hold(obj, slotOf(req.Entry.Supersedes), -1)
			}
		}
	case opRelease:
		if err == nil {
			cv.hold(obj, from, -1)
			if rep.Last && rep.Pending {
				cv.removers[obj] = from
			}
		}
	case opForget:
		delete(cv.removers, obj)
	case opLock:
		if errors.Is(err, openstate.ErrLockConflict) && lockCh != nil {
			rep.LockWaiter = c.addWaiter(lockCh)
		}
	}
	if errors.Is(err, openstate.ErrLockConflict) {
		// A refused lock is an answer, not a failure: its waiter must
		// reach the caller (methodLockWait).
		rep.Conflict, err = true, nil
	}
	if err != nil {
		return nil, err
	}
	// Replicas go to every node that held opens before or holds them
	// now; breaks to the node of the open they name.
	changed := cv.objects.Gen(req.Obj) != gen0 || recalled
	switch req.Kind {
	case opLock, opUnlock, opReleaseOwner, opTransferLocks:
		changed = changed || err == nil
	case opAcquire, opRelease:
		changed = changed || err == nil
	}
	if changed || len(breaks) > 0 {
		breaks = c.distribute(ctx, req, cv, obj, from, before, breaks, rep)
	}
	if req.Kind == opAcquire && rep.Wait == nil {
		c.maybeDelegate(req, cv, from, rep)
	}
	c.noteDirLeases(ctx, req.Vol, cv, rep)
	switch {
	case rep.Wait != nil:
		rep.Wait.Breaks = breaks
	case req.Kind == opAcquire:
		rep.Grant.Breaks = breaks
	default:
		rep.Breaks = breaks
	}
	return rep, nil
}

// distribute sends obj's new replica to every node other than this one
// that held opens of it before or holds them now, and to the caller (in
// rep: it may hold locks of the object without opens of it;
// storeReplica keeps what it needs), and each break to its open's node.
// It returns the breaks addressed to the caller. On a node whose opens
// nobody else shares, it builds no replica at all.
func (c *coordinator) distribute(ctx context.Context, req *opRequest, cv *coordVol, obj uint64, from uint16, before map[uint16]bool, breaks []openstate.Break, rep *opReply) []openstate.Break {
	self := c.n.self
	want := make(map[uint16]bool, len(before)+2)
	for s := range before {
		want[s] = true
	}
	for s := range cv.holders[obj] {
		want[s] = true
	}
	want[from] = true
	c.standbyFor(cv, obj, want)
	delete(want, self)
	var r *replica
	if len(want) > 0 {
		rr := c.replica(req.Vol, cv, obj)
		r = &rr
	}
	targets := make(map[uint16]*pushRequest)
	add := func(s uint16) *pushRequest {
		p := targets[s]
		if p == nil {
			p = &pushRequest{Epoch: c.epoch}
			targets[s] = p
		}
		return p
	}
	for s := range want {
		add(s).Replicas = []replica{*r}
	}
	var mine []openstate.Break
	for _, b := range breaks {
		s := breakSlot(b, from)
		if s == from {
			mine = append(mine, b)
			continue
		}
		add(s).Breaks = append(add(s).Breaks, b)
	}
	if remote := len(breaks) - len(mine); remote > 0 && c.n.obs != nil {
		c.n.obs.RemoteBreaks(remote)
	}
	if from != self && r != nil {
		rep.Replica = r
	}
	delete(targets, from)
	if p := targets[self]; p != nil {
		c.n.queueBreaks(c.n.localBreaks(p.Breaks))
		delete(targets, self)
	}
	c.push(ctx, targets)
	return mine
}

// breakSlot is the node a break goes to: the node of its oplock's open,
// or for a lease the caller's node if one of the lease's opens is there,
// else the node of the first.
func breakSlot(b openstate.Break, from uint16) uint16 {
	if !b.IsLease {
		return slotOf(b.OpenID)
	}
	for _, id := range b.OpenIDs {
		if slotOf(id) == from {
			return from
		}
	}
	if len(b.OpenIDs) > 0 {
		return slotOf(b.OpenIDs[0])
	}
	return from
}

// pushTimeout bounds one push to a holder; a holder that cannot take it in
// time is about to lose its membership anyway.
const pushTimeout = 5 * time.Second

// push sends replicas and breaks to holders, in parallel, and waits.
func (c *coordinator) push(ctx context.Context, targets map[uint16]*pushRequest) {
	if len(targets) == 0 {
		return
	}
	c.n.mu.Lock()
	view := c.n.view
	c.n.mu.Unlock()
	var wg sync.WaitGroup
	for s, p := range targets {
		addr, ok := view.Members[s]
		if !ok {
			continue // gone: its opens are released when it leaves
		}
		wg.Add(1)
		go func(s uint16, addr string, p *pushRequest) {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pushTimeout)
			defer cancel()
			pc, err := c.n.tr.peer(pctx, s, addr)
			if err == nil {
				err = pc.do(pctx, methodPush, p, nil)
			}
			if err != nil {
				c.n.log.Warn().Err(err).Uint16("peer", s).Msg("open-state push to a holder failed")
			}
		}(s, addr, p)
	}
	wg.Wait()
}

func (c *coordinator) addWaiter(ch <-chan struct{}) uint64 {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	now := time.Now()
	for id, w := range c.waiters {
		if now.After(w.expires) {
			delete(c.waiters, id)
		}
	}
	c.nextWaiter++
	c.waiters[c.nextWaiter] = lockWaiter{ch: ch, expires: now.Add(lockWaiterTTL)}
	return c.nextWaiter
}

// lockWait waits for the release a refused Lock was told about.
func (c *coordinator) lockWait(ctx context.Context, id uint64) error {
	c.wmu.Lock()
	w, ok := c.waiters[id]
	delete(c.waiters, id)
	c.wmu.Unlock()
	if !ok {
		return nil // already fired or expired: the caller retries
	}
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closed:
		return errWrongEpoch
	}
}

// wait waits until obj's generation differs from gen.
func (c *coordinator) wait(ctx context.Context, vol string, obj, gen uint64) error {
	cv := c.vol(vol)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.closed:
			cancel()
		case <-wctx.Done():
		}
	}()
	return cv.objects.Wait(wctx, obj, gen)
}

func (c *coordinator) incomingSnapshot() map[string]map[uint64]replica {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	out := make(map[string]map[uint64]replica, len(c.incoming))
	for vol, objs := range c.incoming {
		out[vol] = objs
	}
	return out
}

// isGone reports whether slot s was released by this coordinator.
func (c *coordinator) isGone(s uint16) bool {
	_, ok := c.gone.Load(s)
	return ok
}

// rejoined merges one batch of a node's replicas while rebuilding.
func (c *coordinator) rejoined(from uint16, req rejoinRequest) error {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.isReady() {
		// A node that was not a member when the rebuild finished: it
		// cannot hold opens the coordinator does not know of, since it
		// could only have opened through this coordinator.
		return nil
	}
	c.mergeLocked(req.Replicas)
	if req.Last {
		c.joined[from] = true
	}
	return nil
}

func (c *coordinator) mergeLocked(rs []replica) {
	for _, r := range rs {
		objs := c.incoming[r.Vol]
		if objs == nil {
			objs = make(map[uint64]replica)
			c.incoming[r.Vol] = objs
		}
		if cur, ok := objs[r.Obj]; ok && (cur.Epoch > r.Epoch || cur.Epoch == r.Epoch && cur.Version >= r.Version) {
			continue
		}
		objs[r.Obj] = r
	}
}

// rebuild collects every live member's replicas, drops what belonged to
// nodes that are gone, installs the result and opens for business.
func (c *coordinator) rebuild(v View) {
	n := c.n
	n.repMu.Lock()
	var own []replica
	for _, objs := range n.reps {
		for _, r := range objs {
			own = append(own, *r)
		}
	}
	n.repMu.Unlock()
	c.rmu.Lock()
	c.mergeLocked(own)
	c.joined[n.self] = true
	c.rmu.Unlock()
	// Slots that are not live now lose what they held in the rebuild: if
	// one comes back (a node that was cut off re-registers), it must not
	// carry on with opens the cluster no longer knows.
	for _, objs := range c.incomingSnapshot() {
		for _, r := range objs {
			for s := range r.Holders {
				if !v.live(s) {
					c.gone.Store(s, struct{}{})
				}
			}
		}
	}
	start := time.Now()
	lastLog := start
	for {
		n.mu.Lock()
		cur := n.view
		n.mu.Unlock()
		if cur.Epoch != c.epoch {
			return
		}
		c.rmu.Lock()
		missing := 0
		for s := range cur.Members {
			if !c.joined[s] {
				missing++
			}
		}
		c.rmu.Unlock()
		if missing == 0 {
			c.install(cur)
			c.scheduleOrphanDrop()
			return
		}
		if time.Since(lastLog) > 5*time.Second {
			lastLog = time.Now()
			n.log.Warn().Int("missing", missing).Dur("waited", time.Since(start)).Msg("open-state rebuild waits for members to rejoin")
		}
		select {
		case <-c.closed:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// install builds the tables from the merged replicas, without the opens
// and locks of nodes that are not live, and opens for business.
func (c *coordinator) install(v View) {
	c.mu.Lock()
	c.rmu.Lock()
	incoming := c.incoming
	c.incoming = nil
	c.rmu.Unlock()
	pushes := make(map[uint16]*pushRequest)
	objects := 0
	for vol, objs := range incoming {
		cv := c.vol(vol)
		for obj, r := range objs {
			purge(&r, v, true)
			if r.State != nil {
				if err := cv.objects.Install(obj, *r.State); err != nil {
					c.n.log.Error().Err(err).Uint64("object", obj).Msg("open-state rebuild: conflicting lease; object dropped")
					continue
				}
			}
			if len(r.Locks) > 0 {
				cv.locks.Install(obj, r.Locks)
			}
			for s, k := range r.Holders {
				cv.hold(obj, s, k)
			}
			// A persistent entry kept from a lost node (the old
			// coordinator's, from its standby's copy) needs a standby
			// here too; the node that kept the copy learns whether it
			// still does.
			if r.Standby != 0 {
				cv.standby[obj] = r.Standby
			}
			want := make(map[uint16]bool)
			c.standbyFor(cv, obj, want)
			nr := c.replica(vol, cv, obj)
			objects++
			for s := range nr.Holders {
				want[s] = true
			}
			for s := range want {
				if s == c.n.self {
					continue
				}
				p := pushes[s]
				if p == nil {
					p = &pushRequest{Epoch: c.epoch}
					pushes[s] = p
				}
				p.Replicas = append(p.Replicas, nr)
			}
		}
	}
	c.push(c.n.ctx, pushes)
	for vol, cv := range c.vols {
		c.noteDirLeases(c.n.ctx, vol, cv, &opReply{})
	}
	c.mu.Unlock()
	c.readyOnce.Do(func() { close(c.readyCh) })
	c.n.setReady(c.epoch)
	c.n.log.Info().Int64("epoch", c.epoch).Int("objects", objects).Int("members", len(v.Members)).Msg("open-state coordinator ready")
}

// purge removes from r the opens, locks and holder counts of nodes that
// are not live in v. With keep, the entries of persistent handles stay,
// and with them their node's locks on the object: the handles wait for
// a survivor to adopt them (OpenEntry.Supersedes), and until then they
// keep their share modes, leases and byte ranges as a disconnected
// persistent open does on one server. They hold no node's count, so
// they are dropped by orphanTTL if nobody adopts them.
func purge(r *replica, v View, keep bool) {
	dead := func(s uint16) bool { return !v.live(s) }
	kept := make(map[uint16]bool)
	if r.State != nil {
		st := r.State
		entries := make(map[uint16]int) // a dead node's entries, released or kept
		for _, e := range append([]openstate.OpenRecord(nil), st.Entries...) {
			s := slotOf(e.ID)
			if !dead(s) {
				continue
			}
			entries[s]++
			if keep && e.Persistent {
				kept[s] = true
				continue
			}
			_ = st.Release(e.ID)
		}
		for s, k := range r.Holders {
			if dead(s) && k > entries[s] {
				// Count-only opens of the dead node (acquired without
				// an entry, such as a stream's hold on its base file).
				st.Opens -= k - entries[s]
			}
		}
		if st.Opens <= 0 && len(st.Entries) == 0 {
			r.State = nil
		}
	}
	locks := r.Locks[:0]
	for _, l := range r.Locks {
		if s := slotOf(l.Owner); !dead(s) || kept[s] {
			locks = append(locks, l)
		}
	}
	r.Locks = locks
	for s := range r.Holders {
		if dead(s) {
			delete(r.Holders, s)
		}
	}
}

// orphanTTL bounds how long the entry of a lost node's persistent handle
// waits for a survivor to adopt it. Adoption normally takes one etcd
// transaction and one open (well under a second); this only matters if
// no survivor can adopt (etcd unreachable, the record already gone), and
// then the file must not stay locked for ever.
const orphanTTL = 2 * time.Minute

// membersChanged releases what nodes that left held, while coordinating.
// Their persistent handles' entries stay until a survivor adopts them or
// orphanTTL passes.
func (c *coordinator) membersChanged(old, v View) {
	for s := range old.Members {
		if !v.live(s) {
			c.gone.Store(s, struct{}{})
		}
	}
	if !c.isReady() {
		return // the rebuild looks at the live members when it finishes
	}
	c.releaseDead(v, true)
	c.scheduleOrphanDrop()
}

// scheduleOrphanDrop drops, orphanTTL from now, the persistent entries
// of nodes that are still gone then and that nobody adopted.
func (c *coordinator) scheduleOrphanDrop() {
	t := time.AfterFunc(orphanTTL, func() {
		select {
		case <-c.closed:
			return
		default:
		}
		c.n.mu.Lock()
		v := c.n.view
		c.n.mu.Unlock()
		if v.Epoch != c.epoch {
			return
		}
		c.releaseDead(v, false)
	})
	go func() {
		<-c.closed
		t.Stop()
	}()
}

// releaseDead releases the opens, locks and counts of slots not live in
// v (keeping persistent entries with keep) and pushes the new replicas.
func (c *coordinator) releaseDead(v View, keep bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pushes := make(map[uint16]*pushRequest)
	c.vmu.Lock()
	vols := make(map[string]*coordVol, len(c.vols))
	for k, cv := range c.vols {
		vols[k] = cv
	}
	c.vmu.Unlock()
	for vol, cv := range vols {
		// Objects delegated to a lost node: only it held them, and its
		// opens of them are not persistent, so they go entirely; the
		// coordinator's copy is stale and must not come back.
		for obj, d := range cv.deleg {
			if !v.live(d.slot) {
				c.dropDelegated(cv, obj)
			}
		}
		touched := make(map[uint64]bool)
		for obj, h := range cv.holders {
			for s := range h {
				if !v.live(s) {
					touched[obj] = true
				}
			}
		}
		for _, obj := range cv.locks.Objects() {
			for _, l := range cv.locks.Snapshot(obj) {
				if !v.live(slotOf(l.Owner)) {
					touched[obj] = true
				}
			}
		}
		for _, obj := range cv.objects.Objects() {
			// Entries of dead nodes with no count left: kept persistent
			// ones (purge).
			if st, ok := cv.objects.Snapshot(obj); ok {
				for _, e := range st.Entries {
					if !v.live(slotOf(e.ID)) {
						touched[obj] = true
						break
					}
				}
			}
		}
		for obj, s := range cv.standby {
			if !v.live(s) {
				touched[obj] = true // a new standby
			}
		}
		for obj, s := range cv.removers {
			if !v.live(s) {
				// Lost between the last close and the removal: the
				// object stays on disk, and must not stay delete
				// pending for ever.
				if err := cv.objects.Forget(context.WithoutCancel(c.n.ctx), obj); err != nil {
					c.n.log.Warn().Err(err).Uint64("object", obj).Msg("forgetting an object its lost remover left delete pending")
				}
				delete(cv.removers, obj)
			}
		}
		for obj := range touched {
			r := replica{Vol: vol, Obj: obj, Locks: cv.locks.Snapshot(obj), Holders: map[uint16]int{}}
			if st, ok := cv.objects.Snapshot(obj); ok {
				r.State = &st
			}
			for s, k := range cv.holders[obj] {
				r.Holders[s] = k
			}
			purge(&r, v, keep)
			st := openstate.FileState{}
			if r.State != nil {
				st = *r.State
			}
			if err := cv.objects.Install(obj, st); err != nil {
				c.n.log.Error().Err(err).Uint64("object", obj).Msg("releasing a lost node's opens")
			}
			cv.locks.Install(obj, r.Locks)
			delete(cv.holders, obj)
			for s, k := range r.Holders {
				cv.hold(obj, s, k)
			}
			want := make(map[uint16]bool)
			c.standbyFor(cv, obj, want)
			nr := c.replica(vol, cv, obj)
			for s := range nr.Holders {
				want[s] = true
			}
			for s := range want {
				if s == c.n.self {
					continue
				}
				p := pushes[s]
				if p == nil {
					p = &pushRequest{Epoch: c.epoch}
					pushes[s] = p
				}
				p.Replicas = append(p.Replicas, nr)
			}
			c.n.log.Info().Uint64("object", obj).Msg("released the opens and locks of a node that left")
		}
	}
	c.push(c.n.ctx, pushes)
}

// decodeBody decodes a JSON body strictly, and checks a request that
// can check itself (validate.go).
func decodeBody(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", errFrame, err)
	}
	if c, ok := v.(validator); ok {
		if err := c.validate(); err != nil {
			return fmt.Errorf("%w: %T: %v", errFrame, v, err)
		}
	}
	return nil
}

// applyOp applies one transition to a pair of tables (the coordinator's,
// or a delegate's: delegate.go) and fills rep. It returns the breaks the
// transition started and, for a refused Lock, the channel that closes on
// the next release of the object.
func applyOp(ctx context.Context, objects *openstate.MemoryObjectTable, locks *openstate.MemoryLockTable, req *opRequest, rep *opReply) ([]openstate.Break, <-chan struct{}, error) {
	var err error
	var breaks []openstate.Break
	var ch <-chan struct{}
	obj := req.Obj
	switch req.Kind {
	case opAcquire:
		g, e := objects.Acquire(ctx, obj, req.Entry)
		var bw *openstate.BreakWait
		switch {
		case errors.As(e, &bw):
			rep.Wait = &breakWait{Object: bw.Object, Gen: bw.Gen}
			breaks = bw.Breaks
		case e != nil:
			err = e
		default:
			breaks, g.Breaks = g.Breaks, nil
			rep.Grant = g
		}
	case opRelease:
		rep.Last, rep.Pending, err = objects.Release(ctx, obj, req.OpenID)
	case opSetDeletePending:
		err = objects.SetDeletePending(ctx, obj, req.On, req.By)
	case opState:
		rep.State, err = objects.State(ctx, obj)
	case opForget:
		err = objects.Forget(ctx, obj)
	case opAckOplock:
		rep.Level, err = objects.AckOplock(ctx, obj, req.OpenID, req.Level)
	case opAckLease:
		breaks, err = objects.AckLease(ctx, obj, req.Key, req.State)
	case opBreakRead:
		breaks, err = objects.BreakRead(ctx, obj, req.OpenID)
	case opBreakHandle:
		breaks, rep.Waiting, rep.Gen, err = objects.BreakHandle(ctx, obj, req.OpenID)
	case opBreakHandleAll:
		breaks, rep.Waiting, rep.Gen, err = objects.BreakHandleAll(ctx, obj, req.OpenID)
	case opExpireBreaks:
		err = objects.ExpireBreaks(ctx, obj, req.Cutoff)
	case opBreakPending:
		rep.Held, err = objects.BreakPending(ctx, obj, req.OpenID)
	case opBreakParent:
		breaks, err = objects.BreakParent(ctx, obj, req.By)
	case opLeaseState:
		rep.Lease, rep.Held, err = objects.LeaseState(ctx, obj, req.Key)
	case opLock:
		ch, err = locks.Lock(ctx, obj, req.Owner, req.Ranges)
	case opUnlock:
		if len(req.Ranges) != 1 {
			return nil, nil, openstate.ErrInvalidParameter
		}
		err = locks.Unlock(ctx, obj, req.Owner, req.Ranges[0])
	case opReleaseOwner:
		err = locks.ReleaseOwner(ctx, obj, req.Owner)
	case opTransferLocks:
		rep.Ranges, err = locks.TransferLocks(ctx, obj, req.Owner, req.To)
	default:
		return nil, nil, fmt.Errorf("%w: op kind %d", errFrame, req.Kind)
	}
	return breaks, ch, err
}
