package smbserver

import (
	"encoding/binary"
	"sync"

	"sofs.io/sofs/smbserver/wire"
)

// Request ordering on a connection.
//
// Frames run on parallel workers, but a client may send a request and,
// without waiting, one that depends on it: a QUERY_DIRECTORY or READ and
// then the CLOSE of the same handle. Processed out of order the first
// fails with STATUS_FILE_CLOSED, which Windows and smbd (which resolve each
// request's FileId in arrival order) never do. So each frame takes a turn
// in arrival order and keeps it until its last request has resolved the
// open it acts on (lookupOpen), goes async, or completes; the rest of the
// work (the I/O) overlaps with later frames. A frame can only wait for
// earlier frames, each of which gives up its turn no later than when it
// completes or goes async, so waiting cannot deadlock.

// orderGate hands out the turns of one connection. cond.L must be set to
// &mu before use (newConn does).
type orderGate struct {
	mu   sync.Mutex
	cond sync.Cond
	next uint64 // the sequence number whose turn it is
	seq  uint64 // next sequence number to assign (reader goroutine only)
}

// turn is one frame's place in its connection's order. Its flags are
// only touched by the goroutine running the frame (goAsync and ordered run
// on it too); a worker reuses its turn for frame after frame.
type turn struct {
	g      *orderGate
	seq    uint64
	waited bool
	passed bool
	// detach, set when the frame runs on the reader goroutine, gives the
	// reader role away before slow work (see reader in conn.go).
	detach func()
}

// nextSeq assigns the next place in arrival order. It is called by the
// reader goroutine, in the order frames arrive.
func (g *orderGate) nextSeq() uint64 {
	s := g.seq
	g.seq++
	return s
}

// wait blocks until every earlier frame has passed its turn.
func (t *turn) wait() {
	if t.waited {
		return
	}
	t.waited = true
	g := t.g
	g.mu.Lock()
	for g.next != t.seq {
		g.cond.Wait()
	}
	g.mu.Unlock()
}

// pass lets the next frame run. Only the first call counts.
func (t *turn) pass() {
	if t.passed {
		return
	}
	t.passed = true
	g := t.g
	g.mu.Lock()
	g.next = t.seq + 1
	g.cond.Broadcast()
	g.mu.Unlock()
}

// done ends the frame's turn, in order even when the frame failed before
// taking it, so that later frames are never left waiting.
func (t *turn) done() {
	t.wait()
	t.pass()
}

// ordered records that r has resolved the open it acts on: when r is the
// last request of its frame, later frames may run, unless its command
// keeps its turn (commandInfo.keepsTurn). Handlers reach it through
// lookupOpen.
func (r *request) ordered() {
	if int(r.hdr.Command) < len(commandTable) && commandTable[r.hdr.Command].keepsTurn {
		return
	}
	r.passTurn()
}

// passTurn lets later frames run now when r is the last request of its
// frame.
func (r *request) passTurn() {
	if r.last && r.cs != nil && r.cs.turn != nil {
		r.cs.turn.pass()
	}
}

// In-flight uses of an open.
//
// A request that passed its turn does its I/O in parallel with later
// frames; a CLOSE of the same handle in a later frame must not pull the
// file out from under it (nor let its descriptor be reused). So every
// request that names a FileId pins that open from before its handler runs
// until it completes or goes async, and a CLOSE waits, in its turn, until
// the open it closes has no pins left. Async requests (a pending change
// notify or blocking lock) are unpinned: they wait for events that later
// frames bring, and their handlers deal with the handle going away.

// fileIDOffset is the offset of the FileId in the body of each request
// that has one ([MS-SMB2] 2.2.14-2.2.39), 0 for none.
var fileIDOffset = [wire.NumCommands]int{
	wire.CmdClose:          8,
	wire.CmdFlush:          8,
	wire.CmdRead:           16,
	wire.CmdWrite:          16,
	wire.CmdLock:           8,
	wire.CmdIoctl:          8,
	wire.CmdQueryDirectory: 8,
	wire.CmdChangeNotify:   8,
	wire.CmdQueryInfo:      24,
	wire.CmdSetInfo:        16,
	wire.CmdOplockBreak:    8,
}

// pinTable counts the in-flight requests per open (by volatile id).
type pinTable struct {
	mu   sync.Mutex
	cond sync.Cond // L is &mu (newConn)
	n    map[uint64]int
}

// requestFileID returns the volatile FileId r names, resolving the
// compound placeholder to the FileId the previous related request used.
func requestFileID(r *request) (uint64, bool) {
	off := fileIDOffset[r.hdr.Command]
	if off == 0 || len(r.msg) < wire.HeaderSize+off+16 {
		return 0, false
	}
	if r.hdr.Command == wire.CmdOplockBreak && binary.LittleEndian.Uint16(r.msg[wire.HeaderSize:]) != 24 {
		return 0, false // a lease break acknowledgment names a lease, not an open
	}
	p := binary.LittleEndian.Uint64(r.msg[wire.HeaderSize+off:])
	v := binary.LittleEndian.Uint64(r.msg[wire.HeaderSize+off+8:])
	if p == anyID && v == anyID {
		if !r.cs.related || !r.cs.haveFileID {
			return 0, false
		}
		v = r.cs.fileID.Volatile
	}
	return v, true
}

// pinOpen runs before r's handler: a CLOSE waits for the open's pins to
// drain, any other request naming a file open pins it.
func (c *conn) pinOpen(r *request) {
	vid, ok := requestFileID(r)
	if !ok {
		return
	}
	if o := c.srv.opens.get(vid); o == nil || o.pipe != nil {
		// Nothing to protect, or a pipe, whose reads may wait for a
		// later write and which has no descriptor to lose.
		return
	}
	p := &c.pins
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.hdr.Command == wire.CmdClose {
		for p.n[vid] > 0 && c.ctx.Err() == nil {
			p.cond.Wait()
		}
		return
	}
	p.n[vid]++
	r.pinned, r.pinnedID = true, vid
}

// unpinOpen drops r's pin, when r completes or goes async.
func (c *conn) unpinOpen(r *request) {
	if !r.pinned {
		return
	}
	r.pinned = false
	p := &c.pins
	p.mu.Lock()
	if p.n[r.pinnedID]--; p.n[r.pinnedID] <= 0 {
		delete(p.n, r.pinnedID)
		p.cond.Broadcast()
	}
	p.mu.Unlock()
}
