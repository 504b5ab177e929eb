package failover

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"sofs.io/sofs/integration/harness"
	"sofs.io/sofs/integration/smbtest"
	"sofs.io/sofs/smbserver/wire"
)

// TestRepeatedFailover is issue 16's failover test on three nodes: one
// client writes through one persistent handle (RWH lease, CA share) while
// the node it is connected to is killed with SIGKILL at a random moment,
// again and again. Each time the client reconnects at once through a
// random survivor (DH2C), replays the writes whose answers it lost, and
// carries on; once it is back, the killed node restarts and rejoins
// before the next kill.
// At the end every block is checked byte for byte and no handle record
// may be left in etcd.
//
// SOFS_FAILOVER_KILLS sets the number of kills (default 20, CI's count);
// scripts/failover-soak.sh runs 1,000 and prints the summary line:
// acknowledged bytes lost, orphaned records, and the client-visible
// pause (last acknowledged WRITE before the kill to the first after),
// p50 and p99.
func TestRepeatedFailover(t *testing.T) {
	kills := killCount(t, 20)
	runFailover(t, kills, harness.SofsOptions{CA: true}, failoverClient{
		// A client that saw its connection drop reconnects at once, here
		// through a random survivor.
		lost: func(ctx context.Context, victim *harness.ClusterNode, killed time.Time, survivors []*harness.ClusterNode) *harness.ClusterNode {
			return survivors[mrand.IntN(len(survivors))]
		},
	})
}

// killCount is SOFS_FAILOVER_KILLS, or def when it is not set.
func killCount(t *testing.T, def int) int {
	v := os.Getenv("SOFS_FAILOVER_KILLS")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("SOFS_FAILOVER_KILLS=%q: want a positive count", v)
	}
	return n
}

// failoverClient is how the client of runFailover learns that its node
// is gone and where it goes.
type failoverClient struct {
	// on, if set, is called whenever the client's handle is (again) open
	// through node cur, one of the cluster's nodes, before the next kill.
	on func(ctx context.Context, nodes []*harness.ClusterNode, cur *harness.ClusterNode)
	// lost is called once the client's node (victim) was killed (at
	// killed) and the writes in flight have their fate; it returns when
	// the client decides to reconnect, with the node it reconnects
	// through.
	lost func(ctx context.Context, victim *harness.ClusterNode, killed time.Time, survivors []*harness.ClusterNode) *harness.ClusterNode
}

// failoverResult is what runFailover measured.
type failoverResult struct {
	// pauses: per kill, from the last WRITE acknowledged before the kill
	// to the first acknowledged after it.
	pauses []time.Duration
}

// runFailover is the body of the repeated-failover tests: one client
// writes through one persistent handle (RWH lease, CA share) on a
// three-node cluster started with opts, while the node it is connected
// to is killed with SIGKILL at a random moment, kills times. After each
// kill the client reconnects as fc says (DH2C), replays the writes whose
// answers it lost, and carries on; once it is back, the killed node
// restarts and rejoins before the next kill. At the end every block is
// checked byte for byte and no handle record may be left in etcd; the
// summary line (FAILOVER-SUMMARY, read by scripts/failover-soak.sh) gives
// the pauses.
func runFailover(t *testing.T, kills int, opts harness.SofsOptions, fc failoverClient) failoverResult {
	t.Helper()
	// Per kill: the lease TTL, the takeover, a node restart and 64
	// writes; a minute each is far more than a loaded machine needs.
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(kills)*time.Minute+2*time.Minute)
	defer cancel()
	c := harness.StartSofsCluster(t, 3, opts)
	t.Cleanup(func() {
		// The soak script's long runs keep the logs when asked, to look
		// into a slow round.
		if t.Failed() || os.Getenv("SOFS_KEEP_LOGS") == "1" {
			keepLogs(t, c)
		}
	})

	const perKill = 64 // blocks written around each kill
	total := kills * perKill
	var clientGUID, createGUID, leaseKey [16]byte
	rand.Read(clientGUID[:])
	rand.Read(createGUID[:])
	rand.Read(leaseKey[:])
	const name = "repeat.vhdx"

	cur := c.Nodes[mrand.IntN(len(c.Nodes))]
	s := connect(ctx, t, nodeTarget(c.Target, cur), clientGUID)
	cr, err := s.c.Create(ctx, s.tid, smbtest.PersistentOpen(name, createGUID, leaseKey, 60000))
	if err != nil {
		t.Fatal(err)
	}
	if smbtest.Context(cr, wire.CreateContextDurableHandleV2) == nil {
		t.Fatal("no persistent handle granted on a CA share")
	}
	fid := cr.FileID
	w := &writer{s: s, fid: fid, acked: make([]bool, total), inflight: make(map[int]*smbtest.Pending)}
	var res failoverResult
	csn := uint16(0)

	for k := 0; k < kills; k++ {
		if fc.on != nil {
			fc.on(ctx, c.Nodes, cur)
		}
		base := k * perKill
		// Kill after a random number of this round's writes are
		// answered, with a full window in flight.
		killAt := 1 + mrand.IntN(perKill-window)
		next, oldest := base, base
		var lastAck time.Time
		for oldest < base+killAt {
			for next < base+perKill && next-oldest < window {
				if err := w.send(ctx, next, 0); err != nil {
					t.Fatalf("kill %d: WRITE %d: %v", k, next, err)
				}
				next++
			}
			if err := w.reap(ctx, t, oldest); err != nil {
				t.Fatalf("kill %d: WRITE %d before the kill: %v", k, oldest, err)
			}
			lastAck = time.Now()
			oldest++
		}
		victim := cur
		killed := time.Now()
		victim.Kill()
		for ; oldest < next; oldest++ {
			if err := w.reap(ctx, t, oldest); err != nil && !errors.Is(err, smbtest.ErrClosed) {
				t.Fatalf("kill %d: WRITE %d across the kill: %v", k, oldest, err)
			}
			if w.acked[oldest] {
				lastAck = time.Now()
			}
		}

		var survivors []*harness.ClusterNode
		for _, n := range c.Nodes {
			if n != victim {
				survivors = append(survivors, n)
			}
		}
		cur = fc.lost(ctx, victim, killed, survivors)
		// Retry the DH2C while the cluster has not yet declared the node
		// lost.
		s2, rc := reconnect(ctx, t, c.Target, cur, clientGUID, name, fid, createGUID, leaseKey)
		if rc.FileID.Persistent != fid.Persistent {
			t.Fatalf("kill %d: reclaimed FileId %#x, want %#x", k, rc.FileID.Persistent, fid.Persistent)
		}
		// Only now does the killed node come back: the pause measured is
		// that of a node that is gone, not of one restarted in time to
		// restore its own handles (which is faster).
		rejoined := make(chan error, 1)
		go func() { rejoined <- c.Rejoin(ctx, victim) }()
		csn++
		s2.c.SetChannelSequence(csn)
		w.s, w.fid = s2, rc.FileID
		var unacked []int
		for i := base; i < next; i++ {
			if !w.acked[i] {
				unacked = append(unacked, i)
			}
		}
		for _, i := range unacked {
			if err := w.send(ctx, i, wire.FlagReplayOperation); err != nil {
				t.Fatalf("kill %d: replay of WRITE %d: %v", k, i, err)
			}
		}
		first := true
		for _, i := range unacked {
			if err := w.reap(ctx, t, i); err != nil {
				t.Fatalf("kill %d: replay of WRITE %d: %v", k, i, err)
			}
			if first {
				res.pauses = append(res.pauses, time.Since(lastAck))
				first = false
			}
		}
		oldest = next
		for oldest < base+perKill {
			for next < base+perKill && next-oldest < window {
				if err := w.send(ctx, next, 0); err != nil {
					t.Fatalf("kill %d: WRITE %d: %v", k, next, err)
				}
				next++
			}
			if err := w.reap(ctx, t, oldest); err != nil {
				t.Fatalf("kill %d: WRITE %d after the takeover: %v", k, oldest, err)
			}
			if first {
				res.pauses = append(res.pauses, time.Since(lastAck))
				first = false
			}
			oldest++
		}
		if err := <-rejoined; err != nil {
			t.Fatalf("kill %d: %s did not rejoin: %v", k, victim.Name, err)
		}
		t.Logf("kill %d of %s: %d writes replayed, client back through %s, pause %v", k, victim.Name, len(unacked), cur.Name, res.pauses[len(res.pauses)-1].Round(time.Millisecond))
	}
	if err := w.s.c.CloseFile(ctx, w.s.tid, w.fid); err != nil {
		t.Fatal(err)
	}

	got, err := os.ReadFile(filepath.Join(c.Target.ShareDir, name))
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	for i := range total {
		end := min((i+1)*blockSize, len(got))
		if i*blockSize >= len(got) || !slices.Equal(got[i*blockSize:end], block(i)) {
			lost += blockSize
		}
	}
	orphans := handleOwners(ctx, t, c.Nodes[0])
	p50, p99, pmax := percentiles(res.pauses)
	// The soak script greps this line.
	t.Logf("FAILOVER-SUMMARY kills=%d acked_bytes_lost=%d orphaned_records=%d pause_p50=%v pause_p99=%v pause_max=%v",
		kills, lost, len(orphans), p50, p99, pmax)
	if lost != 0 {
		t.Fatalf("%d bytes of acknowledged writes lost", lost)
	}
	if len(got) != total*blockSize {
		t.Fatalf("file is %d bytes, want %d", len(got), total*blockSize)
	}
	if len(orphans) != 0 {
		t.Fatalf("handle records left after CLOSE: %v", orphans)
	}
	return res
}

// percentiles returns the median, the 99th percentile and the maximum of
// ds (sorted in place), rounded to the millisecond.
func percentiles(ds []time.Duration) (p50, p99, pmax time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return r(ds[len(ds)/2]), r(ds[min(len(ds)-1, len(ds)*99/100)]), r(ds[len(ds)-1])
}

// reconnect logs on through node n and reclaims the persistent handle
// with DH2C, retrying while the handle is not yet available there (its
// node's loss not yet declared), for at most a minute.
func reconnect(ctx context.Context, t *testing.T, target *harness.Target, n *harness.ClusterNode, clientGUID [16]byte, name string, fid wire.FileID, createGUID, leaseKey [16]byte) (*session, wire.CreateResponse) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var last error
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		// A client retries its logon as it retries the DH2C.
		s, err := dialSession(ctx, nodeTarget(target, n), clientGUID)
		if err == nil {
			var rc wire.CreateResponse
			rc, err = s.c.Create(ctx, s.tid, smbtest.PersistentReconnect(name, fid, createGUID, leaseKey))
			if err == nil {
				t.Cleanup(func() { s.c.Close() })
				return s, rc
			}
			s.c.Close()
		}
		last = err
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatal(fmt.Errorf("DH2C through %s for a minute: %w", n.Name, last))
	return nil, wire.CreateResponse{}
}
