package clusterstate

import (
	"context"
	"errors"
	"time"

	"sofs.io/sofs/csv/openstate"
)

// Table is one volume's cluster-wide open state as csv sees it: it
// implements openstate.ObjectTable, openstate.LockTable and openstate.LeaseStateReader by
// sending each transition to the coordinator (a local call when this node
// coordinates). Volumes are named by a key every node agrees on (the
// share's backing path).
type Table struct {
	n   *Node
	vol string
}

var (
	_ openstate.GlobalIDs        = (*Table)(nil)
	_ openstate.LockTransferrer  = (*Table)(nil)
	_ openstate.ObjectTable      = (*Table)(nil)
	_ openstate.LockTable        = (*Table)(nil)
	_ openstate.LeaseStateReader = (*Table)(nil)
)

// Table returns the open-state table of volume key.
func (n *Node) Table(key string) *Table { return &Table{n: n, vol: key} }

// op sends req to the coordinator, retrying while there is none, it is
// rebuilding, or it was lost (the new one rebuilds from the replicas).
func (t *Table) op(ctx context.Context, req *opRequest) (*opReply, error) {
	n := t.n
	req.Vol = t.vol
	if rep, ok, err := n.localOp(ctx, req); ok {
		return rep, err
	}
	req.CanOwn = true
	deadline := time.Now().Add(n.limit)
	for attempt := 0; ; attempt++ {
		v, err := n.current(ctx, deadline)
		if err != nil {
			return nil, err
		}
		req.Epoch = v.Epoch
		var rep *opReply
		if v.Coordinator == n.self {
			var c *coordinator
			if c, err = n.coordinatorFor(v.Epoch); err == nil {
				rep, err = c.apply(ctx, n.self, req)
			}
		} else {
			rep = new(opReply)
			var p *peerConn
			if p, err = n.tr.peer(ctx, v.Coordinator, v.Members[v.Coordinator]); err == nil {
				err = p.do(ctx, methodOp, req, rep)
			}
		}
		if retryable(err) && ctx.Err() == nil && time.Now().Before(deadline) {
			n.waitChange(ctx, backoff(attempt))
			continue
		}
		n.fenced(err)
		if rep != nil && rep.Replica != nil {
			n.storeReplica(*rep.Replica)
		}
		if err == nil && rep != nil && v.Coordinator != n.self {
			n.dirs.learn(v.Epoch, t.vol, rep.DirVer, rep.DirOn)
			if rep.Deleg != 0 {
				n.takeDelegation(v.Epoch, t.vol, rep)
			}
		}
		return rep, err
	}
}

// retryable: errors after which the same call may go to a (new)
// coordinator: none was ready, or the connection to it was lost.
func retryable(err error) bool {
	return errors.Is(err, errWrongEpoch) || errors.Is(err, errNotReady) || errors.Is(err, errPeerLost)
}

// Acquire implements openstate.ObjectTable.
func (t *Table) Acquire(ctx context.Context, id uint64, e *openstate.OpenEntry) (openstate.Grant, error) {
	req := &opRequest{Kind: opAcquire, Obj: id}
	if e != nil {
		ge := *e
		ge.ID = t.n.global(e.ID)
		if e.Lease != nil {
			l := *e.Lease
			ge.Lease = &l
		}
		req.Entry = &ge
	}
	rep, err := t.op(ctx, req)
	if err != nil {
		return openstate.Grant{}, err
	}
	if rep.Wait != nil {
		return openstate.Grant{}, &openstate.BreakWait{Object: rep.Wait.Object, Gen: rep.Wait.Gen, Breaks: t.n.localBreaks(rep.Wait.Breaks)}
	}
	g := rep.Grant
	g.Breaks = t.n.localBreaks(g.Breaks)
	return g, nil
}

// Global implements openstate.GlobalIDs: the cluster-wide form of an entry id
// or lock owner this node chose.
func (t *Table) Global(local uint64) uint64 { return t.n.global(local) }

// TransferLocks implements openstate.LockTransferrer; from is a cluster-wide
// owner (of another node's open, or a lost one's), to this node's.
func (t *Table) TransferLocks(ctx context.Context, id, from, to uint64) ([]openstate.LockRange, error) {
	rep, err := t.op(ctx, &opRequest{Kind: opTransferLocks, Obj: id, Owner: from, To: t.n.global(to)})
	if err != nil {
		return nil, err
	}
	return rep.Ranges, nil
}

// Release implements openstate.ObjectTable.
func (t *Table) Release(ctx context.Context, id uint64, openID uint64) (bool, bool, error) {
	rep, err := t.op(ctx, &opRequest{Kind: opRelease, Obj: id, OpenID: t.n.global(openID)})
	if err != nil {
		return false, false, err
	}
	return rep.Last, rep.Pending, nil
}

// SetDeletePending implements openstate.ObjectTable.
func (t *Table) SetDeletePending(ctx context.Context, id uint64, on bool, by openstate.ParentKey) error {
	_, err := t.op(ctx, &opRequest{Kind: opSetDeletePending, Obj: id, On: on, By: by})
	return err
}

// State implements openstate.ObjectTable.
func (t *Table) State(ctx context.Context, id uint64) (openstate.ObjectState, error) {
	rep, err := t.op(ctx, &opRequest{Kind: opState, Obj: id})
	if err != nil {
		return openstate.ObjectState{}, err
	}
	return rep.State, nil
}

// Forget implements openstate.ObjectTable.
func (t *Table) Forget(ctx context.Context, id uint64) error {
	_, err := t.op(ctx, &opRequest{Kind: opForget, Obj: id})
	return err
}

// AckOplock implements openstate.ObjectTable.
func (t *Table) AckOplock(ctx context.Context, id, openID uint64, level uint8) (uint8, error) {
	rep, err := t.op(ctx, &opRequest{Kind: opAckOplock, Obj: id, OpenID: t.n.global(openID), Level: level})
	if err != nil {
		return 0, err
	}
	return rep.Level, nil
}

// AckLease implements openstate.ObjectTable.
func (t *Table) AckLease(ctx context.Context, id uint64, key openstate.LeaseKey, state uint32) ([]openstate.Break, error) {
	rep, err := t.op(ctx, &opRequest{Kind: opAckLease, Obj: id, Key: key, State: state})
	if err != nil {
		return nil, err
	}
	return t.n.localBreaks(rep.Breaks), nil
}

// BreakRead implements openstate.ObjectTable.
func (t *Table) BreakRead(ctx context.Context, id, openID uint64) ([]openstate.Break, error) {
	if !t.n.mayCache(t.vol, id) {
		return nil, nil
	}
	rep, err := t.op(ctx, &opRequest{Kind: opBreakRead, Obj: id, OpenID: t.n.global(openID)})
	if err != nil {
		return nil, err
	}
	return t.n.localBreaks(rep.Breaks), nil
}

// BreakHandle implements openstate.ObjectTable.
func (t *Table) BreakHandle(ctx context.Context, id, openID uint64) ([]openstate.Break, bool, uint64, error) {
	return t.breakHandle(ctx, opBreakHandle, id, openID)
}

// BreakHandleAll implements openstate.ObjectTable.
func (t *Table) BreakHandleAll(ctx context.Context, id, openID uint64) ([]openstate.Break, bool, uint64, error) {
	return t.breakHandle(ctx, opBreakHandleAll, id, openID)
}

func (t *Table) breakHandle(ctx context.Context, kind int, id, openID uint64) ([]openstate.Break, bool, uint64, error) {
	rep, err := t.op(ctx, &opRequest{Kind: kind, Obj: id, OpenID: t.n.global(openID)})
	if err != nil {
		return nil, false, 0, err
	}
	return t.n.localBreaks(rep.Breaks), rep.Waiting, rep.Gen, nil
}

// ExpireBreaks implements openstate.ObjectTable.
func (t *Table) ExpireBreaks(ctx context.Context, id uint64, cutoff time.Time) error {
	_, err := t.op(ctx, &opRequest{Kind: opExpireBreaks, Obj: id, Cutoff: cutoff})
	return err
}

// BreakPending implements openstate.ObjectTable.
func (t *Table) BreakPending(ctx context.Context, id, openID uint64) (bool, error) {
	rep, err := t.op(ctx, &opRequest{Kind: opBreakPending, Obj: id, OpenID: t.n.global(openID)})
	if err != nil {
		return false, err
	}
	return rep.Held, nil
}

// BreakParent implements openstate.ObjectTable.
func (t *Table) BreakParent(ctx context.Context, id uint64, exclude openstate.ParentKey) ([]openstate.Break, error) {
	rep, err := t.op(ctx, &opRequest{Kind: opBreakParent, Obj: id, By: exclude})
	if err != nil {
		return nil, err
	}
	return t.n.localBreaks(rep.Breaks), nil
}

// LeaseState implements openstate.LeaseStateReader.
func (t *Table) LeaseState(ctx context.Context, id uint64, key openstate.LeaseKey) (openstate.LeaseGrant, bool, error) {
	rep, err := t.op(ctx, &opRequest{Kind: opLeaseState, Obj: id, Key: key})
	if err != nil {
		return openstate.LeaseGrant{}, false, err
	}
	return rep.Lease, rep.Held, nil
}

// Wait implements openstate.ObjectTable. A lost coordinator ends the wait
// early: the caller retries its transition, which waits for the new one.
func (t *Table) Wait(ctx context.Context, id uint64, gen uint64) error {
	n := t.n
	if dv, o := n.dl.lookup(t.vol, id); o != nil && !o.gone.Load() {
		// A recall changes the local generation, which ends this wait;
		// the caller's retry then goes to the coordinator.
		if err := dv.objects.Wait(ctx, id, gen); ctx.Err() != nil {
			return err
		}
		return nil
	}
	v, err := n.current(ctx, time.Now().Add(n.limit))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return nil
	}
	if v.Coordinator == n.self {
		c, err := n.coordinatorFor(v.Epoch)
		if err != nil {
			return nil
		}
		err = c.wait(ctx, t.vol, id, gen)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return nil
	}
	p, err := n.tr.peer(ctx, v.Coordinator, v.Members[v.Coordinator])
	if err == nil {
		err = p.do(ctx, methodWait, waitRequest{Epoch: v.Epoch, Vol: t.vol, Obj: id, Gen: gen}, nil)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// Lock implements openstate.LockTable. The channel of a refused Lock closes
// when the coordinator sees a release on the object (or is lost, or ctx
// ends): the blocking caller retries either way.
func (t *Table) Lock(ctx context.Context, id, owner uint64, ranges []openstate.LockRange) (<-chan struct{}, error) {
	rep, err := t.op(ctx, &opRequest{Kind: opLock, Obj: id, Owner: t.n.global(owner), Ranges: ranges})
	if err != nil || !rep.Conflict {
		return nil, err
	}
	err = openstate.ErrLockConflict
	if rep.local {
		// A delegated object: its own table's wake-up, which a recall
		// also fires (the retry then goes to the coordinator).
		if rep.localCh != nil {
			return rep.localCh, err
		}
		ch := make(chan struct{})
		close(ch)
		return ch, err
	}
	ch := make(chan struct{})
	if rep == nil || rep.LockWaiter == 0 {
		close(ch)
		return ch, err
	}
	n := t.n
	n.mu.Lock()
	v := n.view
	n.mu.Unlock()
	go func() {
		defer close(ch)
		if v.Coordinator == n.self {
			if c, cerr := n.coordinatorFor(v.Epoch); cerr == nil {
				c.lockWait(ctx, rep.LockWaiter)
			}
			return
		}
		p, perr := n.tr.peer(ctx, v.Coordinator, v.Members[v.Coordinator])
		if perr == nil {
			p.do(ctx, methodLockWait, lockWaitRequest{Epoch: v.Epoch, Waiter: rep.LockWaiter}, nil)
		}
	}()
	return ch, err
}

// Unlock implements openstate.LockTable.
func (t *Table) Unlock(ctx context.Context, id, owner uint64, r openstate.LockRange) error {
	_, err := t.op(ctx, &opRequest{Kind: opUnlock, Obj: id, Owner: t.n.global(owner), Ranges: []openstate.LockRange{r}})
	return err
}

// ReleaseOwner implements openstate.LockTable.
func (t *Table) ReleaseOwner(ctx context.Context, id, owner uint64) error {
	_, err := t.op(ctx, &opRequest{Kind: opReleaseOwner, Obj: id, Owner: t.n.global(owner)})
	return err
}

// CheckIO implements openstate.LockTable without leaving the node: the
// coordinator checks its own table, every other node the replica the
// coordinator keeps current on each node holding opens of the object.
func (t *Table) CheckIO(id, owner uint64, offset, length uint64, write bool) error {
	n := t.n
	g := n.global(owner)
	if ok, err := n.delegatedCheckIO(t.vol, id, g, offset, length, write); ok {
		return err
	}
	n.mu.Lock()
	c := n.coord
	n.mu.Unlock()
	if c != nil && c.isReady() {
		c.vmu.Lock()
		cv := c.vols[t.vol]
		c.vmu.Unlock()
		if cv == nil {
			return nil
		}
		return cv.locks.CheckIO(id, g, offset, length, write)
	}
	if openstate.IOConflict(n.replicaLocks(t.vol, id), g, offset, length, write) {
		return openstate.ErrLockConflict
	}
	return nil
}
