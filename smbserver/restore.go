package smbserver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/fscc"
	"sofs.io/sofs/smbserver/wire"
)

// Restoring handles after a restart ([MS-SMB2] 3.3.5.9.12: a persistent
// handle is reclaimed with DH2C after the server, not only the client,
// went away).
//
// RestoreHandles lists this server's records (Config.HandleOwner) and
// re-creates each as a disconnected durable or persistent open: the file
// is opened again by share and path with the recorded access and share
// mode, its oplock or lease is requested again in the volume's object
// table, and its byte-range locks are taken again in the lock table. The
// open then waits for its client exactly as if the connection had just
// been lost: its timeout counts from the restore, and a reconnect with
// DH2C (same CreateGuid, FileId and user) or DHnC gets it back.
//
// Records whose timeout has passed, whose share is gone, or whose file
// cannot be opened any more are removed.

// RestoreStats counts what RestoreHandles did.
type RestoreStats struct {
	Restored int // opens re-created, waiting for their clients
	Removed  int // records dropped: expired, share or file gone, unusable
	Failed   int // records that could not be read or removed (kept)
}

// RestoreHandles brings back this server's durable and persistent handles
// from the handle store. Call it once, after New and before Serve. A
// record that cannot be decoded is logged and left in the store for an
// operator; a store that cannot be listed is an error.
func (s *Server) RestoreHandles(ctx context.Context) (RestoreStats, error) {
	var st RestoreStats
	store := s.handleStore()
	recs, err := store.List(ctx, s.handleOwner())
	if err != nil {
		if !errors.Is(err, csv.ErrBadHandleRecord) {
			return st, fmt.Errorf("smbserver: list handle records: %w", err)
		}
		s.log.Error().Err(err).Msg("unreadable handle records left in the store")
		st.Failed++
	}
	for _, rec := range recs {
		s.opens.reserve(rec.Persistent)
	}
	now := time.Now()
	for _, rec := range recs {
		log := s.log.With().Uint64("file_id", rec.Persistent).Str("share", rec.Share).Str("path", rec.Path).Logger()
		// Other nodes may already ask for this node's handles (Yield):
		// none is handed over while its restore is under way.
		if !s.dh.beginAdopt(rec.Persistent) {
			continue
		}
		reason, err := s.restoreOne(ctx, rec, now)
		s.dh.endAdopt(rec.Persistent)
		if err == nil {
			st.Restored++
			log.Info().Bool("persistent", rec.IsPersistent).Dur("timeout", rec.Timeout).Msg("handle restored; waiting for its client")
			continue
		}
		log.Info().Err(err).Str("reason", reason).Msg("handle not restored; removing its record")
		dctx, cancel := context.WithTimeout(ctx, storeTimeout)
		derr := store.Delete(dctx, s.handleOwner(), rec.Persistent)
		cancel()
		if derr != nil {
			log.Warn().Err(derr).Msg("handle record not removed")
			st.Failed++
			continue
		}
		st.Removed++
	}
	return st, nil
}

// restoreOne re-creates the open of one record. On failure it says why
// the record is to be removed.
func (s *Server) restoreOne(ctx context.Context, rec csv.HandleRecord, now time.Time) (string, error) {
	if !rec.Disconnected.IsZero() && now.Sub(rec.Disconnected) > rec.Timeout {
		return "expired", fmt.Errorf("disconnected at %v with a %v timeout", rec.Disconnected, rec.Timeout)
	}
	sh, ok := s.cfg.Shares.Share(rec.Share)
	if !ok {
		return "share gone", errors.New("no such share")
	}
	vol, err := s.volume(sh)
	if err != nil {
		return "share unusable", err
	}
	if s.opens.get(rec.Persistent) != nil {
		return "duplicate", errors.New("file id already restored")
	}
	entry := &csv.OpenEntry{
		ID:          s.ol.nextID.Add(1),
		Access:      rec.Access,
		ShareAccess: rec.ShareAccess,
		Oplock:      rec.Oplock,
		Persistent:  rec.IsPersistent,
	}
	if clusterWide(rec.OpenID) {
		// The open's entry may still stand in the cluster's table, kept
		// for its adopter (takeover.go): take its place in one step.
		entry.Supersedes = rec.OpenID
	}
	leaseKey := csv.LeaseKey{Client: rec.ClientGUID, Key: rec.LeaseKey}
	if rec.HasLease && rec.LeaseState != 0 {
		entry.Lease = &csv.LeaseRequest{
			Key: leaseKey, State: rec.LeaseState, Version: rec.LeaseVersion,
			ParentKey: rec.LeaseParent, HasParent: rec.HasLeaseParent, Epoch: rec.LeaseEpoch,
		}
	}
	oreq := csv.OpenRequest{
		Path:          rec.Path,
		Disposition:   csv.Open,
		NonDirectory:  true, // durability is granted to files only (durableGranted)
		Write:         rec.Access&(fileWriteData|fileAppendData) != 0,
		DeleteOnClose: rec.Options&optDeleteOnClose != 0,
		Entry:         entry,
		Reopen:        true,
	}
	h, _, err := vol.Open(ctx, oreq)
	var bw *csv.BreakWait
	if errors.As(err, &bw) {
		// Another restored open holds caching this one's recorded state
		// conflicts with (the record predates a break). Nobody is
		// connected to acknowledge a break now, so this open comes back
		// without caching rather than waiting.
		entry.Oplock, entry.Lease, entry.ID = wire.OplockLevelNone, nil, s.ol.nextID.Add(1)
		entry.Retry = true
		h, _, err = vol.Open(ctx, oreq)
	}
	if err != nil {
		switch {
		case errors.Is(err, csv.ErrNotFound), errors.Is(err, csv.ErrPathNotFound):
			return "file gone", err
		case errors.Is(err, csv.ErrSharingViolation):
			return "share mode conflict", err
		}
		return "open failed", err
	}
	g := h.Grant()
	s.deliverBreaks(g.Breaks)

	o := &open{sess: s.orphanSession(), handle: h, access: rec.Access, options: rec.Options, name: rec.Path, position: rec.Position}
	o.csn.Store(uint32(rec.ChannelSequence))
	if !s.opens.addRestored(o, rec.Persistent) {
		h.Close()
		return "duplicate", errors.New("file id in use")
	}
	info := olInfo{id: h.OpenID()}
	if g.Lease != nil {
		info.hasLease, info.lease = true, leaseKey
	}
	s.deliverBreaks(s.ol.register(o, info))

	d := &durableOpen{
		o: o, v2: rec.V2, persistent: rec.IsPersistent,
		createGUID: rec.CreateGUID, clientGUID: rec.ClientGUID, user: rec.User, userSID: rec.UserSID, share: sh.Name,
		timeout: rec.Timeout, lease: rec.HasLease, leaseKey: rec.LeaseKey,
		appInstance: rec.AppInstance, shareAccess: rec.ShareAccess,
		disconnected: true, disconnectedAt: now, stored: true, epoch: rec.Epoch,
	}
	if d.timeout <= 0 {
		d.timeout = durableV2DefaultTimeout
	}
	for _, q := range rec.LockSeqs {
		h.LockSequenceDone(q.Index, q.Seq)
	}
	var moved []csv.LockRange
	if clusterWide(rec.LockOwner) {
		// Locks the lost or yielding node's open still holds become
		// this open's without ever being free.
		if moved, err = h.TransferLocks(ctx, rec.LockOwner); err != nil {
			s.log.Warn().Err(err).Str("path", rec.Path).Msg("restored handle: lock transfer failed; taking its locks again")
			moved = nil
		}
	}
	for _, l := range rec.Locks {
		if i := slices.Index(moved, l); i >= 0 {
			moved = slices.Delete(moved, i, i+1)
			d.locks = append(d.locks, l)
			continue
		}
		// One at a time: a conflicting one (a restored open of another
		// client holds an overlapping range) is lost, not all of them.
		if _, err := h.Lock(ctx, []csv.LockRange{l}); err != nil {
			s.log.Warn().Err(err).Str("path", rec.Path).Uint64("offset", l.Offset).Uint64("length", l.Length).Msg("restored handle lost a byte-range lock")
			continue
		}
		d.locks = append(d.locks, l)
	}
	reply, err := s.restoredReply(ctx, d)
	if err != nil {
		s.closeOpen(o)
		return "stat failed", err
	}
	if rec.CreateAction != 0 {
		reply.CreateAction = rec.CreateAction
	}
	d.reply = reply
	s.dh.add(d)
	s.dh.mu.Lock()
	d.timer = time.AfterFunc(d.timeout, func() { s.durableExpired(d) })
	s.dh.mu.Unlock()
	// The record now counts the timeout from this restart, so a second
	// crash does not cut the client's time short.
	if err := s.putRecord(d); err != nil {
		s.log.Warn().Err(err).Str("path", rec.Path).Msg("restored handle record not updated")
	}
	return "", nil
}

// clusterWide reports whether id, an open or lock owner id from a handle
// record, is a cluster's (it carries its node's slot in the top bits)
// rather than one process's, which died with it and could match an id
// this process has since handed out.
func clusterWide(id uint64) bool { return id>>48 != 0 }

// orphanSession is the session of a restored open until its client
// reclaims it: expired, on no connection, so breaks and lookups skip it.
func (s *Server) orphanSession() *session {
	return &session{srv: s, state: sessionExpired, opens: make(map[uint64]*open), trees: make(map[uint32]*tree)}
}

// restoredReply is the CREATE response a replay of the open's DH2Q gets
// ([MS-SMB2] 3.3.5.9.10): the original was lost with the process, so it
// is rebuilt from the open as it stands.
func (s *Server) restoredReply(ctx context.Context, d *durableOpen) (wire.CreateResponse, error) {
	o := d.o
	info, err := o.handle.Stat(ctx)
	if err != nil {
		return wire.CreateResponse{}, err
	}
	resp := wire.CreateResponse{
		CreateAction:   uint32(csv.Opened),
		CreationTime:   fscc.FileTime(info.CreationTime),
		LastAccessTime: fscc.FileTime(info.LastAccessTime),
		LastWriteTime:  fscc.FileTime(info.LastWriteTime),
		ChangeTime:     fscc.FileTime(info.ChangeTime),
		AllocationSize: uint64(info.AllocationSize),
		EndOfFile:      uint64(info.EndOfFile),
		FileAttributes: info.Attributes,
		FileID:         o.id,
	}
	g := o.handle.Grant()
	resp.OplockLevel = g.Oplock
	if d.lease && g.Lease != nil {
		resp.OplockLevel = wire.OplockLevelLease
		lr := &csv.LeaseRequest{Key: csv.LeaseKey{Client: d.clientGUID, Key: d.leaseKey}}
		resp.Contexts = append(resp.Contexts, wire.CreateContext{
			Name: wire.CreateContextRequestLease,
			Data: leaseResponse(lr, g.Lease).Encode(),
		})
	}
	resp.Contexts = append(resp.Contexts, d.responseContext())
	return resp, nil
}
