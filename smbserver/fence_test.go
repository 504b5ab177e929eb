package smbserver

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"sofs.io/sofs/smbserver/wire"
)

// leaseGate is a test lease clock: it allows every call of MayServe while
// all is set, else the next allow calls, and refuses the rest.
type leaseGate struct {
	all   atomic.Bool
	allow atomic.Int64
}

var errTestFenced = errors.New("test: lease not proven")

func (g *leaseGate) MayServe() error {
	if g.all.Load() || g.allow.Add(-1) >= 0 {
		return nil
	}
	return errTestFenced
}

// limit stops allowing everything and allows n more calls.
func (g *leaseGate) limit(n int64) {
	g.allow.Store(n)
	g.all.Store(false)
}

// expectDropped reads from c until the server closes the connection and
// fails if any response arrives first: a fenced request is neither
// executed nor answered.
func expectDropped(t *testing.T, c *rawConn, what string) {
	t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 1)
	n, err := c.br.Read(b)
	switch {
	case n > 0:
		t.Fatalf("%s: the server answered (first byte %#x) instead of dropping the connection", what, b[0])
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatalf("%s: connection neither answered nor dropped within 5s", what)
	case err == nil:
		t.Fatalf("%s: empty read without an error", what)
	}
	if !errors.Is(err, io.EOF) {
		t.Logf("%s: connection ended with %v", what, err)
	}
}

// fencedSetup opens a file through a raw connection and writes "before"
// into it while the gate allows everything.
func fencedSetup(t *testing.T) (*testServer, *leaseGate, *rawConn, *rawSession, uint32, wire.FileID) {
	t.Helper()
	g := new(leaseGate)
	g.all.Store(true)
	ts := startServer(t, func(c *Config) { c.MayServe = g.MayServe })
	c := dialRaw(t, ts.addr, Dialect302)
	s := c.login("test", "test123")
	tid := c.treeConnect(s, "share")
	fid := c.create(s, tid, "f.bin", false)
	resp := c.roundTrip(s.signer, c.header(wire.CmdWrite, s.id, tid), &wire.WriteRequest{FileID: fid, Data: []byte("before")})
	expect(t, resp, wire.CmdWrite, wire.StatusSuccess)
	return ts, g, c, s, tid, fid
}

func wantFile(t *testing.T, ts *testServer, want string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ts.dir, "f.bin"))
	if err != nil || string(b) != want {
		t.Fatalf("backing file %q (%v), want %q", b, err, want)
	}
}

// TestFencedRequestNotExecuted sends a WRITE once the lease clock refuses:
// the WRITE must not reach the file, get no response, and its connection
// must be dropped; another connection's ECHO is not answered either, until
// the clock allows again.
func TestFencedRequestNotExecuted(t *testing.T) {
	ts, g, c, s, tid, fid := fencedSetup(t)
	c2 := dialRaw(t, ts.addr, Dialect302)
	g.limit(0)
	c.send(s.signer, message(c.header(wire.CmdWrite, s.id, tid), &wire.WriteRequest{FileID: fid, Data: []byte("AFTER!")}))
	expectDropped(t, c, "WRITE while fenced")
	wantFile(t, ts, "before")

	// Every command is refused, not only data: a fenced node looks dead.
	c2.send(nil, message(c2.header(wire.CmdEcho, 0, 0), &wire.EchoRequest{}))
	expectDropped(t, c2, "ECHO while fenced")

	g.all.Store(true)
	c3 := dialRaw(t, ts.addr, Dialect302)
	s3 := c3.login("test", "test123")
	tid3 := c3.treeConnect(s3, "share")
	fid3 := c3.create(s3, tid3, "f.bin", false)
	resp := c3.roundTrip(s3.signer, c3.header(wire.CmdWrite, s3.id, tid3), &wire.WriteRequest{FileID: fid3, Data: []byte("again!")})
	expect(t, resp, wire.CmdWrite, wire.StatusSuccess)
	wantFile(t, ts, "again!")
}

// TestFencedDuringRequest lets a WRITE pass the check at its start and
// refuses the one the volume makes right before pwrite, as for a process
// paused between the two: nothing is written, nothing answered.
func TestFencedDuringRequest(t *testing.T) {
	ts, g, c, s, tid, fid := fencedSetup(t)
	g.limit(1) // the request's entry check passes; the volume's is refused
	c.send(s.signer, message(c.header(wire.CmdWrite, s.id, tid), &wire.WriteRequest{FileID: fid, Data: []byte("AFTER!")}))
	expectDropped(t, c, "WRITE fenced inside the handler")
	wantFile(t, ts, "before")
	if g.allow.Load() >= 0 {
		t.Fatal("the volume never asked the lease clock")
	}
}

// TestFenceDropsConnections checks Server.Fence: every connection ends at
// once, idle ones included.
func TestFenceDropsConnections(t *testing.T) {
	ts, _, c, _, _, _ := fencedSetup(t)
	c2 := dialRaw(t, ts.addr, Dialect302)
	c2.login("test", "test123")
	if n := ts.srv.Fence(); n != 2 {
		t.Fatalf("Fence dropped %d connections, want 2", n)
	}
	expectDropped(t, c, "first connection after Fence")
	expectDropped(t, c2, "second connection after Fence")
}
