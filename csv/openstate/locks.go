package openstate

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// Byte-range locks ([MS-FSA] 2.1.5.7, 2.1.4.2).
//
// Locks belong to an open (a Handle), not to a process, and are keyed by
// the object's FileID like the ObjectTable. They live behind LockTable so
// that a cluster-wide (etcd-backed) table can replace the in-memory one;
// csvtest.TestLockTable is the contract both must pass.

var (
	// ErrLockConflict means a lock, or a READ/WRITE, conflicts with a
	// byte-range lock held through another open (or, for a write, a
	// shared lock held through any open). The server answers a LOCK with
	// STATUS_LOCK_NOT_GRANTED and a READ/WRITE with
	// STATUS_FILE_LOCK_CONFLICT.
	ErrLockConflict = errors.New("csv: byte-range lock conflict")
	// ErrRangeNotLocked means an unlock names no lock of its open with
	// exactly that offset and length.
	ErrRangeNotLocked = errors.New("csv: range not locked")
	// ErrInvalidLockRange means Offset+Length-1 overflows 64 bits.
	ErrInvalidLockRange = errors.New("csv: invalid lock range")
)

// LockRange is one byte range: Length bytes from Offset. A zero Length is
// legal; such a lock conflicts only with a lock of non-zero length that
// strictly contains its offset ([MS-FSA] 2.1.5.7, as Windows does).
type LockRange struct {
	Offset    uint64
	Length    uint64
	Exclusive bool
}

// Valid reports whether the range's last byte fits in 64 bits.
func (r LockRange) Valid() bool {
	return r.Length == 0 || r.Offset+(r.Length-1) >= r.Offset
}

// overlaps reports whether r and o cover a common byte. The last byte is
// Offset+Length-1, so a range may end at 2^64-1 without overflowing.
func (r LockRange) overlaps(o LockRange) bool {
	switch {
	case r.Length == 0 && o.Length == 0:
		return false
	case r.Length == 0:
		return o.Offset < r.Offset && r.Offset <= o.Offset+(o.Length-1)
	case o.Length == 0:
		return r.Offset < o.Offset && o.Offset <= r.Offset+(r.Length-1)
	}
	return r.Offset <= o.Offset+(o.Length-1) && o.Offset <= r.Offset+(r.Length-1)
}

// LockTable holds the byte-range locks of a volume's objects. Owners are
// opaque identifiers of opens, unique among the opens of an object.
type LockTable interface {
	// Lock grants every range in ranges to owner on object id, in order,
	// or none of them. A range conflicts with an overlapping exclusive
	// lock of another owner, and an exclusive range with any overlapping
	// lock of another owner or a shared one of its own (a shared range
	// may stack on an exclusive lock of the same owner). Ranges earlier in
	// the same call count as held. On conflict it returns ErrLockConflict
	// and a channel that is closed the next time a lock on the object is
	// released, for a blocking caller to retry on; the channel is taken
	// atomically with the check, so no release is missed.
	Lock(ctx context.Context, id, owner uint64, ranges []LockRange) (<-chan struct{}, error)
	// Unlock releases owner's lock with exactly r's offset and length
	// (an exclusive one before a shared one), or returns
	// ErrRangeNotLocked.
	Unlock(ctx context.Context, id, owner uint64, r LockRange) error
	// ReleaseOwner releases every lock owner holds on object id (the
	// open is closing) and wakes every waiter on the object, including
	// a blocking Lock of owner itself.
	ReleaseOwner(ctx context.Context, id, owner uint64) error
	// CheckIO returns ErrLockConflict when reading (or, with write set,
	// writing) length bytes at offset through owner conflicts with a
	// lock ([MS-FSA] 2.1.4.2). It is on the READ/WRITE path: when the
	// object has no locks it must cost no more than an atomic load.
	CheckIO(id, owner uint64, offset, length uint64, write bool) error
}

// heldLock is one granted lock.
type heldLock struct {
	owner uint64
	r     LockRange
}

// fileLocks is the lock list of one object.
type fileLocks struct {
	n       atomic.Int64 // len(locks), readable without mu
	mu      sync.Mutex
	locks   []heldLock
	changed chan struct{} // closed on a release; nil until someone waits
	dead    bool          // emptied and removed from the table's map
}

// MemoryLockTable is the single-node LockTable.
type MemoryLockTable struct {
	files sync.Map     // uint64 → *fileLocks
	nfile atomic.Int64 // entries in files: 0 lets CheckIO skip the map
}

// NewMemoryLockTable returns an empty in-memory lock table.
func NewMemoryLockTable() *MemoryLockTable { return &MemoryLockTable{} }

// lockFile returns id's lock list with its mutex held, creating it.
func (t *MemoryLockTable) lockFile(id uint64) *fileLocks {
	for {
		v, ok := t.files.Load(id)
		if !ok {
			var loaded bool
			if v, loaded = t.files.LoadOrStore(id, &fileLocks{}); !loaded {
				t.nfile.Add(1)
			}
		}
		f := v.(*fileLocks)
		f.mu.Lock()
		if !f.dead {
			return f
		}
		f.mu.Unlock()
	}
}

// released records that locks were dropped from f (f.mu held): waiters
// wake, and an empty list leaves the map.
func (t *MemoryLockTable) released(id uint64, f *fileLocks) {
	f.n.Store(int64(len(f.locks)))
	if f.changed != nil {
		close(f.changed)
		f.changed = nil
	}
	if len(f.locks) == 0 {
		f.dead = true
		t.files.Delete(id)
		t.nfile.Add(-1)
	}
}

// conflicts reports whether owner's new range r conflicts with held lock h.
func conflicts(h heldLock, owner uint64, r LockRange) bool {
	if !h.r.overlaps(r) {
		return false
	}
	if h.owner == owner {
		// Own locks: only an exclusive range over any of them conflicts
		// (a shared one stacks on the owner's exclusive lock).
		return r.Exclusive
	}
	return h.r.Exclusive || r.Exclusive
}

// Lock implements LockTable.
func (t *MemoryLockTable) Lock(_ context.Context, id, owner uint64, ranges []LockRange) (<-chan struct{}, error) {
	for _, r := range ranges {
		if !r.Valid() {
			return nil, ErrInvalidLockRange
		}
	}
	f := t.lockFile(id)
	defer f.mu.Unlock()
	base := len(f.locks)
	for _, r := range ranges {
		for _, h := range f.locks {
			if conflicts(h, owner, r) {
				clear(f.locks[base:])
				f.locks = f.locks[:base]
				if f.changed == nil {
					f.changed = make(chan struct{})
				}
				return f.changed, ErrLockConflict
			}
		}
		f.locks = append(f.locks, heldLock{owner: owner, r: r})
	}
	f.n.Store(int64(len(f.locks)))
	return nil, nil
}

// Unlock implements LockTable.
func (t *MemoryLockTable) Unlock(_ context.Context, id, owner uint64, r LockRange) error {
	if _, ok := t.files.Load(id); !ok {
		return ErrRangeNotLocked
	}
	f := t.lockFile(id)
	defer f.mu.Unlock()
	remove := func(i int) {
		f.locks = append(f.locks[:i], f.locks[i+1:]...)
		t.released(id, f)
	}
	shared := -1
	for i, h := range f.locks {
		if h.owner != owner || h.r.Offset != r.Offset || h.r.Length != r.Length {
			continue
		}
		if h.r.Exclusive {
			remove(i)
			return nil
		}
		if shared < 0 {
			shared = i
		}
	}
	if shared < 0 {
		if len(f.locks) == 0 && f.changed == nil {
			f.dead = true
			t.files.Delete(id)
			t.nfile.Add(-1)
		}
		return ErrRangeNotLocked
	}
	remove(shared)
	return nil
}

// ReleaseOwner implements LockTable.
func (t *MemoryLockTable) ReleaseOwner(_ context.Context, id, owner uint64) error {
	if _, ok := t.files.Load(id); !ok {
		return nil
	}
	f := t.lockFile(id)
	defer f.mu.Unlock()
	kept := f.locks[:0]
	for _, h := range f.locks {
		if h.owner != owner {
			kept = append(kept, h)
		}
	}
	if len(kept) == len(f.locks) {
		// Nothing held, but a blocking Lock of this owner may be
		// waiting: wake it so it sees its open is gone.
		if f.changed != nil {
			close(f.changed)
			f.changed = nil
		}
		return nil
	}
	clear(f.locks[len(kept):])
	f.locks = kept
	t.released(id, f)
	return nil
}

// CheckIO implements LockTable.
func (t *MemoryLockTable) CheckIO(id, owner uint64, offset, length uint64, write bool) error {
	if length == 0 || t.nfile.Load() == 0 {
		return nil
	}
	v, ok := t.files.Load(id)
	if !ok || v.(*fileLocks).n.Load() == 0 {
		return nil
	}
	f := v.(*fileLocks)
	r := LockRange{Offset: offset, Length: length}
	if !r.Valid() {
		r.Length = -offset // up to the last byte
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, h := range f.locks {
		if h.r.Length == 0 || !h.r.overlaps(r) {
			continue
		}
		// [MS-FSA] 2.1.4.2: a read conflicts with another open's
		// exclusive lock; a write also with any shared lock.
		if h.owner != owner && h.r.Exclusive || write && !h.r.Exclusive {
			return ErrLockConflict
		}
	}
	return nil
}

// LockTransferrer is implemented by lock tables that can hand every lock
// of one owner to another in one step: the adoption of a persistent
// handle keeps its byte ranges locked throughout ([MS-SMB2] 3.3.5.14:
// locks belong to the open, and a resumed open has them).
type LockTransferrer interface {
	// TransferLocks gives owner from's locks on object id to owner to
	// and returns their ranges.
	TransferLocks(ctx context.Context, id, from, to uint64) ([]LockRange, error)
}

// TransferLocks implements LockTransferrer.
func (t *MemoryLockTable) TransferLocks(_ context.Context, id, from, to uint64) ([]LockRange, error) {
	if _, ok := t.files.Load(id); !ok || from == to {
		return nil, nil
	}
	f := t.lockFile(id)
	defer f.mu.Unlock()
	var moved []LockRange
	for i := range f.locks {
		if f.locks[i].owner == from {
			f.locks[i].owner = to
			moved = append(moved, f.locks[i].r)
		}
	}
	return moved, nil
}

// LockSequence is one valid LockSequence bucket of an open ([MS-SMB2]
// 3.3.1.10 Open.LockSequenceArray): a resumed handle carries them, so a
// LOCK replayed after a failover is recognised.
type LockSequence struct {
	Index uint32 // 1..64
	Seq   uint8
}
