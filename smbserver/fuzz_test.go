package smbserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"sofs.io/sofs/smbserver/wire"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fuzzConn builds a connection that has negotiated SMB 2.1 and holds a
// valid unsigned session with one tree connect to a disk share (tree 1)
// and one to IPC$ (tree 2), so fuzzed requests reach every handler.
func fuzzConn(t testing.TB, logs io.Writer) (*conn, func()) {
	dir := t.TempDir()
	cfg := Config{
		Logger: zerolog.New(logs).Level(zerolog.ErrorLevel),
		Shares: staticShares{{Name: "share", Path: dir}},
		Users:  staticUsers{"test": "test123"},
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	go io.Copy(io.Discard, b)
	c := srv.newConn(context.Background(), a)
	c.negotiated = true
	c.dialect = Dialect210
	c.serverCaps = wire.GlobalCapLargeMTU
	c.maxFrame = 1 << 20
	sess := srv.sessions.create(srv, c)
	sess.state = sessionValid
	sess.user = "test"
	sh, _ := cfg.Shares.Share("share")
	vol, err := srv.volume(sh)
	if err != nil {
		t.Fatal(err)
	}
	disk := &tree{id: 1, sess: sess, share: sh, vol: vol}
	disk.access.Store(&treeAccess{token: srv.tokenFor(sess), maxAccess: accessFull})
	ipc := &tree{id: 2, sess: sess, ipc: true}
	ipc.access.Store(&treeAccess{maxAccess: accessFull})
	sess.trees[1], sess.trees[2] = disk, ipc
	// Widen the credit window so MessageIds from the fuzzer are accepted.
	c.credits.grant(c.srv.cfg.MaxCredits)
	return c, func() {
		c.close()
		b.Close()
		srv.Close()
	}
}

// buildMessage wraps body in a sync SMB2 header for cmd.
func buildMessage(cmd wire.Command, mid uint64, sid uint64, tid uint32, flags wire.HeaderFlags, body []byte) []byte {
	h := wire.Header{Command: cmd, MessageID: mid, SessionID: sid, TreeID: tid, Flags: flags, CreditCharge: 1}
	return append(h.AppendTo(nil), body...)
}

// FuzzRequest feeds arbitrary command bodies through the whole pipeline
// of an authenticated connection: nothing may panic (a recovered handler
// panic is logged and fails the target), and the connection must survive
// every malformed body that is not a framing violation.
func FuzzRequest(f *testing.F) {
	create := wire.CreateRequest{DesiredAccess: 0x12019F, CreateDisposition: 3, Name: "a.txt", ImpersonationLevel: 2}
	f.Add(uint8(wire.CmdCreate), uint8(1), create.AppendTo(make([]byte, wire.HeaderSize))[wire.HeaderSize:])
	read := wire.ReadRequest{Length: 100, FileID: wire.FileID{Persistent: 1, Volatile: 1}}
	f.Add(uint8(wire.CmdRead), uint8(1), read.AppendTo(make([]byte, wire.HeaderSize))[wire.HeaderSize:])
	f.Add(uint8(wire.CmdQueryDirectory), uint8(1), []byte{33, 0, 37, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 96, 0, 2, 0, 0, 0, 1, 0, '*', 0})
	f.Add(uint8(wire.CmdIoctl), uint8(2), make([]byte, 57))
	f.Add(uint8(wire.CmdSetInfo), uint8(1), make([]byte, 40))
	f.Fuzz(func(t *testing.T, cmd uint8, tid uint8, body []byte) {
		logs := &syncBuffer{}
		c, done := fuzzConn(t, logs)
		defer done()
		var sid uint64
		for id := range c.srv.sessions.m {
			sid = id
		}
		command := wire.Command(cmd % wire.NumCommands)
		if command == wire.CmdNegotiate || command == wire.CmdCancel {
			command = wire.CmdEcho
		}
		// Open a file first so FileId 1 exists for the fuzzed request.
		cr := wire.CreateRequest{DesiredAccess: 0x12019F, CreateDisposition: 3, Name: "f.txt", ImpersonationLevel: 2}
		msg := buildMessage(wire.CmdCreate, 1, sid, 1, 0, cr.AppendTo(make([]byte, wire.HeaderSize))[wire.HeaderSize:])
		if err := c.handleFrame(msg); err != nil {
			t.Fatalf("setup create: %v", err)
		}
		frame := buildMessage(command, 2, sid, uint32(tid%3), 0, body)
		_ = c.handleFrame(frame)
		if strings.Contains(logs.String(), "panic") {
			t.Fatalf("handler panicked on %v body %x:\n%s", command, body, logs.String())
		}
	})
}

// TestFuzzConnSanity checks the fuzz fixture really reaches handlers: an
// ECHO gets a response and a CREATE succeeds.
func TestFuzzConnSanity(t *testing.T) {
	logs := &syncBuffer{}
	c, done := fuzzConn(t, logs)
	defer done()
	var sid uint64
	for id := range c.srv.sessions.m {
		sid = id
	}
	cr := wire.CreateRequest{DesiredAccess: 0x12019F, CreateDisposition: 3, Name: "f.txt", ImpersonationLevel: 2}
	msg := buildMessage(wire.CmdCreate, 1, sid, 1, 0, cr.AppendTo(make([]byte, wire.HeaderSize))[wire.HeaderSize:])
	if err := c.handleFrame(msg); err != nil {
		t.Fatal(err)
	}
	if c.srv.opens.get(1) == nil {
		t.Fatal("CREATE through the fuzz fixture did not open a file")
	}
	if binary.LittleEndian.Uint16(msg[12:]) != uint16(wire.CmdCreate) {
		t.Fatal("bad fixture message")
	}
}
