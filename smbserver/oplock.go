package smbserver

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/wire"
)

// Oplocks and leases ([MS-SMB2] 3.3.5.9, 3.3.4.6, 3.3.4.7, 3.3.5.22).
//
// The state that decides grants and breaks (share modes, every holder's
// caching state, breaks in progress) lives in the volume's csv object
// table, keyed by file, so that a cluster-wide table gives cluster-wide
// semantics. This file is the protocol side: it turns a CREATE into a csv
// open entry, waits (async) while breaks are outstanding, delivers break
// notifications to the holders' connections and applies acknowledgments.

// DefaultOplockBreakTimeout is how long a conflicting open waits for a
// break acknowledgment before the break is forced ([MS-SMB2] 3.3.2.1: the
// oplock break acknowledgment timer, 35 seconds on Windows).
const DefaultOplockBreakTimeout = 35 * time.Second

// maxBreakRounds bounds the break-and-retry loop of one CREATE: each round
// either makes progress (an acknowledgment, a close, a timeout) or ends.
const maxBreakRounds = 1024

// oplockRegistry maps csv open ids to this node's opens, so breaks reach
// their holders, and lease keys to the opens that share them.
type oplockRegistry struct {
	nextID atomic.Uint64

	mu      sync.Mutex
	byID    map[uint64]*open
	info    map[*open]olInfo
	leases  map[csv.LeaseKey]map[*open]struct{}
	pending map[uint64][]csv.Break // breaks for opens whose CREATE has not finished
	clients map[[16]byte][]*conn   // leasing connections by ClientGuid, oldest first
}

type olInfo struct {
	id       uint64
	hasLease bool
	lease    csv.LeaseKey
}

func newOplockRegistry() *oplockRegistry {
	return &oplockRegistry{
		byID:    make(map[uint64]*open),
		info:    make(map[*open]olInfo),
		leases:  make(map[csv.LeaseKey]map[*open]struct{}),
		pending: make(map[uint64][]csv.Break),
		clients: make(map[[16]byte][]*conn),
	}
}

func (s *Server) oplocksEnabled(t *tree) bool {
	return !s.cfg.DisableOplocks && !t.share.DisableOplocks
}

func (s *Server) breakTimeout() time.Duration {
	if s.cfg.OplockBreakTimeout > 0 {
		return s.cfg.OplockBreakTimeout
	}
	return DefaultOplockBreakTimeout
}

// leasingCap is the NEGOTIATE capability bit for leasing: SMB 2.1 and
// later, unless oplocks are disabled. It also records the connection
// under its ClientGuid: lease breaks go to the client, on its oldest
// connection (as Windows does), not to the connection of an open.
func (c *conn) leasingCap(dialect uint16, client [16]byte) uint32 {
	if dialect < Dialect210 || c.srv.cfg.DisableOplocks {
		return 0
	}
	c.srv.ol.addClientConn(client, c)
	return wire.GlobalCapLeasing
}

// dirLeasingCap is SMB2_GLOBAL_CAP_DIRECTORY_LEASING: SMB 3.x with
// leasing on, to a client that offers it in its NEGOTIATE ([MS-SMB2]
// 3.3.5.4; Windows and Samba answer it only then, and a client that did
// not ask may not cope with it: impacket 0.10 fails every CREATE when it
// sees the bit). Only a connection that negotiated it is granted leases
// on directories (leaseRequest); on SMB 2.1 a directory open gets none,
// as the client expects ([MS-SMB2] 3.2.4.3.8).
func (c *conn) dirLeasingCap(dialect uint16, requested uint32) uint32 {
	if dialect < Dialect300 || c.srv.cfg.DisableOplocks || requested&wire.GlobalCapDirectoryLeasing == 0 {
		return 0
	}
	return wire.GlobalCapDirectoryLeasing
}

func (reg *oplockRegistry) addClientConn(client [16]byte, c *conn) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	live := reg.clients[client][:0]
	for _, x := range reg.clients[client] {
		if x.ctx.Err() == nil {
			live = append(live, x)
		}
	}
	c.clientSince = time.Now()
	reg.clients[client] = append(live, c)
}

// clientConn returns the oldest live connection of a client. Call with
// reg.mu held.
func (reg *oplockRegistry) clientConn(client [16]byte) *conn {
	for _, x := range reg.clients[client] {
		if x.ctx.Err() == nil {
			return x
		}
	}
	return nil
}

// createEntry builds the csv open entry of a CREATE: access, share mode
// and the requested oplock or lease.
func (c *conn) createEntry(r *request, req *wire.CreateRequest, access uint32) (*csv.OpenEntry, wire.Status) {
	e := &csv.OpenEntry{
		ID:          c.srv.ol.nextID.Add(1),
		Access:      access,
		ShareAccess: req.ShareAccess,
	}
	switch csv.Disposition(req.CreateDisposition) {
	case csv.Supersede, csv.Overwrite, csv.OverwriteIf:
		e.Overwrite = true
	}
	if shareCapCA(r.tree.share, c.dialect) != 0 {
		// A persistent handle's entry outlives this node until a
		// survivor adopts it (takeover.go); marked before the grant,
		// which follows the open.
		if dq, st := c.parseDurable(req); st == wire.StatusSuccess && dq.v2 && dq.q2.Flags&wire.DurableHandleFlagPersistent != 0 {
			e.Persistent = true
		}
	}
	if !c.srv.oplocksEnabled(r.tree) {
		return e, wire.StatusSuccess
	}
	switch req.RequestedOplockLevel {
	case wire.OplockLevelII, wire.OplockLevelExclusive, wire.OplockLevelBatch:
		e.Oplock = req.RequestedOplockLevel
	case wire.OplockLevelLease:
		l, st := c.leaseRequest(req)
		if st != wire.StatusSuccess {
			return nil, st
		}
		e.Lease = l
	}
	return e, wire.StatusSuccess
}

// openForCreate runs the CREATE's open with share modes, oplocks and
// leases: when holders must be broken first it delivers the breaks, sends
// the interim response and waits for the acknowledgments (or the break
// timeout, or CANCEL), then tries again.
func (c *conn) openForCreate(r *request, req *wire.CreateRequest, access uint32, oreq csv.OpenRequest) (*csv.Handle, csv.Action, error) {
	e, st := c.createEntry(r, req, access)
	if st != wire.StatusSuccess {
		return nil, 0, st
	}
	oreq.Entry = e
	vol := r.tree.vol
	timeout := c.srv.breakTimeout()
	for round := 0; ; round++ {
		h, act, err := vol.Open(r.ctx, oreq)
		var bw *csv.BreakWait
		if !errors.As(err, &bw) {
			switch {
			case err == nil:
				c.srv.deliverBreaks(h.Grant().Breaks)
				return h, act, nil
			case errors.Is(err, csv.ErrSharingViolation):
				return nil, 0, wire.StatusSharingViolation
			case errors.Is(err, csv.ErrLeaseKeyInUse):
				return nil, 0, wire.StatusInvalidParameter
			}
			return nil, 0, err
		}
		c.srv.deliverBreaks(bw.Breaks)
		if round >= maxBreakRounds {
			return nil, 0, wire.StatusSharingViolation
		}
		if err := c.goAsync(r); err != nil {
			return nil, 0, err
		}
		started := time.Now()
		wctx, cancel := context.WithTimeout(r.ctx, timeout)
		err = vol.WaitObject(wctx, bw.Object, bw.Gen)
		cancel()
		if r.ctx.Err() != nil {
			return nil, 0, wire.StatusCancelled
		}
		if err != nil {
			// No acknowledgment in time: the breaks that were already
			// out when this wait began are completed as if acknowledged.
			if err := vol.ExpireBreaks(r.ctx, bw.Object, started); err != nil {
				return nil, 0, err
			}
		}
		e.Retry = true
	}
}

// createGranted registers a new open with its oplock or lease and puts the
// grant into the CREATE response.
func (c *conn) createGranted(r *request, o *open, req *wire.CreateRequest, resp *wire.CreateResponse) {
	if o.handle == nil || o.handle.OpenID() == 0 {
		return
	}
	g := o.handle.Grant()
	info := olInfo{id: o.handle.OpenID()}
	resp.OplockLevel = g.Oplock
	if g.Lease != nil {
		l, _ := c.leaseRequest(req)
		if l != nil {
			info.hasLease, info.lease = true, l.Key
			resp.OplockLevel = wire.OplockLevelLease
			resp.Contexts = append(resp.Contexts, wire.CreateContext{
				Name: wire.CreateContextRequestLease,
				Data: leaseResponse(l, g.Lease).Encode(),
			})
		}
	}
	// Until the CREATE response is out, breaks for the open are queued
	// (deliverBreaks): a client ignores a break naming a lease or FileId
	// it has not been granted yet ([MS-SMB2] 3.2.5.19), and the open that
	// caused the break would wait out the break timeout.
	r.cs.afterSend = append(r.cs.afterSend, func() func() {
		held := c.srv.ol.register(o, info)
		if len(held) == 0 {
			return nil
		}
		return func() { c.srv.deliverBreaks(held) }
	})
}

// register makes o known to break delivery and returns the breaks held
// for it meanwhile, for the caller to deliver. It runs as its CREATE
// response enters the send queue (writeFrameQueued), so it must not send.
func (reg *oplockRegistry) register(o *open, info olInfo) []csv.Break {
	reg.mu.Lock()
	if openClosed(o) {
		// Closed before its response went out (a compounded CLOSE, a
		// lost connection): oplockClosed found nothing to forget.
		delete(reg.pending, info.id)
		reg.mu.Unlock()
		return nil
	}
	reg.byID[info.id] = o
	reg.info[o] = info
	if info.hasLease {
		m := reg.leases[info.lease]
		if m == nil {
			m = make(map[*open]struct{})
			reg.leases[info.lease] = m
		}
		m[o] = struct{}{}
	}
	queued := reg.pending[info.id]
	delete(reg.pending, info.id)
	reg.mu.Unlock()
	return queued
}

// oplockClosed forgets a closing open. The csv handle's Close releases its
// table entry (and so its oplock or lease, waking waiters).
func (s *Server) oplockClosed(o *open) {
	reg := s.ol
	reg.mu.Lock()
	defer reg.mu.Unlock()
	info, ok := reg.info[o]
	if !ok {
		return
	}
	delete(reg.info, o)
	delete(reg.byID, info.id)
	delete(reg.pending, info.id)
	if info.hasLease {
		if m := reg.leases[info.lease]; m != nil {
			delete(m, o)
			if len(m) == 0 {
				delete(reg.leases, info.lease)
			}
		}
	}
}

// leaseOpen returns an open of lease key k, nil if this node has none.
func (reg *oplockRegistry) leaseOpen(k csv.LeaseKey) *open {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	for o := range reg.leases[k] {
		return o
	}
	return nil
}

// DeliverBreaks sends breaks that another node's change started to this
// server's opens (Config.OpenState).
func (s *Server) DeliverBreaks(bs []csv.Break) { s.deliverBreaks(bs) }

// deliverBreaks sends break notifications to the holders' connections.
// A break for an open whose CREATE is still finishing waits for it.
func (s *Server) deliverBreaks(bs []csv.Break) {
	for _, b := range bs {
		if s.durableBreak(b) { // durable.go: disconnected holders are closed
			continue
		}
		reg := s.ol
		reg.mu.Lock()
		var o *open
		var lc *conn
		var since time.Time // lc's clientSince
		if b.IsLease {
			lc = reg.clientConn(b.Key.Client)
			if lc != nil {
				since = lc.clientSince
			}
			for _, id := range b.OpenIDs {
				if x := reg.byID[id]; x != nil {
					o = x
					break
				}
			}
			if o == nil && len(b.OpenIDs) > 0 {
				reg.pending[b.OpenIDs[0]] = append(reg.pending[b.OpenIDs[0]], b)
			}
		} else {
			o = reg.byID[b.OpenID]
			if o == nil {
				reg.pending[b.OpenID] = append(reg.pending[b.OpenID], b)
			}
		}
		reg.mu.Unlock()
		if o == nil {
			continue
		}
		c := o.sess.breakConn() // multichannel.go: any live channel
		if lc != nil {
			c = lc
		}
		if c == nil && !b.IsLease {
			continue
		}
		var body []byte
		var sessID uint64
		var sess *session // seals the notification when it encrypts
		if b.IsLease {
			n := wire.LeaseBreakNotification{
				LeaseKey:          b.Key.Key,
				CurrentLeaseState: b.From,
				NewLeaseState:     b.To,
			}
			if b.Version >= 2 {
				n.NewEpoch = b.Epoch
			}
			if b.AckRequired {
				n.Flags = wire.LeaseBreakFlagAckRequired
			}
			body = n.AppendTo(nil)
			if s.leaseBreakElsewhere(b.Key.Client, c != nil, since, body) || c == nil { // leaseack.go
				continue
			}
		} else {
			lvl := wire.OplockLevelNone
			if b.To&csv.CacheRead != 0 {
				lvl = wire.OplockLevelII
			}
			n := wire.OplockBreakNotification{OplockLevel: lvl, FileID: o.id}
			body = n.AppendTo(nil)
			sessID, sess = o.sess.id, o.sess
		}
		if err := c.sendBreak(sess, sessID, body); err != nil {
			c.log.Debug().Err(err).Msg("break notification not sent")
		}
	}
}

// sendBreak sends an unsolicited OPLOCK_BREAK notification ([MS-SMB2]
// 3.3.4.6, 3.3.4.7): MessageId all ones, no credits, unsigned; an oplock
// break names its open's session and is sealed when that session
// encrypts, a lease break names no session (as smbd does).
func (c *conn) sendBreak(sess *session, sessID uint64, body []byte) error {
	h := wire.Header{
		Command:   wire.CmdOplockBreak,
		Flags:     wire.FlagServerToRedir,
		MessageID: anyID,
		SessionID: sessID,
	}
	msg := h.AppendTo(make([]byte, 0, wire.HeaderSize+len(body)))
	msg = append(msg, body...)
	encrypt := false
	if sess != nil {
		sess.mu.Lock()
		encrypt = sess.encryptData && sess.enc != nil && sess.state == sessionValid
		sess.mu.Unlock()
	}
	if encrypt {
		if e := sess.encryptor(); e != nil {
			sealed, err := e.Seal(nil, sess.id, msg)
			if err != nil {
				return err
			}
			return c.writeFrame(sealed)
		}
	}
	return c.writeFrame(msg)
}

// breakOnWrite breaks the read caching of the file's other holders after
// a WRITE or an end-of-file or allocation change through o (level II
// oplocks and read leases go to none, no acknowledgment).
func (c *conn) breakOnWrite(r *request, o *open) {
	if o.handle == nil || o.handle.OpenID() == 0 {
		return
	}
	bs, err := o.handle.BreakRead(r.ctx)
	if err != nil {
		c.log.Debug().Err(err).Msg("break on write")
		return
	}
	c.srv.deliverBreaks(bs)
}

// handleOplockBreak handles OPLOCK_BREAK acknowledgments of oplocks and
// leases ([MS-SMB2] 3.3.5.22).
func (c *conn) handleOplockBreak(r *request) wire.Status {
	kind, err := wire.OplockBreakRequestKind(r.msg)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	if kind == wire.LeaseBreakAck {
		return c.handleLeaseBreakAck(r)
	}
	var req wire.OplockBreakAcknowledgment
	if err := req.Decode(r.msg); err != nil {
		return wire.StatusInvalidParameter
	}
	o, st := c.lookupOpen(r, req.FileID)
	if st != wire.StatusSuccess {
		return st
	}
	if o.handle == nil || o.handle.OpenID() == 0 {
		return wire.StatusInvalidOplockProtocol
	}
	lvl, err := o.handle.AckOplock(r.ctx, req.OplockLevel)
	switch {
	case errors.Is(err, csv.ErrNotBreaking):
		return wire.StatusInvalidOplockProtocol
	case errors.Is(err, csv.ErrInvalidParameter):
		return wire.StatusInvalidParameter
	case err != nil:
		return c.mapErr(err)
	}
	resp := wire.OplockBreakResponse{OplockLevel: lvl, FileID: o.id}
	r.out = resp.AppendTo(r.out)
	return wire.StatusSuccess
}

// breakForRename breaks the handle caching of the file's other leases
// before a rename through o, when o holds a lease, and waits (async) until
// none holds H any more: their clients must close cached handles first
// (Windows; Samba's delay_rename_for_lease_break). A request that cannot
// go async (inside a compound) waits in place.
func (c *conn) breakForRename(r *request, o *open) wire.Status {
	if o.handle == nil {
		return wire.StatusSuccess
	}
	return c.breakHandleCaching(r, o, o.handle.BreakHandle)
}

// breakForDelete breaks the handle caching of the file's other leases
// before delete is set pending through o (a disposition, or an open with
// FILE_DELETE_ON_CLOSE), whether or not o holds a lease, and waits as
// breakForRename does ([MS-FSA] 2.1.5.14.3; smbtorture
// smb2.lease.unlink): clients must close the handles they cache, or the
// file cannot go.
func (c *conn) breakForDelete(r *request, o *open) wire.Status {
	if o.handle == nil {
		return wire.StatusSuccess
	}
	return c.breakHandleCaching(r, o, o.handle.BreakHandleAll)
}

// breakHandleCaching delivers the breaks brk starts and waits (async when
// it can) until no lease it broke holds H any more.
func (c *conn) breakHandleCaching(r *request, o *open, brk func(context.Context) ([]csv.Break, bool, uint64, error)) wire.Status {
	if o.handle.OpenID() == 0 {
		return wire.StatusSuccess
	}
	vol := o.tree.vol
	timeout := c.srv.breakTimeout()
	for range maxBreakRounds {
		bs, wait, gen, err := brk(r.ctx)
		if err != nil {
			return c.mapErr(err)
		}
		c.srv.deliverBreaks(bs)
		if !wait {
			return wire.StatusSuccess
		}
		if err := c.goAsync(r); err != nil {
			c.log.Debug().Err(err).Msg("waiting for handle lease breaks synchronously")
			// The acknowledgment must still get through: later frames
			// may run (a SET_INFO keeps its turn until here, order.go),
			// even when requests of this compound remain (passTurn
			// would wait for the last: the acknowledgment, a later
			// frame, would then wait for the break timeout), and be
			// read (the frame may be running on the reader).
			if r.cs.turn != nil {
				r.cs.turn.pass()
			}
			r.detach()
		}
		started := time.Now()
		wctx, cancel := context.WithTimeout(r.ctx, timeout)
		err = vol.WaitObject(wctx, o.handle.ObjectID(), gen)
		cancel()
		if r.ctx.Err() != nil {
			return wire.StatusCancelled
		}
		if err != nil {
			if err := vol.ExpireBreaks(r.ctx, o.handle.ObjectID(), started); err != nil {
				return c.mapErr(err)
			}
		}
	}
	return wire.StatusSharingViolation
}
