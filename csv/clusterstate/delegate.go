package clusterstate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"sofs.io/sofs/csv/openstate"
)

// Delegation: an object whose only user is one node is owned by that node
// (docs/architecture.md, "Delegation"). When the coordinator grants an
// Acquire from node N after which N is the object's only holder, and the
// object has nothing that must stay at the coordinator (persistent
// entries, a break in progress, another node's locks, a directory lease),
// it delegates the object to N in the answer: the object's state travels
// with the grant, and N applies every later transition of it in its own
// memory tables, with no network round trip. The coordinator keeps the
// state as it was at the grant (its frozen copy) and touches it no more.
// When the coordinator must apply a transition of the object for another
// node (or for N itself, when N could not apply it alone), it first
// recalls the object: N gives the state back and forgets it; the
// coordinator installs it and carries on as without delegation.

// delegRec is the coordinator's record of one delegation.
type delegRec struct {
	slot uint16
	dgen uint64
}

// recallRequest asks a delegate for an object back.
type recallRequest struct {
	Epoch int64  `json:"epoch"`
	Vol   string `json:"vol"`
	Obj   uint64 `json:"obj"`
	Dgen  uint64 `json:"dgen"`
}

// recallReply is the object's state on the delegate. Held false means the
// delegate never installed the delegation (its grant was still in flight,
// or could not be installed): it applied nothing, so the coordinator's
// frozen copy is the state.
type recallReply struct {
	Held  bool                 `json:"held"`
	State *openstate.FileState `json:"state,omitempty"`
	Locks []openstate.HeldLock `json:"locks,omitempty"`
}

// maxTombstones bounds the recalls remembered whose grant had not
// arrived: a grant arrives within one call's time after its recall, or
// never (the call failed), so only the last few matter.
const maxTombstones = 4096

// delegations are the objects delegated to this node, in one epoch.
type delegations struct {
	// mu guards the maps and counters; lookups (every local transition
	// and every READ/WRITE's I/O check) only read.
	mu    sync.RWMutex
	epoch int64
	vols  map[string]*delegVol
	// recalled are delegations recalled before their grant arrived: the
	// grant must then not be installed.
	recalled map[uint64]struct{}
	// returning are idle delegations handed back whose hand-back the
	// coordinator has not confirmed: a recall of one answers it empty.
	returning map[uint64]struct{}
	count     int    // delegations held
	sweeping  bool   // a hand-back of idle delegations is under way
	swept     func() // tests: called after each sweep
}

// maxDelegated bounds the delegations a node holds. A delegation stays
// after its object's last close here, so that the next open is local too
// (a user reopening their files, a benchmark's open/close); beyond this
// many, idle ones (no open, no lock) are handed back, half at a time, and
// their next open pays one round trip again. The coordinator keeps a copy
// of each delegated object's state, so this also bounds its memory:
// 8192 objects per node is a generous working set of files used through
// one node alone, and a few MiB at the coordinator per node.
const maxDelegated = 8192

// delegGenBase starts a delegate's object generations far above any the
// coordinator's table reaches (it counts one per transition).
const delegGenBase = 1 << 62

// giveBackRequest hands idle delegations back to the coordinator.
type giveBackRequest struct {
	Epoch int64          `json:"epoch"`
	Vol   string         `json:"vol"`
	Objs  []giveBackItem `json:"objs"`
}

type giveBackItem struct {
	Obj  uint64 `json:"obj"`
	Dgen uint64 `json:"dgen"`
}

// delegVol holds one volume's delegated objects in the same memory tables
// the coordinator uses, so the transitions are the same code.
type delegVol struct {
	objects *openstate.MemoryObjectTable
	locks   *openstate.MemoryLockTable
	objs    map[uint64]*delegObj
}

// delegObj is one delegated object. mu serialises its local transitions
// with its recall; gone, set under mu and read without it by CheckIO,
// sends later calls to the coordinator.
type delegObj struct {
	mu   sync.Mutex
	dgen uint64
	ver  uint64 // the version of the replica that came with the grant
	gone atomic.Bool
	// keys are the lease keys the coordinator's frozen copy shows on the
	// object: a conflicting use of one elsewhere makes the coordinator
	// recall the object, so this node may grant them here alone.
	keys map[openstate.LeaseKey]bool
}

func (d *delegations) lookup(vol string, obj uint64) (*delegVol, *delegObj) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	dv := d.vols[vol]
	if dv == nil {
		return nil, nil
	}
	o := dv.objs[obj]
	if o == nil {
		return nil, nil
	}
	return dv, o
}

// mayApplyLocally reports whether a delegate may apply req alone.
func (o *delegObj) mayApplyLocally(dv *delegVol, req *opRequest) bool {
	switch req.Kind {
	case opAcquire:
		e := req.Entry
		if e == nil {
			return true
		}
		if e.Persistent || e.Supersedes != 0 {
			// Persistent entries live at the coordinator (they outlive
			// this node); an adoption names another node's entry.
			return false
		}
		if e.Lease != nil {
			if e.Directory {
				// Every node must learn that the volume holds
				// directory leases (dirlease.go).
				return false
			}
			if _, held := dv.objects.LeaseObject(e.Lease.Key); !held && !o.keys[e.Lease.Key] {
				// A new lease key may be held on another object of
				// another node: the coordinator checks.
				return false
			}
		}
	case opTransferLocks:
		// Locks of another node's open are not here.
		return slotOf(req.Owner) == slotOf(req.To)
	}
	return true
}

// localOp applies req on this node when it owns the object. ok false
// sends the call to the coordinator.
func (n *Node) localOp(ctx context.Context, req *opRequest) (rep *opReply, ok bool, err error) {
	dv, o := n.dl.lookup(req.Vol, req.Obj)
	if o == nil {
		return nil, false, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.gone.Load() || !o.mayApplyLocally(dv, req) {
		return nil, false, nil
	}
	rep = &opReply{local: true}
	breaks, ch, err := applyOp(ctx, dv.objects, dv.locks, req, rep)
	if errors.Is(err, openstate.ErrLockConflict) {
		rep.Conflict, rep.localCh, err = true, ch, nil
	}
	if err != nil {
		return nil, true, err
	}
	// Every open of the object is this node's: so are the breaks.
	switch {
	case rep.Wait != nil:
		rep.Wait.Breaks = breaks
	case req.Kind == opAcquire:
		rep.Grant.Breaks = breaks
	default:
		rep.Breaks = breaks
	}
	return rep, true, nil
}

// takeDelegation installs a delegation granted in the answer to a call
// made in epoch, unless it was recalled first.
func (n *Node) takeDelegation(epoch int64, vol string, rep *opReply) {
	r := rep.Replica
	if r == nil || r.State == nil {
		return
	}
	n.mu.Lock()
	cur := n.view.Epoch
	n.mu.Unlock()
	d := &n.dl
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.recalled[rep.Deleg]; ok {
		delete(d.recalled, rep.Deleg)
		return
	}
	if cur != epoch || d.epoch != epoch {
		return // the coordinator is gone; its successor knows nothing of it
	}
	if d.vols == nil {
		d.vols = make(map[string]*delegVol)
	}
	dv := d.vols[vol]
	if dv == nil {
		dv = &delegVol{objects: openstate.NewMemoryObjectTable(), locks: openstate.NewMemoryLockTable(), objs: make(map[uint64]*delegObj)}
		// Generations disjoint from the coordinator's: a caller that
		// waits on one table with the other's generation (a break wait
		// that crossed a grant or a recall) wakes at once and retries,
		// instead of waiting for an unrelated change.
		dv.objects.StartGenerations(delegGenBase)
		d.vols[vol] = dv
	}
	if old := dv.objs[r.Obj]; old != nil {
		// Not possible while the coordinator recalls before it
		// delegates again; keep the one installed.
		n.log.Error().Uint64("object", r.Obj).Uint64("dgen", rep.Deleg).Uint64("installed", old.dgen).Msg("delegation of an object already delegated here")
		return
	}
	if err := dv.objects.Install(r.Obj, *r.State); err != nil {
		// Not installed: the calls go to the coordinator, whose recall
		// finds nothing here and keeps its copy, which is the state.
		n.log.Warn().Err(err).Uint64("object", r.Obj).Msg("delegation not installed")
		return
	}
	dv.locks.Install(r.Obj, r.Locks)
	o := &delegObj{dgen: rep.Deleg, ver: r.Version, keys: make(map[openstate.LeaseKey]bool)}
	for _, l := range r.State.Leases {
		o.keys[l.Key] = true
	}
	dv.objs[r.Obj] = o
	d.count++
	if d.count > n.maxDeleg && !d.sweeping {
		d.sweeping = true
		go n.returnIdle(epoch, n.maxDeleg/2)
	}
}

// returnIdle hands idle delegations back until at most keep remain (or
// no idle one is left), then ends the sweep.
func (n *Node) returnIdle(epoch int64, keep int) {
	defer func() {
		n.dl.mu.Lock()
		n.dl.sweeping = false
		hook := n.dl.swept
		n.dl.mu.Unlock()
		if hook != nil {
			hook()
		}
	}()
	d := &n.dl
	d.mu.RLock()
	if d.epoch != epoch {
		d.mu.RUnlock()
		return
	}
	excess := d.count - keep
	type cand struct {
		vol string
		dv  *delegVol
		obj uint64
		o   *delegObj
	}
	var cands []cand
	for vol, dv := range d.vols {
		for obj, o := range dv.objs {
			if len(cands) >= excess {
				break
			}
			// Looks idle (checked again under the object's lock).
			if dv.objects.Gen(obj) == 0 && len(dv.locks.Snapshot(obj)) == 0 {
				cands = append(cands, cand{vol, dv, obj, o})
			}
		}
	}
	d.mu.RUnlock()
	byVol := make(map[string][]giveBackItem)
	for _, c := range cands {
		c.o.mu.Lock()
		_, open := c.dv.objects.Snapshot(c.obj)
		idle := !open && len(c.dv.locks.Snapshot(c.obj)) == 0 && !c.o.gone.Load()
		if idle {
			d.mu.Lock()
			if d.epoch == epoch && c.dv.objs[c.obj] == c.o {
				delete(c.dv.objs, c.obj)
				d.count--
				if d.returning == nil {
					d.returning = make(map[uint64]struct{})
				}
				d.returning[c.o.dgen] = struct{}{}
				c.o.gone.Store(true)
				byVol[c.vol] = append(byVol[c.vol], giveBackItem{Obj: c.obj, Dgen: c.o.dgen})
				// The replica of the grant is stale: no rejoin may
				// carry it.
				n.putReplica(replica{Vol: c.vol, Obj: c.obj})
			}
			d.mu.Unlock()
		}
		c.o.mu.Unlock()
	}
	for vol, items := range byVol {
		err := n.sendGiveBack(epoch, giveBackRequest{Epoch: epoch, Vol: vol, Objs: items})
		if err != nil {
			// The recall of one answers it empty until the epoch ends.
			n.log.Debug().Err(err).Int("objects", len(items)).Msg("handing idle delegations back failed")
			continue
		}
		d.mu.Lock()
		for _, it := range items {
			delete(d.returning, it.Dgen)
		}
		d.mu.Unlock()
	}
}

func (n *Node) sendGiveBack(epoch int64, req giveBackRequest) error {
	n.mu.Lock()
	v := n.view
	n.mu.Unlock()
	if v.Epoch != epoch {
		return errWrongEpoch
	}
	ctx, cancel := context.WithTimeout(n.ctx, pushTimeout)
	defer cancel()
	if v.Coordinator == n.self {
		return errWrongEpoch // this node does not delegate to itself
	}
	p, err := n.tr.peer(ctx, v.Coordinator, v.Members[v.Coordinator])
	if err != nil {
		return err
	}
	return p.do(ctx, methodGiveBack, req, nil)
}

// gaveBack takes idle delegations back: each that is still the current
// delegation of its object leaves the coordinator's tables entirely (its
// delegate holds nothing of it). One already recalled was answered empty.
func (c *coordinator) gaveBack(from uint16, req giveBackRequest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cv := c.vol(req.Vol)
	for _, it := range req.Objs {
		if d, ok := cv.deleg[it.Obj]; !ok || d.slot != from || d.dgen != it.Dgen {
			continue
		}
		delete(cv.deleg, it.Obj)
		if err := cv.objects.Install(it.Obj, openstate.FileState{}); err != nil {
			c.n.log.Error().Err(err).Uint64("object", it.Obj).Msg("emptying an object handed back")
		}
		cv.locks.Install(it.Obj, nil)
		delete(cv.holders, it.Obj)
		delete(cv.removers, it.Obj)
		delete(cv.version, it.Obj)
	}
}

// giveBack removes o from dv under o.mu and returns its state; the
// object's local waiters (breaks, blocking locks) wake and retry through
// the coordinator. The state is also kept as this node's replica (with
// the version of the grant, which the coordinator's next replica
// exceeds), so a WRITE checks the locks taken here until that replica
// arrives.
func (n *Node) giveBack(vol string, dv *delegVol, obj uint64, o *delegObj, epoch int64, version uint64) recallReply {
	o.mu.Lock()
	defer o.mu.Unlock()
	rep := recallReply{Held: true}
	if st, ok := dv.objects.Snapshot(obj); ok {
		rep.State = &st
	}
	rep.Locks = dv.locks.Snapshot(obj)
	r := replica{Vol: vol, Obj: obj, Epoch: epoch, Version: version, State: rep.State, Locks: rep.Locks}
	if rep.State != nil && rep.State.Opens > 0 {
		r.Holders = map[uint16]int{n.self: rep.State.Opens}
	}
	n.putReplica(r)
	o.gone.Store(true)
	if err := dv.objects.Install(obj, openstate.FileState{}); err != nil {
		n.log.Error().Err(err).Uint64("object", obj).Msg("emptying a delegated object")
	}
	dv.locks.Install(obj, nil)
	return rep
}

// putReplica stores r as this node's replica, whatever it held before.
func (n *Node) putReplica(r replica) {
	n.repMu.Lock()
	defer n.repMu.Unlock()
	n.putReplicaLocked(r)
}

// recalled serves the coordinator's recall of an object.
func (n *Node) recalled(from uint16, req recallRequest) (recallReply, error) {
	n.mu.Lock()
	ok := n.view.Epoch == req.Epoch && n.view.Coordinator == from
	n.mu.Unlock()
	if !ok {
		return recallReply{}, errWrongEpoch
	}
	d := &n.dl
	d.mu.Lock()
	if d.epoch != req.Epoch {
		d.mu.Unlock()
		return recallReply{}, errWrongEpoch
	}
	var o *delegObj
	dv := d.vols[req.Vol]
	if dv != nil {
		o = dv.objs[req.Obj]
	}
	if _, ok := d.returning[req.Dgen]; ok && o == nil {
		// Handed back idle, and the coordinator has not seen it yet.
		delete(d.returning, req.Dgen)
		d.mu.Unlock()
		return recallReply{Held: true}, nil
	}
	if o == nil || o.dgen != req.Dgen {
		// The grant has not arrived: it must not be installed when it
		// does. (A delegation is recalled before the object is
		// delegated again, so an installed one is the one recalled.)
		if len(d.recalled) >= maxTombstones {
			for k := range d.recalled {
				delete(d.recalled, k)
				break
			}
		}
		if d.recalled == nil {
			d.recalled = make(map[uint64]struct{})
		}
		d.recalled[req.Dgen] = struct{}{}
		d.mu.Unlock()
		return recallReply{}, nil
	}
	delete(dv.objs, req.Obj)
	d.count--
	d.mu.Unlock()
	return n.giveBack(req.Vol, dv, req.Obj, o, req.Epoch, o.ver), nil
}

// endDelegations ends every delegation when the epoch changes: their
// state becomes this node's replicas (newer than any other copy), which
// the rejoin hands to the new coordinator. Call before the rejoin.
func (n *Node) endDelegations(epoch int64) {
	d := &n.dl
	d.mu.Lock()
	old, vols := d.epoch, d.vols
	d.epoch, d.vols, d.recalled, d.returning, d.count = epoch, nil, nil, nil, 0
	d.mu.Unlock()
	for vol, dv := range vols {
		for obj, o := range dv.objs {
			// Above every version the old coordinator gave out: this is
			// the object's latest state.
			n.giveBack(vol, dv, obj, o, old, 1<<62)
		}
	}
}

// delegatedCheckIO checks a READ or WRITE against a delegated object's
// locks; ok false when the object is not delegated here.
func (n *Node) delegatedCheckIO(vol string, id, owner, offset, length uint64, write bool) (ok bool, err error) {
	dv, o := n.dl.lookup(vol, id)
	if o == nil {
		return false, nil
	}
	err = dv.locks.CheckIO(id, owner, offset, length, write)
	if o.gone.Load() {
		// Recalled meanwhile: the locks may have been emptied before
		// the check; the replica has them.
		return false, nil
	}
	return true, err
}

// Coordinator side.

// recallFor brings back, before req is applied, the object it names if
// another node owns it, and the object holding the lease key an Acquire
// requests if that one is delegated. skip, when set, is the whole answer:
// a directory's parent-lease break on a delegated object, which holds no
// directory lease, breaks nothing.
func (c *coordinator) recallFor(ctx context.Context, req *opRequest, cv *coordVol) (recalled bool, skip *opReply, err error) {
	if _, ok := cv.deleg[req.Obj]; ok {
		if st, ok := cv.objects.Snapshot(req.Obj); req.Kind == opBreakParent && ok && st.Directory {
			return false, &opReply{}, nil
		}
		if err := c.recall(ctx, req.Vol, cv, req.Obj); err != nil {
			return false, nil, err
		}
		recalled = true
	}
	if req.Kind == opAcquire && req.Entry != nil && req.Entry.Lease != nil {
		if other, ok := cv.objects.LeaseObject(req.Entry.Lease.Key); ok && other != req.Obj {
			if _, ok := cv.deleg[other]; ok {
				if err := c.recall(ctx, req.Vol, cv, other); err != nil {
					return false, nil, err
				}
			}
		}
	}
	return recalled, nil, nil
}

// recall takes obj back from its delegate and installs its state. Call
// with c.mu held. A delegate that cannot answer fails the transition with
// a retryable error: it answers, or it leaves the cluster and its objects
// are dropped (releaseDead).
func (c *coordinator) recall(ctx context.Context, vol string, cv *coordVol, obj uint64) error {
	d := cv.deleg[obj]
	c.n.mu.Lock()
	addr, live := c.n.view.Members[d.slot]
	c.n.mu.Unlock()
	if !live {
		c.dropDelegated(cv, obj)
		return nil
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pushTimeout)
	defer cancel()
	var rep recallReply
	pc, err := c.n.tr.peer(pctx, d.slot, addr)
	if err == nil {
		err = pc.do(pctx, methodRecall, recallRequest{Epoch: c.epoch, Vol: vol, Obj: obj, Dgen: d.dgen}, &rep)
	}
	if err != nil {
		c.n.log.Warn().Err(err).Uint16("delegate", d.slot).Uint64("object", obj).Msg("recall of a delegated object failed")
		return fmt.Errorf("%w: recall from node %d: %v", errNotReady, d.slot, err)
	}
	delete(cv.deleg, obj)
	if !rep.Held {
		return nil // the frozen copy is the state
	}
	st := openstate.FileState{}
	if rep.State != nil {
		st = *rep.State
	}
	if err := cv.objects.Install(obj, st); err != nil {
		c.n.log.Error().Err(err).Uint64("object", obj).Msg("recalled object has a lease key held elsewhere; object dropped")
		st = openstate.FileState{}
		_ = cv.objects.Install(obj, st)
	}
	cv.locks.Install(obj, rep.Locks)
	delete(cv.holders, obj)
	delete(cv.removers, obj)
	if st.Opens > 0 {
		cv.hold(obj, d.slot, st.Opens)
	} else if st.DeletePending {
		// Its last open closed there, which removes the file and then
		// forgets the object.
		cv.removers[obj] = d.slot
	}
	return nil
}

// dropDelegated forgets everything about obj, delegated to a node that
// is gone. Call with c.mu held.
func (c *coordinator) dropDelegated(cv *coordVol, obj uint64) {
	delete(cv.deleg, obj)
	if err := cv.objects.Install(obj, openstate.FileState{}); err != nil {
		c.n.log.Error().Err(err).Uint64("object", obj).Msg("dropping an object of a lost delegate")
	}
	cv.locks.Install(obj, nil)
	delete(cv.holders, obj)
	delete(cv.removers, obj)
	delete(cv.version, obj)
	c.n.log.Info().Uint64("object", obj).Msg("dropped an object delegated to a node that left")
}

// maybeDelegate delegates obj to from after a granted Acquire when from
// is its only user and nothing about it must stay here. Call with c.mu
// held, after distribute (rep.Replica is the state the delegate gets).
func (c *coordinator) maybeDelegate(req *opRequest, cv *coordVol, from uint16, rep *opReply) {
	obj := req.Obj
	if from == c.n.self || !req.CanOwn || rep.Replica == nil || c.n.noDeleg {
		return
	}
	if _, ok := cv.deleg[obj]; ok {
		return
	}
	if h := cv.holders[obj]; len(h) != 1 || h[from] == 0 {
		return
	}
	if _, ok := cv.removers[obj]; ok {
		return
	}
	st, ok := cv.objects.Snapshot(obj)
	if !ok {
		return
	}
	for _, e := range st.Entries {
		if e.Persistent || e.Breaking || slotOf(e.ID) != from {
			return
		}
	}
	for _, l := range st.Leases {
		if l.Breaking {
			return // someone may wait here for its acknowledgment
		}
	}
	if st.Directory && len(st.Leases) > 0 {
		return
	}
	for _, l := range cv.locks.Snapshot(obj) {
		if slotOf(l.Owner) != from {
			return
		}
	}
	c.nextDgen++
	cv.deleg[obj] = delegRec{slot: from, dgen: c.nextDgen}
	rep.Deleg = c.nextDgen
}
