package smbserver

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"sofs.io/sofs/smbserver/smbcrypto"
	"sofs.io/sofs/smbserver/wire"
)

// errDisconnect marks a protocol violation after which the connection is
// closed without a response ([MS-SMB2] 3.3.5.2: framing, credit and
// signature-of-transform failures).
var errDisconnect = errors.New("protocol violation")

// request is one SMB2 message being processed.
type request struct {
	c         *conn
	hdr       wire.Header
	msg       []byte // header + body of this message; aliases the frame
	ctx       context.Context
	cancel    context.CancelFunc
	encrypted bool // arrived inside a transform header
	sess      *session
	tree      *tree
	cs        *compoundState
	last      bool // last message of its compound

	out []byte // response under construction: header then body
	// outBuf, when set, is the pooled buffer r.out was cut from, with
	// smbcrypto.TransformHeaderSize bytes of room before r.out so that a
	// large response (READ) can be sealed where it lies (send.go).
	outBuf []byte
	status wire.Status // final status
	// async state: set once the request went async (interim sent).
	asyncID uint64
	// errData is the ErrorData of an ERROR response (e.g. the symlink
	// error context); nil for an empty one.
	errData []byte
	// noResponse suppresses the response (a successful OPLOCK_BREAK ack
	// carries one, CANCEL never does).
	noResponse bool
	// sign forces the response to be signed even when the request was not
	// (session setup completion, [MS-SMB2] 3.3.5.5.3).
	sign bool
	// signSess is the session whose key signs the response when it is not
	// r.sess (the final SESSION_SETUP of a binding).
	signSess *session
	// setupSess is the session a SESSION_SETUP worked on, for the preauth
	// hash of its response; setupChan the channel a binding works on.
	setupSess *session
	setupChan *channel
	// bindSess is the session a binding SESSION_SETUP names, found in the
	// global table whether or not its signature verified; bindVerified
	// says it did (multichannel.go).
	bindSess     *session
	bindVerified bool
	// replayKey and replayEntry are the replay table entry of a DH2Q
	// CREATE in progress; csnOpen and csnSeq the open whose channel
	// sequence counts this request (replay.go).
	replayKey   createKey
	replayEntry *replayEntry
	csnOpen     *open
	csnSeq      uint16
	// pinned is set while r holds a pin on open pinnedID (order.go).
	pinned   bool
	pinnedID uint64
	// sessOK and treeOK record that the request's session and tree connect
	// were found valid (or were created by it), for the next related
	// request of a compound.
	sessOK, treeOK bool
}

// compoundState carries the implied session, tree and file of related
// compounded requests ([MS-SMB2] 3.3.5.2.7.2) and the responses of the
// chain not yet sent.
type compoundState struct {
	sessionID  uint64
	sessionOK  bool // the previous operation had (or created) a valid session
	treeID     uint32
	treeOK     bool // the previous operation had (or created) a tree connect
	fileID     wire.FileID
	haveFileID bool
	// createErr is the failure of a CREATE earlier in the compound, which
	// every later related operation fails with (see resolveRelated).
	createErr wire.Status
	encrypted bool
	respSess  *session // session whose keys encrypt the compound response
	related   bool
	// flushed is set once goAsync sent part of the chain's responses.
	flushed bool
	// resps are the responses produced so far and not yet sent; goAsync
	// flushes them before the interim response.
	resps []*request
	// release gives up the frame's worker slot when a request goes async;
	// nil when the frame runs inline on the reader.
	release func()
	// turn is the frame's place in the connection's request order; nil
	// when the frame runs inline on the reader.
	turn *turn
	// reqs are the chain's requests, recycled when the chain is done;
	// pieces is sendResponses' scratch list of response buffers.
	reqs   []*request
	pieces [][]byte
	// afterSend runs when the chain's responses take their place in the
	// send queue (writeFrameQueued), or when the chain failed: what must
	// not reach the client before a response, such as the first break of
	// an open the client has not seen yet.
	afterSend []queuedHook
}

// Requests and compound states are recycled (a READ or WRITE in steady
// state allocates nothing). Nothing keeps a request past its chain: the
// pending and async maps drop it in process, and handleCancel and
// cancelAsync copy what they need under pendingMu. A request that went
// async is not recycled all the same, in case a handler left a waiter
// behind that still names it.
var (
	requestPool  = sync.Pool{New: func() any { return new(request) }}
	compoundPool = sync.Pool{New: func() any { return new(compoundState) }}
)

// newCompound returns a reset compound state from the pool.
func newCompound(encSess *session, release func(), t *turn) *compoundState {
	cs := compoundPool.Get().(*compoundState)
	reqs, pieces, resps, after := cs.reqs[:0], cs.pieces[:0], cs.resps[:0], cs.afterSend[:0]
	*cs = compoundState{encrypted: encSess != nil, respSess: encSess, release: release, turn: t,
		reqs: reqs, pieces: pieces, resps: resps, afterSend: after}
	return cs
}

// freeCompound returns cs, its requests and their buffers to the pools.
func (c *conn) freeCompound(cs *compoundState) {
	runHooks(cs.afterSend)
	clear(cs.afterSend) // the pooled state must not keep opens alive
	cs.afterSend = cs.afterSend[:0]
	cs.freeResps(c)
	for _, r := range cs.reqs {
		if r.asyncID == 0 {
			*r = request{}
			requestPool.Put(r)
		}
	}
	clear(cs.reqs)
	cs.reqs = cs.reqs[:0]
	cs.respSess, cs.release, cs.turn = nil, nil, nil
	compoundPool.Put(cs)
}

// commandInfo is the central validation table ([MS-SMB2] 3.3.5.2.x).
type commandInfo struct {
	needSession bool
	needTree    bool
	// noCancel marks commands whose handlers never wait on r.ctx nor go
	// async (READ and WRITE complete with the file system call): they
	// get no context of their own, which a CANCEL could not use anyway.
	noCancel bool
	// keepsTurn marks commands whose effects every later request must
	// see: they do not let later frames start once their FileId is
	// resolved (request.ordered), only when they end or go async.
	keepsTurn bool
	handle    func(c *conn, r *request) wire.Status
}

var commandTable [wire.NumCommands]commandInfo

func init() {
	commandTable = [wire.NumCommands]commandInfo{
		wire.CmdNegotiate:      {handle: (*conn).handleNegotiate},
		wire.CmdSessionSetup:   {handle: (*conn).handleSessionSetup},
		wire.CmdLogoff:         {needSession: true, handle: (*conn).handleLogoff},
		wire.CmdTreeConnect:    {needSession: true, handle: (*conn).handleTreeConnect},
		wire.CmdTreeDisconnect: {needSession: true, needTree: true, handle: (*conn).handleTreeDisconnect},
		wire.CmdCreate:         {needSession: true, needTree: true, handle: (*conn).handleCreate},
		wire.CmdClose:          {needSession: true, needTree: true, handle: (*conn).handleClose},
		wire.CmdFlush:          {needSession: true, needTree: true, handle: (*conn).handleFlush},
		wire.CmdRead:           {needSession: true, needTree: true, noCancel: true, handle: (*conn).handleRead},
		wire.CmdWrite:          {needSession: true, needTree: true, noCancel: true, handle: (*conn).handleWrite},
		wire.CmdLock:           {needSession: true, needTree: true, handle: (*conn).handleLock},
		wire.CmdIoctl:          {needSession: true, needTree: true, handle: (*conn).handleIoctl},
		wire.CmdCancel:         {handle: nil},
		wire.CmdEcho:           {handle: (*conn).handleEcho},
		wire.CmdQueryDirectory: {needSession: true, needTree: true, handle: (*conn).handleQueryDirectory},
		wire.CmdChangeNotify:   {needSession: true, needTree: true, handle: (*conn).handleChangeNotify},
		wire.CmdQueryInfo:      {needSession: true, needTree: true, handle: (*conn).handleQueryInfo},
		// A rename, delete disposition or size change, with the breaks it
		// starts, comes before anything the client sent after it
		// (smb2.lease.rename_wait).
		wire.CmdSetInfo:     {needSession: true, needTree: true, keepsTurn: true, handle: (*conn).handleSetInfo},
		wire.CmdOplockBreak: {needSession: true, needTree: true, handle: (*conn).handleOplockBreak},
	}
}

const anyID = ^uint64(0)

// handleFrame processes one direct-TCP frame: SMB1 negotiate, an
// encrypted transform, or a chain of SMB2 messages.
func (c *conn) handleFrame(frame []byte) error { return c.handleFrameWorker(frame, nil, nil) }

// handleFrameWorker is handleFrame on a worker goroutine: release gives up
// the worker's slot when a request of the frame goes async, t is the
// frame's place in the connection's request order (order.go).
func (c *conn) handleFrameWorker(frame []byte, release func(), t *turn) error {
	if len(frame) < 4 {
		return fmt.Errorf("%w: frame of %d bytes", errDisconnect, len(frame))
	}
	switch le32(frame) {
	case smb1ProtocolID:
		if c.negotiated {
			return fmt.Errorf("%w: SMB1 after negotiate", errDisconnect)
		}
		return c.handleSMB1Negotiate(frame)
	case transformProtocolID:
		return c.handleTransform(frame, release, t)
	case wire.ProtocolID:
		return c.handleChain(frame, nil, release, t)
	default:
		return fmt.Errorf("%w: unknown protocol id %#x", errDisconnect, le32(frame))
	}
}

const (
	smb1ProtocolID      uint32 = 0x424D53FF
	transformProtocolID uint32 = 0x424D53FD
)

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// handleTransform decrypts an SMB2 TRANSFORM_HEADER message ([MS-SMB2]
// 3.3.5.2.1.1). Any failure disconnects: the spec gives no error response
// for a message the server cannot decrypt.
func (c *conn) handleTransform(frame []byte, release func(), t *turn) error {
	if c.dialect < Dialect300 {
		return fmt.Errorf("%w: transform before SMB 3", errDisconnect)
	}
	sid, err := smbcrypto.TransformSessionID(frame)
	if err != nil {
		return fmt.Errorf("%w: %v", errDisconnect, err)
	}
	sess := c.srv.sessions.get(sid)
	if sess == nil {
		return fmt.Errorf("%w: transform for unknown session %#x", errDisconnect, sid)
	}
	dec := sess.decryptorFor(c) // multichannel.go: only on a bound channel
	if dec == nil {
		return fmt.Errorf("%w: transform for session %#x without keys on this connection", errDisconnect, sid)
	}
	var plain []byte
	if cap(frame)-len(frame) >= smbcrypto.OpenInPlaceRoom {
		// The reader leaves room after every frame: decrypt over the
		// ciphertext, so a large WRITE's data is never copied here. The
		// plaintext lives as long as the frame, as unencrypted requests do.
		plain, err = dec.OpenInPlace(frame)
		if err != nil {
			return fmt.Errorf("%w: decrypt: %v", errDisconnect, err)
		}
	} else {
		plain = c.srv.bufs.get(len(frame))
		plain, err = dec.Open(plain, frame)
		if err != nil {
			c.srv.bufs.put(plain)
			return fmt.Errorf("%w: decrypt: %v", errDisconnect, err)
		}
		defer c.srv.bufs.put(plain)
	}
	if len(plain) < 4 || le32(plain) != wire.ProtocolID {
		return fmt.Errorf("%w: decrypted payload is not SMB2", errDisconnect)
	}
	return c.handleChain(plain, sess, release, t)
}

// handleChain processes a (possibly compounded) chain of SMB2 messages and
// sends the responses as one frame ([MS-SMB2] 3.3.5.2.7). A request that
// goes async has the responses before it sent early (see goAsync).
func (c *conn) handleChain(buf []byte, encSess *session, release func(), t *turn) error {
	cs := newCompound(encSess, release, t)
	defer c.freeCompound(cs)
	if t != nil {
		// Decryption above ran in parallel; the requests run in order.
		t.wait()
		defer t.pass()
	}
	off := 0
	for {
		msg := buf[off:]
		hdr, err := wire.DecodeHeader(msg)
		if err != nil {
			return fmt.Errorf("%w: %v", errDisconnect, err)
		}
		if hdr.NextCommand != 0 {
			next := int(hdr.NextCommand)
			if next%8 != 0 || next < wire.HeaderSize || next > len(msg) {
				return fmt.Errorf("%w: NextCommand %d", errDisconnect, next)
			}
			msg = msg[:next]
		}
		if hdr.Flags&wire.FlagServerToRedir != 0 {
			return fmt.Errorf("%w: response flag on a request", errDisconnect)
		}
		if !c.negotiated && hdr.Command != wire.CmdNegotiate {
			return fmt.Errorf("%w: %v before NEGOTIATE", errDisconnect, hdr.Command)
		}
		if encSess != nil && hdr.SessionID != encSess.id && !(off > 0 && hdr.Flags&wire.FlagRelatedOps != 0 && hdr.SessionID == anyID) {
			return fmt.Errorf("%w: transform session %#x carries session %#x", errDisconnect, encSess.id, hdr.SessionID)
		}
		r := requestPool.Get().(*request)
		*r = request{c: c, hdr: hdr, msg: msg, encrypted: encSess != nil, cs: cs, last: hdr.NextCommand == 0}
		cs.reqs = append(cs.reqs, r)
		if err := c.process(r, off == 0); err != nil {
			return err
		}
		if !r.noResponse {
			cs.resps = append(cs.resps, r)
		}
		if hdr.NextCommand == 0 {
			break
		}
		off += int(hdr.NextCommand)
	}
	if t != nil {
		t.pass() // later frames need not wait for the write
	}
	return c.sendResponses(cs.resps, cs)
}

// freeResps returns the buffers of the chain's responses to the pool.
func (cs *compoundState) freeResps(c *conn) {
	for _, r := range cs.resps {
		if r.outBuf != nil {
			c.srv.bufs.put(r.outBuf)
		} else {
			c.srv.bufs.put(r.out)
		}
		r.out, r.outBuf = nil, nil
	}
	cs.resps = cs.resps[:0]
}

// process validates one request against the central table, runs its
// handler and fills r.out with the complete response message.
func (c *conn) process(r *request, first bool) (err error) {
	h := &r.hdr
	if h.Command == wire.CmdCancel {
		c.handleCancel(r)
		r.noResponse = true
		return nil
	}
	if int(h.Command) >= wire.NumCommands {
		// Unknown command codes are answered, not fatal.
		if err := c.credits.consume(h.MessageID, h.CreditCharge); err != nil {
			return fmt.Errorf("%w: %v", errDisconnect, err)
		}
		c.finish(r, wire.StatusInvalidParameter)
		return nil
	}
	info := commandTable[h.Command]
	// Before anything of the request is done, as late as a queued
	// request can be stopped (fence.go).
	gate, err := c.enterFence()
	if err != nil {
		return c.fenced(r, "before execution", err)
	}
	// Tracked before its MessageId is consumed, so that a CANCEL racing
	// with it on another worker finds it either here or as not yet
	// arrived (handleCancel).
	if info.noCancel {
		// Nothing in the handler waits: the request runs under the
		// connection's context and a CANCEL finds nothing to stop.
		r.ctx = c.ctx
	} else if h.Command == wire.CmdCreate {
		var stop func() bool
		r.ctx, r.cancel, stop = c.createContext(h.SessionID) // multichannel.go
		defer stop()
		defer r.cancel()
	} else {
		r.ctx, r.cancel = context.WithCancel(c.ctx)
		defer r.cancel()
	}
	c.track(r)
	defer c.untrack(r)
	if err := c.chargeCredits(r); err != nil {
		return err
	}

	status := c.resolveRelated(r, first, info)
	// The session is looked up even when the request already failed, so
	// that its error response is signed like any other ([MS-SMB2]
	// 3.3.4.1.1); clients that require signing reject unsigned errors.
	if h.Command == wire.CmdSessionSetup && h.SessionID != 0 && isBindingRequest(r.msg) {
		if st := c.lookupBinding(r); status == wire.StatusSuccess { // multichannel.go
			status = st
		}
	} else if info.needSession || (h.Command == wire.CmdSessionSetup && h.SessionID != 0) ||
		(h.Flags&wire.FlagSigned != 0 && !r.encrypted && h.Command != wire.CmdNegotiate) {
		// A signed request is verified whatever its command ([MS-SMB2]
		// 3.3.5.2.4), and its response signed in turn (an ECHO included).
		// [MS-SMB2] 3.3.5.2.9: LOGOFF is processed on a session that is not
		// (or no longer) valid, so a client can abandon an authentication.
		st := c.lookupSession(r, info.needSession && h.Command != wire.CmdLogoff)
		r.sessOK = st == wire.StatusSuccess && info.needSession
		if status == wire.StatusSuccess {
			status = st
		}
	}
	if h.Command == wire.CmdTreeConnect && status == wire.StatusSuccess && c.unsignedTreeConnect(r) {
		// [MS-SMB2] 3.3.5.7: on 3.1.1 the TREE_CONNECT of a session that
		// is neither anonymous nor guest MUST be signed (or sealed); its
		// signature is what protects the negotiation once
		// VALIDATE_NEGOTIATE_INFO is gone, so the server disconnects.
		return fmt.Errorf("%w: unsigned TREE_CONNECT on a 3.1.1 session", errDisconnect)
	}
	if status == wire.StatusSuccess && info.needTree {
		status = c.lookupTree(r)
		r.treeOK = status == wire.StatusSuccess
	}
	if status == wire.StatusSuccess {
		if slowCommand(h.Command, r.msg) {
			r.detach()
		}
		r.out = c.srv.bufs.get(wire.HeaderSize + 1024)[:wire.HeaderSize]
		c.pinOpen(r)
		status = c.runHandler(info, r)
		if r.csnOpen != nil {
			r.csnOpen.channelSequenceDone(r.csnSeq) // replay.go
		}
		c.unpinOpen(r)
	}
	if err := c.leaveFence(gate); err != nil {
		return c.fenced(r, "before the response", err)
	}
	switch h.Command {
	case wire.CmdSessionSetup:
		r.sessOK = status == wire.StatusSuccess
	case wire.CmdLogoff:
		r.sessOK = r.sessOK && status != wire.StatusSuccess
	case wire.CmdTreeConnect:
		r.treeOK = status == wire.StatusSuccess
	case wire.CmdTreeDisconnect:
		r.treeOK = r.treeOK && status != wire.StatusSuccess
	}
	c.finish(r, status)
	return nil
}

// chargeCredits consumes the request's MessageIds from the window and
// checks CreditCharge against the payload ([MS-SMB2] 3.3.5.2.3, 3.3.5.2.5).
func (c *conn) chargeCredits(r *request) error {
	h := &r.hdr
	charge := h.CreditCharge
	if c.dialect == Dialect202 || !c.negotiated {
		charge = 1
	}
	if err := c.credits.consume(h.MessageID, charge); err != nil {
		return fmt.Errorf("%w: %v", errDisconnect, err)
	}
	return nil
}

// runHandler calls the command handler, turning a panic into
// STATUS_INTERNAL_ERROR so that no request can take the process down.
func (c *conn) runHandler(info commandInfo, r *request) (status wire.Status) {
	obs := c.srv.cfg.Observer
	var start time.Time
	if obs != nil {
		start = time.Now()
	}
	defer func() {
		if p := recover(); p != nil {
			c.log.Error().Interface("panic", p).Str("stack", string(debug.Stack())).
				Stringer("command", r.hdr.Command).Msg("handler panic")
			status = wire.StatusInternalError
		}
		if obs != nil {
			obs.ObserveRequest(uint16(r.hdr.Command), uint32(status), time.Since(start), len(r.msg), len(r.out))
		}
	}()
	status = info.handle(c, r)
	if r.hdr.Command == wire.CmdSessionSetup && status == wire.StatusSuccess {
		c.markAuthenticated() // hygiene.go: the logon limits end here
	}
	return status
}

// resolveRelated applies [MS-SMB2] 3.3.5.2.7.2 to a related compounded
// request: it runs with the SessionId and TreeId the previous operation
// used or created (whatever its header says), fails with
// STATUS_INVALID_PARAMETER when the previous operation had no valid session
// or tree connect to hand on, and fails with the status of a CREATE that
// failed earlier in the compound. Other failures do not propagate: as
// Windows does (and smbtorture's compound tests check), a failed WRITE does
// not stop a related READ on the same handle (<260>).
func (c *conn) resolveRelated(r *request, first bool, info commandInfo) wire.Status {
	h := &r.hdr
	cs := r.cs
	if h.Flags&wire.FlagRelatedOps == 0 {
		// An unrelated request starts afresh: nothing is inherited.
		cs.related = false
		cs.haveFileID = false
		return wire.StatusSuccess
	}
	if first {
		// [MS-SMB2] 3.3.5.2.7.2: a first request cannot be related.
		return wire.StatusInvalidParameter
	}
	cs.related = true
	h.SessionID = cs.sessionID
	if !h.IsAsync() {
		h.TreeID = cs.treeID
	}
	if info.needSession && !cs.sessionOK {
		return wire.StatusInvalidParameter
	}
	if cs.createErr != wire.StatusSuccess {
		return cs.createErr
	}
	if info.needTree && !cs.treeOK {
		return wire.StatusInvalidParameter
	}
	return wire.StatusSuccess
}

// finish completes the response header (or an ERROR response) and records
// compound state for the next related request.
func (c *conn) finish(r *request, status wire.Status) {
	r.status = status
	if r.out == nil {
		r.out = c.srv.bufs.get(wire.HeaderSize + 16)[:wire.HeaderSize]
	}
	if !successWithBody(r, status) {
		r.out = r.out[:wire.HeaderSize]
		e := wire.ErrorResponse{ErrorData: r.errData}
		r.out = e.AppendTo(r.out)
	}
	cs := r.cs
	cs.sessionID, cs.sessionOK = r.hdr.SessionID, r.sessOK
	if !r.hdr.IsAsync() {
		cs.treeID, cs.treeOK = r.hdr.TreeID, r.treeOK
	}
	if r.hdr.Command == wire.CmdCreate && status.IsError() {
		cs.createErr = status
	}
	if r.sess != nil && cs.respSess == nil && r.sess.encryptResponses(r) {
		cs.respSess = r.sess
	}
	c.fillHeader(r)
	if e := c.log.Debug(); e.Enabled() {
		e.Stringer("cmd", r.hdr.Command).Uint64("mid", r.hdr.MessageID).Uint64("sid", r.hdr.SessionID).
			Uint32("tid", r.hdr.TreeID).Str("status", fmt.Sprintf("%#08x", uint32(status))).Msg("response")
	}
}

// successWithBody reports whether a response keeps the command's body:
// success, and the two statuses whose bodies carry data ([MS-SMB2] 3.3.4.4:
// BUFFER_OVERFLOW with truncated data, MORE_PROCESSING_REQUIRED with the
// next security token). Everything else is an ERROR response.
func successWithBody(r *request, st wire.Status) bool {
	switch st {
	case wire.StatusSuccess:
		return true
	case wire.StatusBufferOverflow, wire.StatusMoreProcessingRequired:
		return len(r.out) > wire.HeaderSize
	case wire.StatusInvalidParameter, wire.StatusInvalidViewSize, wire.StatusFileLockConflict:
		// FSCTL_SRV_COPYCHUNK over the limits answers them in its body,
		// and a chunk past the source's end or a lock conflict the
		// progress so far (3.3.4.4, 3.3.5.15.6; fsctl_copy.go).
		return r.hdr.Command == wire.CmdIoctl && len(r.out) > wire.HeaderSize
	}
	return false
}

// fillHeader writes the response header into r.out[0:64].
func (c *conn) fillHeader(r *request) {
	rh := wire.Header{
		CreditCharge: r.hdr.CreditCharge,
		Status:       uint32(r.status),
		Command:      r.hdr.Command,
		Flags:        wire.FlagServerToRedir | (r.hdr.Flags & (wire.FlagRelatedOps | wire.FlagPriorityMask)),
		MessageID:    r.hdr.MessageID,
		SessionID:    r.hdr.SessionID,
		TreeID:       r.hdr.TreeID,
	}
	if r.hdr.Flags&wire.FlagSigned != 0 && r.status.IsError() {
		// [MS-SMB2] 3.3.4.4: an error response's header matches the
		// request's except for the fields the server changes. One the
		// server can sign gets its own signature in signResponse; one it
		// cannot (the request named no session it knows, e.g.
		// USER_SESSION_DELETED after LOGOFF) keeps the request's SIGNED
		// flag and signature, which a signing client recognises as an
		// error raised before signature verification.
		rh.Flags |= wire.FlagSigned
		rh.Signature = r.hdr.Signature
	}
	if r.asyncID != 0 {
		rh.Flags |= wire.FlagAsyncCommand
		rh.AsyncID = r.asyncID
		rh.Credits = 0 // credits went out with the interim response
	} else {
		rh.Credits = c.grantFor(r)
	}
	hb := rh.AppendTo(r.out[:0])
	_ = hb
}

// grantFor decides the credits granted by a response: what the client
// asked for (at least one), bounded by the window ([MS-SMB2] 3.3.1.2).
func (c *conn) grantFor(r *request) uint16 {
	want := r.hdr.Credits
	if want == 0 {
		want = 1
	}
	// Grant at least what the request charged so a multi-credit client
	// keeps its window size.
	if ch := r.hdr.CreditCharge; want < ch {
		want = ch
	}
	return c.credits.grant(want)
}
