package smbserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/wire"
)

// Takeover: a durable or persistent handle served by one node resumes on
// another ([MS-SMB2] 3.3.5.9.7, 3.3.5.9.12 on a scale-out server; the
// brief's rules 2 and 5).
//
// A handle's record (csv.HandleRecord) names its owner node. It changes
// owner only through HandleStore.Claim, an atomic move that, from a node
// other than the owner, commits only once the owner's membership is gone.
// So at any moment exactly one node may serve a handle, and it is the
// one whose name the record carries.
//
//   - A lost node's handles are adopted by the survivors (Adopt, called by
//     sofsd when the node's membership ends): each record is claimed by
//     one survivor, which opens the file again superseding the lost
//     open's entry (csv.OpenEntry.Supersedes) and taking over its locks
//     (csv.Handle.TransferLocks). The cluster's open state kept that
//     entry, with its share mode, lease and locks, for the adopter
//     (clusterstate's purge), so no other open can slip in between.
//   - A reconnect (DHnC, DH2C) that reaches a node without the handle
//     asks the cluster where it is (HandleLocator): a live owner yields it
//     (Yield: it moves the record to the asking node and drops its own
//     copy of the open without closing it in the cluster), a lost one's
//     record is claimed at once; either way the asking node then restores
//     it as a disconnected open and the reconnect proceeds as on one
//     server.

// HandleLocator finds and moves durable handles between nodes. sofsd
// implements it over etcd (the records) and the node-to-node channel.
type HandleLocator interface {
	// Locate names the owner of the record of persistent FileId id and
	// whether that owner is a live member; found is false when there is
	// no record.
	Locate(ctx context.Context, id uint64) (owner string, alive, found bool, err error)
	// LocateCreate returns the persistent FileId of the handle whose
	// CreateGuid is guid, wherever it is; found is false when none.
	LocateCreate(ctx context.Context, guid [16]byte) (id uint64, found bool, err error)
	// Yield asks owner, a live node, to hand the handle over to this
	// one: on success its record names this node.
	Yield(ctx context.Context, owner string, id uint64) error
}

// reconnectWait bounds how long a reconnect waits for the handle to
// reach this node: long enough for a lost owner's lease to expire (the
// default TTL is 5 s, and etcd may renew a lease for a full TTL after a
// leader change), short enough to answer before a client gives up.
const reconnectWait = 15 * time.Second

// ErrHandleBusy: the handle is in use by a connected client on its node
// and is not handed over (Yield).
var ErrHandleBusy = errors.New("smbserver: handle is connected on its node")

// fetchHandle brings the durable handle with persistent FileId id to
// this server for a reconnect that did not find it here. It reports
// whether the handle is now in the durable table.
func (c *conn) fetchHandle(r *request, id uint64) bool {
	s := c.srv
	loc := s.cfg.Handles
	if loc == nil || id == 0 {
		return false
	}
	// The first answer is usually quick; a lost owner's lease can take
	// seconds to end, so the wait leaves the reader and goes async.
	r.detach()
	ctx, cancel := context.WithTimeout(r.ctx, reconnectWait)
	defer cancel()
	log := s.log.With().Uint64("file_id", id).Logger()
	// A handle still connected on its node is usually one whose client
	// has just dropped that connection and the node has not noticed yet:
	// worth a short wait, not the whole one.
	busyUntil := time.Now().Add(2 * time.Second)
	for attempt := 0; ; attempt++ {
		if s.HasDurable(id) {
			return true
		}
		owner, alive, found, err := loc.Locate(ctx, id)
		switch {
		case err != nil:
			log.Debug().Err(err).Msg("reconnect: locating the handle")
		case !found:
			log.Debug().Msg("reconnect: no node has the handle")
			return false
		case owner == s.handleOwner():
			// Adopted here meanwhile (look again), or a record this node
			// claimed but could not restore yet: try again.
			if attempt > 0 && !s.HasDurable(id) {
				if _, err := s.adoptOne(ctx, owner, id); err != nil {
					log.Debug().Err(err).Msg("reconnect: restoring this node's own record")
				}
			}
		case !alive:
			ok, err := s.adoptOne(ctx, owner, id)
			if err != nil {
				log.Warn().Err(err).Str("owner", owner).Msg("reconnect: adopting a lost node's handle")
			} else if ok {
				log.Info().Str("from", owner).Msg("reconnect: adopted a lost node's handle")
				return s.HasDurable(id)
			}
		default:
			err := loc.Yield(ctx, owner, id)
			if errors.Is(err, ErrHandleBusy) && time.Now().After(busyUntil) {
				log.Info().Str("owner", owner).Msg("reconnect: the handle's client is still connected on its node; not handed over")
				return false
			}
			if errors.Is(err, ErrHandleBusy) {
				log.Debug().Str("owner", owner).Msg("reconnect: handle still connected on its node")
			} else if err == nil {
				ok, err := s.adoptOne(ctx, s.handleOwner(), id)
				if ok {
					log.Info().Str("from", owner).Msg("reconnect: handle handed over by its node")
					return s.HasDurable(id)
				}
				if err != nil {
					log.Warn().Err(err).Str("owner", owner).Msg("reconnect: restoring a handed-over handle")
				}
			} else {
				// The owner may be dead without the cluster knowing
				// yet: wait for its membership to end.
				ev := log.Debug()
				if attempt%20 == 10 {
					// Still failing after seconds: worth an operator's
					// eye (a live owner that will not hand over).
					ev = log.Warn()
				}
				ev.Err(err).Str("owner", owner).Int("attempt", attempt).Msg("reconnect: owner did not hand the handle over")
			}
		}
		if attempt == 3 {
			if err := c.goAsync(r); err != nil {
				return false
			}
		}
		select {
		case <-ctx.Done():
			ok := s.HasDurable(id)
			if !ok {
				log.Info().Dur("waited", reconnectWait).Msg("reconnect: the handle did not reach this node in time")
			}
			return ok
		case <-time.After(backoffFor(attempt)):
		}
	}
}

// backoffFor is the wait before a reconnect looks for its handle again:
// short, because every moment after the owner's lease ends is pause the
// client sees.
func backoffFor(attempt int) time.Duration {
	d := 25 * time.Millisecond << min(attempt, 3)
	return min(d, 200*time.Millisecond)
}

// HasDurable reports whether this server holds durable handle id.
func (s *Server) HasDurable(id uint64) bool {
	t := &s.dh
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byPersistent != nil && t.byPersistent[id] != nil
}

// Adopt takes over the durable and persistent handles of owner, a node
// that left the cluster: every record this server manages to claim is
// restored as a disconnected open waiting for its client (which may
// reconnect through any node). Records other nodes claim first are
// theirs. Call it on every survivor when a node's membership ends.
func (s *Server) Adopt(ctx context.Context, owner string) (RestoreStats, error) {
	var st RestoreStats
	if owner == "" || owner == s.handleOwner() {
		return st, nil
	}
	recs, err := s.handleStore().List(ctx, owner)
	if err != nil && !errors.Is(err, csv.ErrBadHandleRecord) {
		return st, fmt.Errorf("smbserver: list %s's handle records: %w", owner, err)
	}
	for _, rec := range recs {
		ok, err := s.adoptOne(ctx, owner, rec.Persistent)
		switch {
		case err != nil:
			st.Failed++
			s.log.Warn().Err(err).Str("owner", owner).Uint64("file_id", rec.Persistent).Msg("adopting a handle")
		case ok:
			st.Restored++
		}
	}
	if st.Restored > 0 || st.Failed > 0 {
		s.log.Info().Str("from", owner).Int("adopted", st.Restored).Int("failed", st.Failed).Msg("took over a lost node's handles")
	}
	return st, nil
}

// RestoreClaimed restores the handles whose records name this server but
// which it does not serve: an adoption or a hand-over claimed the record
// and its restore failed for a reason that may pass (the cluster's open
// state being rebuilt, a break not yet resolved). Without another try
// such a handle would wait for a reconnect through this very node, or
// for the hand-over a reconnect elsewhere asks for (Yield). sofsd calls
// it with every adoption round.
func (s *Server) RestoreClaimed(ctx context.Context) (RestoreStats, error) {
	var st RestoreStats
	recs, err := s.handleStore().List(ctx, s.handleOwner())
	if err != nil && !errors.Is(err, csv.ErrBadHandleRecord) {
		return st, fmt.Errorf("smbserver: list this node's handle records: %w", err)
	}
	for _, rec := range recs {
		if s.HasDurable(rec.Persistent) || s.opens.get(rec.Persistent) != nil {
			continue // served here (connected, or being created)
		}
		ok, err := s.adoptOne(ctx, s.handleOwner(), rec.Persistent)
		switch {
		case err != nil:
			st.Failed++
		case ok:
			st.Restored++
		}
	}
	if st.Restored > 0 || st.Failed > 0 {
		s.log.Info().Int("restored", st.Restored).Int("failed", st.Failed).Msg("handles this node had claimed but not restored: tried again")
	}
	return st, nil
}

// adoptOne claims the record of handle id from owner (which may be this
// server, after a hand-over) and restores it. It reports whether the
// handle is now served here; a record whose handle cannot be restored is
// removed, as at a restart.
func (s *Server) adoptOne(ctx context.Context, owner string, id uint64) (bool, error) {
	if !s.dh.beginAdopt(id) {
		// Served here already, or being adopted or handed over by
		// another call: that one decides.
		return s.HasDurable(id), nil
	}
	defer s.dh.endAdopt(id)
	if owner == s.handleOwner() && s.dh.recs.removalPending(id) {
		return false, nil // closed here; its record is on its way out
	}
	store := s.handleStore()
	rec, ok, err := store.Claim(ctx, owner, id, s.handleOwner())
	if err != nil || !ok {
		return false, err
	}
	log := s.log.With().Uint64("file_id", id).Str("share", rec.Share).Str("path", rec.Path).Logger()
	reason, err := s.restoreOne(ctx, rec, time.Now())
	if err == nil {
		log.Info().Str("from", owner).Uint64("epoch", rec.Epoch).Bool("persistent", rec.IsPersistent).Msg("handle adopted; waiting for its client")
		return true, nil
	}
	switch reason {
	case "expired", "share gone", "file gone":
		// Nothing a client could come back to.
		log.Info().Err(err).Str("reason", reason).Msg("adopted handle not restored; removing its record")
		dctx, cancel := context.WithTimeout(ctx, storeTimeout)
		defer cancel()
		if derr := store.Delete(dctx, s.handleOwner(), id); derr != nil {
			return false, fmt.Errorf("remove unusable record: %w", derr)
		}
		return false, nil
	}
	// Perhaps only for now (the open state rebuilding, a conflict that
	// a break will resolve): the record stays here, and the next
	// reconnect or adoption round tries again.
	log.Warn().Err(err).Str("reason", reason).Msg("adopted handle not restored yet; its record is kept")
	return false, fmt.Errorf("restore %016x: %s: %w", id, reason, err)
}

// Yield hands durable handle id over to node to, for its client's
// reconnect there: the record moves to to, and this server drops its copy
// of the open without closing it in the cluster (to supersedes the entry
// and takes over the locks). A handle whose client is connected here is
// not handed over (ErrHandleBusy): its client is not the one reconnecting.
func (s *Server) Yield(ctx context.Context, id uint64, to string) error {
	t := &s.dh
	t.mu.Lock()
	var d *durableOpen
	if t.byPersistent != nil {
		d = t.byPersistent[id]
	}
	if d != nil && !d.disconnected {
		t.mu.Unlock()
		return ErrHandleBusy
	}
	t.mu.Unlock()
	if d == nil {
		return s.yieldRecord(ctx, id, to)
	}
	// The record must be current before it moves (locks, lease state).
	mu := t.recs.stripe(id)
	if err := s.putLiveRecord(ctx, d); err != nil {
		return fmt.Errorf("update record before hand-over: %w", err)
	}
	mu.Lock()
	t.mu.Lock()
	still := t.byOpen[d.o] == d && d.disconnected
	if still {
		// Off the table first, so no reconnect or scavenge here races the
		// move, and marked as moving, so no second hand-over does.
		s.forgetDurableLocked(d)
		if t.markLocked(id) {
			defer t.endAdopt(id)
		}
	}
	t.mu.Unlock()
	if !still {
		mu.Unlock()
		if s.HasDurable(id) && !s.disconnectedDurable(id) {
			return ErrHandleBusy // its client came back here meanwhile
		}
		return nil // handed to another node meanwhile: the asker looks again
	}
	_, ok, err := s.handleStore().Claim(ctx, s.handleOwner(), id, to)
	d.stored = false
	mu.Unlock()
	if err != nil || !ok {
		// The record did not move: this server keeps serving it.
		s.dh.add(d)
		s.dh.mu.Lock()
		d.timer = time.AfterFunc(d.timeout, func() { s.durableExpired(d) })
		s.dh.mu.Unlock()
		d.stored = true
		if err == nil {
			err = errors.New("record not found")
		}
		return fmt.Errorf("move record to %s: %w", to, err)
	}
	s.detachOpen(d.o)
	s.log.Info().Uint64("file_id", id).Str("to", to).Msg("handle handed over for its client's reconnect")
	return nil
}

// errAdoptingHere: a hand-over asked for a handle whose restore, move or
// close here is under way; the asker asks again.
var errAdoptingHere = errors.New("smbserver: the handle is being restored, moved or closed on this node")

// yieldRecord is Yield for a handle this server does not serve. Its
// record may still name this server: an adoption or a hand-over claimed
// it and the restore failed (a conflict the cluster had not resolved
// yet, a volume not ready). Nobody else may claim a live node's record,
// so unless it moves from here the client's reconnect waits in vain
// however often it asks: the record goes to the asker, which restores it
// for its client as it restores any handed-over handle. A record of
// another node is none of this server's business: the asker looks again.
func (s *Server) yieldRecord(ctx context.Context, id uint64, to string) error {
	if !s.dh.beginAdopt(id) {
		// Being restored, moved or closed, or served here by now: the
		// asker asks again and meets the outcome.
		return errAdoptingHere
	}
	defer s.dh.endAdopt(id)
	if s.dh.recs.removalPending(id) {
		// Closed here; its record goes as soon as the store answers.
		return errAdoptingHere
	}
	if s.opens.get(id) != nil {
		// An open of this id lives here without being in the durable
		// table yet: a persistent CREATE between storing its record and
		// granting the handle. It is this node's; the asker asks again
		// and then meets the handle itself.
		return errAdoptingHere
	}
	rec, ok, err := s.handleStore().Claim(ctx, s.handleOwner(), id, to)
	if err != nil {
		return fmt.Errorf("move this node's unrestored record to %s: %w", to, err)
	}
	if ok {
		s.log.Info().Uint64("file_id", id).Str("to", to).Str("path", rec.Path).
			Msg("handed over a handle record this node had claimed but not restored")
	}
	return nil
}

// disconnectedDurable reports whether durable handle id is here and waits
// for its client.
func (s *Server) disconnectedDurable(id uint64) bool {
	t := &s.dh
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.byPersistent[id]
	return d != nil && d.disconnected
}

// forgetDurableLocked removes d from the durable table. Call with s.dh.mu
// held.
func (s *Server) forgetDurableLocked(d *durableOpen) {
	t := &s.dh
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	o := d.o
	delete(t.byOpen, o)
	if t.byPersistent[o.id.Persistent] == d {
		delete(t.byPersistent, o.id.Persistent)
	}
	k := createKey{d.clientGUID, d.createGUID}
	if d.v2 && t.byCreate[k] == d {
		delete(t.byCreate, k)
	}
}

// detachOpen drops an open that another node adopts: this server's
// tables forget it and its file descriptor closes, but its entry, lease
// and locks stay in the cluster's tables for the adopter.
func (s *Server) detachOpen(o *open) {
	if ok, _ := s.retire(o, false); !ok {
		return
	}
	if o.handle != nil {
		if err := o.handle.Detach(); err != nil {
			s.log.Warn().Err(err).Str("path", o.name).Msg("detach failed")
		}
	}
}

// fetchCreate brings here the handle that another node serves under the
// CreateGuid of a DH2Q, before the CREATE looks it up ([MS-SMB2]
// 3.3.5.9.10: a replay returns that open; any other CREATE with its
// CreateGuid is a duplicate). Only a replay or a persistent request on a
// continuously available share asks: those are the ones whose handle can
// have a record on another node (a persistent one's is written before its
// CREATE is answered), and other CREATEs must not pay a cluster lookup.
func (c *conn) fetchCreate(r *request, dq *durableRequest) {
	s := c.srv
	if s.cfg.Handles == nil {
		return
	}
	replay := r.hdr.Flags&wire.FlagReplayOperation != 0
	persistent := dq.q2.Flags&wire.DurableHandleFlagPersistent != 0 && r.tree != nil && r.tree.share.ContinuouslyAvailable
	if !replay && !persistent {
		return
	}
	r.detach()
	ctx, cancel := context.WithTimeout(r.ctx, storeTimeout)
	id, found, err := s.cfg.Handles.LocateCreate(ctx, dq.q2.CreateGUID)
	cancel()
	if err != nil {
		s.log.Debug().Err(err).Msg("locating a CreateGuid in the cluster")
		return
	}
	if found && !s.HasDurable(id) {
		c.fetchHandle(r, id)
	}
}

// DurableIDs lists the persistent FileIds of the durable and persistent
// handles this server holds (drain hands each to another node).
func (s *Server) DurableIDs() []uint64 {
	t := &s.dh
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := make([]uint64, 0, len(t.byPersistent))
	for id := range t.byPersistent {
		ids = append(ids, id)
	}
	return ids
}

// Pull takes durable handle id over from node from, a live node that
// asks for it (a drain): from yields it through the HandleLocator and
// this server restores it, as for a client's reconnect here. It reports
// whether the handle is now served here.
func (s *Server) Pull(ctx context.Context, from string, id uint64) (bool, error) {
	loc := s.cfg.Handles
	if loc == nil {
		return false, errors.New("smbserver: no handle locator")
	}
	if s.HasDurable(id) {
		return true, nil
	}
	if err := loc.Yield(ctx, from, id); err != nil {
		return false, err
	}
	return s.adoptOne(ctx, s.handleOwner(), id)
}
