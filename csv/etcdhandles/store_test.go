package etcdhandles

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/csv/csvtest"
	"sofs.io/sofs/csv/openstate"
	"sofs.io/sofs/internal/testetcd"
)

// startEtcd runs a real single-member etcd in a temporary directory.
func startEtcd(t *testing.T) *clientv3.Client {
	t.Helper()
	return testetcd.Start(t).Client()
}

func TestStoreConformance(t *testing.T) {
	cli := startEtcd(t)
	n := 0
	csvtest.TestHandleStore(t, func(*testing.T) openstate.HandleStore {
		n++ // an empty store per sub-test: a fresh prefix
		return New(cli, "/test/"+strings.Repeat("x", n)+"/")
	})
}

func TestStoreLayout(t *testing.T) {
	cli := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := New(cli, "/sofs/v1")
	r := openstate.HandleRecord{Persistent: 0xab, CreateGUID: [16]byte{0xcd}, Share: "s", Owner: "node1", Timeout: time.Minute}
	if err := s.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	const key = "/sofs/v1/handles/node1/00000000000000ab/cd000000000000000000000000000000"
	resp, err := cli.Get(ctx, "/sofs/v1/handles/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Key) != key {
		t.Fatalf("keys %v, want %s", resp.Kvs, key)
	}
	got, err := openstate.DecodeHandleRecord(resp.Kvs[0].Value)
	if err != nil || got.Persistent != 0xab {
		t.Fatalf("stored value %q: %v", resp.Kvs[0].Value, err)
	}

	// A malformed value, and a good record under the wrong key, are
	// reported by List (with their keys) while the good ones still come.
	if _, err := cli.Put(ctx, "/sofs/v1/handles/node1/0000000000000001/00", "{garbage"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "/sofs/v1/handles/node1/0000000000000002/cd000000000000000000000000000000", string(resp.Kvs[0].Value)); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx, "node1")
	if !errors.Is(err, openstate.ErrBadHandleRecord) || !strings.Contains(err.Error(), "0000000000000001") || !strings.Contains(err.Error(), "0000000000000002") {
		t.Fatalf("List error %v, want both bad keys named", err)
	}
	if len(list) != 1 || list[0].Persistent != 0xab {
		t.Fatalf("List = %+v", list)
	}
}

// A claim from another owner waits for that owner to be gone: the
// membership key named by GuardClaims must be absent.
func TestClaimRefusedWhileOwnerAlive(t *testing.T) {
	cli := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := New(cli, "/sofs/v1")
	s.GuardClaims(func(owner string) (string, bool) { return "/sofs/v1/nodes/" + owner, true })
	r := openstate.HandleRecord{Persistent: 9, CreateGUID: [16]byte{1}, Share: "s", Owner: "n1", Timeout: time.Minute}
	if err := s.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "/sofs/v1/nodes/n1", "{}"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Claim(ctx, "n1", 9, "n2"); err != nil || ok {
		t.Fatalf("claim while the owner is alive: ok=%v err=%v", ok, err)
	}
	if _, err := cli.Delete(ctx, "/sofs/v1/nodes/n1"); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Claim(ctx, "n1", 9, "n2")
	if err != nil || !ok || got.Owner != "n2" || got.Epoch != 1 {
		t.Fatalf("claim after the owner is gone: %+v ok=%v err=%v", got, ok, err)
	}
}

func TestFindNamesTheOwner(t *testing.T) {
	cli := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := New(cli, "/sofs/v1")
	for i, owner := range []string{"n1", "n2"} {
		r := openstate.HandleRecord{Persistent: uint64(0x10 + i), CreateGUID: [16]byte{1}, Share: "s", Owner: owner, Timeout: time.Minute}
		if err := s.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if o, ok, err := s.Find(ctx, 0x11); err != nil || !ok || o != "n2" {
		t.Fatalf("Find(0x11) = %q %v %v, want n2", o, ok, err)
	}
	if _, ok, err := s.Find(ctx, 0x12); err != nil || ok {
		t.Fatalf("Find of a missing id: ok=%v err=%v", ok, err)
	}
	if err := s.Put(ctx, openstate.HandleRecord{Persistent: 0x20, CreateGUID: [16]byte{9, 9}, Share: "s", Owner: "n3", Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if o, id, ok, err := s.FindCreateGUID(ctx, [16]byte{9, 9}); err != nil || !ok || o != "n3" || id != 0x20 {
		t.Fatalf("FindCreateGUID = %q %#x %v %v, want n3 0x20", o, id, ok, err)
	}
	if _, _, ok, err := s.FindCreateGUID(ctx, [16]byte{9, 8}); err != nil || ok {
		t.Fatalf("FindCreateGUID of a missing guid: ok=%v err=%v", ok, err)
	}
}

// A node's record writes are conditional on its membership key being on
// its lease: once the lease is gone (a paused node waking up after a
// survivor adopted its handles), a write is refused and changes nothing.
func TestWritesFencedByMembershipLease(t *testing.T) {
	cli := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lease, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	const live = "/sofs/v1/nodes/id1"
	if _, err := cli.Put(ctx, live, "{}", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	s := New(cli, "/sofs/v1")
	s.GuardWrites(func() (string, int64, error) { return live, int64(lease.ID), nil })
	r := openstate.HandleRecord{Persistent: 7, CreateGUID: [16]byte{1}, Share: "s", Owner: "n1", Timeout: time.Minute}
	if err := s.Put(ctx, r); err != nil {
		t.Fatalf("put while holding the lease: %v", err)
	}
	if _, err := cli.Revoke(ctx, lease.ID); err != nil {
		t.Fatal(err)
	}
	r.Persistent = 8
	if err := s.Put(ctx, r); !errors.Is(err, csv.ErrFenced) {
		t.Fatalf("put after the lease ended: %v, want ErrFenced", err)
	}
	if _, ok, err := s.Claim(ctx, "n1", 7, "n1"); !errors.Is(err, csv.ErrFenced) && (err != nil || ok) {
		t.Fatalf("claim after the lease ended: ok=%v err=%v", ok, err)
	}
	got, err := s.List(ctx, "n1")
	if err != nil || len(got) != 1 || got[0].Persistent != 7 || got[0].Epoch != 0 {
		t.Fatalf("records after the fenced writes: %+v %v", got, err)
	}
}

// The index entries follow their record through Put, Claim and Delete;
// a stale owner's Delete leaves the new owner's entries; Find and
// FindCreateGUID read the entries, not the records (a record written
// without them is found only once Reindex wrote them); a damaged entry is
// an error.
func TestIndexFollowsRecords(t *testing.T) {
	cli := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := New(cli, "/sofs/v1")
	guid := [16]byte{0x30, 1}
	r := openstate.HandleRecord{Persistent: 0x30, CreateGUID: guid, Share: "s", Owner: "n1", Timeout: time.Minute}
	if err := s.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	want := func(what, owner string) {
		t.Helper()
		o, ok, err := s.Find(ctx, 0x30)
		if err != nil || ok != (owner != "") || o != owner {
			t.Fatalf("%s: Find = %q %v %v, want %q", what, o, ok, err, owner)
		}
		o, id, ok, err := s.FindCreateGUID(ctx, guid)
		if err != nil || ok != (owner != "") || o != owner || (ok && id != 0x30) {
			t.Fatalf("%s: FindCreateGUID = %q %#x %v %v, want %q", what, o, id, ok, err, owner)
		}
	}
	want("after Put", "n1")
	if _, ok, err := s.Claim(ctx, "n1", 0x30, "n2"); err != nil || !ok {
		t.Fatalf("Claim: %v %v", ok, err)
	}
	want("after Claim", "n2")
	if err := s.Delete(ctx, "n1", 0x30); err != nil {
		t.Fatal(err)
	}
	want("after the old owner's Delete", "n2")
	if err := s.Delete(ctx, "n2", 0x30); err != nil {
		t.Fatal(err)
	}
	want("after Delete", "")
	for _, dir := range []string{idsDir, guidsDir} {
		resp, err := cli.Get(ctx, "/sofs/v1/"+dir, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil || resp.Count != 0 {
			t.Fatalf("%s entries left after Delete: %d %v", dir, resp.Count, err)
		}
	}

	// A record as an earlier version wrote it: no index entries.
	r.Owner = "n3"
	val, err := openstate.EncodeHandleRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "/sofs/v1/handles/n3/"+r.Key(), string(val)); err != nil {
		t.Fatal(err)
	}
	want("a record without index entries", "")
	if n, err := s.Reindex(ctx, "n3"); err != nil || n != 2 {
		t.Fatalf("Reindex = %d %v, want 2 entries", n, err)
	}
	want("after Reindex", "n3")
	if n, err := s.Reindex(ctx, "n3"); err != nil || n != 0 {
		t.Fatalf("second Reindex = %d %v, want 0", n, err)
	}

	if _, err := cli.Put(ctx, "/sofs/v1/"+idsDir+"0000000000000031", "n1/../x"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Find(ctx, 0x31); !errors.Is(err, openstate.ErrBadHandleRecord) {
		t.Fatalf("Find of a damaged entry: %v", err)
	}
}

// FuzzParseIndex: an index entry read from etcd is accepted only when it
// is exactly a record key (owner, 16 hex digits, 32 hex digits), and
// what is accepted spells the entry back.
func FuzzParseIndex(f *testing.F) {
	f.Add("n1/0000000000000030/30010000000000000000000000000000")
	f.Add("n1/../x")
	f.Add("/0000000000000030/30010000000000000000000000000000")
	f.Fuzz(func(t *testing.T, v string) {
		owner, id, guid, err := parseIndex(v)
		if err != nil {
			return
		}
		if back := fmt.Sprintf("%s/%016x/%s", owner, id, guid); !strings.EqualFold(back, v) {
			t.Fatalf("parseIndex(%q) accepted %q", v, back)
		}
	})
}
