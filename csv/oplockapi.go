package csv

import (
	"context"
	"time"
)

// entryID is the object-table id of an open request's entry (0: none).
func entryID(e *OpenEntry) uint64 {
	if e == nil {
		return 0
	}
	return e.ID
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

// GlobalIDs is implemented by object tables whose entry and lock-owner
// ids differ from the ones the volume chooses (a cluster's: they carry
// the node's slot).
type GlobalIDs interface {
	Global(local uint64) uint64
}

func (v *Volume) globalID(local uint64) uint64 {
	if g, ok := v.objects.(GlobalIDs); ok {
		return g.Global(local)
	}
	return local
}
