package dcerpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/auth/ntlm"
)

// Limits of the ncacn_ip_tcp transport.
const (
	// maxTCPConns bounds concurrent connections per listener. A witness
	// client keeps one connection per registration (its AsyncNotify
	// long-poll); a thousand covers the clients of a large cluster node
	// while bounding goroutines and buffers a flood can claim.
	maxTCPConns = 1024
	// maxQueuedCalls bounds complete calls waiting for a connection's
	// worker. Clients send one call at a time and wait for its response;
	// beyond this the reader stops reading, which is the backpressure.
	maxQueuedCalls = 4
	// tcpWriteTimeout bounds one PDU write, so that a client that stops
	// reading cannot pin a worker forever.
	tcpWriteTimeout = 30 * time.Second
)

// TCPConfig configures a TCPServer.
type TCPConfig struct {
	// Interfaces are served on every connection.
	Interfaces []*Interface
	// Log receives connection-level events.
	Log zerolog.Logger
	// NTLM, if set, authenticates clients that bind with NTLMSSP or
	// SPNEGO; without it such binds are refused.
	NTLM *ntlm.Server
	// Kerberos, if set, accepts clients that bind with Kerberos, bare
	// (RPC_C_AUTHN_GSS_KERBEROS) or in SPNEGO, up to packet privacy.
	Kerberos KerberosAcceptor
}

// TCPServer serves DCE/RPC over TCP (ncacn_ip_tcp, [MS-RPCE] 2.1.1.1): the
// PDU stream is the TCP byte stream.
type TCPServer struct {
	cfg   TCPConfig
	slots chan struct{}
	wg    sync.WaitGroup
}

// NewTCPServer returns a server for cfg.
func NewTCPServer(cfg TCPConfig) *TCPServer {
	return &TCPServer{cfg: cfg, slots: make(chan struct{}, maxTCPConns)}
}

// Serve accepts connections on ln until ctx ends or ln fails, and waits for
// the connections it started to end. It closes ln.
func (s *TCPServer) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer s.wg.Wait()
	defer cancel()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	port := ""
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		port = strconv.Itoa(a.Port)
	}
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("dcerpc accept: %w", err)
		}
		select {
		case s.slots <- struct{}{}:
		default:
			s.cfg.Log.Warn().Str("remote", nc.RemoteAddr().String()).Msg("dcerpc: connection limit reached")
			nc.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.slots }()
			s.serveConn(ctx, nc, port)
		}()
	}
}

// tcpConn is one ncacn_ip_tcp connection: a reader (serveConn's goroutine)
// that owns the association, and a worker that runs calls in order.
type tcpConn struct {
	nc  net.Conn
	log zerolog.Logger
	wmu sync.Mutex
}

// write sends one PDU; writes from the reader (bind_ack, faults) and the
// worker (responses) are serialised so PDUs never interleave.
func (c *tcpConn) write(pdu []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(tcpWriteTimeout))
	_, err := c.nc.Write(pdu)
	return err
}

func (s *TCPServer) serveConn(ctx context.Context, nc net.Conn, port string) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &tcpConn{nc: nc, log: s.cfg.Log.With().Str("remote", nc.RemoteAddr().String()).Logger()}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	defer nc.Close()

	a := newAssoc(s.cfg.Interfaces, port, rand.Uint32()|1)
	a.emit = c.write
	a.ntlm = s.cfg.NTLM
	a.krb5 = s.cfg.Kerberos
	a.local, a.remote = nc.LocalAddr(), nc.RemoteAddr()

	calls := make(chan *pendingCall, maxQueuedCalls)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for pc := range calls {
			if err := a.run(ctx, pc, c.write); err != nil {
				c.log.Debug().Err(err).Msg("dcerpc: write response")
				cancel()
			}
		}
	}()
	defer func() {
		close(calls)
		<-done
	}()

	err := readPDUs(ctx, nc, func(h header, pdu []byte) error {
		pc, err := a.handle(h, pdu)
		if err != nil || pc == nil {
			return err
		}
		// The stub may alias the read buffer, which the next read reuses.
		pc.call.Stub = append([]byte(nil), pc.call.Stub...)
		select {
		case calls <- pc:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), ctx.Err() != nil:
		c.log.Debug().Err(err).Msg("dcerpc: connection closed")
	default:
		c.log.Warn().Err(err).Msg("dcerpc: connection dropped")
	}
}

// readPDUs reads whole PDUs from r and passes each to fn, until r fails or
// fn returns an error. The buffer is reused between PDUs. A fragment can be
// at most 64 KiB, the largest frag_length, which is the frame-size cap.
func readPDUs(ctx context.Context, r io.Reader, fn func(header, []byte) error) error {
	buf := make([]byte, 1<<16)
	for ctx.Err() == nil {
		if _, err := io.ReadFull(r, buf[:headerLen]); err != nil {
			return err
		}
		h, err := parseHeader(buf[:headerLen])
		if err != nil {
			return err
		}
		if _, err := io.ReadFull(r, buf[headerLen:h.fragLen]); err != nil {
			return fmt.Errorf("PDU body: %w", err)
		}
		if err := fn(h, buf[:h.fragLen]); err != nil {
			return err
		}
	}
	return ctx.Err()
}
