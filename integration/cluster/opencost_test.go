package cluster

import (
	"context"
	"slices"
	"testing"
	"time"

	"sofs.io/sofs/integration/smbtest"
)

// What an open and close of one file costs through a three-node cluster:
// through one node (after the first open the file is owned there, or
// coordinated there), and alternately through two nodes (every open then
// takes the file's ownership from the other node: docs/architecture.md,
// "Delegation"). Issue 15 asks for both numbers; docs/performance.md
// reports them. The test checks that every open and close succeeds and
// logs the medians.
func TestOpenCloseCost(t *testing.T) {
	c, nodes := threeNodeShare(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	clients := make([]*client, len(nodes))
	for i, n := range nodes {
		clients[i] = c.connect(ctx, n)
	}
	const rounds = 200
	openClose := func(cl *client, name string) time.Duration {
		start := time.Now()
		fid := cl.mustCreate(t, ctx, openReq(name, smbtest.AccessReadWrite, smbtest.ShareAll))
		if err := cl.c.CloseFile(ctx, cl.tid, fid); err != nil {
			t.Fatalf("close %s: %v", name, err)
		}
		return time.Since(start)
	}
	median := func(via []*client, name string) time.Duration {
		openClose(via[0], name) // creates it
		ds := make([]time.Duration, 0, rounds)
		for i := range rounds {
			ds = append(ds, openClose(via[i%len(via)], name))
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	for i := range nodes {
		t.Logf("open+close of one file through %s only: median %v of %d", nodes[i].Name, median(clients[i:i+1], "cost-"+nodes[i].Name), rounds)
	}
	for _, p := range [][2]int{{0, 1}, {1, 2}} {
		a, b := nodes[p[0]].Name, nodes[p[1]].Name
		t.Logf("open+close of one file alternately through %s and %s: median %v of %d", a, b,
			median([]*client{clients[p[0]], clients[p[1]]}, "cost-"+a+b), rounds)
	}
}
