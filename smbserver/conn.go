package smbserver

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/smbserver/smbcrypto"
	"sofs.io/sofs/smbserver/wire"
)

// Frame limits ([MS-SMB2] 2.1: Direct TCP frames carry a 24-bit length).
const (
	// preNegotiateFrameMax bounds frames until NEGOTIATE completes: a
	// negotiate request with every context a client sends fits in 1 KiB, so
	// 16 KiB leaves room for SMB1 negotiates with long dialect lists while
	// denying an unauthenticated peer large allocations.
	preNegotiateFrameMax = 16 << 10
	// frameSlack covers headers, transform header and compound overhead on
	// top of the largest READ/WRITE/IOCTL payload.
	frameSlack = 64 << 10
	// maxWorkersPerConn bounds handler goroutines per connection; the credit
	// window already bounds requests in flight, this bounds CPU fan-out.
	maxWorkersPerConn = 64
)

// conn is one transport connection. The reader goroutine owns framing and
// the negotiate state; requests run on bounded worker goroutines; writes
// go through the send queue (writeFrame), which coalesces them.
type conn struct {
	srv    *Server
	nc     net.Conn
	log    zerolog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	// base is the server's context, which ctx derives from (see
	// createContext in multichannel.go).
	base context.Context

	sendq sendQueue // see writeFrame
	// clientSince is when the connection was recorded under its
	// ClientGuid, which makes it its client's oldest or not (lease
	// breaks go to the oldest; oplock.go, leaseack.go). Guarded by the
	// oplock registry's mu.
	clientSince time.Time

	// Negotiate state: written by the reader before any worker starts.
	negotiated     bool
	dialect        uint16
	clientGUID     [16]byte
	clientCaps     uint32
	clientSecMode  uint16
	clientDialects []uint16
	serverCaps     uint32
	serverSecMode  uint16
	cipher         uint16
	signingAlg     uint16
	preauth        smbcrypto.PreauthHash // connection preauth hash (3.1.1)
	preauthDone    bool
	maxFrame       int

	// Hygiene (hygiene.go): client is the peer's IP address; unauth
	// says c holds an unauthenticated slot; authenticated is set by the
	// first successful SESSION_SETUP; logonTimer closes c if that does
	// not come within LogonTimeout.
	client        netip.Addr
	unauth        atomic.Bool
	authenticated atomic.Bool
	logonTimer    *time.Timer

	// br buffers the socket for whichever goroutine holds the reader
	// role (see reader); stopClosing undoes serve's close-on-cancel.
	br          *bufio.Reader
	stopClosing func() bool
	// probe, streak and yieldNext belong to the reader role: the next
	// frame goes to a worker when yieldNext is set (inlinestreak.go).
	probe     *socketProbe
	streak    inlineStreak
	yieldNext bool
	// busy counts the frames running on workers, or detached from the
	// reader, that have neither completed nor gone async; the reader runs
	// a frame itself only when there are none.
	busy atomic.Int64

	credits *creditWindow
	workers chan struct{} // worker slots (see dispatch)
	jobs    chan job      // frames for idle workers
	order   orderGate
	pins    pinTable

	// pending tracks requests in flight by MessageId (for CANCEL) and
	// async requests by AsyncId.
	pendingMu sync.Mutex
	pending   map[uint64]*request
	async     map[uint64]*request
	nextAsync atomic.Uint64
	// earlyCancel holds CANCELs (MessageId -> SessionId) that arrived
	// before the request they name; see handleCancel.
	earlyCancel map[uint64]uint64

	wg sync.WaitGroup
}

func (s *Server) newConn(ctx context.Context, nc net.Conn) *conn {
	c := &conn{
		srv:         s,
		nc:          nc,
		log:         s.log.With().Str("remote", nc.RemoteAddr().String()).Logger(),
		credits:     newCreditWindow(s.cfg.MaxCredits),
		workers:     make(chan struct{}, maxWorkersPerConn),
		jobs:        make(chan job),
		pending:     make(map[uint64]*request),
		async:       make(map[uint64]*request),
		earlyCancel: make(map[uint64]uint64),
		maxFrame:    preNegotiateFrameMax,
		probe:       newSocketProbe(nc),
		client:      clientAddr(nc),
	}
	c.order.cond.L = &c.order.mu
	c.pins.cond.L = &c.pins.mu
	c.sendq.space.L = &c.sendq.mu
	c.pins.n = make(map[uint64]int)
	c.base = ctx
	c.ctx, c.cancel = context.WithCancel(ctx)
	// A CLOSE waiting for pins must not outlive the connection.
	context.AfterFunc(c.ctx, func() {
		c.pins.mu.Lock()
		c.pins.cond.Broadcast()
		c.pins.mu.Unlock()
	})
	return c
}

// serve runs the connection: it reads frames until the peer goes away or
// the server stops (reader.loop), then closes the connection.
func (c *conn) serve() {
	c.stopClosing = context.AfterFunc(c.ctx, func() { c.nc.Close() })
	c.br = bufio.NewReaderSize(c.nc, 64<<10)
	newReader(c).loop()
}

// Reading and inline frames.
//
// One goroutine at a time holds the connection's reader role. When the
// connection is idle (no frame running on a worker, nothing more buffered)
// and a frame's work looks short, the reader runs the frame itself: a
// request-response client then costs no goroutine hand-off per request,
// which on a small machine is most of the latency of a metadata operation
// (a wake-up of a parked worker, often on another CPU). Anything that can
// take long gives the role away first: a frame that goes async (goAsync
// calls the frame's release, here releaseRole), a request slowCommand
// classifies as slow, and wherever a handler is about to wait for stable
// storage, the handle store, a directory read or a break acknowledgment
// that could not go async (request.detach). The goroutine that gave
// the role away finishes its frame and exits; a new goroutine reads on.
// So a frame arriving while another runs inline waits at most for a short
// request, and a client's acknowledgment of a break always gets read.

// inlineIOMax is the largest READ or WRITE, and the largest frame, that
// the reader runs itself.
const inlineIOMax = 64 << 10

// reader is one holder of the reader role.
type reader struct {
	c         *conn
	t         turn
	handedOff bool   // the role went to another goroutine during the frame
	counted   bool   // the frame, detached, counts in c.busy
	release   func() // rd.releaseRole, bound once
	detachFn  func() // rd.detach, bound once
}

func newReader(c *conn) *reader {
	rd := &reader{c: c}
	rd.release, rd.detachFn = rd.releaseRole, rd.detach
	return rd
}

// loop reads frames and runs or dispatches them until the connection
// ends or the role is handed off.
func (rd *reader) loop() {
	c := rd.c
	for {
		frame, err := c.readFrame()
		if errors.Is(err, errDisconnect) {
			c.log.Warn().Err(err).Msg("closing connection")
			break
		}
		if err != nil {
			c.logReadErr(err)
			break
		}
		if !c.negotiated {
			// Negotiate and everything before it run inline: the client
			// cannot send anything else until it has the answer.
			err := c.handleFrame(frame)
			c.srv.bufs.put(frame)
			if err != nil {
				c.log.Debug().Err(err).Msg("closing connection")
				break
			}
			continue
		}
		seq := c.order.nextSeq()
		if c.busy.Load() == 0 && c.br.Buffered() == 0 && !c.yieldNext && !slowFrame(frame) {
			rd.runInline(frame, seq)
			if rd.handedOff {
				return
			}
			if c.br.Buffered() > 0 || c.probe.readWillNotPark() {
				c.yieldNext = c.streak.extend() // inlinestreak.go
			} else {
				c.streak.end()
			}
			continue
		}
		// A worker hand-off parks goroutines as the streak's yield would.
		c.yieldNext = false
		c.streak.end()
		c.busy.Add(1)
		if !c.dispatch(job{frame: frame, seq: seq}) {
			c.busy.Add(-1)
			c.srv.bufs.put(frame)
			break
		}
	}
	c.stopClosing()
	c.close()
}

// readFrame reads the next direct-TCP frame into a pooled buffer. Between
// frames it waits as long as the peer likes; once a frame's first byte is
// in, the rest must arrive within frameDeadline (hygiene.go), which is
// only armed when the frame is not already buffered whole.
func (c *conn) readFrame() ([]byte, error) {
	var nb [4]byte
	b, err := c.br.ReadByte()
	if err != nil {
		return nil, err
	}
	nb[0] = b
	var start time.Time
	if c.br.Buffered() < len(nb)-1 {
		start = time.Now()
		c.nc.SetReadDeadline(start.Add(c.frameDeadline(0)))
	}
	if _, err := io.ReadFull(c.br, nb[1:]); err != nil {
		return nil, err
	}
	// [MS-SMB2] 2.1: the first byte is zero, the next three the length.
	if nb[0] != 0 {
		return nil, fmt.Errorf("%w: message type %#x is not a direct-TCP session message", errDisconnect, nb[0])
	}
	n := int(nb[1])<<16 | int(nb[2])<<8 | int(nb[3])
	limit := c.maxFrame
	if !c.authenticated.Load() && limit > preAuthFrameMax {
		limit = preAuthFrameMax
	}
	if n < 4 || n > limit {
		return nil, fmt.Errorf("%w: frame length %d out of bounds (max %d)", errDisconnect, n, limit)
	}
	if c.br.Buffered() < n {
		if start.IsZero() {
			start = time.Now()
		}
		c.nc.SetReadDeadline(start.Add(c.frameDeadline(n)))
	}
	// Room after the frame lets an encrypted one be decrypted in place
	// (handleTransform).
	frame := c.srv.bufs.get(n + smbcrypto.OpenInPlaceRoom)[:n]
	if _, err := io.ReadFull(c.br, frame); err != nil {
		c.srv.bufs.put(frame)
		return nil, err
	}
	if !start.IsZero() {
		c.nc.SetReadDeadline(time.Time{})
	}
	return frame, nil
}

// runInline runs one frame on the reader's goroutine.
func (rd *reader) runInline(frame []byte, seq uint64) {
	c := rd.c
	rd.t = turn{g: &c.order, seq: seq, detach: rd.detachFn}
	err := c.handleFrameWorker(frame, rd.release, &rd.t)
	rd.t.done()
	c.srv.bufs.put(frame)
	if err != nil {
		c.log.Debug().Err(err).Msg("closing connection")
		c.cancel()
	}
	if rd.counted {
		c.busy.Add(-1)
		rd.counted = false
	}
	if rd.handedOff {
		c.wg.Done()
	}
}

// detach gives the reader role away before slow work on the running
// frame, which keeps counting as busy until it completes, so the next
// reader dispatches to workers meanwhile.
func (rd *reader) detach() {
	if rd.handedOff {
		return
	}
	rd.handOff()
	rd.c.busy.Add(1)
	rd.counted = true
}

// releaseRole is the frame's release when it goes async: the role goes
// away, and the frame no longer counts as busy.
func (rd *reader) releaseRole() {
	if !rd.handedOff {
		rd.handOff()
	}
	if rd.counted {
		rd.c.busy.Add(-1)
		rd.counted = false
	}
}

// handOff starts a goroutine that holds the reader role from now on. The
// current goroutine only finishes its frame, as part of c.wg; the role
// holder is the only one that can close the connection (and wait for
// c.wg), so the Add cannot race with that Wait.
func (rd *reader) handOff() {
	rd.handedOff = true
	c := rd.c
	c.wg.Add(1)
	c.srv.wg.Add(1) // the server's count of this connection's goroutines is held by the current one
	next := newReader(c)
	go func() {
		defer c.srv.wg.Done()
		next.loop()
	}()
}

// slowFrame tells the reader not to run a frame itself: a large frame, or
// one whose first request is plainly slow (see slowCommand). A sealed
// frame's requests are only known after decryption; they detach then.
func slowFrame(frame []byte) bool {
	if len(frame) > inlineIOMax {
		return true
	}
	if len(frame) < wire.HeaderSize+8 || le32(frame) != wire.ProtocolID {
		return false
	}
	return slowCommand(wire.Command(binary.LittleEndian.Uint16(frame[wire.OffCommand:])), frame)
}

// slowCommand says whether a request with this command and message takes
// long whatever its share: FLUSH (stable storage), IOCTL (server-side
// copies, sparse and integrity operations), a READ or WRITE of more than
// inlineIOMax. (A QUERY_DIRECTORY detaches itself when it has to read the
// directory, see handleQueryDirectory.)
func slowCommand(cmd wire.Command, msg []byte) bool {
	switch cmd {
	case wire.CmdFlush, wire.CmdIoctl:
		return true
	case wire.CmdRead:
		// [MS-SMB2] 2.2.19: Length follows StructureSize, Padding and Flags.
		return len(msg) >= wire.HeaderSize+8 && binary.LittleEndian.Uint32(msg[wire.HeaderSize+4:]) > inlineIOMax
	case wire.CmdWrite:
		return len(msg) > wire.HeaderSize+inlineIOMax+64
	}
	return false
}

// detach gives the reader role away, when r runs inline on the reader,
// before r waits for something slow: stable storage (a write-through or
// CA WRITE), the handle store (a persistent open's record, written on its
// CREATE, reconnect, LOCK, lease acknowledgment and CLOSE), a directory
// read. Requests that are slow whatever they find are known before they
// run (slowCommand).
func (r *request) detach() {
	if r.inline() {
		r.cs.turn.detach()
	}
}

// inline reports whether r runs on the reader goroutine.
func (r *request) inline() bool {
	return r.cs != nil && r.cs.turn != nil && r.cs.turn.detach != nil
}

// detachForRecord detaches r before it updates the handle store record of
// o, when o has one. The check costs a lock, so it is only made inline.
func (r *request) detachForRecord(o *open) {
	if r.inline() && r.c.srv.hasRecord(o) {
		r.detach()
	}
}

// Workers.
//
// A connection runs its frames on long-lived worker goroutines, at most
// maxWorkersPerConn of them, started as load needs them (a new goroutine
// per frame cost a stack growth and a scheduler round trip per request).
// The reader hands a frame to an idle worker, else starts a worker when
// a slot is free, else waits for whichever comes first. A frame whose
// request goes async gives its worker's slot back (goAsync calls the
// release function): its goroutine stays with the async request and
// exits when it completes, while the freed slot lets the reader start
// another worker, so pending async requests never starve the connection
// (they are bounded by maxAsyncPerConn instead).

// job is one frame for a worker, with its place in the request order.
type job struct {
	frame []byte
	seq   uint64
}

// worker is the state of one worker goroutine, reused frame after frame.
type worker struct {
	c        *conn
	t        turn
	released bool   // the slot was given back (the frame went async)
	counted  bool   // the current frame counts in c.busy
	release  func() // w.giveBack, bound once
}

// dispatch hands j to a worker. It reports false when the connection is
// going away.
func (c *conn) dispatch(j job) bool {
	select {
	case c.jobs <- j: // an idle worker took it
		return true
	default:
	}
	select {
	case c.jobs <- j:
	case c.workers <- struct{}{}:
		w := &worker{c: c}
		w.release = w.giveBack
		c.wg.Add(1)
		go w.run(j)
	case <-c.ctx.Done():
		return false
	}
	return true
}

// giveBack returns the worker's slot; only the first call counts. The
// frame, async from now on, stops counting as busy.
func (w *worker) giveBack() {
	w.uncount()
	if !w.released {
		w.released = true
		<-w.c.workers
	}
}

// uncount takes the current frame out of c.busy (dispatch put it in).
func (w *worker) uncount() {
	if w.counted {
		w.counted = false
		w.c.busy.Add(-1)
	}
}

func (w *worker) run(j job) {
	c := w.c
	defer c.wg.Done()
	defer w.giveBack()
	for {
		w.t = turn{g: &c.order, seq: j.seq}
		w.counted = true
		err := c.handleFrameWorker(j.frame, w.release, &w.t)
		w.t.done()
		w.uncount()
		c.srv.bufs.put(j.frame)
		if err != nil {
			c.log.Debug().Err(err).Msg("closing connection")
			c.cancel()
		}
		if w.released {
			// The slot went to another worker while this goroutine
			// served an async request.
			return
		}
		select {
		case j = <-c.jobs:
		case <-c.ctx.Done():
			return
		}
	}
}

func (c *conn) logReadErr(err error) {
	if isFrameTimeout(err) && c.ctx.Err() == nil {
		c.srv.limited(c, LimitFrameTimeout)
		return
	}
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || c.ctx.Err() != nil {
		c.log.Debug().Err(err).Msg("connection closed")
		return
	}
	c.log.Debug().Err(err).Msg("read failed")
}

// close cancels every request of the connection, waits for the workers and
// releases the connection's sessions' binding to it.
func (c *conn) close() {
	c.cancel()
	c.nc.Close()
	if c.logonTimer != nil {
		c.logonTimer.Stop()
	}
	c.srv.releaseUnauth(c)
	c.wg.Wait()
	c.srv.connClosed(c)
}

// Response writing.
//
// Workers build, sign and encrypt their responses in parallel; only the
// socket write is serialised. A worker queues its frame on the
// connection's send queue and waits until it is on the wire (its buffers
// stay the worker's, so nothing is copied). Whoever finds the queue
// without a writer becomes the writer: it takes every frame queued so far
// and writes them with one writev (net.Buffers), then the frames queued
// meanwhile, until the queue is empty. Under load one syscall carries the
// responses of many requests; an idle connection pays no hand-off to a
// writer goroutine. Frames never interleave: each is its 4-byte length
// followed by its pieces, in queue order.

// sendQueueMax bounds the frames waiting for the writer. Every queued frame
// belongs to a goroutine blocked until it is written, so the queue never
// holds more than the connection's workers (maxWorkersPerConn) plus its
// async requests completing (maxAsyncPerConn); the bound is the worker
// count, so that a connection's ordinary traffic never waits for space and
// one writev carries at most that many frames (well under IOV_MAX for
// the 2-4 pieces of a frame), while a burst of async completions (a
// thousand change notifies firing at once) against a slow client waits
// for space instead of growing one batch without bound.
const sendQueueMax = maxWorkersPerConn

// writeDeadline bounds one write to a stalled client, so that it cannot
// pin the connection's workers forever.
const writeDeadline = 60 * time.Second

// sendItem is one queued frame. Items are pooled; done is buffered so
// the writer never blocks signalling.
type sendItem struct {
	nb     [4]byte
	pieces [][]byte
	done   chan error
}

var sendItemPool = sync.Pool{New: func() any { return &sendItem{done: make(chan error, 1)} }}

// sendQueue is a connection's queue of frames to write. space.L is &mu
// (newConn).
type sendQueue struct {
	mu      sync.Mutex
	space   sync.Cond
	items   []*sendItem
	spare   []*sendItem // the other half of the items double buffer
	writing bool        // a goroutine is the writer
	err     error       // the first write failure; later frames fail with it
	bufs    net.Buffers // the writer's iovecs, reused
	wbufs   net.Buffers // what WriteTo consumes of bufs
	// deadline is when the write deadline last set expires (writer only).
	deadline time.Time
}

// writeFrame sends one direct-TCP frame made of the given pieces and
// returns once it is written (or failed).
func (c *conn) writeFrame(pieces ...[]byte) error {
	return c.writeFrameQueued(nil, pieces...)
}

// writeFrameQueued is writeFrame with hooks run as the frame takes its
// place in the send queue (see queuedHook). A CREATE's response
// registers its open there, in the same critical section that queues it:
// no request the client sends after reading the response can find the
// open unregistered (its breaks would be held until the registration, and
// later responses could overtake them), and the breaks held until then
// are sent right behind the response.
func (c *conn) writeFrameQueued(queued []queuedHook, pieces ...[]byte) error {
	n := 0
	for _, p := range pieces {
		n += len(p)
	}
	if n > 1<<24-1 {
		runHooks(queued)
		return fmt.Errorf("response frame of %d bytes exceeds the 24-bit length", n)
	}
	it := sendItemPool.Get().(*sendItem)
	it.nb = [4]byte{0, byte(n >> 16), byte(n >> 8), byte(n)}
	it.pieces = append(it.pieces[:0], pieces...)
	q := &c.sendq
	q.mu.Lock()
	for len(q.items) >= sendQueueMax && q.err == nil {
		q.space.Wait()
	}
	if err := q.err; err != nil {
		q.mu.Unlock()
		c.freeItem(it)
		runHooks(queued)
		return err
	}
	q.items = append(q.items, it)
	if len(queued) > 0 {
		// The first parts run before anyone can write this frame, the
		// second parts after the lock is given up (they may send).
		var then [4]func()
		later := then[:0]
		for _, h := range queued {
			if f := h(); f != nil {
				later = append(later, f)
			}
		}
		if len(later) > 0 {
			q.mu.Unlock()
			for _, f := range later {
				f()
			}
			q.mu.Lock()
		}
	}
	if !q.writing {
		q.writing = true
		c.writeQueued() // unlocks q.mu
	} else {
		q.mu.Unlock()
	}
	err := <-it.done
	c.freeItem(it)
	return err
}

func (c *conn) freeItem(it *sendItem) {
	clear(it.pieces)
	it.pieces = it.pieces[:0]
	sendItemPool.Put(it)
}

// writeQueued is the writer: called with q.mu held and q.writing set, it
// writes batches until the queue is empty, then gives up the role.
func (c *conn) writeQueued() {
	q := &c.sendq
	for len(q.items) > 0 {
		batch := q.items
		q.items = q.spare[:0]
		q.space.Broadcast()
		q.mu.Unlock()

		q.bufs = q.bufs[:0]
		for _, it := range batch {
			q.bufs = append(q.bufs, it.nb[:])
			q.bufs = append(q.bufs, it.pieces...)
		}
		// Re-arming the deadline costs a timer update (and on some
		// net.Conns an allocation): refresh it when less than
		// writeDeadline-1s remains, so it stays within a second of
		// writeDeadline from the start of every write.
		if now := time.Now(); q.deadline.Sub(now) < writeDeadline-time.Second {
			q.deadline = now.Add(writeDeadline)
			c.nc.SetWriteDeadline(q.deadline)
		}
		q.wbufs = q.bufs // WriteTo consumes the slice it is called on
		_, err := q.wbufs.WriteTo(c.nc)
		clear(q.bufs)
		for _, it := range batch {
			it.done <- err
		}
		clear(batch)

		q.mu.Lock()
		q.spare = batch[:0]
		if err != nil && q.err == nil {
			q.err = err
			q.space.Broadcast()
		}
		if q.err != nil {
			for _, it := range q.items {
				it.done <- q.err
			}
			clear(q.items)
			q.items = q.items[:0]
		}
	}
	q.writing = false
	q.mu.Unlock()
}
