package openstate

import (
	"context"
	"time"
)

// ParentKey is the ParentLeaseKey an open carries: the key of the lease
// its client holds on the open's parent directory, from the CREATE's v2
// lease context ([MS-SMB2] 2.2.13.2.10, SMB2_LEASE_FLAG_PARENT_LEASE_KEY_SET).
// The zero value is "none".
type ParentKey struct {
	Key   [16]byte
	Valid bool
}

// ParentOf returns the ParentLeaseKey of an open request.
func ParentOf(e *OpenEntry) ParentKey {
	if e == nil || e.Lease == nil || !e.Lease.HasParent {
		return ParentKey{}
	}
	return ParentKey{Key: e.Lease.ParentKey, Valid: true}
}

// spares reports whether a change through an open carrying k leaves the
// lease with key l unbroken ([MS-FSA] 2.1.4.12.2 with PARENT_OBJECT).
func (k ParentKey) spares(l LeaseKey) bool { return k.Valid && k.Key == l.Key }

// BreakParent breaks every lease on the directory s to none because a
// child changed, except the lease exclude names. A read-only lease goes
// to none at once (no acknowledgment); a read-handle lease breaks with an
// acknowledgment required; a lease already breaking lowers the state its
// acknowledgment must reach, and the cascade continues after it
// (AckLease). Nothing waits for these breaks.
func (s *FileState) BreakParent(exclude ParentKey, now time.Time) []Break {
	var out []Break
	changed := false
	for i := range s.Leases {
		l := &s.Leases[i]
		if !parentBreaks(l, exclude) {
			continue
		}
		changed = true
		if b, ok := s.breakLease(l, CacheNone, now); ok {
			out = append(out, b)
		}
	}
	if changed {
		s.Gen++
	}
	return out
}

// parentBreaks reports whether a change to a child through an open
// carrying exclude still has to break lease l: it caches reads and is not
// already on its way to none.
func parentBreaks(l *LeaseRecord, exclude ParentKey) bool {
	if exclude.spares(l.Key) || l.State&CacheRead == 0 {
		return false
	}
	return !l.Breaking || l.Required&CacheRead != 0
}

// parentBreakNeeded reports whether BreakParent(exclude) would change s.
func (s *FileState) parentBreakNeeded(exclude ParentKey) bool {
	for i := range s.Leases {
		if parentBreaks(&s.Leases[i], exclude) {
			return true
		}
	}
	return false
}

// dirLeaseCount is the number of lease records on s if s is a directory.
func dirLeaseCount(s *FileState) int {
	if s == nil || !s.Directory {
		return 0
	}
	return len(s.Leases)
}

// DirectoryLeaseHint is implemented by object tables that can tell cheaply
// that no directory holds a lease. Then a change to a file does not look
// up its parent directory at all. A table without it is asked every time.
type DirectoryLeaseHint interface {
	// MayHoldDirectoryLeases reports false only when no directory holds
	// a lease.
	MayHoldDirectoryLeases() bool
}

// MayHoldDirectoryLeases implements DirectoryLeaseHint.
func (t *MemoryObjectTable) MayHoldDirectoryLeases() bool { return t.dirLeases.Load() > 0 }

// BreakParent implements ObjectTable.
func (t *MemoryObjectTable) BreakParent(_ context.Context, id uint64, exclude ParentKey) ([]Break, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur := t.objects[id]; cur == nil || !cur.parentBreakNeeded(exclude) {
		return nil, nil
	}
	var out []Break
	err := t.update(id, false, func(s *FileState) error {
		out = s.BreakParent(exclude, t.now())
		return nil
	})
	return out, err
}
