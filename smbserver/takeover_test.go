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

// vmDir is a share directory holding vm.vhdx.
func vmDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "vm.vhdx"), []byte("disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// lostRecord is the record of persistent handle id of vm.vhdx, held by
// node0, a lost node.
func lostRecord(id uint64) csv.HandleRecord {
	return csv.HandleRecord{
		Persistent: id, CreateGUID: [16]byte{byte(id)}, ClientGUID: [16]byte{2}, Share: "share", Path: "vm.vhdx", User: "test",
		Access: rw, ShareAccess: 1, Timeout: time.Minute, Owner: "node0", V2: true, IsPersistent: true,
	}
}

// Two restores of one claimed record racing on one node (a drain's push
// and a client's reconnect arriving together) leave exactly one open and
// keep the record: losing the race is not a reason to delete a live
// handle's record.
func TestConcurrentAdoptionKeepsTheRecord(t *testing.T) {
	dir := vmDir(t)
	store := csv.NewMemoryHandleStore()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := store.Put(ctx, lostRecord(0x77)); err != nil {
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

// A record this node claimed but could not restore (here: an open of
// another client conflicts with its share mode) is still this node's,
// and no other node may claim a live node's record. When a reconnect
// elsewhere asks for the handle, the record moves to the asker: without
// that, the client waits in vain for a hand-over of a handle nobody
// serves. A later adoption round restores such a record here once the
// conflict is gone.
func TestUnrestoredClaimedRecord(t *testing.T) {
	dir := vmDir(t)
	store := csv.NewMemoryHandleStore()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts, _ := startCA(t, dir, store)
	srv := ts.srv
	put := func(id uint64) {
		t.Helper()
		if err := store.Put(ctx, lostRecord(id)); err != nil {
			t.Fatal(err)
		}
	}
	owner := func(id uint64) string {
		t.Helper()
		for _, n := range []string{"node0", "node1", "node2"} {
			recs, err := store.List(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if r.Persistent == id {
					return n
				}
			}
		}
		return ""
	}

	// Another client holds the file without sharing anything.
	c := duConnect(t, ts, guid())
	cr := c.createOK(olCreate("vm.vhdx", 0, rw, 0))

	put(0x77)
	if ok, err := srv.adoptOne(ctx, "node0", 0x77); ok || err == nil {
		t.Fatalf("adoption against an exclusive open: restored %v, err %v; want a kept record and an error", ok, err)
	}
	if o := owner(0x77); o != "node1" || srv.HasDurable(0x77) {
		t.Fatalf("after the failed restore: record owner %q, served %v; want node1's record, not served", o, srv.HasDurable(0x77))
	}
	// A reconnect through node2 asks for it.
	if err := srv.Yield(ctx, 0x77, "node2"); err != nil {
		t.Fatalf("hand-over of an unrestored record: %v", err)
	}
	if o := owner(0x77); o != "node2" {
		t.Fatalf("record owner after the hand-over: %q, want node2", o)
	}

	// The same failure, then the conflict goes: the adoption round
	// restores the record here.
	put(0x78)
	if ok, _ := srv.adoptOne(ctx, "node0", 0x78); ok {
		t.Fatal("restored against an exclusive open")
	}
	if st, err := srv.RestoreClaimed(ctx); err != nil || st.Restored != 0 {
		t.Fatalf("retry while the conflict stands: %+v %v", st, err)
	}
	c.close(cr.FileID)
	st, err := srv.RestoreClaimed(ctx)
	if err != nil || st.Restored != 1 || !srv.HasDurable(0x78) {
		t.Fatalf("retry once the conflict is gone: %+v %v, served %v", st, err, srv.HasDurable(0x78))
	}
	if o := owner(0x78); o != "node1" {
		t.Fatalf("restored record's owner %q, want node1", o)
	}
	// Served here now, disconnected: a hand-over moves it as any other.
	if err := srv.Yield(ctx, 0x78, "node2"); err != nil {
		t.Fatal(err)
	}
	if o := owner(0x78); o != "node2" || srv.HasDurable(0x78) {
		t.Fatalf("after handing the restored handle over: owner %q, served %v", o, srv.HasDurable(0x78))
	}

	// A persistent CREATE stores its record before the handle enters the
	// durable table: in between, the record is this node's and is not
	// handed over, though nothing serves it as a durable handle yet.
	put(0x79)
	if _, ok, err := store.Claim(ctx, "node0", 0x79, "node1"); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if !srv.opens.addRestored(&open{name: "vm.vhdx"}, 0x79) {
		t.Fatal("could not enter the open being created")
	}
	if err := srv.Yield(ctx, 0x79, "node2"); err == nil {
		t.Fatal("the record of a handle being created was handed over")
	}
	if o := owner(0x79); o != "node1" {
		t.Fatalf("record of the handle being created moved to %q", o)
	}
}
