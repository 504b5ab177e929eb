// Package failover holds the crash tests of continuous availability: a
// client writing through a persistent handle while sofsd is killed with
// SIGKILL, restarted, and reclaimed (issue #3); and fencing: a node frozen
// past its etcd lease executes nothing it had queued (issue 16).
package failover

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"sofs.io/sofs/integration/harness"
	"sofs.io/sofs/integration/smbtest"
	"sofs.io/sofs/smbserver/wire"
)

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m))
}

const (
	// blockSize and blocks: the file is blocks writes of blockSize bytes,
	// each at its own offset. One block per request keeps the credit
	// charge at 1.
	blockSize = 16 << 10
	blocks    = 512
	// window is how many WRITEs are kept in flight.
	window = 8
	// killAfter is how many writes are acknowledged before the kill.
	killAfter = 160
	// handlesPrefix is where sofsd keeps handle records in etcd.
	handlesPrefix = "/sofs/v1/handles/"
)

// block is the content of block i: its index and offset, then bytes
// derived from both, so a write that lands at the wrong offset, or
// carries another block's data, is detected; replays write the same bytes
// at the same place, so a duplicated WRITE cannot hide a lost one.
func block(i int) []byte {
	b := make([]byte, blockSize)
	binary.LittleEndian.PutUint64(b[0:], uint64(i))
	binary.LittleEndian.PutUint64(b[8:], uint64(i)*blockSize)
	for j := 16; j < blockSize; j += 8 {
		binary.LittleEndian.PutUint64(b[j:], uint64(i)*0x9E3779B97F4A7C15^uint64(j))
	}
	return b
}

// session is a connected client: connection, session, tree on the share.
type session struct {
	c   *smbtest.Conn
	tid uint32
}

func connect(ctx context.Context, t *testing.T, target *harness.Target, clientGUID [16]byte) *session {
	t.Helper()
	c, err := smbtest.Dial(ctx, target.HostPort(), clientGUID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(ctx, target.User, target.Password); err != nil {
		t.Fatal(err)
	}
	tid, err := c.TreeConnect(ctx, target.Share)
	if err != nil {
		t.Fatal(err)
	}
	return &session{c: c, tid: tid}
}

func handleKeys(ctx context.Context, t *testing.T, p *harness.Process) []string {
	t.Helper()
	tc, err := p.EtcdTLS()
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{p.EtcdEndpoint()}, TLS: tc, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, handlesPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatalf("list %s: %v", handlesPrefix, err)
	}
	var keys []string
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
	}
	return keys
}

// writer streams the blocks through one open, window WRITEs in flight,
// and remembers which ones the server acknowledged.
type writer struct {
	s        *session
	fid      wire.FileID
	acked    []bool
	inflight map[int]*smbtest.Pending
}

func (w *writer) send(ctx context.Context, i int, flags wire.HeaderFlags) error {
	req := &wire.WriteRequest{FileID: w.fid, Offset: uint64(i) * blockSize, Data: block(i), Flags: wire.WriteFlagWriteThrough}
	p, err := w.s.c.Send(ctx, wire.CmdWrite, w.s.tid, req, flags)
	if err != nil {
		return err
	}
	w.inflight[i] = p
	return nil
}

// reap waits for the response of write i; a connection failure leaves it
// unacknowledged (its fate on the server is unknown).
func (w *writer) reap(ctx context.Context, t *testing.T, i int) error {
	p := w.inflight[i]
	delete(w.inflight, i)
	if p == nil {
		return smbtest.ErrClosed // never got out: the connection was gone
	}
	resp, err := p.Wait(ctx)
	if err != nil {
		return err
	}
	if resp.Status() != wire.StatusSuccess {
		t.Fatalf("WRITE %d: %v", i, resp.Status())
	}
	var wr wire.WriteResponse
	if err := wr.Decode(resp.Msg); err != nil || wr.Count != blockSize {
		t.Fatalf("WRITE %d response: count %d, %v", i, wr.Count, err)
	}
	w.acked[i] = true
	return nil
}

// verify checks that every block is where it belongs, with its own
// bytes, and that the file is exactly as long as the writes made it.
func (w *writer) verify(t *testing.T, path string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != blocks*blockSize {
		t.Fatalf("file is %d bytes, want %d", len(got), blocks*blockSize)
	}
	for i := range blocks {
		if !bytes.Equal(got[i*blockSize:(i+1)*blockSize], block(i)) {
			t.Fatalf("block %d (acknowledged before the kill: %v) does not hold its data: %s", i, w.acked[i] && i < killAfter, describe(got[i*blockSize:]))
		}
	}
}

// replay sends again, with SMB2_FLAGS_REPLAY_OPERATION, the writes whose
// answers were lost, and requires every answer.
func (w *writer) replay(ctx context.Context, t *testing.T, unacked []int) {
	t.Helper()
	for _, i := range unacked {
		if err := w.send(ctx, i, wire.FlagReplayOperation); err != nil {
			t.Fatalf("replay of WRITE %d: %v", i, err)
		}
	}
	for _, i := range unacked {
		if err := w.reap(ctx, t, i); err != nil {
			t.Fatalf("replay of WRITE %d: %v", i, err)
		}
	}
}

// writeRange writes blocks [from, to), window at a time, and requires
// every answer.
func (w *writer) writeRange(ctx context.Context, t *testing.T, from, to int) {
	t.Helper()
	next, oldest := from, from
	for oldest < to {
		for next < to && next-oldest < window {
			if err := w.send(ctx, next, 0); err != nil {
				t.Fatalf("WRITE %d: %v", next, err)
			}
			next++
		}
		if err := w.reap(ctx, t, oldest); err != nil {
			t.Fatalf("WRITE %d: %v", oldest, err)
		}
		oldest++
	}
}

// TestKill9DuringWrites is issue #3's failover test on one node: a
// persistent handle with a lease on a CA share, WRITE_THROUGH writes in
// flight, SIGKILL, restart on the same data, DH2C reconnect, replay of
// every unacknowledged write, the rest of the file, CLOSE; then every
// byte is checked and no handle record is left in etcd.
func TestKill9DuringWrites(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p := harness.StartSofsProcess(t, harness.SofsOptions{CA: true})
	target := p.Target

	var clientGUID, createGUID, leaseKey [16]byte
	rand.Read(clientGUID[:])
	rand.Read(createGUID[:])
	rand.Read(leaseKey[:])
	const name = "failover.bin"

	s := connect(ctx, t, target, clientGUID)
	cr, err := s.c.Create(ctx, s.tid, smbtest.PersistentOpen(name, createGUID, leaseKey, 60000))
	if err != nil {
		t.Fatal(err)
	}
	dh := smbtest.Context(cr, wire.CreateContextDurableHandleV2)
	if dh == nil {
		t.Fatal("no persistent handle granted on a CA share")
	}
	if r, err := wire.DecodeDurableHandleResponseV2(dh); err != nil || r.Flags&wire.DurableHandleFlagPersistent == 0 {
		t.Fatalf("DH2Q response %+v %v: not persistent", r, err)
	}
	if cr.OplockLevel != wire.OplockLevelLease {
		t.Fatalf("oplock level %#x, want a lease", cr.OplockLevel)
	}
	// Acknowledged means committed: the record is in etcd before the
	// CREATE's answer.
	if keys := handleKeys(ctx, t, p); len(keys) != 1 {
		t.Fatalf("handle records after CREATE: %v, want 1", keys)
	}

	w := &writer{s: s, fid: cr.FileID, acked: make([]bool, blocks), inflight: make(map[int]*smbtest.Pending)}
	next, oldest := 0, 0
	ackedCount := 0
	for ackedCount < killAfter {
		for next < blocks && next-oldest < window {
			if err := w.send(ctx, next, 0); err != nil {
				t.Fatalf("WRITE %d: %v", next, err)
			}
			next++
		}
		if err := w.reap(ctx, t, oldest); err != nil {
			t.Fatalf("WRITE %d before the kill: %v", oldest, err)
		}
		oldest++
		ackedCount++
	}
	// Fill the window again so the kill lands among writes in flight.
	for next < blocks && next-oldest < window {
		if err := w.send(ctx, next, 0); err != nil {
			t.Fatalf("WRITE %d: %v", next, err)
		}
		next++
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	// One more WRITE after the kill, which no server can answer: on an
	// idle machine the whole window may be answered before SIGKILL lands,
	// and the replay below must still be exercised (it executes a write
	// the server never saw, as [MS-SMB2] 3.3.5.2.10 allows).
	if next < blocks {
		if err := w.send(ctx, next, 0); err != nil && !errors.Is(err, smbtest.ErrClosed) {
			t.Fatalf("WRITE %d after the kill: %v", next, err)
		}
		next++
	}
	// Whatever answers made it out before the kill count as acknowledged;
	// the rest are unknown and will be replayed.
	for ; oldest < next; oldest++ {
		if err := w.reap(ctx, t, oldest); err != nil && !errors.Is(err, smbtest.ErrClosed) {
			t.Fatalf("WRITE %d across the kill: %v", oldest, err)
		}
	}
	var unacked []int
	for i := 0; i < next; i++ {
		if !w.acked[i] {
			unacked = append(unacked, i)
		}
	}
	t.Logf("killed with %d writes acknowledged, %d in flight unanswered", next-len(unacked), len(unacked))
	if len(unacked) == 0 {
		// The kill follows the sends at once and every WRITE waits for
		// fdatasync: all of them answered means the test did not test
		// replay, which must not pass silently.
		t.Fatal("the kill left no WRITE unanswered; nothing to replay")
	}

	if err := p.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if keys := handleKeys(ctx, t, p); len(keys) != 1 {
		t.Fatalf("handle records after restart: %v, want the restored one", keys)
	}

	// Reconnect: new TCP connection, same ClientGuid, new session, DH2C.
	s2 := connect(ctx, t, target, clientGUID)
	rc, err := s2.c.Create(ctx, s2.tid, smbtest.PersistentReconnect(name, cr.FileID, createGUID, leaseKey))
	if err != nil {
		t.Fatalf("DH2C after kill -9 and restart: %v", err)
	}
	if rc.FileID.Persistent != cr.FileID.Persistent {
		t.Fatalf("reclaimed FileId %#x, want persistent id %#x", rc.FileID.Persistent, cr.FileID.Persistent)
	}
	// A failover to a new channel: ChannelSequence moves on ([MS-SMB2]
	// 3.2.4.1.1), and the writes whose fate is unknown are replayed.
	s2.c.SetChannelSequence(1)
	w.s, w.fid = s2, rc.FileID
	w.replay(ctx, t, unacked)
	// The rest of the file, as before.
	w.writeRange(ctx, t, next, blocks)
	if err := s2.c.CloseFile(ctx, s2.tid, rc.FileID); err != nil {
		t.Fatal(err)
	}

	w.verify(t, filepath.Join(target.ShareDir, name))
	if keys := handleKeys(ctx, t, p); len(keys) != 0 {
		t.Fatalf("handle records left after CLOSE: %v", keys)
	}
}

// describe names the block whose header a wrong block carries.
func describe(b []byte) string {
	return fmt.Sprintf("header says block %d at offset %d", binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:]))
}

// TestGracefulRestartKeepsDurableHandle: a durable (not persistent)
// handle on an ordinary share has no record while its client is
// connected; a graceful stop records it as the connections close, the
// restarted process restores it, the client reclaims it with DH2C, and
// CLOSE removes the record.
func TestGracefulRestartKeepsDurableHandle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := harness.StartSofsProcess(t, harness.SofsOptions{})
	target := p.Target

	var clientGUID, createGUID, leaseKey [16]byte
	rand.Read(clientGUID[:])
	rand.Read(createGUID[:])
	rand.Read(leaseKey[:])
	const name = "durable.txt"
	s := connect(ctx, t, target, clientGUID)
	req := smbtest.PersistentOpen(name, createGUID, leaseKey, 60000)
	// Plain DH2Q: durable through the RWH lease, not persistent.
	req.Contexts[0].Data = wire.DurableHandleRequestV2{Timeout: 60000, CreateGUID: createGUID}.Encode()
	cr, err := s.c.Create(ctx, s.tid, req)
	if err != nil {
		t.Fatal(err)
	}
	dh := smbtest.Context(cr, wire.CreateContextDurableHandleV2)
	if r, err := wire.DecodeDurableHandleResponseV2(dh); dh == nil || err != nil || r.Flags&wire.DurableHandleFlagPersistent != 0 {
		t.Fatalf("DH2Q response %+v %v, want durable and not persistent", r, err)
	}
	resp, err := s.c.Call(ctx, wire.CmdWrite, s.tid, &wire.WriteRequest{FileID: cr.FileID, Data: []byte("before the restart")}, 0)
	if err != nil || resp.Status() != wire.StatusSuccess {
		t.Fatalf("WRITE: %v %v", resp.Status(), err)
	}
	if keys := handleKeys(ctx, t, p); len(keys) != 0 {
		t.Fatalf("a connected durable handle has records %v; its CREATE should not pay a round trip", keys)
	}

	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := p.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if keys := handleKeys(ctx, t, p); len(keys) != 1 {
		t.Fatalf("records after the graceful restart: %v, want the restored handle", keys)
	}
	s2 := connect(ctx, t, target, clientGUID)
	rq := smbtest.PersistentReconnect(name, cr.FileID, createGUID, leaseKey)
	rq.Contexts[0].Data = wire.DurableHandleReconnectV2{FileID: cr.FileID, CreateGUID: createGUID}.Encode()
	rc, err := s2.c.Create(ctx, s2.tid, rq)
	if err != nil {
		t.Fatalf("DH2C after restart: %v", err)
	}
	// Reclaimed, a durable handle has no record any more.
	if keys := handleKeys(ctx, t, p); len(keys) != 0 {
		t.Fatalf("records after reconnect: %v", keys)
	}
	resp, err = s2.c.Call(ctx, wire.CmdWrite, s2.tid, &wire.WriteRequest{FileID: rc.FileID, Offset: 18, Data: []byte(", and after")}, 0)
	if err != nil || resp.Status() != wire.StatusSuccess {
		t.Fatalf("WRITE after reconnect: %v %v", resp.Status(), err)
	}
	if err := s2.c.CloseFile(ctx, s2.tid, rc.FileID); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(target.ShareDir, name))
	if err != nil || string(got) != "before the restart, and after" {
		t.Fatalf("file holds %q (%v)", got, err)
	}
}
