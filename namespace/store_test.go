package namespace

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestShareCRUD(t *testing.T) {
	s := NewStore(startEtcd(t))
	ctx := testCtx(t)

	if _, err := s.GetShare(ctx, "vms"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetShare on empty store: %v, want ErrNotFound", err)
	}
	vms := Share{Name: "VMs", Path: "/csv/vms", Comment: "Hyper-V", ContinuouslyAvailable: true, EncryptData: true}
	if err := s.PutShare(ctx, vms); err != nil {
		t.Fatal(err)
	}
	if err := s.PutShare(ctx, Share{Name: "images", Path: "/csv/img", ReadOnly: true, Guest: true}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetShare(ctx, "vms") // case-insensitive
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, vms) {
		t.Fatalf("GetShare = %+v, want %+v", got, vms)
	}
	// Replacing through another spelling updates the same share.
	vms2 := vms
	vms2.Name, vms2.Path = "vms", "/csv/vms2"
	if err := s.PutShare(ctx, vms2); err != nil {
		t.Fatal(err)
	}
	list, _, err := s.ListShares(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "images" || !reflect.DeepEqual(list[1], vms2) {
		t.Fatalf("ListShares = %+v", list)
	}
	if err := s.DeleteShare(ctx, "VMS"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteShare(ctx, "vms"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second DeleteShare: %v, want ErrNotFound", err)
	}
	if list, _, _ := s.ListShares(ctx); len(list) != 1 {
		t.Fatalf("after delete: %+v", list)
	}
}

func TestInvalidNamesRejected(t *testing.T) {
	s := NewStore(startEtcd(t))
	ctx := testCtx(t)
	for _, sh := range []Share{
		{Name: "IPC$", Path: "/x"},
		{Name: "a/b", Path: "/x"},
		{Name: "", Path: "/x"},
		{Name: "ok", Path: "rel"},
	} {
		if err := s.PutShare(ctx, sh); err == nil {
			t.Errorf("PutShare(%+v) accepted", sh)
		}
	}
	if _, err := s.GetShare(ctx, "a*b"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("GetShare(a*b): %v, want ErrInvalidName", err)
	}
	if err := s.PutUser(ctx, "bad@name", "pw"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("PutUser(bad@name): %v, want ErrInvalidName", err)
	}
	if err := s.PutUser(ctx, "good", ""); err == nil {
		t.Error("PutUser with empty password accepted")
	}
	// Nothing was written by the rejected calls.
	resp, err := s.Client().Get(ctx, Prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 0 {
		t.Fatalf("rejected writes left %d keys", len(resp.Kvs))
	}
}

func TestUserCRUD(t *testing.T) {
	s := NewStore(startEtcd(t))
	ctx := testCtx(t)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s.now = func() time.Time { return t0 }

	if err := s.PutUser(ctx, "Test", "test123"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutUser(ctx, "test", "other"); !errors.Is(err, ErrExists) {
		t.Fatalf("PutUser of existing user: %v, want ErrExists", err)
	}
	h, err := s.LookupNTHash(ctx, "TEST")
	if err != nil {
		t.Fatal(err)
	}
	if h != NTHash("test123") {
		t.Fatal("PutUser of an existing user changed the password")
	}
	// The stored record holds the hash, never the password.
	resp, err := s.Client().Get(ctx, Prefix+"users/test")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("raw get: %v", err)
	}
	if raw := string(resp.Kvs[0].Value); strings.Contains(raw, "test123") || strings.Contains(raw, "other") {
		t.Fatalf("stored record contains a password: %s", raw)
	}

	s.now = func() time.Time { return t0.Add(time.Hour) }
	if err := s.SetPassword(ctx, "test", "n3w"); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.LookupNTHash(ctx, "test"); h != NTHash("n3w") {
		t.Fatal("SetPassword did not change the hash")
	}
	if err := s.SetPassword(ctx, "ghost", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetPassword(ghost): %v, want ErrNotFound", err)
	}
	users, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || users[0].Name != "Test" || !users[0].Created.Equal(t0) {
		t.Fatalf("ListUsers = %+v, want Test created %v", users, t0)
	}
	if err := s.DeleteUser(ctx, "TeSt"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupNTHash(ctx, "test"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lookup after delete: %v", err)
	}
	if err := s.DeleteUser(ctx, "test"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second DeleteUser: %v", err)
	}
}

func TestInitClusterOnce(t *testing.T) {
	s := NewStore(startEtcd(t))
	ctx := testCtx(t)
	if _, err := s.Cluster(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Cluster before init: %v", err)
	}
	// Nodes racing to initialise must all end up with one record.
	const n = 8
	got := make([]Cluster, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], errs[i] = s.InitCluster(ctx, "sofs") })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if got[i] != got[0] {
			t.Fatalf("InitCluster results differ: %+v vs %+v", got[i], got[0])
		}
	}
	if got[0].ServerGUID == (GUID{}) {
		t.Fatal("zero server GUID")
	}
	if v := got[0].ServerGUID[7] >> 4; v != 4 {
		t.Fatalf("GUID version %d, want 4 (random)", v)
	}
	again, err := s.InitCluster(ctx, "other-name")
	if err != nil {
		t.Fatal(err)
	}
	if again != got[0] {
		t.Fatalf("second InitCluster replaced the record: %+v", again)
	}
	if c, err := s.Cluster(ctx); err != nil || c != got[0] {
		t.Fatalf("Cluster = %+v, %v", c, err)
	}
}
