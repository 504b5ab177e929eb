package openstate

import "slices"

// Replicas: the cluster open-state service (csv/clusterstate) keeps the
// authoritative state of an object in one node's memory tables and copies
// it to the other nodes that hold opens of the object, so that a new
// coordinator can rebuild it when that node is lost. These methods take
// and install such copies; they are not part of the ObjectTable and
// LockTable contracts.

// HeldLock is one granted byte-range lock as a replica carries it.
type HeldLock struct {
	Owner uint64
	Range LockRange
}

// Snapshot returns a copy of the locks held on object id.
func (t *MemoryLockTable) Snapshot(id uint64) []HeldLock {
	v, ok := t.files.Load(id)
	if !ok {
		return nil
	}
	f := v.(*fileLocks)
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]HeldLock, len(f.locks))
	for i, h := range f.locks {
		out[i] = HeldLock{Owner: h.owner, Range: h.r}
	}
	return out
}

// Install replaces the locks of object id with locks and wakes every
// waiter on it (a replaced list may have released something).
func (t *MemoryLockTable) Install(id uint64, locks []HeldLock) {
	f := t.lockFile(id)
	defer f.mu.Unlock()
	f.locks = f.locks[:0]
	for _, h := range locks {
		f.locks = append(f.locks, heldLock{owner: h.Owner, r: h.Range})
	}
	t.released(id, f)
}

// Objects lists the objects that have locks.
func (t *MemoryLockTable) Objects() []uint64 {
	var ids []uint64
	t.files.Range(func(k, _ any) bool {
		ids = append(ids, k.(uint64))
		return true
	})
	return ids
}

// IOConflict reports whether a read (or, with write, a write) of length
// bytes at offset through owner conflicts with locks ([MS-FSA] 2.1.4.2),
// as MemoryLockTable.CheckIO decides it.
func IOConflict(locks []HeldLock, owner, offset, length uint64, write bool) bool {
	if length == 0 {
		return false
	}
	r := LockRange{Offset: offset, Length: length}
	if !r.Valid() {
		r.Length = -offset
	}
	for _, h := range locks {
		if h.Range.Length == 0 || !h.Range.overlaps(r) {
			continue
		}
		if h.Owner != owner && h.Range.Exclusive || write && !h.Range.Exclusive {
			return true
		}
	}
	return false
}

// Snapshot returns a deep copy of object id's state, and false when the
// object is not in the table.
func (t *MemoryObjectTable) Snapshot(id uint64) (FileState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.objects[id]
	if o == nil {
		return FileState{}, false
	}
	return *o.clone(), true
}

// HasPersistent reports whether object id has the entry of a persistent
// handle, without copying its state (the coordinator asks after every
// transition; clusterstate's standby).
func (t *MemoryObjectTable) HasPersistent(id uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o := t.objects[id]; o != nil {
		for _, e := range o.Entries {
			if e.Persistent {
				return true
			}
		}
	}
	return false
}

// Install replaces object id's state with s (an empty state removes it),
// gives it a new generation and wakes its waiters. It fails with
// ErrLeaseKeyInUse, installing nothing, when one of s's leases is held
// on another object of the table.
func (t *MemoryObjectTable) Install(id uint64, s FileState) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range s.Leases {
		if other, ok := t.leases[l.Key]; ok && other != id {
			return ErrLeaseKeyInUse
		}
	}
	if cur := t.objects[id]; cur != nil {
		t.dirLeases.Add(-int64(dirLeaseCount(cur)))
		for _, l := range cur.Leases {
			delete(t.leases, l.Key)
		}
	}
	n := s.clone()
	n.Entries = slices.Clone(s.Entries)
	if n.Opens == 0 && !n.DeletePending {
		delete(t.objects, id)
		t.changed(id, nil)
		return nil
	}
	t.objects[id] = n
	for _, l := range n.Leases {
		t.leases[l.Key] = id
	}
	t.dirLeases.Add(int64(dirLeaseCount(n)))
	t.changed(id, n)
	return nil
}

// Objects lists the objects in the table.
func (t *MemoryObjectTable) Objects() []uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := make([]uint64, 0, len(t.objects))
	for id := range t.objects {
		ids = append(ids, id)
	}
	return ids
}

// Gen returns object id's generation (0 when it is not in the table): a
// caller compares it around a transition to learn whether it changed
// anything.
func (t *MemoryObjectTable) Gen(id uint64) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o := t.objects[id]; o != nil {
		return o.Gen
	}
	return 0
}

// LeaseObject returns the object that holds lease key, if any: the
// cluster open-state service asks it before it lets a node that owns an
// object grant a new lease key on it alone.
func (t *MemoryObjectTable) LeaseObject(key LeaseKey) (uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	id, ok := t.leases[key]
	return id, ok
}

// StartGenerations makes the table's generations continue from base when
// it is above the current one: two tables whose objects move between
// them (csv/clusterstate's coordinator and delegates) use disjoint
// ranges, so a generation read from one never matches the other's.
func (t *MemoryObjectTable) StartGenerations(base uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if base > t.gen {
		t.gen = base
	}
}
