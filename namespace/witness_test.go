package namespace

import (
	"errors"
	"testing"
)

// A damaged registration record is left out of the list and named in an
// ErrDamagedRecord error; the others still come, so the witness's
// placement goes on for every other client.
func TestDamagedWitnessRecordLeftOut(t *testing.T) {
	cli := startEtcd(t)
	ctx := testCtx(t)
	s := NewStore(cli)
	for _, id := range []string{"5039a002-2658-b623-097b-c1f56632b2b2", "6039a002-2658-b623-097b-c1f56632b2b2"} {
		if _, err := s.CreateWitnessRegistration(ctx, WitnessRegistration{ID: id, Version: 2, NetName: "sofs", IPAddress: "127.0.0.1", NodeID: "n1", Client: "c"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Put(ctx, s.witnessKey("7039a002-2658-b623-097b-c1f56632b2b2"), "{damaged"); err != nil {
		t.Fatal(err)
	}
	regs, err := s.ListWitnessRegistrations(ctx)
	if !errors.Is(err, ErrDamagedRecord) {
		t.Fatalf("list with a damaged record: %v, want ErrDamagedRecord", err)
	}
	if len(regs) != 2 {
		t.Fatalf("list with a damaged record returned %d registrations, want the 2 good ones", len(regs))
	}
}
