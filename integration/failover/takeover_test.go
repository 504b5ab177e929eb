package failover

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"sofs.io/sofs/integration/harness"
	"sofs.io/sofs/integration/smbtest"
	"sofs.io/sofs/smbserver/wire"
)

// Takeover on three nodes (issue 16): a client writes through a
// persistent handle on node 1, node 1 is killed with SIGKILL, a survivor
// adopts the handle, and the client reconnects through the OTHER
// survivor, which must get the handle handed over. Meanwhile the lost
// handle's share mode and byte-range lock hold for everyone else.

// nodeTarget is t's target with the SMB address of node n.
func nodeTarget(t *harness.Target, n *harness.ClusterNode) *harness.Target {
	c := *t
	host, port, _ := strings.Cut(n.SMBHostPort(), ":")
	c.Addr = host
	var p int
	for _, ch := range port {
		p = p*10 + int(ch-'0')
	}
	c.Port = p
	return &c
}

// handleOwners lists the owners of handle records in etcd, asked through
// node n.
func handleOwners(ctx context.Context, t *testing.T, n *harness.ClusterNode) []string {
	t.Helper()
	cli, err := n.EtcdClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, handlesPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatalf("list %s: %v", handlesPrefix, err)
	}
	var owners []string
	for _, kv := range resp.Kvs {
		owner, _, _ := strings.Cut(strings.TrimPrefix(string(kv.Key), handlesPrefix), "/")
		owners = append(owners, owner)
	}
	return owners
}

// persistentNoLease is a persistent open without caching that lets
// others read only: a conflicting writer meets its share mode at once
// (with a lease, it would first wait out a break nobody can acknowledge).
func persistentNoLease(name string, createGUID [16]byte) *wire.CreateRequest {
	req := smbtest.PersistentOpen(name, createGUID, [16]byte{}, 60000)
	req.RequestedOplockLevel = wire.OplockLevelNone
	req.ShareAccess = 1 // FILE_SHARE_READ
	req.Contexts = req.Contexts[:1]
	return req
}

func reconnectNoLease(name string, fid wire.FileID, createGUID [16]byte) *wire.CreateRequest {
	req := smbtest.PersistentReconnect(name, fid, createGUID, [16]byte{})
	req.RequestedOplockLevel = wire.OplockLevelNone
	req.ShareAccess = 1
	req.Contexts = req.Contexts[:1]
	return req
}

func TestTakeoverReconnectThroughAnotherNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := harness.StartSofsCluster(t, 3, harness.SofsOptions{CA: true})
	n1, n2, n3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]

	var clientGUID, createGUID [16]byte
	rand.Read(clientGUID[:])
	rand.Read(createGUID[:])
	const name = "takeover.vhdx"
	lockRange := wire.LockElement{Offset: 1 << 40, Length: 4096, Flags: wire.LockFlagExclusiveLock | wire.LockFlagFailImmediately}

	s := connect(ctx, t, nodeTarget(c.Target, n1), clientGUID)
	cr, err := s.c.Create(ctx, s.tid, persistentNoLease(name, createGUID))
	if err != nil {
		t.Fatal(err)
	}
	if smbtest.Context(cr, wire.CreateContextDurableHandleV2) == nil {
		t.Fatal("no persistent handle granted on a CA share")
	}
	if resp, err := s.c.Call(ctx, wire.CmdLock, s.tid, &wire.LockRequest{FileID: cr.FileID, Locks: []wire.LockElement{lockRange}}, 0); err != nil || resp.Status() != wire.StatusSuccess {
		t.Fatalf("LOCK: %v %v", resp.Status(), err)
	}

	w := &writer{s: s, fid: cr.FileID, acked: make([]bool, blocks), inflight: make(map[int]*smbtest.Pending)}
	next, oldest := 0, 0
	for oldest < killAfter {
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
	}
	for next < blocks && next-oldest < window {
		if err := w.send(ctx, next, 0); err != nil {
			t.Fatalf("WRITE %d: %v", next, err)
		}
		next++
	}
	// n1 started first and usually coordinates the open state as well:
	// the handle's share mode, lease and lock then outlive the
	// coordinator through its standby's copy (docs/architecture.md,
	// "Takeover").
	killed := time.Now()
	n1.Kill()
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

	// A survivor adopts the handle: its record leaves node 1.
	var owner string
	for deadline := time.Now().Add(60 * time.Second); ; {
		owners := handleOwners(ctx, t, n2)
		if len(owners) == 1 && owners[0] != n1.Name {
			owner = owners[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handle records %v a minute after the kill: not adopted", owners)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Logf("handle adopted by %s %v after the kill", owner, time.Since(killed).Round(time.Millisecond))
	adopter, other := n2, n3
	if owner == n3.Name {
		adopter, other = n3, n2
	}

	// While its client is away, the adopted handle keeps its share mode
	// and its lock against everyone, through either survivor.
	var otherGUID [16]byte
	rand.Read(otherGUID[:])
	b := connect(ctx, t, nodeTarget(c.Target, adopter), otherGUID)
	rw := &wire.CreateRequest{ImpersonationLevel: 2, DesiredAccess: smbtest.AccessReadWrite, ShareAccess: smbtest.ShareAll, CreateDisposition: 1, FileAttributes: 0x80, Name: name}
	if resp, err := b.c.Call(ctx, wire.CmdCreate, b.tid, rw, 0); err != nil || resp.Status() != wire.StatusSharingViolation {
		t.Fatalf("a writer's open against the adopted handle: %v %v, want STATUS_SHARING_VIOLATION", resp.Status(), err)
	}
	ro := *rw
	ro.DesiredAccess = 0x1 | 0x80 // FILE_READ_DATA | FILE_READ_ATTRIBUTES
	bcr, err := b.c.Create(ctx, b.tid, &ro)
	if err != nil {
		t.Fatalf("a reader's open beside the adopted handle: %v", err)
	}
	if resp, err := b.c.Call(ctx, wire.CmdLock, b.tid, &wire.LockRequest{FileID: bcr.FileID, Locks: []wire.LockElement{lockRange}}, 0); err != nil || resp.Status() != wire.StatusLockNotGranted {
		t.Fatalf("a lock on the adopted handle's range: %v %v, want STATUS_LOCK_NOT_GRANTED", resp.Status(), err)
	}
	if err := b.c.CloseFile(ctx, b.tid, bcr.FileID); err != nil {
		t.Fatal(err)
	}

	// The client comes back through the survivor that does not have the
	// handle: it is handed over, with its FileId.
	s2 := connect(ctx, t, nodeTarget(c.Target, other), clientGUID)
	rc, err := s2.c.Create(ctx, s2.tid, reconnectNoLease(name, cr.FileID, createGUID))
	if err != nil {
		t.Fatalf("DH2C through %s (handle on %s): %v", other.Name, owner, err)
	}
	if rc.FileID.Persistent != cr.FileID.Persistent {
		t.Fatalf("reclaimed FileId %#x, want %#x", rc.FileID.Persistent, cr.FileID.Persistent)
	}
	if owners := handleOwners(ctx, t, n2); len(owners) != 1 || owners[0] != other.Name {
		t.Fatalf("handle records %v after the reconnect, want one owned by %s", owners, other.Name)
	}
	t.Logf("client back on %s %v after the kill", other.Name, time.Since(killed).Round(time.Millisecond))

	s2.c.SetChannelSequence(1)
	w.s, w.fid = s2, rc.FileID
	w.replay(ctx, t, unacked)
	w.writeRange(ctx, t, next, blocks)
	// The handle still holds its lock after the hand-over.
	b2 := connect(ctx, t, nodeTarget(c.Target, adopter), otherGUID)
	bcr, err = b2.c.Create(ctx, b2.tid, &ro)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := b2.c.Call(ctx, wire.CmdLock, b2.tid, &wire.LockRequest{FileID: bcr.FileID, Locks: []wire.LockElement{lockRange}}, 0); err != nil || resp.Status() != wire.StatusLockNotGranted {
		t.Fatalf("a lock on the handed-over handle's range: %v %v, want STATUS_LOCK_NOT_GRANTED", resp.Status(), err)
	}
	if err := b2.c.CloseFile(ctx, b2.tid, bcr.FileID); err != nil {
		t.Fatal(err)
	}
	if err := s2.c.CloseFile(ctx, s2.tid, rc.FileID); err != nil {
		t.Fatal(err)
	}

	w.verify(t, filepath.Join(c.Target.ShareDir, name))
	if owners := handleOwners(ctx, t, n2); len(owners) != 0 {
		t.Fatalf("handle records left after CLOSE: %v", owners)
	}
	// Once closed, the file is free for a writer.
	if resp, err := b2.c.Call(ctx, wire.CmdCreate, b2.tid, rw, 0); err != nil || resp.Status() != wire.StatusSuccess {
		t.Fatalf("a writer's open after the handle closed: %v %v", resp.Status(), err)
	}
}
