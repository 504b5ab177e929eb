package openstate

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ObjectState is the shared state of one file or directory of a volume.
type ObjectState struct {
	// Opens counts the open handles on the object, on every node.
	Opens int
	// DeletePending is set by SetDeletePending or by closing a
	// delete-on-close handle; the object is removed when Opens reaches 0.
	DeletePending bool
	// Access is the union of the granted access of the opens acquired
	// with an entry.
	Access uint32
	// Denied is the union of the FILE_SHARE_* bits those opens do not
	// grant: what at least one of them refuses to share.
	Denied uint32
	// DeleteParent is the ParentLeaseKey of the open that last set delete
	// pending (SetDeletePending), for the directory lease break when the
	// object goes (dirlease.go).
	DeleteParent ParentKey
}

// ObjectTable holds the per-file open state of one volume, keyed by FileID:
// open counts, delete pending, share modes, oplocks and leases. The
// in-memory implementation serves one node; a cluster replaces it with one
// backed by etcd, which is why every method takes a context and may fail.
// Every method that changes an object applies one FileState transition
// atomically (see openstate.go), so the semantics are the same whichever
// node the opens come through.
type ObjectTable interface {
	// Acquire records one more open of id. With a nil entry it only counts
	// the open. With an entry it also checks share modes against the other
	// opens (ErrSharingViolation), starts the oplock and lease breaks the
	// open causes and, unless it must wait for them (a *BreakWait error,
	// errors.Is ErrBreakPending), grants the requested oplock or lease.
	// It fails with ErrDeletePending when delete is pending on id, so that
	// no new open can be made of an object about to disappear ([MS-FSA]
	// 2.1.5.1.2: STATUS_DELETE_PENDING), and with ErrLeaseKeyInUse when
	// the entry's lease key names a lease on another object. An open with
	// an entry waits (a *BreakWait without breaks) instead of failing
	// while a close is under way: after the last Release of a
	// delete-pending object, until Forget, and, on a retry, while a
	// break it may have waited for is still out (FileState.Acquire).
	Acquire(ctx context.Context, id uint64, e *OpenEntry) (Grant, error)
	// Release drops open openID (0 for one acquired without an entry) of
	// id, with its oplock and, if it was the lease's last open, its lease.
	// It reports whether it was the last open and whether delete was
	// pending then. When both are true the entry stays (still delete
	// pending, so Acquire keeps failing or waiting) until Forget, which
	// the caller calls once the object is gone from the disk; this closes
	// the window in which a new open could slip in before removal.
	Release(ctx context.Context, id uint64, openID uint64) (last, deletePending bool, err error)
	// SetDeletePending sets or clears delete pending on an open object;
	// by is the ParentLeaseKey of the open that does it (ObjectState's
	// DeleteParent).
	SetDeletePending(ctx context.Context, id uint64, on bool, by ParentKey) error
	// State returns the object's state; the zero state if it is not open.
	State(ctx context.Context, id uint64) (ObjectState, error)
	// Forget removes the entry of a deleted object.
	Forget(ctx context.Context, id uint64) error
	// AckOplock acknowledges the oplock break of open openID with the
	// level the client chose and returns the open's new level.
	AckOplock(ctx context.Context, id, openID uint64, level uint8) (uint8, error)
	// AckLease acknowledges a lease break; the returned breaks continue a
	// cascade (further breaks that arrived while it was breaking).
	AckLease(ctx context.Context, id uint64, key LeaseKey, state uint32) ([]Break, error)
	// BreakRead breaks every other holder's read caching to none, as a
	// write or an end-of-file change through open openID does.
	BreakRead(ctx context.Context, id, openID uint64) ([]Break, error)
	// BreakHandle breaks the handle caching of every other lease on id
	// before a rename through openID (when openID holds a lease). wait
	// tells whether some lease still holds H; then Wait on gen.
	BreakHandle(ctx context.Context, id, openID uint64) (breaks []Break, wait bool, gen uint64, err error)
	// BreakHandleAll is BreakHandle for setting delete pending through
	// openID: every other lease loses H whether or not openID holds one.
	BreakHandleAll(ctx context.Context, id, openID uint64) (breaks []Break, wait bool, gen uint64, err error)
	// ExpireBreaks revokes every oplock or lease of id whose break started
	// at or before cutoff and was never acknowledged.
	ExpireBreaks(ctx context.Context, id uint64, cutoff time.Time) error
	// Wait blocks until the object's generation differs from gen (any
	// transition), or ctx ends.
	Wait(ctx context.Context, id uint64, gen uint64) error
	// BreakPending reports whether a break of open openID's oplock or
	// lease waits for its acknowledgment (FileState.BreakPending).
	BreakPending(ctx context.Context, id, openID uint64) (bool, error)
	// BreakParent breaks the leases of directory id to none because one
	// of its children changed, sparing the lease whose key is exclude
	// (FileState.BreakParent). Nothing waits for these breaks.
	BreakParent(ctx context.Context, id uint64, exclude ParentKey) ([]Break, error)
}

// MemoryObjectTable is the single-node ObjectTable. Its zero value is not
// usable; call NewMemoryObjectTable.
type MemoryObjectTable struct {
	mu      sync.Mutex
	objects map[uint64]*FileState
	leases  map[LeaseKey]uint64 // lease key → object
	waiters map[uint64]chan struct{}
	gen     uint64 // table-wide, so a recreated object never repeats one
	now     func() time.Time
	// dirLeases counts the lease records held on directories: while it
	// is zero no change to a file needs to look up its parent directory
	// (MayHoldDirectoryLeases). Written under mu.
	dirLeases atomic.Int64
}

// NewMemoryObjectTable returns an empty in-memory table.
func NewMemoryObjectTable() *MemoryObjectTable {
	return &MemoryObjectTable{
		objects: make(map[uint64]*FileState),
		leases:  make(map[LeaseKey]uint64),
		waiters: make(map[uint64]chan struct{}),
		now:     time.Now,
	}
}

// changed stamps o with a new generation and wakes id's waiters. Call
// with t.mu held.
func (t *MemoryObjectTable) changed(id uint64, o *FileState) {
	t.gen++
	if o != nil {
		o.Gen = t.gen
	}
	if ch := t.waiters[id]; ch != nil {
		close(ch)
		delete(t.waiters, id)
	}
}

// update runs fn on a copy of id's state and stores it when fn succeeds
// or returns a *BreakWait (which also changes the state), waking waiters
// when the generation moved.
func (t *MemoryObjectTable) update(id uint64, create bool, fn func(s *FileState) error) error {
	cur := t.objects[id]
	if cur == nil {
		if !create {
			return fmt.Errorf("csv: object %#x: not open", id)
		}
		cur = &FileState{}
	}
	next := cur.clone()
	before := next.Gen
	err := fn(next)
	bw, waiting := err.(*BreakWait)
	if err != nil && next.Gen == before && !waiting {
		return err
	}
	if next.Gen != before {
		t.changed(id, next)
	}
	t.dirLeases.Add(int64(dirLeaseCount(next) - dirLeaseCount(cur)))
	if next.Opens == 0 && !next.DeletePending {
		delete(t.objects, id)
	} else {
		t.objects[id] = next
	}
	if waiting {
		bw.Object, bw.Gen = id, next.Gen
	}
	return err
}

// Acquire implements ObjectTable.
func (t *MemoryObjectTable) Acquire(_ context.Context, id uint64, e *OpenEntry) (Grant, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e != nil && e.Lease != nil {
		if other, ok := t.leases[e.Lease.Key]; ok && other != id {
			return Grant{}, fmt.Errorf("csv: acquire object %#x: %w", id, ErrLeaseKeyInUse)
		}
	}
	var g Grant
	err := t.update(id, true, func(s *FileState) error {
		var err error
		g, err = s.Acquire(e, t.now())
		return err
	})
	if err != nil {
		if _, ok := err.(*BreakWait); ok {
			return g, err
		}
		return g, fmt.Errorf("csv: acquire object %#x: %w", id, err)
	}
	if e != nil && e.Lease != nil {
		t.leases[e.Lease.Key] = id
	}
	return g, nil
}

// Release implements ObjectTable.
func (t *MemoryObjectTable) Release(_ context.Context, id uint64, openID uint64) (bool, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var last, pending bool
	err := t.update(id, false, func(s *FileState) error {
		var lease *LeaseKey
		if o := s.entry(openID); o != nil && o.HasLease {
			k := o.Lease
			lease = &k
		}
		if err := s.Release(openID); err != nil {
			return err
		}
		if lease != nil && s.lease(*lease) == nil {
			delete(t.leases, *lease)
		}
		last, pending = s.Opens == 0, s.DeletePending
		if last && pending {
			s.RemovalStarted = t.now().Round(0) // no monotonic reading: it travels in replicas
		}
		return nil
	})
	if err != nil {
		return false, false, fmt.Errorf("csv: release object %#x: %w", id, err)
	}
	return last, pending, nil
}

// SetDeletePending implements ObjectTable.
func (t *MemoryObjectTable) SetDeletePending(_ context.Context, id uint64, on bool, by ParentKey) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.objects[id]
	if o == nil || o.Opens <= 0 {
		return fmt.Errorf("csv: set delete pending on object %#x: not open", id)
	}
	if on {
		o.DeleteParent = by
	} else {
		o.DeleteParent = ParentKey{}
	}
	if o.DeletePending != on {
		o.DeletePending = on
		t.changed(id, o)
	}
	return nil
}

// State implements ObjectTable.
func (t *MemoryObjectTable) State(_ context.Context, id uint64) (ObjectState, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o := t.objects[id]; o != nil {
		st := ObjectState{Opens: o.Opens, DeletePending: o.DeletePending, DeleteParent: o.DeleteParent}
		for _, e := range o.Entries {
			st.Access |= e.Access
			st.Denied |= ^e.ShareAccess & (ShareRead | ShareWrite | ShareDelete)
		}
		return st, nil
	}
	return ObjectState{}, nil
}

// Forget implements ObjectTable.
func (t *MemoryObjectTable) Forget(_ context.Context, id uint64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o := t.objects[id]; o != nil && o.Opens == 0 {
		t.dirLeases.Add(-int64(dirLeaseCount(o)))
		delete(t.objects, id)
		t.changed(id, nil)
	}
	return nil
}

// AckOplock implements ObjectTable.
func (t *MemoryObjectTable) AckOplock(_ context.Context, id, openID uint64, level uint8) (uint8, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var got uint8
	err := t.update(id, false, func(s *FileState) error {
		var err error
		got, err = s.AckOplock(openID, level)
		return err
	})
	return got, err
}

// AckLease implements ObjectTable.
func (t *MemoryObjectTable) AckLease(_ context.Context, id uint64, key LeaseKey, state uint32) ([]Break, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Break
	err := t.update(id, false, func(s *FileState) error {
		var err error
		out, err = s.AckLease(key, state, t.now())
		return err
	})
	return out, err
}

// BreakRead implements ObjectTable.
func (t *MemoryObjectTable) BreakRead(_ context.Context, id, openID uint64) ([]Break, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Every WRITE comes here. When no other holder caches reads the
	// transition would change nothing, so skip the copy-on-write update:
	// this keeps the WRITE path free of allocations.
	if cur := t.objects[id]; cur != nil && !cur.readBreakNeeded(openID) {
		return nil, nil
	}
	var out []Break
	err := t.update(id, false, func(s *FileState) error {
		out = s.BreakRead(openID, t.now())
		return nil
	})
	return out, err
}

// BreakHandle implements ObjectTable.
func (t *MemoryObjectTable) BreakHandle(_ context.Context, id, openID uint64) ([]Break, bool, uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Break
	var wait bool
	var gen uint64
	err := t.update(id, false, func(s *FileState) error {
		out, wait = s.BreakHandle(openID, t.now())
		return nil
	})
	if o := t.objects[id]; o != nil {
		gen = o.Gen
	}
	return out, wait, gen, err
}

// BreakHandleAll implements ObjectTable.
func (t *MemoryObjectTable) BreakHandleAll(_ context.Context, id, openID uint64) ([]Break, bool, uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Break
	var wait bool
	var gen uint64
	err := t.update(id, false, func(s *FileState) error {
		out, wait = s.BreakHandleAll(openID, t.now())
		return nil
	})
	if o := t.objects[id]; o != nil {
		gen = o.Gen
	}
	return out, wait, gen, err
}

// ExpireBreaks implements ObjectTable.
func (t *MemoryObjectTable) ExpireBreaks(_ context.Context, id uint64, cutoff time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.objects[id] == nil {
		return nil
	}
	return t.update(id, false, func(s *FileState) error {
		s.ExpireBreaks(cutoff)
		return nil
	})
}

// BreakPending implements ObjectTable.
func (t *MemoryObjectTable) BreakPending(_ context.Context, id, openID uint64) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.objects[id]
	if o == nil {
		return false, nil
	}
	return o.BreakPending(openID), nil
}

// Wait implements ObjectTable.
func (t *MemoryObjectTable) Wait(ctx context.Context, id uint64, gen uint64) error {
	t.mu.Lock()
	var cur uint64
	if o := t.objects[id]; o != nil {
		cur = o.Gen
	}
	if cur != gen {
		t.mu.Unlock()
		return nil
	}
	ch := t.waiters[id]
	if ch == nil {
		ch = make(chan struct{})
		t.waiters[id] = ch
	}
	t.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
