package csv

import (
	"context"
	"fmt"
	"sync"
)

// ObjectState is the shared state of one file or directory of a volume.
type ObjectState struct {
	// Opens counts the open handles on the object, on every node.
	Opens int
	// DeletePending is set by SetDeletePending or by closing a
	// delete-on-close handle; the object is removed when Opens reaches 0.
	DeletePending bool
}

// ObjectTable holds the per-file open state of one volume, keyed by FileID.
// The in-memory implementation serves one node; a cluster replaces it with
// one backed by etcd, which is why every method takes a context and may
// fail.
type ObjectTable interface {
	// Acquire records one more open of id. It fails with ErrDeletePending
	// when delete is pending on id, so that no new open can be made of an
	// object about to disappear ([MS-FSA] 2.1.5.1.2: STATUS_DELETE_PENDING).
	Acquire(ctx context.Context, id uint64) error
	// Release drops one open of id and reports whether it was the last one
	// and whether delete was pending then. When both are true the entry
	// stays (still delete pending, so Acquire keeps failing) until Forget,
	// which the caller calls once the object is gone from the disk; this
	// closes the window in which a new open could slip in before removal.
	Release(ctx context.Context, id uint64) (last, deletePending bool, err error)
	// SetDeletePending sets or clears delete pending on an open object.
	SetDeletePending(ctx context.Context, id uint64, on bool) error
	// State returns the object's state; the zero state if it is not open.
	State(ctx context.Context, id uint64) (ObjectState, error)
	// Forget removes the entry of a deleted object.
	Forget(ctx context.Context, id uint64) error
}

// MemoryObjectTable is the single-node ObjectTable. Its zero value is not
// usable; call NewMemoryObjectTable.
type MemoryObjectTable struct {
	mu      sync.Mutex
	objects map[uint64]*ObjectState
}

// NewMemoryObjectTable returns an empty in-memory table.
func NewMemoryObjectTable() *MemoryObjectTable {
	return &MemoryObjectTable{objects: make(map[uint64]*ObjectState)}
}

// Acquire implements ObjectTable.
func (t *MemoryObjectTable) Acquire(_ context.Context, id uint64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.objects[id]
	if o == nil {
		o = &ObjectState{}
		t.objects[id] = o
	}
	if o.DeletePending {
		return fmt.Errorf("csv: acquire object %#x: %w", id, ErrDeletePending)
	}
	o.Opens++
	return nil
}

// Release implements ObjectTable.
func (t *MemoryObjectTable) Release(_ context.Context, id uint64) (bool, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.objects[id]
	if o == nil || o.Opens <= 0 {
		return false, false, fmt.Errorf("csv: release object %#x: not open", id)
	}
	o.Opens--
	if o.Opens > 0 {
		return false, o.DeletePending, nil
	}
	if !o.DeletePending {
		delete(t.objects, id)
	}
	return true, o.DeletePending, nil
}

// SetDeletePending implements ObjectTable.
func (t *MemoryObjectTable) SetDeletePending(_ context.Context, id uint64, on bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.objects[id]
	if o == nil || o.Opens <= 0 {
		return fmt.Errorf("csv: set delete pending on object %#x: not open", id)
	}
	o.DeletePending = on
	return nil
}

// State implements ObjectTable.
func (t *MemoryObjectTable) State(_ context.Context, id uint64) (ObjectState, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o := t.objects[id]; o != nil {
		return *o, nil
	}
	return ObjectState{}, nil
}

// Forget implements ObjectTable.
func (t *MemoryObjectTable) Forget(_ context.Context, id uint64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o := t.objects[id]; o != nil && o.Opens == 0 {
		delete(t.objects, id)
	}
	return nil
}
