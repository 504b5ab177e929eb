package smbserver

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"sofs.io/sofs/smbserver/wire"
)

// limitCounter is a ConnObserver that counts by reason.
type limitCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (l *limitCounter) ConnLimited(reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == nil {
		l.n = make(map[string]int)
	}
	l.n[reason]++
}

func (l *limitCounter) count(reason string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[reason]
}

// closeBound bounds waiting for the server to close a connection: far
// above every limit the tests set, so only a server that never closes
// fails it.
const closeBound = 20 * time.Second

// expectClosed reads from nc until the server closes it, failing if it
// does not within closeBound.
func expectClosed(t *testing.T, nc net.Conn, what string) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(closeBound))
	buf := make([]byte, 512)
	for {
		_, err := nc.Read(buf)
		if err == nil {
			continue // a response sent before the close
		}
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return
		}
		t.Fatalf("%s: not closed by the server: %v", what, err)
	}
}

func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// rawOver wraps an already dialled connection and negotiates on it.
func rawOver(t *testing.T, nc net.Conn) *rawConn {
	t.Helper()
	c := &rawConn{t: t, nc: nc, br: bufio.NewReader(nc), dialect: Dialect302}
	req := wire.NegotiateRequest{SecurityMode: wire.NegotiateSigningEnabled, Dialects: []uint16{Dialect302}}
	if st := status(c.roundTrip(nil, c.header(wire.CmdNegotiate, 0, 0), &req)); st != wire.StatusSuccess {
		t.Fatalf("negotiate: %v", st)
	}
	return c
}

// TestLogonTimeout: a connection that never sends anything and one that
// stops after NEGOTIATE are closed once LogonTimeout passes, while an
// authenticated client with an open file, idle for longer than that,
// keeps working.
func TestLogonTimeout(t *testing.T) {
	obs := &limitCounter{}
	ts := startServer(t, func(c *Config) {
		c.LogonTimeout = 2 * time.Second
		c.ConnObserver = obs
	})
	good := dialRaw(t, ts.addr, Dialect302)
	s := good.login("test", "test123")
	tid := good.treeConnect(s, "share")
	fid := good.create(s, tid, "keep.txt", false)

	// Connected after good authenticated, so their limits expire after
	// good's would have.
	idle := dialFrom(t, "", ts.addr)
	negOnly := dialRaw(t, ts.addr, Dialect302)
	expectClosed(t, idle, "idle connection")
	expectClosed(t, negOnly.nc, "connection that stopped after NEGOTIATE")
	if n := obs.count(LimitLogonTimeout); n != 2 {
		t.Errorf("logon_timeout observed %d times, want 2", n)
	}

	resp := good.roundTrip(s.signer, good.header(wire.CmdWrite, s.id, tid), &wire.WriteRequest{FileID: fid, Data: []byte("still here")})
	if st := status(resp); st != wire.StatusSuccess {
		t.Fatalf("authenticated client's WRITE after the logon limit: %v", st)
	}
	if n := ts.srv.UnauthenticatedConns(); n != 0 {
		t.Errorf("UnauthenticatedConns = %d after every unauthenticated connection closed", n)
	}
}

// sendPartialFrame writes a frame header announcing n bytes and the first
// few of them, and nothing more.
func sendPartialFrame(t *testing.T, nc net.Conn, n int) {
	t.Helper()
	var b [4 + 16]byte
	binary.BigEndian.PutUint32(b[:4], uint32(n))
	copy(b[4:], []byte{0xfe, 'S', 'M', 'B'})
	if _, err := nc.Write(b[:]); err != nil {
		t.Fatal(err)
	}
}

// TestFrameTimeout: a frame that starts and never finishes closes the
// connection after FrameTimeout (plus its size allowance), whether the
// peer has authenticated or not; a frame larger than the pre-logon cap
// is refused at once; an authenticated client idle between frames is
// not touched.
func TestFrameTimeout(t *testing.T) {
	obs := &limitCounter{}
	ts := startServer(t, func(c *Config) {
		c.FrameTimeout = 500 * time.Millisecond
		c.ConnObserver = obs
	})
	idleGood := dialRaw(t, ts.addr, Dialect302)
	s := idleGood.login("test", "test123")
	tid := idleGood.treeConnect(s, "share")
	fid := idleGood.create(s, tid, "idle.txt", false)

	// Unauthenticated, after NEGOTIATE: a 100 KiB frame, trickled.
	trickler := dialRaw(t, ts.addr, Dialect302)
	sendPartialFrame(t, trickler.nc, 100<<10)
	// Authenticated: a frame cut inside its 4-byte header.
	authed := dialRaw(t, ts.addr, Dialect302)
	authed.login("test", "test123")
	if _, err := authed.nc.Write([]byte{0, 0}); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, trickler.nc, "unauthenticated trickler")
	expectClosed(t, authed.nc, "authenticated client with a partial frame header")
	if n := obs.count(LimitFrameTimeout); n != 2 {
		t.Errorf("frame_timeout observed %d times, want 2", n)
	}

	// An 8 MiB frame before logon exceeds preAuthFrameMax: refused
	// without waiting for (or allocating) it.
	big := dialRaw(t, ts.addr, Dialect302)
	sendPartialFrame(t, big.nc, 8<<20)
	expectClosed(t, big.nc, "8 MiB frame before logon")

	resp := idleGood.roundTrip(s.signer, idleGood.header(wire.CmdWrite, s.id, tid), &wire.WriteRequest{FileID: fid, Data: []byte("x")})
	if st := status(resp); st != wire.StatusSuccess {
		t.Fatalf("idle authenticated client's WRITE: %v", st)
	}
}

// TestUnauthenticatedCaps: connections beyond the per-client and the
// server-wide caps on unauthenticated connections are closed at once;
// authenticating gives the slot back.
func TestUnauthenticatedCaps(t *testing.T) {
	obs := &limitCounter{}
	ts := startServer(t, func(c *Config) {
		c.MaxUnauthenticatedPerClient = 2
		c.MaxUnauthenticated = 3
		c.ConnObserver = obs
	})
	a1 := rawOver(t, dialFrom(t, "127.0.0.1", ts.addr))
	rawOver(t, dialFrom(t, "127.0.0.1", ts.addr))
	expectClosed(t, dialFrom(t, "127.0.0.1", ts.addr), "third connection from 127.0.0.1")
	if n := obs.count(LimitUnauthenticatedPerClient); n != 1 {
		t.Errorf("per-client refusals %d, want 1", n)
	}
	rawOver(t, dialFrom(t, "127.0.0.2", ts.addr))
	expectClosed(t, dialFrom(t, "127.0.0.3", ts.addr), "fourth unauthenticated connection")
	if n := obs.count(LimitUnauthenticated); n != 1 {
		t.Errorf("server-wide refusals %d, want 1", n)
	}
	if n := ts.srv.UnauthenticatedConns(); n != 3 {
		t.Errorf("UnauthenticatedConns = %d, want 3", n)
	}

	// Logging on frees a1's slot, both per client and server-wide.
	a1.login("test", "test123")
	rawOver(t, dialFrom(t, "127.0.0.1", ts.addr))
	if n := ts.srv.UnauthenticatedConns(); n != 3 {
		t.Errorf("UnauthenticatedConns = %d after one logon and one new connection, want 3", n)
	}
}
