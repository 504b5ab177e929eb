package smbserver

import (
	"context"
	"strings"
	"sync"
	"time"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/fscc"
	"sofs.io/sofs/smbserver/wire"
)

// Durable handles ([MS-SMB2] 3.3.5.9.6 DHnQ, 3.3.5.9.7 DHnC, 3.3.5.9.10
// DH2Q, 3.3.5.9.12 DH2C, 3.3.7.1).
//
// A durable open survives the loss of its connection: connLost detaches
// it from its session (it stays in the server's open table and keeps its
// csv entry, so share modes, oplocks and leases stay in force) and starts
// its timer. A reconnect (DHnC, DH2C) on a new session reattaches it; the
// timer firing, a break of its oplock or lease (a conflicting open) or a
// LOGOFF closes it.

const (
	// durableV1Timeout is how long a disconnected DHnQ open is kept
	// (Windows keeps v1 durable handles 16 minutes, [MS-SMB2] 3.3.7.1
	// product behaviour note).
	durableV1Timeout = 16 * time.Minute
	// durableV2DefaultTimeout applies when DH2Q asks for 0 (Windows: 60 s).
	durableV2DefaultTimeout = 60 * time.Second
	// durableV2MaxTimeout caps a requested DH2Q timeout (as Windows and
	// Samba do: 300 s).
	durableV2MaxTimeout = 300 * time.Second
)

// persistentCap is SMB2_GLOBAL_CAP_PERSISTENT_HANDLES for SMB 3.x
// ([MS-SMB2] 3.3.5.4): persistent handles are granted on continuously
// available shares only.
func persistentCap(dialect uint16) uint32 {
	if dialect >= Dialect300 {
		return wire.GlobalCapPersistentHandles
	}
	return 0
}

// shareCapCA is SMB2_SHARE_CAP_CONTINUOUS_AVAILABILITY for a CA share on
// SMB 3.x ([MS-SMB2] 3.3.5.7).
func shareCapCA(sh Share, dialect uint16) uint32 {
	if sh.ContinuouslyAvailable && dialect >= Dialect300 {
		return wire.ShareCapContinuousAvailability
	}
	return 0
}

// durableOpen is the durable part of an open.
type durableOpen struct {
	o          *open
	v2         bool
	persistent bool
	createGUID [16]byte
	clientGUID [16]byte
	user       string
	// userSID is the SID of the user that opened it (userSID); empty
	// for a handle restored from a record written before SIDs were kept.
	userSID  string
	share    string
	timeout  time.Duration
	lease    bool
	leaseKey [16]byte
	// appInstance is the AppInstanceId of the CREATE ([MS-SMB2]
	// 2.2.13.2.13), zero when none was given.
	appInstance [16]byte
	// shareAccess is the CREATE's ShareAccess, which a restore (restore.go)
	// needs to take the open's share mode again.
	shareAccess uint32

	// reply is the CREATE response that made the open, repeated for a
	// replay of that CREATE ([MS-SMB2] 3.3.5.9.10; smbtorture smb2.replay
	// compares every field with the original).
	reply wire.CreateResponse

	// Guarded by durableTable.mu.
	disconnected bool
	// lostHandle: a break took the handle caching (batch oplock, H
	// lease) away; the open is no longer kept when its client goes.
	lostHandle bool
	timer      *time.Timer
	// disconnectedAt is when the client was lost (zero while connected);
	// locks are the byte-range locks held through the open, kept for its
	// record (records.go).
	disconnectedAt time.Time
	locks          []csv.LockRange
	// leaseState is the state the last lease break was acknowledged
	// with, when leaseAcked (the grant at CREATE until then).
	leaseState uint32
	leaseAcked bool

	// stored: a record of the open may exist in the handle store; guarded
	// by the open's record stripe (records.go).
	stored bool
	// epoch is the record's Epoch: how many times the handle changed
	// owner (csv.HandleStore.Claim).
	epoch uint64
}

type createKey struct{ client, create [16]byte }

// durableTable indexes the server's durable opens. The zero value is
// ready to use.
type durableTable struct {
	mu           sync.Mutex
	byOpen       map[*open]*durableOpen
	byPersistent map[uint64]*durableOpen
	byCreate     map[createKey]*durableOpen
	// store keeps persistent handle records (Config.HandleStore, or
	// memory); set on first use.
	store csv.HandleStore
	// events, when set (tests), gets "detach" and "close" without
	// blocking.
	events chan string
	// recs serialises and retries the writes of handle records
	// (records.go).
	recs recordSync
	// adopting holds the persistent FileIds whose record this server is
	// claiming, restoring, handing over or removing after a close
	// (takeover.go, durableClosed): one of these at a time per handle, so
	// a record is never moved away while its restore here is under way,
	// and a closed handle is never restored from its departing record.
	adopting map[uint64]bool
}

// beginAdopt marks id as being adopted here, unless it is served here
// already or another adoption or hand-over of it is under way.
func (t *durableTable) beginAdopt(id uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byPersistent[id] == nil && t.markLocked(id)
}

// markLocked marks id as adopted, moved or closed here and reports
// whether it was not marked already (then the caller ends it with
// endAdopt). Call with t.mu held.
func (t *durableTable) markLocked(id uint64) bool {
	if t.adopting[id] {
		return false
	}
	if t.adopting == nil {
		t.adopting = make(map[uint64]bool)
	}
	t.adopting[id] = true
	return true
}

// endAdopt ends what beginAdopt began.
func (t *durableTable) endAdopt(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.adopting, id)
}

// event reports to a test. Call with t.mu held.
func (t *durableTable) event(e string) {
	if t.events != nil {
		select {
		case t.events <- e:
		default:
		}
	}
}

func (t *durableTable) add(d *durableOpen) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byOpen == nil {
		t.byOpen = make(map[*open]*durableOpen)
		t.byPersistent = make(map[uint64]*durableOpen)
		t.byCreate = make(map[createKey]*durableOpen)
	}
	t.byOpen[d.o] = d
	t.byPersistent[d.o.id.Persistent] = d
	if d.v2 {
		t.byCreate[createKey{d.clientGUID, d.createGUID}] = d
	}
}

func (t *durableTable) get(o *open) *durableOpen {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byOpen[o]
}

// durableCount is the number of durable opens (tests).
func (t *durableTable) count() (all, disconnected int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, d := range t.byOpen {
		all++
		if d.disconnected {
			disconnected++
		}
	}
	return all, disconnected
}

// durableRequest is what a CREATE asks about durability.
type durableRequest struct {
	v1, v2   bool // DHnQ, DH2Q
	q2       wire.DurableHandleRequestV2
	rc1, rc2 bool // DHnC, DH2C
	fid      wire.FileID
	c2       wire.DurableHandleReconnectV2
	app      [16]byte // AppInstanceId, zero if absent
}

// parseDurable reads the durable handle contexts of a CREATE. The v2
// contexts count on SMB 3.x only; mixing versions is invalid (Windows
// and Samba fail it with STATUS_INVALID_PARAMETER).
func (c *conn) parseDurable(req *wire.CreateRequest) (durableRequest, wire.Status) {
	var d durableRequest
	for _, cc := range req.Contexts {
		switch cc.Name {
		case wire.CreateContextDurableHandle:
			if wire.DecodeDurableHandleRequest(cc.Data) != nil {
				return d, wire.StatusInvalidParameter
			}
			d.v1 = true
		case wire.CreateContextDurableReconnect:
			fid, err := wire.DecodeDurableHandleReconnect(cc.Data)
			if err != nil {
				return d, wire.StatusInvalidParameter
			}
			d.rc1, d.fid = true, fid
		case wire.CreateContextDurableHandleV2:
			if c.dialect < Dialect300 {
				continue
			}
			q, err := wire.DecodeDurableHandleRequestV2(cc.Data)
			if err != nil {
				return d, wire.StatusInvalidParameter
			}
			d.v2, d.q2 = true, q
		case wire.CreateContextAppInstanceID:
			// [MS-SMB2] 2.2.13.2.13: StructureSize (20), Reserved,
			// AppInstanceId.
			if c.dialect < Dialect300 {
				continue
			}
			if len(cc.Data) != 20 || cc.Data[0] != 20 || cc.Data[1] != 0 {
				return d, wire.StatusInvalidParameter
			}
			copy(d.app[:], cc.Data[4:20])
		case wire.CreateContextDurableReconnectV2:
			if c.dialect < Dialect300 {
				continue
			}
			q, err := wire.DecodeDurableHandleReconnectV2(cc.Data)
			if err != nil {
				return d, wire.StatusInvalidParameter
			}
			d.rc2, d.c2 = true, q
		}
	}
	if (d.v1 || d.rc1) && (d.v2 || d.rc2) {
		return d, wire.StatusInvalidParameter
	}
	if d.rc2 && d.v2 {
		return d, wire.StatusInvalidParameter
	}
	if d.rc1 {
		d.v1 = false // [MS-SMB2] 3.3.5.9.6: DHnQ is ignored with DHnC
	}
	return d, wire.StatusSuccess
}

// durableCreate runs before a CREATE opens anything: a reconnect (DHnC,
// DH2C) or a DH2Q naming an existing CreateGuid is answered here (done).
func (c *conn) durableCreate(r *request, req *wire.CreateRequest) (wire.Status, bool) {
	dq, st := c.parseDurable(req)
	if st != wire.StatusSuccess {
		return st, true
	}
	if dq.rc1 || dq.rc2 {
		return c.durableReconnect(r, req, &dq), true
	}
	if !dq.v2 {
		return wire.StatusSuccess, false
	}
	key := createKey{c.clientGUID, dq.q2.CreateGUID}
	if st, done := c.replayLookup(r, req, &dq, key); done { // replay.go
		return st, true
	}
	t := &c.srv.dh
	lookup := func() *durableOpen {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.byCreate == nil {
			return nil
		}
		return t.byCreate[key]
	}
	d := lookup()
	if d == nil {
		c.fetchCreate(r, &dq) // takeover.go: another node may hold it
		d = lookup()
	}
	if d == nil {
		if dq.app != ([16]byte{}) {
			c.closeAppInstance(r, req, dq.app)
		}
		c.replayBegin(r, key) // replay.go: a replay meanwhile waits
		return wire.StatusSuccess, false
	}
	// [MS-SMB2] 3.3.5.9.10: an Open with this CreateGuid exists. A replay
	// of the CREATE gets that open back; anything else is a duplicate.
	if r.hdr.Flags&wire.FlagReplayOperation == 0 {
		return wire.StatusDuplicateObjectID, true
	}
	if st := c.reattach(r, d, false); st != wire.StatusSuccess {
		return st, true
	}
	return c.replayResponse(r, req, &dq, &d.reply, d.o, d), true // replay.go
}

// closeAppInstance closes the durable opens of the same file that an
// earlier instance of the application holds ([MS-SMB2] 3.3.5.9.13): a
// failover instance of a clustered application takes the file over
// without a break. They are closed before the new open runs, so its
// share modes and oplock see them gone.
func (c *conn) closeAppInstance(r *request, req *wire.CreateRequest, app [16]byte) {
	c.srv.CloseAppInstance(r.tree.share.Name, req.Name, app)
	if f := c.srv.cfg.CloseAppInstanceElsewhere; f != nil {
		// The earlier instance may have run on another node: its opens
		// there go too, before this open meets their share modes.
		if err := f(r.ctx, r.tree.share.Name, req.Name, app); err != nil {
			c.log.Warn().Err(err).Msg("closing an application instance's opens on other nodes")
		}
	}
}

// CloseAppInstance closes this server's durable opens of share's file
// path that application instance app holds ([MS-SMB2] 3.3.5.9.13), and
// returns how many it closed.
func (s *Server) CloseAppInstance(share, path string, app [16]byte) int {
	t := &s.dh
	var old, sessOf = []*open(nil), map[*open]*session{}
	t.mu.Lock()
	for o, d := range t.byOpen {
		if d.appInstance == app && strings.EqualFold(d.share, share) && strings.EqualFold(o.name, path) {
			old = append(old, o)
			if !d.disconnected {
				sessOf[o] = o.sess
			}
		}
	}
	t.mu.Unlock()
	for _, o := range old {
		if ss := sessOf[o]; ss != nil {
			ss.mu.Lock()
			if ss.opens[o.id.Volatile] == o {
				delete(ss.opens, o.id.Volatile)
			}
			ss.mu.Unlock()
		}
		s.closeOpen(o)
	}
	return len(old)
}

// durableReconnect implements DHnC ([MS-SMB2] 3.3.5.9.7) and DH2C
// (3.3.5.9.12).
func (c *conn) durableReconnect(r *request, req *wire.CreateRequest, dq *durableRequest) wire.Status {
	pid := dq.fid.Persistent
	if dq.rc2 {
		pid = dq.c2.FileID.Persistent
	}
	t := &c.srv.dh
	lookup := func() *durableOpen {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.byPersistent == nil {
			return nil
		}
		return t.byPersistent[pid]
	}
	d := lookup()
	if d == nil && c.fetchHandle(r, pid) { // takeover.go: another node has it
		d = lookup()
	}
	// Either reconnect reclaims either kind of durable open: a DHnQ open
	// has a zero CreateGuid, which a DH2C naming it carries (smbtorture
	// durable-open reopen2-lease).
	if d == nil {
		return wire.StatusObjectNameNotFound
	}
	if dq.rc2 {
		// The ClientGuid must match for a lease only (checked below):
		// an oplock open may come back from another one (smbtorture
		// durable-v2-open reopen1a).
		if d.createGUID != dq.c2.CreateGUID {
			return wire.StatusObjectNameNotFound
		}
		if dq.c2.Flags&wire.DurableHandleFlagPersistent != 0 && !d.persistent {
			return wire.StatusObjectNameNotFound
		}
	}
	key, leased := reconnectLeaseKey(req)
	switch {
	case d.lease && (!leased || key != d.leaseKey || d.clientGUID != c.clientGUID):
		return wire.StatusObjectNameNotFound
	case !d.lease && leased:
		return wire.StatusObjectNameNotFound
	case d.lease && !strings.EqualFold(req.Name, d.o.name):
		// Samba's smb2.durable-open reopen2-lease: a leased reconnect
		// names its file (an oplock reconnect's name is ignored).
		return wire.StatusInvalidParameter
	}
	if st := c.reattach(r, d, true); st != wire.StatusSuccess {
		return st
	}
	return c.existingOpenResponse(r, d)
}

// reconnectLeaseKey is the lease key of a reconnect's RqLs context. The
// requested oplock level does not matter here: clients send the context
// alone (Samba's smbtorture does).
func reconnectLeaseKey(req *wire.CreateRequest) ([16]byte, bool) {
	for _, cc := range req.Contexts {
		if cc.Name == wire.CreateContextRequestLease {
			if l, err := wire.DecodeLease(cc.Data); err == nil {
				return l.LeaseKey, true
			}
		}
	}
	return [16]byte{}, false
}

// reattach binds a durable open to r's session and tree. A reconnect needs
// it disconnected; a replay accepts it on r's own session too.
func (c *conn) reattach(r *request, d *durableOpen, reconnect bool) wire.Status {
	r.sess.mu.Lock()
	user := r.sess.user
	r.sess.mu.Unlock()
	if !sameUser(c.srv.userSID(r.sess), user, d.userSID, d.user) {
		return wire.StatusAccessDenied
	}
	if !strings.EqualFold(r.tree.share.Name, d.share) {
		return wire.StatusObjectNameNotFound
	}
	t := &c.srv.dh
	t.mu.Lock()
	if t.byOpen[d.o] != d {
		t.mu.Unlock()
		return wire.StatusObjectNameNotFound
	}
	if !d.disconnected {
		t.mu.Unlock()
		if reconnect || d.o.sess != r.sess {
			return wire.StatusObjectNameNotFound
		}
		r.cs.fileID, r.cs.haveFileID = d.o.id, true
		return wire.StatusSuccess
	}
	d.disconnected = false
	d.disconnectedAt = time.Time{}
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	o := d.o
	o.sess, o.tree = r.sess, r.tree
	t.mu.Unlock()
	r.detach()                 // conn.go: the record is a handle store round trip
	c.srv.reconnectedRecord(d) // records.go
	r.sess.mu.Lock()
	if r.sess.state != sessionValid {
		r.sess.mu.Unlock()
		c.srv.closeOpen(o)
		return wire.StatusUserSessionDeleted
	}
	r.sess.opens[o.id.Volatile] = o
	r.sess.mu.Unlock()
	r.cs.fileID, r.cs.haveFileID = o.id, true
	return wire.StatusSuccess
}

// existingOpenResponse answers a reconnect with the open's attributes and
// caching state. It carries no durable context (Windows and Samba send
// none: smbtorture durable-open reopen tests).
func (c *conn) existingOpenResponse(r *request, d *durableOpen) wire.Status {
	o := d.o
	info, err := o.handle.Stat(r.ctx)
	if err != nil {
		return c.mapErr(err)
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
	r.out = resp.AppendTo(r.out)
	return wire.StatusSuccess
}

func (d *durableOpen) responseContext() wire.CreateContext {
	if !d.v2 {
		return wire.CreateContext{Name: wire.CreateContextDurableHandle, Data: wire.EncodeDurableHandleResponse()}
	}
	var flags uint32
	if d.persistent {
		flags = wire.DurableHandleFlagPersistent
	}
	return wire.CreateContext{
		Name: wire.CreateContextDurableHandleV2,
		Data: wire.DurableHandleResponseV2{Timeout: uint32(d.timeout / time.Millisecond), Flags: flags}.Encode(),
	}
}

// durableGranted makes a new open durable when the CREATE asked for it
// and its caching allows it: a batch oplock or a lease with handle
// caching ([MS-SMB2] 3.3.5.9.6, 3.3.5.9.10).
func (c *conn) durableGranted(r *request, o *open, req *wire.CreateRequest, resp *wire.CreateResponse) {
	if o.handle == nil || o.isDir {
		return
	}
	dq, st := c.parseDurable(req)
	if st != wire.StatusSuccess || !(dq.v1 || dq.v2) {
		return
	}
	g := o.handle.Grant()
	leased := g.Lease != nil && resp.OplockLevel == wire.OplockLevelLease
	// [MS-SMB2] 3.3.5.9.10: a persistent handle needs no caching, only a
	// continuously available share.
	persistent := dq.v2 && dq.q2.Flags&wire.DurableHandleFlagPersistent != 0 && r.tree.share.ContinuouslyAvailable
	if !persistent && !(g.Oplock == wire.OplockLevelBatch && !leased) && !(leased && g.Lease.State&csv.CacheHandle != 0) {
		return
	}
	r.sess.mu.Lock()
	user := r.sess.user
	r.sess.mu.Unlock()
	d := &durableOpen{o: o, v2: dq.v2, persistent: persistent, clientGUID: c.clientGUID, user: user, userSID: c.srv.userSID(r.sess), share: r.tree.share.Name,
		timeout: durableV1Timeout, shareAccess: req.ShareAccess}
	if leased {
		if lr, _ := c.leaseRequest(req); lr != nil {
			d.lease, d.leaseKey = true, lr.Key.Key
		}
	}
	if dq.v2 {
		d.createGUID, d.appInstance = dq.q2.CreateGUID, dq.app
		d.timeout = durableV2DefaultTimeout
		if dq.q2.Timeout != 0 {
			d.timeout = min(time.Duration(dq.q2.Timeout)*time.Millisecond, durableV2MaxTimeout)
		}
	}
	d.reply.CreateAction = resp.CreateAction // in the record (records.go)
	if persistent {
		r.detach() // conn.go: the record is a handle store round trip
		if err := c.srv.putRecord(d); err != nil {
			// Without its record the handle could not outlive this
			// process: it is not granted ([MS-SMB2] lets the server
			// refuse durability; the open itself stands).
			c.log.Warn().Err(err).Str("path", o.name).Msg("persistent handle record not stored")
			return
		}
	}
	resp.Contexts = append(resp.Contexts, d.responseContext())
	d.reply = *resp
	c.srv.dh.add(d)
}

// connLost ends a session whose connection is gone ([MS-SMB2] 3.3.7.1):
// durable opens are detached and kept until their timeout, the rest is
// closed as by LOGOFF.
func (s *Server) connLost(sess *session) {
	t := &s.dh
	var keep []*durableOpen
	sess.mu.Lock()
	t.mu.Lock()
	for id, o := range sess.opens {
		if d := t.byOpen[o]; d != nil && !d.lostHandle {
			keep = append(keep, d)
			delete(sess.opens, id)
		}
	}
	now := time.Now()
	for _, d := range keep {
		d.disconnected = true
		d.disconnectedAt = now
		d.timer = time.AfterFunc(d.timeout, func() { s.durableExpired(d) })
	}
	t.mu.Unlock()
	sess.mu.Unlock()
	// One bound for the whole batch: an unreachable store must not hold
	// the connection's teardown for a timeout per open.
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	for _, d := range keep {
		if !d.persistent && s.durableBreakOrphaned(d) {
			continue // closed: its break went to the lost connection
		}
		// Now, and only now, a durable (non-persistent) open gets a
		// record: the CREATE of a non-CA share pays no store round
		// trip, and a record exists exactly while the open waits for
		// its client. A persistent record learns when its timeout
		// started.
		if err := s.putLiveRecord(ctx, d); err != nil {
			s.log.Warn().Err(err).Str("path", d.o.name).Msg("durable handle record not stored")
		}
	}
	t.mu.Lock()
	for range keep {
		t.event("detach")
	}
	t.mu.Unlock()
	s.logoff(sess)
}

// durableBreakOrphaned closes a just-detached durable open whose oplock or
// lease break is still unacknowledged: the break went to the lost
// connection and nobody will answer it. This is durableBreak's rule for a
// break that arrives after the disconnect, applied to one that arrived
// just before it, so the conflicting open waiting for the break proceeds
// at once and sees the open gone (smbtorture durable-open.lease: the
// second open gets RWH, not RH after the 35 s break timeout). The csv
// state is written before durableBreak reads d.disconnected, and
// connLost sets d.disconnected before this reads the csv state, so one
// of the two always sees the other.
// It reports whether it closed d.
func (s *Server) durableBreakOrphaned(d *durableOpen) bool {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	pending, err := d.o.handle.BreakPending(ctx)
	cancel()
	if err != nil {
		s.log.Warn().Err(err).Str("path", d.o.name).Msg("break state of a disconnected durable open unknown")
		return false
	}
	if pending {
		s.durableExpired(d)
	}
	return pending
}

// durableExpired closes a durable open whose timer fired while it was
// still disconnected (scavenging: its share modes, oplock or lease go).
func (s *Server) durableExpired(d *durableOpen) {
	t := &s.dh
	t.mu.Lock()
	live := t.byOpen[d.o] == d && d.disconnected
	t.mu.Unlock()
	if live {
		s.closeOpen(d.o)
	}
}

// durableClosed forgets a closing open (hook in closeOpen) and reports
// whether it was durable; a persistent
// open's record goes with it (close or scavenge).
func (s *Server) durableClosed(o *open) bool {
	t := &s.dh
	t.mu.Lock()
	d := t.byOpen[o]
	if d == nil {
		t.mu.Unlock()
		return false
	}
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	delete(t.byOpen, o)
	if t.byPersistent[o.id.Persistent] == d {
		delete(t.byPersistent, o.id.Persistent)
	}
	k := createKey{d.clientGUID, d.createGUID}
	if d.v2 && t.byCreate[k] == d {
		delete(t.byCreate, k)
	}
	// Until its record is gone, the closed handle is off every table but
	// its record is still this node's: marked, so that no adoption round
	// restores it and no hand-over moves it (takeover.go).
	id := o.id.Persistent
	mark := t.markLocked(id)
	t.mu.Unlock()
	s.closedRecord(d) // records.go: outside t.mu, with etcd a round trip
	if mark {
		t.endAdopt(id)
	}
	return true
}

// durableBreak handles a break aimed at disconnected durable opens: with
// nobody to acknowledge it, they are closed, which releases their oplock
// or lease and lets the conflicting open proceed (Windows and Samba
// behave so; a reconnect then fails). It reports whether the break is
// dealt with.
func (s *Server) durableBreak(b csv.Break) bool {
	ids := b.OpenIDs
	if !b.IsLease {
		ids = []uint64{b.OpenID}
	}
	var gone []*open
	s.ol.mu.Lock()
	s.dh.mu.Lock()
	for _, id := range ids {
		o := s.ol.byID[id]
		if o == nil {
			continue
		}
		d := s.dh.byOpen[o]
		if d != nil && !d.disconnected && b.To&csv.CacheHandle == 0 && !d.persistent {
			d.lostHandle = true
		}
		if d == nil || !d.disconnected || d.persistent {
			// A persistent open is protected while its client
			// reconnects: the break waits and times out as for an
			// unresponsive client.
			continue
		}
		gone = append(gone, o)
	}
	s.dh.mu.Unlock()
	s.ol.mu.Unlock()
	if len(gone) == 0 || len(gone) != len(ids) {
		return false
	}
	for _, o := range gone {
		s.closeOpen(o)
	}
	return true
}
