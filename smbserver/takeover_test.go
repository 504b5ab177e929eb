package smbserver

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"sofs.io/sofs/csv"
)

// Two restores of one claimed record racing on one node (a drain's push
// and a client's reconnect arriving together) leave exactly one open and
// keep the record: losing the race is not a reason to delete a live
// handle's record.
func TestConcurrentAdoptionKeepsTheRecord(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "vm.vhdx"), []byte("disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	store := csv.NewMemoryHandleStore()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec := csv.HandleRecord{
		Persistent: 0x77, CreateGUID: [16]byte{1}, ClientGUID: [16]byte{2}, Share: "share", Path: "vm.vhdx", User: "test",
		Access: rw, ShareAccess: 1, Timeout: time.Minute, Owner: "node0", V2: true, IsPersistent: true,
	}
	if err := store.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	ts, _ := startCA(t, dir, store)
	srv := ts.srv
	// The lost node's record, claimed by this one.
	if _, ok, err := store.Claim(ctx, "node0", 0x77, "node1"); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	var wg sync.WaitGroup
	results := make(chan bool, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, _ := srv.adoptOne(ctx, "node1", 0x77)
			results <- ok
		}()
	}
	wg.Wait()
	close(results)
	if !srv.HasDurable(0x77) {
		t.Fatal("the handle was not restored")
	}
	recs, err := store.List(ctx, "node1")
	if err != nil || len(recs) != 1 || recs[0].Persistent != 0x77 {
		t.Fatalf("records after racing restores: %+v %v", recs, err)
	}
	if n := len(srv.DurableIDs()); n != 1 {
		t.Fatalf("%d durable handles, want 1", n)
	}
}
