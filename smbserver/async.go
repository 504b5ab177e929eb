package smbserver

import (
	"sofs.io/sofs/smbserver/wire"
)

// Async processing ([MS-SMB2] 3.3.4.2) and CANCEL (3.3.5.16).
//
// A handler that has to wait for something outside the request (a change
// notification, a blocking byte-range lock, an oplock or lease break) calls
// goAsync and then blocks on r.ctx or on its own event; when it returns,
// the final response goes out like any other, carrying the AsyncId. The
// request keeps running on its worker goroutine but gives the worker slot
// back, so any number of pending async requests cannot starve the
// connection's reader (bounded by maxAsyncPerConn instead).

// maxAsyncPerConn bounds the requests of one connection in the async state.
// The credits granted by an interim response let a client keep adding async
// requests, so without a bound a client could pin unbounded goroutines;
// beyond it goAsync refuses with STATUS_INSUFFICIENT_RESOURCES, as
// [MS-SMB2] 3.3.4.2 allows.
const maxAsyncPerConn = 512

// maxEarlyCancels bounds the CANCELs remembered for requests not yet seen.
const maxEarlyCancels = 256

// goAsync turns r into an async request ([MS-SMB2] 3.3.4.2): r gets an
// AsyncId, the responses of the compound before it are sent, then the
// STATUS_PENDING interim response, which grants r's credits. It returns nil
// when r is now async. Otherwise r cannot go async and the error is the
// wire.Status the handler should fail it with, if it cannot complete
// synchronously instead:
//
//   - STATUS_INTERNAL_ERROR for a request inside a compound chain that is
//     neither its last request nor a CREATE (3.3.5.2.7 lets the server fail
//     such requests; Windows fails them with this status, and only a CREATE
//     waiting for an oplock break or the last request goes async);
//   - STATUS_INSUFFICIENT_RESOURCES beyond maxAsyncPerConn.
//
// Calling it again on an async request is a no-op.
func (c *conn) goAsync(r *request) error {
	if r.asyncID != 0 {
		return nil
	}
	if !r.last && r.hdr.Command != wire.CmdCreate {
		return wire.StatusInternalError
	}
	c.pendingMu.Lock()
	if len(c.async) >= maxAsyncPerConn {
		c.pendingMu.Unlock()
		return wire.StatusInsufficientResources
	}
	id := c.nextAsync.Add(1)
	r.asyncID = id
	c.async[id] = r
	c.pendingMu.Unlock()

	cs := r.cs
	if len(cs.resps) > 0 {
		// The compound's earlier responses go out now, compounded in
		// their own frame, ahead of the interim response.
		err := c.sendResponses(cs.resps, cs)
		cs.freeResps(c)
		cs.flushed = true
		if err != nil {
			c.log.Debug().Err(err).Msg("sending responses before an interim response")
		}
		// sendResponses ran their afterSend hooks as they were queued.
	}
	if err := c.sendInterim(r); err != nil {
		// The connection is going away; the request still completes and
		// its final response fails to send the same way.
		c.log.Debug().Err(err).Msg("sending an interim response")
	}
	c.unpinOpen(r)
	if cs.turn != nil {
		cs.turn.pass()
	}
	if cs.release != nil {
		cs.release()
	}
	return nil
}

// sendInterim sends the STATUS_PENDING interim response of r ([MS-SMB2]
// 3.3.4.2): the async header with r's AsyncId and the credits r is granted
// (its final response grants none), an empty ERROR body. It is never signed
// (3.3.4.1.1 excludes interim responses); like smbd, it echoes the request's
// signature field with SMB2_FLAGS_SIGNED clear. It is encrypted when r's
// response would be.
func (c *conn) sendInterim(r *request) error {
	rh := wire.Header{
		CreditCharge: r.hdr.CreditCharge,
		Status:       uint32(wire.StatusPending),
		Command:      r.hdr.Command,
		Credits:      c.grantFor(r),
		Flags:        wire.FlagServerToRedir | wire.FlagAsyncCommand | (r.hdr.Flags & wire.FlagPriorityMask),
		MessageID:    r.hdr.MessageID,
		AsyncID:      r.asyncID,
		SessionID:    r.hdr.SessionID,
		Signature:    r.hdr.Signature,
	}
	out := rh.AppendTo(make([]byte, 0, wire.HeaderSize+9))
	e := wire.ErrorResponse{}
	out = e.AppendTo(out)
	// No session on the stand-in request: nothing signs it.
	tmp := &request{c: c, hdr: r.hdr, out: out, status: wire.StatusPending}
	cs := &compoundState{}
	if r.cs.respSess != nil {
		cs.respSess = r.cs.respSess
	} else if r.sess != nil && r.sess.encryptResponses(r) {
		cs.respSess = r.sess
	}
	return c.sendResponses([]*request{tmp}, cs)
}

// track records r for CANCEL by MessageId. A CANCEL that arrived before r
// (its frame ran on another worker) is applied now.
func (c *conn) track(r *request) {
	c.pendingMu.Lock()
	c.pending[r.hdr.MessageID] = r
	sid, early := c.earlyCancel[r.hdr.MessageID]
	if early {
		delete(c.earlyCancel, r.hdr.MessageID)
		early = sid == r.hdr.SessionID
	}
	c.pendingMu.Unlock()
	if early && r.cancel != nil {
		r.cancel()
	}
}

func (c *conn) untrack(r *request) {
	c.pendingMu.Lock()
	if c.pending[r.hdr.MessageID] == r {
		delete(c.pending, r.hdr.MessageID)
	}
	if r.asyncID != 0 && c.async[r.asyncID] == r {
		delete(c.async, r.asyncID)
	}
	c.pendingMu.Unlock()
}

// handleCancel cancels the request a CANCEL names ([MS-SMB2] 3.3.5.16): by
// AsyncId when SMB2_FLAGS_ASYNC_COMMAND is set, else by MessageId. Only a
// request of the same session is cancelled. CANCEL has no response and
// consumes no credit. The cancelled request completes with the status its
// handler chooses (STATUS_CANCELLED unless it finished first).
func (c *conn) handleCancel(r *request) {
	c.pendingMu.Lock()
	var target *request
	var cancel func()
	if r.hdr.IsAsync() {
		target = c.async[r.hdr.AsyncID]
	} else {
		target = c.pending[r.hdr.MessageID]
		if target == nil && len(c.earlyCancel) < maxEarlyCancels && c.credits.unconsumed(r.hdr.MessageID) {
			// The request has not been read yet (requests of separate
			// frames run in parallel): cancel it when it is tracked.
			// Checked under pendingMu, and track runs before a request
			// consumes its id, so no CANCEL falls in between.
			c.earlyCancel[r.hdr.MessageID] = r.hdr.SessionID
		}
	}
	// Read under the lock: once untracked, a request may be recycled.
	if target != nil && target.hdr.SessionID == r.hdr.SessionID {
		cancel = target.cancel
	}
	c.pendingMu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// cancelAsync cancels the async requests of session sid, or only those on
// tree connect tid when tid is not 0: a LOGOFF or TREE_DISCONNECT must not
// leave requests waiting forever on what it tears down (smbd does the
// same; [MS-SMB2] 3.3.5.6 and 3.3.5.8 close everything the session or tree
// holds). Each completes with the status its handler chooses.
func (c *conn) cancelAsync(sid uint64, tid uint32) {
	c.pendingMu.Lock()
	var victims []func()
	for _, r := range c.async {
		if r.hdr.SessionID == sid && (tid == 0 || (r.tree != nil && r.tree.id == tid)) && r.cancel != nil {
			victims = append(victims, r.cancel)
		}
	}
	c.pendingMu.Unlock()
	for _, cancel := range victims {
		cancel()
	}
}
