package clusterstate

import (
	"context"
	"testing"
)

func TestCastToReachesOneNode(t *testing.T) {
	tc := startCluster(t, 3)
	got := make(chan uint16, 3)
	for i, n := range tc.nodes {
		slot := uint16(i + 1)
		n.HandleGather("one", func(_ context.Context, body []byte) ([]byte, error) {
			got <- slot
			return append([]byte("from "), body...), nil
		})
	}
	rep, err := tc.nodes[0].CastTo(testCtx(t), 3, "one", []byte("x"))
	if err != nil || string(rep) != "from x" {
		t.Fatalf("cast to node 3: %q %v", rep, err)
	}
	close(got)
	var seen []uint16
	for s := range got {
		seen = append(seen, s)
	}
	if len(seen) != 1 || seen[0] != 3 {
		t.Fatalf("cast to node 3 reached %v", seen)
	}
	if _, err := tc.nodes[0].CastTo(testCtx(t), 9, "one", nil); err == nil {
		t.Fatal("a cast to a slot that is no member succeeded")
	}
	if _, err := tc.nodes[0].CastTo(testCtx(t), 2, "unknown", nil); err == nil {
		t.Fatal("a cast nobody handles succeeded")
	}
}
