package openstate

import "context"

// LeaseStateReader is implemented by object tables that can report a
// lease's current state. A replayed CREATE answers with the lease as it
// stands now, not as it was granted ([MS-SMB2] 3.3.5.9.10: a lease
// upgraded by a later open shows its upgraded state).
type LeaseStateReader interface {
	// LeaseState returns the lease key holds on object id, and false when
	// it holds none there.
	LeaseState(ctx context.Context, id uint64, key LeaseKey) (LeaseGrant, bool, error)
}

// LeaseState implements LeaseStateReader.
func (t *MemoryObjectTable) LeaseState(_ context.Context, id uint64, key LeaseKey) (LeaseGrant, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.objects[id]
	if o == nil {
		return LeaseGrant{}, false, nil
	}
	l := o.lease(key)
	if l == nil {
		return LeaseGrant{}, false, nil
	}
	return LeaseGrant{State: l.State, Epoch: l.Epoch, Breaking: l.Breaking, ParentKey: l.ParentKey, HasParent: l.HasParent, Version: l.Version}, true, nil
}
