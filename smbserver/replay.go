package smbserver

import (
	"sync"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/wire"
)

// Replay ([MS-SMB2] 3.3.5.2.10 channel sequence, 3.3.5.9.10 replay of a
// CREATE with a DH2Q CreateGuid).
//
// A client that loses a channel resends its outstanding requests on
// another one with SMB2_FLAGS_REPLAY_OPERATION. A replayed CREATE names
// the CreateGuid of the original: it gets the original open back (while
// that CREATE is still pending it fails with STATUS_FILE_NOT_AVAILABLE,
// so the client retries instead of opening twice). WRITE, SET_INFO and
// IOCTL carry the channel sequence number the client was on; one older
// than the open's (the client has failed over since) is refused with
// STATUS_FILE_NOT_AVAILABLE, so a request stuck on a dead channel cannot
// overwrite what the client wrote after failing over.

// replayEntry is the replay state of one CREATE that carried a DH2Q
// CreateGuid, durable or not.
type replayEntry struct {
	// pending is set while the CREATE runs (it may wait for breaks).
	pending bool
	o       *open
	// reply is the response that made the open.
	reply wire.CreateResponse
}

// replayTable maps (ClientGuid, CreateGuid) to CREATEs that can be
// replayed. Entries go with their open (replayClosed) or with a CREATE
// that failed, so the table is bounded by the opens. The zero value is
// ready to use.
type replayTable struct {
	mu sync.Mutex
	m  map[createKey]*replayEntry
}

// replayBegin registers r's CREATE as pending under key.
func (c *conn) replayBegin(r *request, key createKey) {
	t := &c.srv.replays
	e := &replayEntry{pending: true}
	t.mu.Lock()
	if t.m == nil {
		t.m = make(map[createKey]*replayEntry)
	}
	t.m[key] = e
	t.mu.Unlock()
	r.replayKey, r.replayEntry = key, e
}

// replayGranted records the open and response of r's CREATE, so that a
// replay finds them.
func (c *conn) replayGranted(r *request, o *open, resp *wire.CreateResponse) {
	e := r.replayEntry
	if e == nil {
		return
	}
	t := &c.srv.replays
	t.mu.Lock()
	if t.m[r.replayKey] == e {
		e.pending, e.o, e.reply = false, o, *resp
		e.reply.Contexts = append([]wire.CreateContext(nil), resp.Contexts...)
		o.replayKey, o.hasReplayKey = r.replayKey, true
		o.replayable.Store(true)
	}
	t.mu.Unlock()
}

// replayEnd forgets r's entry if its CREATE did not produce an open.
func (c *conn) replayEnd(r *request) {
	e := r.replayEntry
	if e == nil {
		return
	}
	t := &c.srv.replays
	t.mu.Lock()
	if e.pending && t.m[r.replayKey] == e {
		delete(t.m, r.replayKey)
	}
	t.mu.Unlock()
	r.replayEntry = nil
}

// replayClosed forgets a closing open's entry (hook in closeOpen).
func (s *Server) replayClosed(o *open) {
	if !o.hasReplayKey {
		return
	}
	t := &s.replays
	t.mu.Lock()
	if e := t.m[o.replayKey]; e != nil && e.o == o {
		delete(t.m, o.replayKey)
	}
	t.mu.Unlock()
}

// replayLookup handles a DH2Q CREATE whose CreateGuid is known but not as
// a durable open (those durableCreate reattaches): a CREATE still in
// progress, or an open that was not made durable. It reports done when
// it answered the request.
func (c *conn) replayLookup(r *request, req *wire.CreateRequest, dq *durableRequest, key createKey) (wire.Status, bool) {
	replay := r.hdr.Flags&wire.FlagReplayOperation != 0
	t := &c.srv.replays
	t.mu.Lock()
	e := t.m[key]
	var pending bool
	var o *open
	var reply wire.CreateResponse
	if e != nil {
		pending, o, reply = e.pending, e.o, e.reply
	}
	t.mu.Unlock()
	switch {
	case e == nil:
		return wire.StatusSuccess, false
	case pending:
		// [MS-SMB2] 3.3.5.9.10: the original CREATE has not completed;
		// the client retries the replay later (Samba answers the same;
		// Windows answers ACCESS_DENIED, smbtorture's *-windows cases).
		if replay {
			return wire.StatusFileNotAvailable, true
		}
		return wire.StatusDuplicateObjectID, true
	case c.srv.dh.get(o) != nil:
		return wire.StatusSuccess, false // durable: durableCreate's path
	case !replay:
		return wire.StatusDuplicateObjectID, true
	case o.sess != r.sess || o.tree != r.tree:
		// A handle that is not durable cannot move to another session.
		return wire.StatusFileNotAvailable, true
	}
	r.cs.fileID, r.cs.haveFileID = o.id, true
	return c.replayResponse(r, req, dq, &reply, o, nil), true
}

// replayResponse answers a replayed CREATE with the original open
// ([MS-SMB2] 3.3.5.9.10), as Windows does: the original response with the
// oplock level the replay asked for, the lease's current state when the
// replay names the open's lease (ACCESS_DENIED for any other lease), and
// the DH2Q response only when the replay could have been granted
// durability (a persistent handle, or a batch oplock or lease request).
func (c *conn) replayResponse(r *request, req *wire.CreateRequest, dq *durableRequest, reply *wire.CreateResponse, o *open, d *durableOpen) wire.Status {
	if d != nil && d.persistent && dq.q2.Flags&wire.DurableHandleFlagPersistent == 0 {
		return wire.StatusInvalidParameter
	}
	lr, st := c.leaseRequest(req)
	if st != wire.StatusSuccess {
		return st
	}
	var grant *csv.LeaseGrant
	if lr != nil {
		key, leased := c.srv.openLeaseKey(o)
		if !leased || o.handle == nil || key != lr.Key {
			return wire.StatusAccessDenied
		}
		g, err := o.handle.CurrentLease(r.ctx, key)
		if err != nil {
			return c.mapErr(err)
		}
		if g == nil {
			return wire.StatusAccessDenied
		}
		grant = g
	}
	resp := *reply
	resp.OplockLevel = req.RequestedOplockLevel
	resp.Contexts = nil
	for _, cc := range reply.Contexts {
		switch cc.Name {
		case wire.CreateContextRequestLease, wire.CreateContextDurableHandle, wire.CreateContextDurableHandleV2:
		default:
			resp.Contexts = append(resp.Contexts, cc)
		}
	}
	if lr != nil {
		resp.Contexts = append(resp.Contexts, wire.CreateContext{
			Name: wire.CreateContextRequestLease,
			Data: leaseResponse(lr, grant).Encode(),
		})
	}
	if d != nil && (d.persistent || req.RequestedOplockLevel == wire.OplockLevelBatch || req.RequestedOplockLevel == wire.OplockLevelLease) {
		resp.Contexts = append(resp.Contexts, d.responseContext())
	}
	r.out = resp.AppendTo(r.out)
	return wire.StatusSuccess
}

// openLeaseKey returns the lease an open holds, if any.
func (s *Server) openLeaseKey(o *open) (csv.LeaseKey, bool) {
	s.ol.mu.Lock()
	defer s.ol.mu.Unlock()
	info, ok := s.ol.info[o]
	return info.lease, ok && info.hasLease
}

// Channel sequence ([MS-SMB2] 3.3.5.2.10).

// isModifyingCommand reports the commands a stale channel sequence fails:
// WRITE, SET_INFO and IOCTL, the ones the specification names.
func isModifyingCommand(cmd wire.Command) bool {
	return cmd == wire.CmdWrite || cmd == wire.CmdSetInfo || cmd == wire.CmdIoctl
}

// verifyChannelSequence applies [MS-SMB2] 3.3.5.2.10 to a request on o
// (SMB 3.x). Every request moves the open to a newer ChannelSequence (at
// most 0x7FFF ahead, 16-bit wrap), which moves the requests still
// outstanding to the "pre" count. A modifying request (WRITE, SET_INFO,
// IOCTL) is counted as outstanding until it completes, and fails with
// STATUS_FILE_NOT_AVAILABLE when its ChannelSequence is older than the
// open's, or when it is a replay while requests of an older sequence are
// still outstanding (as Windows and Samba do). It is also the first use
// of the open, after which a replay of its CREATE no longer returns it
// (replayUsed). The common case, a request on the open's current
// sequence that modifies nothing, costs two atomic loads.
func (c *conn) verifyChannelSequence(r *request, o *open) wire.Status {
	if o.replayable.Load() && r.hdr.Command != wire.CmdCreate {
		c.srv.replayUsed(o)
	}
	seq := r.hdr.ChannelSequence()
	modify := isModifyingCommand(r.hdr.Command)
	if !modify && uint16(o.csn.Load()) == seq {
		return wire.StatusSuccess
	}
	replay := r.hdr.Flags&wire.FlagReplayOperation != 0
	o.csnMu.Lock()
	defer o.csnMu.Unlock()
	cur := uint16(o.csn.Load())
	diff := seq - cur // 16-bit wrap
	newer := diff != 0 && diff <= 0x7FFF
	if !modify {
		if newer {
			o.csnPre += o.csnOutstanding
			o.csnOutstanding = 0
			o.csn.Store(uint32(seq))
		}
		return wire.StatusSuccess
	}
	switch {
	case diff == 0 && (!replay || o.csnPre == 0):
		o.csnOutstanding++
	case newer && (!replay || o.csnPre == 0):
		o.csnPre += o.csnOutstanding
		o.csnOutstanding = 1
		o.csn.Store(uint32(seq))
	default:
		return wire.StatusFileNotAvailable
	}
	r.csnOpen, r.csnSeq = o, seq
	return wire.StatusSuccess
}

// channelSequenceDone ends a request that verifyChannelSequence counted.
func (o *open) channelSequenceDone(seq uint16) {
	o.csnMu.Lock()
	if seq == uint16(o.csn.Load()) && o.csnOutstanding > 0 {
		o.csnOutstanding--
	} else if o.csnPre > 0 {
		o.csnPre--
	}
	o.csnMu.Unlock()
}

// replayUsed ends the replay window of o's CREATE: once the client has
// used the handle it got the response, so a CREATE with the same
// CreateGuid and REPLAY_OPERATION is a new open, as Windows treats it
// (smbtorture smb2.replay.replay6).
func (s *Server) replayUsed(o *open) {
	if !o.replayable.CompareAndSwap(true, false) {
		return
	}
	t := &s.replays
	t.mu.Lock()
	if e := t.m[o.replayKey]; e != nil && e.o == o {
		delete(t.m, o.replayKey)
	}
	t.mu.Unlock()
	dt := &s.dh
	dt.mu.Lock()
	if d := dt.byCreate[o.replayKey]; d != nil && d.o == o {
		delete(dt.byCreate, o.replayKey)
	}
	dt.mu.Unlock()
}
