package namespace

import (
	"bytes"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestSlotsAreUniquePerRun(t *testing.T) {
	cli := startEtcd(t)
	ctx := testCtx(t)
	st := NewStore(cli)
	seen := map[uint16]bool{}
	for range 5 {
		n, err := st.NextSlot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 || seen[n] {
			t.Fatalf("slot %d handed out twice (or zero)", n)
		}
		seen[n] = true
	}
}

func TestClusterSecretIsShared(t *testing.T) {
	cli := startEtcd(t)
	ctx := testCtx(t)
	a, err := NewStore(cli).ClusterSecret(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewStore(cli).ClusterSecret(ctx)
	if err != nil || !bytes.Equal(a, b) || len(a) < 16 {
		t.Fatalf("secrets differ or are short: %x %x %v", a, b, err)
	}
}

// waitCoordinator waits through Changed until cond holds.
func waitCoordinator(t *testing.T, e *Election, what string, cond func(Coordinator) bool) Coordinator {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		ch := e.Changed()
		if c := e.Current(); cond(c) {
			return c
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("election did not reach %s: %+v", what, e.Current())
		}
	}
}

func TestElectionMovesWhenTheCoordinatorLeaves(t *testing.T) {
	cli := startEtcd(t)
	ctx := testCtx(t)
	st := NewStore(cli)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	regs := map[uint16]*Registration{}
	elections := map[uint16]*Election{}
	for slot, id := range map[uint16]string{1: "n1", 2: "n2"} {
		reg, err := st.Register(ctx, NodeRecord{ID: id, Slot: slot}, RegisterOptions{TTL: 3 * time.Second, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		regs[slot] = reg
		elections[slot] = st.NewElection(ctx, reg, slot, log)
		t.Cleanup(elections[slot].Close)
	}
	first := waitCoordinator(t, elections[1], "a coordinator", func(c Coordinator) bool { return c.Epoch != 0 })
	other := uint16(3) - first.Slot
	seen := waitCoordinator(t, elections[other], "the same coordinator", func(c Coordinator) bool { return c.Epoch != 0 })
	if seen != first {
		t.Fatalf("nodes disagree: %+v vs %+v", first, seen)
	}
	// The coordinator leaves: its lease is revoked, the other node takes
	// over with a later epoch.
	elections[first.Slot].Close()
	if err := regs[first.Slot].Close(ctx); err != nil {
		t.Fatal(err)
	}
	next := waitCoordinator(t, elections[other], "a new coordinator", func(c Coordinator) bool { return c.Epoch > first.Epoch })
	if next.Slot != other {
		t.Fatalf("new coordinator %+v, want slot %d", next, other)
	}
	regs[other].Close(ctx)
}
