package smbserver

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/csv/etcdhandles"
	"sofs.io/sofs/internal/testetcd"
	"sofs.io/sofs/smbserver/wire"
)

const testPrefix = "/sofs/v1/"

// startTestEtcd runs a real single-member etcd in a temporary directory.
func startTestEtcd(t *testing.T) *clientv3.Client {
	t.Helper()
	return testetcd.Start(t).Client()
}

// handleKeys lists every handle record key in etcd.
func handleKeys(t *testing.T, cli *clientv3.Client) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, testPrefix+"handles/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
	}
	return keys
}

// deadStore stands for a process that died: once dead, nothing it writes
// reaches the store.
type deadStore struct {
	csv.HandleStore
	dead atomic.Bool
}

func (d *deadStore) Put(ctx context.Context, r csv.HandleRecord) error {
	if d.dead.Load() {
		return nil
	}
	return d.HandleStore.Put(ctx, r)
}

func (d *deadStore) Delete(ctx context.Context, owner string, id uint64) error {
	if d.dead.Load() {
		return nil
	}
	return d.HandleStore.Delete(ctx, owner, id)
}

// startCA starts a server over share directory dir (continuously
// available) with store, restoring its handles before it serves.
func startCA(t *testing.T, dir string, store csv.HandleStore) (*testServer, RestoreStats) {
	t.Helper()
	cfg := Config{
		Logger:             zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		Shares:             staticShares{{Name: "share", Path: dir, ContinuouslyAvailable: true}},
		Users:              staticUsers{"test": "test123", "other": "other123"},
		HandleStore:        store,
		HandleOwner:        "node1",
		OplockBreakTimeout: 200 * time.Millisecond,
	}
	// One ServerGuid for every process of the "cluster", as sofsd takes
	// it from etcd: the SIDs of local accounts derive from it, and a
	// restored handle belongs to its owner's SID.
	cfg.ServerGUID = [16]byte{0x5c, 0xa1, 0xe0, 0x75, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := srv.RestoreHandles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ev := make(chan string, 64)
	srv.dh.mu.Lock()
	srv.dh.events = ev
	srv.dh.mu.Unlock()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop within 10s")
		}
	})
	return &testServer{addr: ln.Addr().String(), dir: dir, srv: srv}, st
}

func persistentCreate(name string, cg [16]byte, lease wire.Lease, timeoutMS uint32) *wire.CreateRequest {
	req := withLease(olCreate(name, 0, rw, shareAll), lease)
	q := wire.DurableHandleRequestV2{Flags: wire.DurableHandleFlagPersistent, CreateGUID: cg, Timeout: timeoutMS}
	req.Contexts = append(req.Contexts, wire.CreateContext{Name: wire.CreateContextDurableHandleV2, Data: q.Encode()})
	return req
}

func reconnectCreate(name string, fid wire.FileID, cg [16]byte, leaseKey [16]byte) *wire.CreateRequest {
	req := withLease(olCreate(name, 0, 0, 0), wire.Lease{V2: true, LeaseKey: leaseKey})
	req.Contexts = append(req.Contexts, wire.CreateContext{Name: wire.CreateContextDurableReconnectV2,
		Data: wire.DurableHandleReconnectV2{FileID: fid, CreateGUID: cg, Flags: wire.DurableHandleFlagPersistent}.Encode()})
	return req
}

func (c *olClient) lockStatus(fid wire.FileID, els ...wire.LockElement) wire.Status {
	c.t.Helper()
	resp := c.roundTrip(c.s.signer, c.header(wire.CmdLock, c.s.id, c.tid), &wire.LockRequest{FileID: fid, Locks: els})
	return status(resp)
}

// TestRestoreAfterCrash: a persistent handle (lease, lock, data) outlives
// its server process: a new process restores it from etcd, the client
// reclaims it with DH2C, the lock still holds against another client,
// and CLOSE removes the record. Records of an expired handle and of a
// deleted file are removed by the restore.
func TestRestoreAfterCrash(t *testing.T) {
	cli := startTestEtcd(t)
	store := etcdhandles.New(cli, testPrefix)
	dir := t.TempDir()
	first := &deadStore{HandleStore: store}
	ts1, _ := startCA(t, dir, first)

	g, cg, lk := guid(), guid(), guid()
	a := duConnect(t, ts1, g)
	rwh := csv.CacheRead | csv.CacheWrite | csv.CacheHandle
	cr := a.createOK(persistentCreate("vm.vhdx", cg, wire.Lease{V2: true, LeaseKey: lk, LeaseState: rwh}, 60000))
	if d := hasContext(cr, wire.CreateContextDurableHandleV2); d == nil {
		t.Fatal("persistent handle not granted")
	}
	a.write(cr.FileID, 0, []byte("acknowledged"))
	if st := a.lockStatus(cr.FileID, wire.LockElement{Offset: 0, Length: 10, Flags: wire.LockFlagExclusiveLock | wire.LockFlagFailImmediately}); st != wire.StatusSuccess {
		t.Fatalf("lock: %v", st)
	}
	if keys := handleKeys(t, cli); len(keys) != 1 {
		t.Fatalf("records before the crash: %v", keys)
	}

	// Two stale records: a handle whose timeout passed while it was
	// disconnected, and one whose file is gone.
	stale := csv.HandleRecord{Persistent: 0xdead, Share: "share", Path: "gone.txt", Owner: "node1", Timeout: time.Second, V2: true}
	if err := store.Put(context.Background(), stale); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "old.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	stale.Persistent, stale.Path, stale.Disconnected = 0xbeef, "old.txt", time.Now().Add(-time.Minute)
	if err := store.Put(context.Background(), stale); err != nil {
		t.Fatal(err)
	}

	// The process dies: from now on it writes nothing (its connection
	// going away must not touch the records either).
	first.dead.Store(true)
	a.nc.Close()

	ts2, st := startCA(t, dir, store)
	if st.Restored != 1 || st.Removed != 2 || st.Failed != 0 {
		t.Fatalf("restore: %+v, want 1 restored, 2 removed", st)
	}
	if keys := handleKeys(t, cli); len(keys) != 1 || !strings.Contains(keys[0], "/node1/") {
		t.Fatalf("records after restore: %v", keys)
	}
	// New opens get FileIds above every recorded one (0xdead included,
	// though its record was dropped), never an earlier process's.
	if id := ts2.srv.opens.next.Load(); id < 0xdead {
		t.Fatalf("next FileId %#x is below the recorded ones", id)
	}

	// Another client's open and lock meet the restored share mode and
	// lock: the lock still conflicts.
	c := duConnect(t, ts2, guid())
	// Its CREATE goes async: the restored lease is broken, and with its
	// client away the break times out (OplockBreakTimeout).
	c.sendCreate(olCreate("vm.vhdx", 0, rw, shareAll))
	resp := c.recvOne()
	if status(resp) != wire.StatusPending {
		t.Fatalf("CREATE against the restored lease: %v, want STATUS_PENDING first", status(resp))
	}
	resp = c.recvOne()
	expect(t, resp, wire.CmdCreate, wire.StatusSuccess)
	var ocr wire.CreateResponse
	if err := ocr.Decode(resp); err != nil {
		t.Fatal(err)
	}
	if st := c.lockStatus(ocr.FileID, wire.LockElement{Offset: 5, Length: 1, Flags: wire.LockFlagExclusiveLock | wire.LockFlagFailImmediately}); st != wire.StatusLockNotGranted {
		t.Fatalf("lock over the restored one: %v, want STATUS_LOCK_NOT_GRANTED", st)
	}
	c.close(ocr.FileID)

	// The wrong CreateGuid, or another user, does not get it.
	b := duConnect(t, ts2, g)
	b.sendCreate(reconnectCreate("vm.vhdx", cr.FileID, guid(), lk))
	expect(t, b.recvOne(), wire.CmdCreate, wire.StatusObjectNameNotFound)
	oc := dialGUID(t, ts2.addr, Dialect302, g)
	osess := oc.login("other", "other123")
	other := &olClient{rawConn: oc, s: osess, tid: oc.treeConnect(osess, "share")}
	other.sendCreate(reconnectCreate("vm.vhdx", cr.FileID, cg, lk))
	expect(t, other.recvOne(), wire.CmdCreate, wire.StatusAccessDenied)

	rc := b.createOK(reconnectCreate("vm.vhdx", cr.FileID, cg, lk))
	if rc.FileID.Persistent != cr.FileID.Persistent {
		t.Fatalf("reclaimed FileId %v, want persistent %#x", rc.FileID, cr.FileID.Persistent)
	}
	rresp := b.roundTrip(b.s.signer, b.header(wire.CmdRead, b.s.id, b.tid), &wire.ReadRequest{FileID: rc.FileID, Length: 64})
	expect(t, rresp, wire.CmdRead, wire.StatusSuccess)
	var rd wire.ReadResponse
	if err := rd.Decode(rresp); err != nil || string(rd.Data) != "acknowledged" {
		t.Fatalf("read after reclaim: %q %v", rd.Data, err)
	}
	// The client's own lock is still its own: it unlocks it.
	if st := b.lockStatus(rc.FileID, wire.LockElement{Offset: 0, Length: 10, Flags: wire.LockFlagUnlock}); st != wire.StatusSuccess {
		t.Fatalf("unlock of the restored lock: %v", st)
	}
	b.close(rc.FileID)
	if keys := handleKeys(t, cli); len(keys) != 0 {
		t.Fatalf("records left after CLOSE: %v", keys)
	}
}

// TestScavengeLeavesNothingInEtcd: persistent and durable handles whose
// clients never come back are scavenged with their records, restored or
// not, so nothing stays under the handles prefix.
func TestScavengeLeavesNothingInEtcd(t *testing.T) {
	cli := startTestEtcd(t)
	store := etcdhandles.New(cli, testPrefix)
	dir := t.TempDir()
	// A record left by an earlier process, restored with a short timeout.
	if err := os.WriteFile(filepath.Join(dir, "restored.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	left := csv.HandleRecord{Persistent: 0x77, Share: "share", Path: "restored.txt", Owner: "node1", Access: rw,
		ShareAccess: shareAll, Timeout: 300 * time.Millisecond, V2: true, IsPersistent: true}
	if err := store.Put(context.Background(), left); err != nil {
		t.Fatal(err)
	}
	ts, st := startCA(t, dir, store)
	if st.Restored != 1 {
		t.Fatalf("restore: %+v", st)
	}
	ev := ts.srv.dh.events

	a := duConnect(t, ts, guid())
	rwh := csv.CacheRead | csv.CacheWrite | csv.CacheHandle
	p := a.createOK(persistentCreate("p.txt", guid(), wire.Lease{V2: true, LeaseKey: guid(), LeaseState: rwh}, 300))
	d := a.createOK(withDH2Q(olCreate("d.txt", wire.OplockLevelBatch, rw, 0), 300, guid()))
	if hasContext(p, wire.CreateContextDurableHandleV2) == nil || hasContext(d, wire.CreateContextDurableHandleV2) == nil {
		t.Fatal("durable handles not granted")
	}
	// Connected: the persistent one and the restored one have records,
	// the durable one not yet (nor does its CREATE pay a round trip).
	if keys := handleKeys(t, cli); len(keys) != 2 {
		t.Fatalf("records while connected: %v", keys)
	}
	a.nc.Close()
	// Two detached, three scavenged (restored, persistent, durable), in
	// any order; their records go before the "close" event.
	counts := map[string]int{}
	deadline := time.After(20 * time.Second)
	for counts["detach"] < 2 || counts["close"] < 3 {
		select {
		case e := <-ev:
			counts[e]++
		case <-deadline:
			t.Fatalf("events %v, want 2 detach and 3 close", counts)
		}
	}
	if keys := handleKeys(t, cli); len(keys) != 0 {
		t.Fatalf("records left after scavenging: %v", keys)
	}
	if n := ts.srv.dh.recs.pendingRemovals(); n != 0 {
		t.Fatalf("%d removals still pending", n)
	}
	if all, _ := ts.srv.dh.count(); all != 0 {
		t.Fatalf("%d durable opens left", all)
	}
}

// slowStore makes the next slow Deletes hang until their deadline, as an
// etcd without a leader does, and the fail ones after them fail at once.
type slowStore struct {
	*csv.MemoryHandleStore
	slow, fail atomic.Int32
}

func (s *slowStore) Delete(ctx context.Context, owner string, id uint64) error {
	if s.slow.Add(-1) >= 0 {
		<-ctx.Done()
		return ctx.Err()
	}
	if s.fail.Add(-1) >= 0 {
		return errors.New("etcdserver: no leader")
	}
	return s.MemoryHandleStore.Delete(ctx, owner, id)
}

// TestCloseWithSlowStore: a store that does not answer delays CLOSE by at
// most closeDeleteWait and never fails it; the record is removed by the
// background retry once the store answers again.
func TestCloseWithSlowStore(t *testing.T) {
	store := &slowStore{MemoryHandleStore: csv.NewMemoryHandleStore()}
	ts, _ := startCA(t, t.TempDir(), store)
	ev := ts.srv.dh.events
	a := duConnect(t, ts, guid())
	rwh := csv.CacheRead | csv.CacheWrite | csv.CacheHandle
	cr := a.createOK(persistentCreate("p.txt", guid(), wire.Lease{V2: true, LeaseKey: guid(), LeaseState: rwh}, 60000))
	if store.Len() != 1 {
		t.Fatalf("%d records after CREATE, want 1", store.Len())
	}
	// The CLOSE's attempt hangs, the retries fail until told otherwise.
	store.slow.Store(1)
	store.fail.Store(1 << 30)
	start := time.Now()
	a.close(cr.FileID) // fails the test unless STATUS_SUCCESS within 5 s
	if d := time.Since(start); d < closeDeleteWait || d > closeDeleteWait+3*time.Second {
		t.Fatalf("CLOSE took %v, want about %v (the bounded wait)", d, closeDeleteWait)
	}
	if n := ts.srv.dh.recs.pendingRemovals(); n != 1 || store.Len() != 1 {
		t.Fatalf("after CLOSE: %d pending removals, %d records; want 1 and 1", n, store.Len())
	}
	// The closed handle's record is still this node's, but nothing may
	// bring the handle back: not an adoption round, not a hand-over.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if st, err := ts.srv.RestoreClaimed(ctx); err != nil || st.Restored != 0 || ts.srv.HasDurable(cr.FileID.Persistent) {
		t.Fatalf("adoption round after CLOSE: %+v %v; the closed handle came back", st, err)
	}
	if err := ts.srv.Yield(ctx, cr.FileID.Persistent, "node2"); err == nil {
		t.Fatal("a closed handle's record was handed over")
	}
	if recs, _ := store.List(ctx, "node1"); len(recs) != 1 {
		t.Fatalf("records of node1 after the refused hand-over: %d, want 1", len(recs))
	}
	store.fail.Store(0)
	waitEvent(t, ev, "removed")
	if n := ts.srv.dh.recs.pendingRemovals(); n != 0 || store.Len() != 0 {
		t.Fatalf("after the retry: %d pending removals, %d records; want none", n, store.Len())
	}
}

// TestRecordFollowsLeaseBreakAck: a persistent handle's record carries
// the lease state its client acknowledged a break with, and a restore
// asks for that state, not the one granted at CREATE.
func TestRecordFollowsLeaseBreakAck(t *testing.T) {
	store := csv.NewMemoryHandleStore()
	dir := t.TempDir()
	ts, _ := startCA(t, dir, store)
	a := duConnect(t, ts, guid())
	b := duConnect(t, ts, guid())
	key, cg := guid(), guid()
	rwh := csv.CacheRead | csv.CacheWrite | csv.CacheHandle
	cr := a.createOK(persistentCreate("l.txt", cg, wire.Lease{V2: true, LeaseKey: key, LeaseState: rwh}, 60000))
	b.sendCreate(olCreate("l.txt", 0, readOnly, shareAll))
	expect(t, b.recvOne(), wire.CmdCreate, wire.StatusPending)
	if brk := a.recvOne(); !isBreak(t, brk) {
		t.Fatal("no lease break")
	}
	rh := csv.CacheRead | csv.CacheHandle
	ack := wire.LeaseBreakAcknowledgment{LeaseKey: key, LeaseState: rh}
	expect(t, a.roundTrip(a.s.signer, a.header(wire.CmdOplockBreak, a.s.id, a.tid), &ack), wire.CmdOplockBreak, wire.StatusSuccess)
	recs, _ := store.List(context.Background(), "node1")
	if len(recs) != 1 || recs[0].LeaseState != rh {
		t.Fatalf("records after the acknowledged break: %+v, want lease state RH", recs)
	}

	ts2, st := startCA(t, dir, store)
	if st.Restored != 1 {
		t.Fatalf("restore: %+v", st)
	}
	ts2.srv.dh.mu.Lock()
	d := ts2.srv.dh.byPersistent[cr.FileID.Persistent]
	ts2.srv.dh.mu.Unlock()
	if d == nil {
		t.Fatal("handle not restored")
	}
	if g := d.o.handle.Grant(); g.Lease == nil || g.Lease.State != rh {
		t.Fatalf("restored lease %+v, want RH", g.Lease)
	}
}

// A durable handle belongs to a security identity, not a name ([MS-SMB2]
// 3.3.5.9.7: the reconnecting session's security context must be the
// open's). A handle a domain account "test" opened (its record carries
// the domain SID) is refused to this server's own account "test"; one
// that account opened is given back to it; and a record from before SIDs
// were kept falls back to the name.
func TestDurableOwnerIsTheSID(t *testing.T) {
	dir := t.TempDir()
	store := csv.NewMemoryHandleStore()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rwh := csv.CacheRead | csv.CacheWrite | csv.CacheHandle
	type handle struct {
		fid      uint64
		name     string
		cg, lk   [16]byte
		userSID  string
		reclaims bool
	}
	handles := []*handle{
		{fid: 0x71, name: "domain.vhdx", userSID: "S-1-5-21-3623811015-3361044348-30300820-1105"},
		{fid: 0x72, name: "own.vhdx", reclaims: true},    // SID filled in below, once the server's GUID is known
		{fid: 0x73, name: "legacy.vhdx", reclaims: true}, // no SID: the name decides
	}
	client := guid()
	ts, _ := startCA(t, dir, store)
	for _, h := range handles {
		h.cg, h.lk = guid(), guid()
		if h.name == "own.vhdx" {
			h.userSID = UserSID(ts.srv.cfg.ServerGUID, "test").String()
		}
		if err := os.WriteFile(filepath.Join(dir, h.name), []byte("disk"), 0o644); err != nil {
			t.Fatal(err)
		}
		rec := csv.HandleRecord{
			Persistent: h.fid, CreateGUID: h.cg, ClientGUID: client, Share: "share", Path: h.name,
			User: "test", UserSID: h.userSID, Access: rw, ShareAccess: shareAll, Timeout: time.Minute, Owner: "node0",
			V2: true, IsPersistent: true, HasLease: true, LeaseKey: h.lk, LeaseState: rwh, LeaseVersion: 2,
		}
		if err := store.Put(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if ok, err := ts.srv.adoptOne(ctx, "node0", h.fid); !ok || err != nil {
			t.Fatalf("%s: restore: %v %v", h.name, ok, err)
		}
	}
	c := duConnect(t, ts, client) // logs on as this server's "test"
	for _, h := range handles {
		c.sendCreate(reconnectCreate(h.name, wire.FileID{Persistent: h.fid, Volatile: h.fid}, h.cg, h.lk))
		resp := c.recvOne()
		switch st := status(resp); {
		case h.reclaims && st != wire.StatusSuccess:
			t.Errorf("%s (owner SID %q): reconnect by its owner: %v", h.name, h.userSID, st)
		case !h.reclaims && st != wire.StatusAccessDenied:
			t.Errorf("%s (owner SID %q): reconnect by another account of the same name: %v, want STATUS_ACCESS_DENIED", h.name, h.userSID, st)
		}
	}
}
