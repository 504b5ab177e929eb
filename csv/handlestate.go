package csv

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// CurrentLease returns the current state of lease key on h's object, or
// the state granted when h was opened when the object table cannot tell.
// It returns nil when the lease is gone.
func (h *Handle) CurrentLease(ctx context.Context, key LeaseKey) (*LeaseGrant, error) {
	r, ok := h.v.objects.(LeaseStateReader)
	if !ok {
		return h.grant.Lease, nil
	}
	g, held, err := r.LeaseState(ctx, h.f.id, key)
	if err != nil || !held {
		return nil, err
	}
	return &g, nil
}

// owner returns h's lock owner, assigning it on first use.
func (h *Handle) owner() uint64 {
	if o := h.lockOwner.Load(); o != 0 {
		return o
	}
	h.lockOwner.CompareAndSwap(0, lockOwners.Add(1))
	return h.lockOwner.Load()
}

// hasLocks reports whether h may hold locks (so Close must release them).
func (h *Handle) hasLocks() bool { return h.lockOwner.Load() != 0 }

// Lock takes ranges through h, all or none (see LockTable.Lock). On
// ErrLockConflict the channel is closed when a lock on the object is next
// released.
func (h *Handle) Lock(ctx context.Context, ranges []LockRange) (<-chan struct{}, error) {
	if h.closed.Load() {
		return nil, ErrClosed
	}
	ch, err := h.v.locks.Lock(ctx, h.f.id, h.owner(), ranges)
	if err == nil && h.closed.Load() {
		// Close ran concurrently and may have released before we took
		// them: release again so nothing outlives the open.
		h.v.locks.ReleaseOwner(ctx, h.f.id, h.owner())
		return nil, ErrClosed
	}
	return ch, err
}

// Unlock releases h's lock with exactly r's offset and length.
func (h *Handle) Unlock(ctx context.Context, r LockRange) error {
	if h.closed.Load() {
		return ErrClosed
	}
	return h.v.locks.Unlock(ctx, h.f.id, h.owner(), r)
}

// CheckIO returns ErrLockConflict when a read (or write) of length bytes
// at offset through h conflicts with a byte-range lock.
func (h *Handle) CheckIO(offset, length uint64, write bool) error {
	return h.v.locks.CheckIO(h.f.id, h.lockOwner.Load(), offset, length, write)
}

// releaseLocks drops h's locks; Close calls it.
func (h *Handle) releaseLocks(ctx context.Context) {
	if !h.hasLocks() {
		return
	}
	if err := h.v.locks.ReleaseOwner(ctx, h.f.id, h.owner()); err != nil {
		h.v.log.Warn().Err(err).Str("path", h.Path()).Msg("releasing byte-range locks")
	}
}

// LockReplayed implements the replay check of [MS-SMB2] 3.3.5.14 for
// bucket index (1..64; others are ignored) and sequence number seq: it
// reports true when the bucket holds seq (the LOCK was already done and
// succeeds again without effect); otherwise the bucket is invalidated
// until LockSequenceDone.
func (h *Handle) LockReplayed(index uint32, seq uint8) bool {
	if index < 1 || index > 64 {
		return false
	}
	ls := &h.lockSeq
	ls.mu.Lock()
	defer ls.mu.Unlock()
	bit := uint64(1) << (index - 1)
	if ls.valid&bit != 0 && ls.seq[index-1] == seq {
		return true
	}
	ls.valid &^= bit
	return false
}

// LockSequenceDone records a successful LOCK's bucket and sequence.
func (h *Handle) LockSequenceDone(index uint32, seq uint8) {
	if index < 1 || index > 64 {
		return
	}
	ls := &h.lockSeq
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.valid |= uint64(1) << (index - 1)
	ls.seq[index-1] = seq
}

// LockOwner is the owner of h's byte-range locks as its lock table knows
// it (the cluster-wide value where the table is a cluster's).
func (h *Handle) LockOwner() uint64 {
	return h.v.globalID(h.owner())
}

// TransferLocks gives the locks that owner from (a LockOwner of an open
// that h replaces) holds on h's object to h, and returns their ranges;
// none where the lock table cannot transfer.
func (h *Handle) TransferLocks(ctx context.Context, from uint64) ([]LockRange, error) {
	lt, ok := h.v.locks.(LockTransferrer)
	if !ok || from == 0 {
		return nil, nil
	}
	return lt.TransferLocks(ctx, h.f.id, from, h.owner())
}

// LockSequences returns h's valid buckets.
func (h *Handle) LockSequences() []LockSequence {
	ls := &h.lockSeq
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var out []LockSequence
	for i := range 64 {
		if ls.valid&(1<<i) != 0 {
			out = append(out, LockSequence{Index: uint32(i + 1), Seq: ls.seq[i]})
		}
	}
	return out
}

// Grant returns the oplock or lease granted when the handle was opened
// and the breaks its open started without waiting for them.
func (h *Handle) Grant() Grant { return h.grant }

// ObjectID is the object's id in the volume's object table.
func (h *Handle) ObjectID() uint64 { return h.f.id }

// OpenID is the handle's entry id in the object table (0 if it has none).
func (h *Handle) OpenID() uint64 { return h.openID }

// AckOplock acknowledges a break of the handle's oplock.
func (h *Handle) AckOplock(ctx context.Context, level uint8) (uint8, error) {
	return h.v.objects.AckOplock(ctx, h.f.id, h.openID, level)
}

// AckLease acknowledges a break of lease key on the handle's object.
func (h *Handle) AckLease(ctx context.Context, key LeaseKey, state uint32) ([]Break, error) {
	return h.v.objects.AckLease(ctx, h.f.id, key, state)
}

// BreakRead breaks the read caching of the object's other holders, as a
// write or end-of-file change through h does.
func (h *Handle) BreakRead(ctx context.Context) ([]Break, error) {
	if h.openID == 0 {
		return nil, nil
	}
	return h.v.objects.BreakRead(ctx, h.f.id, h.openID)
}

// BreakHandle breaks the handle caching of the object's other leases
// before a rename through h (see ObjectTable.BreakHandle).
func (h *Handle) BreakHandle(ctx context.Context) (breaks []Break, wait bool, gen uint64, err error) {
	if h.openID == 0 {
		return nil, false, 0, nil
	}
	return h.v.objects.BreakHandle(ctx, h.f.id, h.openID)
}

// BreakHandleAll breaks the handle caching of the object's other leases
// before delete is set pending through h (see ObjectTable.BreakHandleAll).
func (h *Handle) BreakHandleAll(ctx context.Context) (breaks []Break, wait bool, gen uint64, err error) {
	if h.openID == 0 {
		return nil, false, 0, nil
	}
	return h.v.objects.BreakHandleAll(ctx, h.f.id, h.openID)
}

// BreakPending reports whether a break of the handle's oplock or lease
// waits for its acknowledgment.
func (h *Handle) BreakPending(ctx context.Context) (bool, error) {
	if h.openID == 0 {
		return false, nil
	}
	return h.v.objects.BreakPending(ctx, h.f.id, h.openID)
}

// WaitObject blocks until object id's state moves past generation gen
// (see BreakWait) or ctx ends.
func (v *Volume) WaitObject(ctx context.Context, id, gen uint64) error {
	return v.objects.Wait(ctx, id, gen)
}

// ExpireBreaks completes the breaks on object id started at or before
// cutoff (the break acknowledgment timeout ran out).
func (v *Volume) ExpireBreaks(ctx context.Context, id uint64, cutoff time.Time) error {
	return v.objects.ExpireBreaks(ctx, id, cutoff)
}

// GlobalOpenID is h's entry id as its object table knows it: the
// cluster-wide value where the table is a cluster's (what a handle record
// names, so a survivor can supersede the entry).
func (h *Handle) GlobalOpenID() uint64 {
	if h.openID == 0 {
		return 0
	}
	return h.v.globalID(h.openID)
}

func (v *Volume) globalID(local uint64) uint64 {
	if g, ok := v.objects.(GlobalIDs); ok {
		return g.Global(local)
	}
	return local
}

// lockOwners hands out the lock owners of this process's handles.
var lockOwners atomic.Uint64

// lockSequences is an open's lockSequences ([MS-SMB2] 3.3.1.10,
// 3.3.5.14): for each of the 64 buckets, the sequence number of the last
// successful LOCK that named it. Later: a cluster-wide table must carry
// it with the durable handle so that a replay on another node is seen.
type lockSequences struct {
	mu    sync.Mutex
	valid uint64 // bit i-1: bucket i holds a sequence number
	seq   [64]uint8
}
