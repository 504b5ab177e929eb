package smbserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/smbserver/smbcrypto"
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
// are serialised by writeMu so a response is never interleaved.
type conn struct {
	srv    *Server
	nc     net.Conn
	log    zerolog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	writeMu sync.Mutex

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

	credits *creditWindow
	workers chan struct{}
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
		pending:     make(map[uint64]*request),
		async:       make(map[uint64]*request),
		earlyCancel: make(map[uint64]uint64),
		maxFrame:    preNegotiateFrameMax,
	}
	c.order.cond.L = &c.order.mu
	c.pins.cond.L = &c.pins.mu
	c.pins.n = make(map[uint64]int)
	c.ctx, c.cancel = context.WithCancel(ctx)
	// A CLOSE waiting for pins must not outlive the connection.
	context.AfterFunc(c.ctx, func() {
		c.pins.mu.Lock()
		c.pins.cond.Broadcast()
		c.pins.mu.Unlock()
	})
	return c
}

// serve runs the reader loop until the peer goes away or the server stops.
func (c *conn) serve() {
	defer c.close()
	stop := context.AfterFunc(c.ctx, func() { c.nc.Close() })
	defer stop()
	br := bufio.NewReaderSize(c.nc, 64<<10)
	var nb [4]byte
	for {
		if _, err := io.ReadFull(br, nb[:]); err != nil {
			c.logReadErr(err)
			return
		}
		// [MS-SMB2] 2.1: the first byte is zero, the next three the length.
		if nb[0] != 0 {
			c.log.Warn().Uint8("type", nb[0]).Msg("not a direct-TCP session message; closing")
			return
		}
		n := int(nb[1])<<16 | int(nb[2])<<8 | int(nb[3])
		if n < 4 || n > c.maxFrame {
			c.log.Warn().Int("len", n).Int("max", c.maxFrame).Msg("frame length out of bounds; closing")
			return
		}
		frame := c.srv.bufs.get(n)[:n]
		if _, err := io.ReadFull(br, frame); err != nil {
			c.srv.bufs.put(frame)
			c.logReadErr(err)
			return
		}
		if !c.negotiated {
			// Negotiate and everything before it run inline: the client
			// cannot send anything else until it has the answer.
			err := c.handleFrame(frame)
			c.srv.bufs.put(frame)
			if err != nil {
				c.log.Debug().Err(err).Msg("closing connection")
				return
			}
			continue
		}
		select {
		case c.workers <- struct{}{}:
		case <-c.ctx.Done():
			c.srv.bufs.put(frame)
			return
		}
		t := c.order.newTurn()
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			// A request that goes async gives its slot back early (goAsync)
			// so that pending async requests never starve the reader.
			var once sync.Once
			release := func() { once.Do(func() { <-c.workers }) }
			defer release()
			defer t.done()
			err := c.handleFrameWorker(frame, release, t)
			c.srv.bufs.put(frame)
			if err != nil {
				c.log.Debug().Err(err).Msg("closing connection")
				c.cancel()
			}
		}()
	}
}

func (c *conn) logReadErr(err error) {
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
	c.wg.Wait()
	c.srv.connClosed(c)
}

// writeFrame sends one direct-TCP frame made of the given pieces.
func (c *conn) writeFrame(pieces ...[]byte) error {
	n := 0
	for _, p := range pieces {
		n += len(p)
	}
	if n > 1<<24-1 {
		return fmt.Errorf("response frame of %d bytes exceeds the 24-bit length", n)
	}
	var nb [4]byte
	nb[1], nb[2], nb[3] = byte(n>>16), byte(n>>8), byte(n)
	bufs := make(net.Buffers, 0, len(pieces)+1)
	bufs = append(bufs, nb[:])
	bufs = append(bufs, pieces...)
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	// A stalled client must not pin a worker forever.
	c.nc.SetWriteDeadline(time.Now().Add(60 * time.Second))
	_, err := bufs.WriteTo(c.nc)
	return err
}
