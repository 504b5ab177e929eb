package failover

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"sofs.io/sofs/integration/harness"
	"sofs.io/sofs/integration/smbtest"
	"sofs.io/sofs/smbserver/wire"
)

// Bounds of TestPausedNodeWritesNothing. sofsd's lease TTL is 5 s; an
// election (if the paused node led etcd) adds a few seconds; a 2-core
// machine shared with other tests needs slack on top.
const (
	// leaseGoneWithin bounds the wait for etcd to expire the paused
	// node's lease (its live record disappears).
	leaseGoneWithin = 45 * time.Second
	// exclusiveWithin bounds the retries of the other client's
	// exclusive open: the cluster releases the paused node's opens once
	// its lease is gone.
	exclusiveWithin = 45 * time.Second
	// droppedWithin bounds how long the resumed node takes to drop the
	// connection of the queued WRITE.
	droppedWithin = 20 * time.Second
	// exitWithin bounds how long the resumed node takes to see its lease
	// gone and exit.
	exitWithin = 40 * time.Second
	// fencePoll is the retry interval of the bounded polls above; each
	// poll checks a condition, none stands in for synchronisation.
	fencePoll = 200 * time.Millisecond
	// exitFenced is sofsd's exit code for a node whose lease is gone
	// (README, exit codes).
	exitFenced = 5
)

// TestPausedNodeWritesNothing is issue 16's partition test: a node is
// frozen with SIGSTOP while its client has a file open, and the client
// sends a WRITE that the kernel queues for the frozen process. Once etcd
// has expired the frozen node's lease, a client of another node opens the
// file exclusively and writes a known pattern. Then the frozen node
// continues: the queued WRITE must be neither executed nor acknowledged
// (its connection is dropped), the node must exit with the fenced exit
// code, and the file must hold exactly what the other client wrote.
//
// The frozen node is one that does not lead etcd: freezing the leader
// adds an election, during which (on a loaded machine) the other nodes'
// renewals can fail for longer than their TTL too, and they fence as
// well, which is right but not what this test is about.
func TestPausedNodeWritesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cl := harness.StartSofsCluster(t, 3, harness.SofsOptions{})
	// n2 is the node to freeze (whichever process that is), n3 serves
	// the other client, n1 watches etcd.
	n1, n2, n3 := pickVictim(ctx, t, cl.Nodes)
	const name = "fenced.bin"
	const size = 16 << 10
	before, stale, fresh := pattern(size), pattern(size), pattern(size)

	// Client A on the node to freeze: a plain open (no oplock or lease, so nothing waits
	// for a break to the frozen node) that shares everything.
	var guidA, guidB [16]byte
	rand.Read(guidA[:])
	rand.Read(guidB[:])
	a := connectTo(ctx, t, n2.SMBHostPort(), cl.Target, guidA)
	crA, err := a.c.Create(ctx, a.tid, plainOpen(name, smbtest.ShareAll, 3))
	if err != nil {
		t.Fatal(err)
	}
	writeAcked(ctx, t, a, crA.FileID, before, "A's first WRITE")
	liveKey := liveNodeKey(ctx, t, n1, n2.Name)

	// Freeze it, then queue a WRITE for it: the kernel accepts the bytes
	// into the frozen process's socket.
	if err := n2.Pause(); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	queued, err := a.c.Send(ctx, wire.CmdWrite, a.tid,
		&wire.WriteRequest{FileID: crA.FileID, Data: stale, Flags: wire.WriteFlagWriteThrough}, 0)
	if err != nil {
		t.Fatalf("queue a WRITE for the frozen %s: %v", n2.Name, err)
	}

	// etcd expires the frozen node's lease: its live record goes.
	waitKeyGone(ctx, t, n1, liveKey)
	t.Logf("%s's lease expired %s after SIGSTOP", n2.Name, time.Since(paused).Round(time.Millisecond))

	// Client B on another node opens the file exclusively and writes its pattern.
	b := connectTo(ctx, t, n3.SMBHostPort(), cl.Target, guidB)
	var crB wire.CreateResponse
	deadline := time.Now().Add(exclusiveWithin)
	for {
		crB, err = b.c.Create(ctx, b.tid, plainOpen(name, 0, 1))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("exclusive open through %s after %s's lease expired: %v", n3.Name, n2.Name, err)
		}
		time.Sleep(fencePoll) // retry interval; the loop checks success
	}
	writeAcked(ctx, t, b, crB.FileID, fresh, "B's WRITE")

	// The frozen node wakes up with A's WRITE waiting in its socket.
	if err := n2.Resume(); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	wctx, wcancel := context.WithTimeout(ctx, droppedWithin)
	resp, err := queued.Wait(wctx)
	wcancel()
	switch {
	case err == nil:
		t.Fatalf("the frozen node answered the queued WRITE after waking: %v", resp.Status())
	case !errors.Is(err, smbtest.ErrClosed):
		t.Fatalf("the queued WRITE was neither answered nor its connection dropped: %v", err)
	}
	t.Logf("%s dropped A's connection %s after SIGCONT", n2.Name, time.Since(resumed).Round(time.Millisecond))

	ectx, ecancel := context.WithTimeout(ctx, exitWithin)
	code, err := n2.WaitExit(ectx)
	ecancel()
	if err != nil {
		t.Fatalf("%s kept running after its lease expired: %v", n2.Name, err)
	}
	if code != exitFenced {
		t.Fatalf("%s exited with %d, want %d (fenced)", n2.Name, code, exitFenced)
	}
	t.Logf("%s exited with code %d %s after SIGCONT", n2.Name, code, time.Since(resumed).Round(time.Millisecond))

	// The file holds B's bytes, whatever the woken node did: checked on
	// the shared directory itself, with B's exclusive open still held.
	got, err := os.ReadFile(filepath.Join(cl.Target.ShareDir, name))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case bytes.Equal(got, fresh):
	case bytes.Equal(got, stale):
		t.Fatal("the fenced node executed the WRITE queued while it was frozen, over what the other node's client wrote")
	case bytes.Equal(got, before):
		t.Fatal("the file holds A's first write: B's acknowledged WRITE was lost")
	default:
		t.Fatalf("the file holds %d bytes that are neither B's pattern nor anything A sent", len(got))
	}
	if err := b.c.CloseFile(ctx, b.tid, crB.FileID); err != nil {
		t.Fatal(err)
	}
}

// pickVictim orders three nodes so that the second, the one to freeze,
// is not the etcd leader (asked of every member, so a node that sees no
// leader counts as unsure and is not chosen).
func pickVictim(ctx context.Context, t *testing.T, nodes []*harness.ClusterNode) (watcher, victim, other *harness.ClusterNode) {
	t.Helper()
	var leader uint64
	ids := make([]uint64, len(nodes))
	for i, n := range nodes {
		st, err := etcdOf(t, n).Status(ctx, n.ClientURL())
		if err != nil {
			t.Fatalf("etcd status of %s: %v", n.Name, err)
		}
		ids[i] = st.Header.MemberId
		if st.Leader != 0 {
			leader = st.Leader
		}
	}
	vi := -1
	for _, i := range []int{1, 2, 0} {
		if ids[i] != leader {
			vi = i
			break
		}
	}
	if vi < 0 {
		t.Fatal("no member that is not the etcd leader")
	}
	rest := make([]*harness.ClusterNode, 0, 2)
	for i, n := range nodes {
		if i != vi {
			rest = append(rest, n)
		}
	}
	t.Logf("freezing %s (etcd leader is member %x)", nodes[vi].Name, leader)
	return rest[0], nodes[vi], rest[1]
}

// pattern returns n random bytes.
func pattern(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// plainOpen is a CREATE for reading and writing with no oplock, lease or
// durable handle; share is its ShareAccess, disposition 1 opens and 3
// opens or creates.
func plainOpen(name string, share, disposition uint32) *wire.CreateRequest {
	return &wire.CreateRequest{
		ImpersonationLevel: 2,
		DesiredAccess:      smbtest.AccessReadWrite,
		ShareAccess:        share,
		CreateDisposition:  disposition,
		FileAttributes:     0x80,
		Name:               name,
	}
}

// connectTo logs on to one node directly (not through the spreader).
func connectTo(ctx context.Context, t *testing.T, hostPort string, target *harness.Target, clientGUID [16]byte) *session {
	t.Helper()
	c, err := smbtest.Dial(ctx, hostPort, clientGUID)
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

// writeAcked writes data at offset 0 and requires the acknowledgment.
func writeAcked(ctx context.Context, t *testing.T, s *session, fid wire.FileID, data []byte, what string) {
	t.Helper()
	resp, err := s.c.Call(ctx, wire.CmdWrite, s.tid, &wire.WriteRequest{FileID: fid, Data: data, Flags: wire.WriteFlagWriteThrough}, 0)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if resp.Status() != wire.StatusSuccess {
		t.Fatalf("%s: %v", what, resp.Status())
	}
}

// etcdOf is a client of node n's etcd member.
func etcdOf(t *testing.T, n *harness.ClusterNode) *clientv3.Client {
	t.Helper()
	tc, err := n.EtcdTLS()
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{n.ClientURL()}, TLS: tc, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// liveNodesPrefix holds each node's live record, attached to its lease
// (namespace/members.go).
const liveNodesPrefix = "/sofs/v1/nodes/"

// liveNodeKey finds, through node via's etcd, the live record of the node
// called name.
func liveNodeKey(ctx context.Context, t *testing.T, via *harness.ClusterNode, name string) string {
	t.Helper()
	resp, err := etcdOf(t, via).Get(ctx, liveNodesPrefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		var rec struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(kv.Value, &rec) == nil && rec.Name == name {
			return string(kv.Key)
		}
	}
	t.Fatalf("no live record of %s under %s", name, liveNodesPrefix)
	return ""
}

// waitKeyGone waits, through node via's etcd, until key is deleted (a
// watch, bounded by leaseGoneWithin).
func waitKeyGone(ctx context.Context, t *testing.T, via *harness.ClusterNode, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, leaseGoneWithin)
	defer cancel()
	cli := etcdOf(t, via)
	resp, err := cli.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return
	}
	for wr := range cli.Watch(ctx, key, clientv3.WithRev(resp.Header.Revision+1)) {
		if err := wr.Err(); err != nil {
			t.Fatalf("watch %s: %v", key, err)
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				return
			}
		}
	}
	t.Fatalf("%s still there %s after SIGSTOP of its node: %v", key, leaseGoneWithin, ctx.Err())
}
