package smbserver

import (
	"context"
	"slices"
	"sync"
	"time"

	"sofs.io/sofs/csv"
)

// Handle records (csv.HandleStore): what lets a durable or persistent
// open outlive this process (restore.go brings them back).
//
// When a record is written:
//   - persistent open: before its CREATE is answered, again when its
//     client is lost or comes back (the disconnect time), and on every
//     granted LOCK or UNLOCK (its locks);
//   - durable (non-persistent) open: only when its client is lost, and it
//     is removed when the client comes back. The CREATE and CLOSE of a
//     durable open on a non-CA share never wait for the store.
//
// Removal on CLOSE or scavenging waits for the store at most
// closeDeleteWait, so a slow etcd never fails or stalls a CLOSE for long;
// a removal that did not complete is retried in the background, with
// backoff, until it does. Were the process to die first, the record comes
// back at restart as a disconnected open that nobody reclaims, and is
// scavenged (record included) when its timeout passes: a bounded delay,
// never a leak.
//
// Writes of one open's record are serialised by a stripe lock on its
// persistent id, so a retried removal can never land after a newer write
// of the same id.

const (
	// storeTimeout bounds one store round trip on a path that must
	// succeed (the CREATE of a persistent handle waits for it).
	storeTimeout = 10 * time.Second
	// closeDeleteWait bounds how long CLOSE waits for its record's
	// removal before leaving it to the background retry: long enough for
	// a healthy etcd (p99 is a few ms), short enough that a client's
	// CLOSE does not time out while etcd elects a leader.
	closeDeleteWait = time.Second
	// retryMin and retryMax bound the backoff of removal retries.
	retryMin = 200 * time.Millisecond
	retryMax = 30 * time.Second
	// recordStripes is the number of stripe locks: enough that unrelated
	// persistent CREATEs rarely wait on each other.
	recordStripes = 64
)

// recordSync is the state of record writes. The zero value is ready.
type recordSync struct {
	stripes [recordStripes]sync.Mutex

	mu      sync.Mutex
	pending map[uint64]string // persistent id -> path, removals to retry
	running bool              // the retry goroutine runs
}

func (r *recordSync) stripe(id uint64) *sync.Mutex { return &r.stripes[id%recordStripes] }

// pendingRemovals is the number of removals waiting for a retry (tests).
func (r *recordSync) pendingRemovals() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// handleStore returns the handle store: Config.HandleStore, or one in
// this process's memory.
func (s *Server) handleStore() csv.HandleStore {
	t := &s.dh
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.store == nil {
		t.store = s.cfg.HandleStore
		if t.store == nil {
			t.store = csv.NewMemoryHandleStore()
		}
	}
	return t.store
}

// handleOwner is the owner segment of this server's records.
func (s *Server) handleOwner() string {
	if s.cfg.HandleOwner != "" {
		return s.cfg.HandleOwner
	}
	return s.cfg.ServerName
}

// record returns d's record as it stands. Call with t.mu held.
func (s *Server) record(d *durableOpen) csv.HandleRecord {
	o := d.o
	rec := csv.HandleRecord{
		Persistent: o.id.Persistent, CreateGUID: d.createGUID, ClientGUID: d.clientGUID,
		AppInstance: d.appInstance, Share: d.share, Path: o.name, User: d.user, UserSID: d.userSID,
		Access: o.access, ShareAccess: d.shareAccess, Options: o.options,
		Timeout: d.timeout, Owner: s.handleOwner(), Disconnected: d.disconnectedAt,
		V2: d.v2, IsPersistent: d.persistent, Locks: slices.Clone(d.locks),
		Epoch: d.epoch,
	}
	if o.handle != nil {
		rec.OpenID, rec.LockOwner = o.handle.GlobalOpenID(), o.handle.LockOwner()
		rec.LockSeqs = o.handle.LockSequences()
	}
	rec.CreateAction = d.reply.CreateAction
	rec.ChannelSequence = uint16(o.csn.Load())
	// o.mu is a leaf lock: nothing holding it takes s.dh.mu.
	o.mu.Lock()
	rec.Position = o.position
	o.mu.Unlock()
	g := o.handle.Grant()
	rec.Oplock = g.Oplock
	if d.lease {
		rec.HasLease, rec.LeaseKey, rec.LeaseVersion = true, d.leaseKey, 1
		if g.Lease != nil {
			rec.LeaseState, rec.LeaseEpoch = g.Lease.State, g.Lease.Epoch
			if d.leaseAcked {
				rec.LeaseState = d.leaseState
			}
			rec.LeaseParent, rec.HasLeaseParent = g.Lease.ParentKey, g.Lease.HasParent
			if g.Lease.Version == 2 {
				rec.LeaseVersion = 2
			}
		}
	}
	return rec
}

// hasRecord reports whether o is a persistent open, whose record a CLOSE
// or LOCK updates in the store (a round trip: the request leaves the
// reader goroutine first, request.detachForRecord).
func (s *Server) hasRecord(o *open) bool {
	t := &s.dh
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.byOpen[o]
	return d != nil && d.persistent
}

// putRecord commits d's current record and returns once it is durable.
func (s *Server) putRecord(d *durableOpen) error {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	return s.putRecordCtx(ctx, d)
}

// putRecordCtx is putRecord within ctx.
func (s *Server) putRecordCtx(ctx context.Context, d *durableOpen) error {
	return s.putRecordIf(ctx, d, false)
}

// putLiveRecord is putRecordCtx for an open that is already in the
// durable table, skipped once the open has left it: a close (or a
// scavenge) racing the write then either sees no record or removes the
// one written here, because both hold the open's record stripe.
func (s *Server) putLiveRecord(ctx context.Context, d *durableOpen) error {
	return s.putRecordIf(ctx, d, true)
}

func (s *Server) putRecordIf(ctx context.Context, d *durableOpen, onlyLive bool) error {
	store := s.handleStore()
	id := d.o.id.Persistent
	mu := s.dh.recs.stripe(id)
	mu.Lock()
	defer mu.Unlock()
	s.dh.mu.Lock()
	if onlyLive && s.dh.byOpen[d.o] != d {
		s.dh.mu.Unlock()
		return nil
	}
	rec := s.record(d)
	s.dh.mu.Unlock()
	rs := &s.dh.recs
	rs.mu.Lock()
	delete(rs.pending, id) // this write supersedes an older removal
	rs.mu.Unlock()
	// A failed put may still have committed: the record may exist.
	d.stored = true
	return store.Put(ctx, rec)
}

// removeRecord removes d's record, waiting at most wait; what does not
// complete in time is retried in the background.
func (s *Server) removeRecord(d *durableOpen, wait time.Duration) {
	id := d.o.id.Persistent
	mu := s.dh.recs.stripe(id)
	mu.Lock()
	defer mu.Unlock()
	if !d.stored {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	err := s.handleStore().Delete(ctx, s.handleOwner(), id)
	cancel()
	if err == nil {
		d.stored = false
		return
	}
	s.log.Warn().Err(err).Str("path", d.o.name).Uint64("file_id", id).Msg("handle record not removed yet; retrying in the background")
	d.stored = false // the retry owns it now
	rs := &s.dh.recs
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.pending == nil {
		rs.pending = make(map[uint64]string)
	}
	rs.pending[id] = d.o.name
	if !rs.running {
		rs.running = true
		go s.retryRemovals()
	}
}

// removalPending reports whether the record of handle id is queued for
// removal: its handle is closed, and the record must not be restored or
// handed over meanwhile.
func (rs *recordSync) removalPending(id uint64) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	_, ok := rs.pending[id]
	return ok
}

// retryRemovals removes pending records until none is left, backing off
// while the store fails. It exits when the queue is empty, so an idle
// server runs no goroutine for it.
func (s *Server) retryRemovals() {
	rs := &s.dh.recs
	backoff := retryMin
	for {
		rs.mu.Lock()
		ids := make([]uint64, 0, len(rs.pending))
		for id := range rs.pending {
			ids = append(ids, id)
		}
		if len(ids) == 0 {
			rs.running = false
			rs.mu.Unlock()
			return
		}
		rs.mu.Unlock()
		failed := false
		for _, id := range ids {
			if !s.retryRemoval(id) {
				failed = true
			}
		}
		if !failed {
			backoff = retryMin
			continue
		}
		time.Sleep(backoff) // pacing a retry against a failing store, not synchronisation
		backoff = min(2*backoff, retryMax)
	}
}

// retryRemoval makes one attempt at a pending removal; it reports
// whether the id is off the queue.
func (s *Server) retryRemoval(id uint64) bool {
	rs := &s.dh.recs
	mu := rs.stripe(id)
	mu.Lock()
	defer mu.Unlock()
	rs.mu.Lock()
	path, ok := rs.pending[id]
	rs.mu.Unlock()
	if !ok {
		return true // superseded by a put
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	err := s.handleStore().Delete(ctx, s.handleOwner(), id)
	cancel()
	if err != nil {
		s.log.Warn().Err(err).Str("path", path).Uint64("file_id", id).Msg("handle record removal failed; will retry")
		return false
	}
	rs.mu.Lock()
	delete(rs.pending, id)
	rs.mu.Unlock()
	s.dh.mu.Lock()
	s.dh.event("removed")
	s.dh.mu.Unlock()
	s.log.Info().Str("path", path).Uint64("file_id", id).Msg("handle record removed after retry")
	return true
}

// reconnectedRecord brings a reclaimed open's record up to date: a
// persistent record loses its disconnect time, a durable one goes.
func (s *Server) reconnectedRecord(d *durableOpen) {
	if !d.persistent {
		s.removeRecord(d, closeDeleteWait)
		return
	}
	if err := s.putRecord(d); err != nil {
		s.log.Warn().Err(err).Str("path", d.o.name).Msg("persistent handle record not updated on reconnect")
	}
}

// closedRecord removes the record of a closed or scavenged open.
func (s *Server) closedRecord(d *durableOpen) {
	s.removeRecord(d, closeDeleteWait)
}

// durableLocked records byte-range locks granted (unlock false) or
// released (unlock true) through o; a persistent open's record is
// rewritten before the LOCK is answered ([MS-SMB2] 3.3.5.14: the locks
// are part of the state a persistent handle is resumed with).
func (s *Server) durableLocked(o *open, ranges []csv.LockRange, unlock bool) {
	t := &s.dh
	t.mu.Lock()
	d := t.byOpen[o]
	if d == nil {
		t.mu.Unlock()
		return
	}
	for _, r := range ranges {
		if !unlock {
			d.locks = append(d.locks, r)
			continue
		}
		// An unlock names a lock by offset and length ([MS-FSA]
		// 2.1.5.8); stacked locks of one range go one at a time.
		if i := slices.IndexFunc(d.locks, func(l csv.LockRange) bool { return l.Offset == r.Offset && l.Length == r.Length }); i >= 0 {
			d.locks = slices.Delete(d.locks, i, i+1)
		}
	}
	persistent := d.persistent
	t.mu.Unlock()
	if persistent {
		if err := s.putRecord(d); err != nil {
			s.log.Warn().Err(err).Str("path", o.name).Msg("persistent handle record not updated with its locks")
		}
	}
}

// durableLeaseAcked records the state a lease break was acknowledged
// with ([MS-SMB2] 3.3.5.22.2) for the lease's durable opens here, so a
// restore does not ask for caching the client gave up; a persistent
// open's record is rewritten before the acknowledgment is answered.
func (s *Server) durableLeaseAcked(key csv.LeaseKey, state uint32) {
	reg := s.ol
	reg.mu.Lock()
	opens := make([]*open, 0, len(reg.leases[key]))
	for o := range reg.leases[key] {
		opens = append(opens, o)
	}
	reg.mu.Unlock()
	var persistent []*durableOpen
	t := &s.dh
	t.mu.Lock()
	for _, o := range opens {
		if d := t.byOpen[o]; d != nil && d.lease {
			d.leaseState, d.leaseAcked = state, true
			if d.persistent {
				persistent = append(persistent, d)
			}
		}
	}
	t.mu.Unlock()
	for _, d := range persistent {
		if err := s.putRecord(d); err != nil {
			s.log.Warn().Err(err).Str("path", d.o.name).Msg("persistent handle record not updated with its lease state")
		}
	}
}
