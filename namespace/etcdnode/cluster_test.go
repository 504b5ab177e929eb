package etcdnode

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/internal/testport"
)

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}

// TestFormCluster starts three members from one initial member list; a
// write through one is read through another, and a member restarts from
// its data with the bootstrap settings ignored.
func TestFormCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var cfgs []Config
	var ic []string
	for i := range 3 {
		c := Config{
			Dir: t.TempDir(), Name: fmt.Sprintf("m%d", i), ClientURL: testport.Loopback(t), PeerURL: "http://" + testport.Loopback(t),
			Logger: testLogger(t), ReadyTimeout: 30 * time.Second,
		}
		cfgs = append(cfgs, c)
		ic = append(ic, c.Name+"="+c.PeerURL)
	}
	nodes := make([]*Node, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range cfgs {
		cfgs[i].InitialCluster = strings.Join(ic, ",")
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = Start(ctx, cfgs[i])
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
	}
	defer func() {
		for _, n := range nodes {
			n.Close()
		}
	}()
	if _, err := nodes[0].Client().Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	resp, err := nodes[2].Client().Get(ctx, "k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("read through member 2: %v %v", resp, err)
	}
	ml, err := nodes[1].Client().MemberList(ctx)
	if err != nil || len(ml.Members) != 3 {
		t.Fatalf("member list: %v %v", ml, err)
	}
	// Restart member 2 from its data: the initial cluster is ignored, so
	// even a different one does no harm.
	id := nodes[2].MemberID()
	if err := nodes[2].Close(); err != nil {
		t.Fatal(err)
	}
	cfgs[2].InitialCluster = ""
	if nodes[2], err = Start(ctx, cfgs[2]); err != nil {
		t.Fatal(err)
	}
	if nodes[2].MemberID() != id {
		t.Fatalf("member id changed on restart: %x -> %x", id, nodes[2].MemberID())
	}
	if resp, err := nodes[2].Client().Get(ctx, "k"); err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("after restart: %v %v", resp, err)
	}
}

// TestJoinCluster grows a one-member cluster by joining a second member
// through the first one's client URL.
func TestJoinCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, err := Start(ctx, Config{Dir: t.TempDir(), Name: "a", ClientURL: testport.Loopback(t), PeerURL: testport.Loopback(t), Logger: testLogger(t), ReadyTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Client().Put(ctx, "k", "before-join"); err != nil {
		t.Fatal(err)
	}
	bc := Config{Dir: t.TempDir(), Name: "b", ClientURL: testport.Loopback(t), PeerURL: testport.Loopback(t), Join: []string{a.ClientURL()},
		Logger: testLogger(t), ReadyTimeout: 30 * time.Second}
	b, err := Start(ctx, bc)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { b.Close() }()
	resp, err := b.Client().Get(ctx, "k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "before-join" {
		t.Fatalf("read through joined member: %v %v", resp, err)
	}
	ml, err := a.Client().MemberList(ctx)
	if err != nil || len(ml.Members) != 2 {
		t.Fatalf("member list: %v %v", ml, err)
	}
	// A restart with the join setting still present must not add again.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err = Start(ctx, bc); err != nil {
		t.Fatal(err)
	}
	if ml, err = a.Client().MemberList(ctx); err != nil || len(ml.Members) != 2 {
		t.Fatalf("member list after restart: %v %v", ml, err)
	}
}

func TestConnectExternal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, err := Start(ctx, Config{Dir: t.TempDir(), ClientURL: testport.Loopback(t), PeerURL: testport.Loopback(t), Logger: testLogger(t), ReadyTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	c, err := Connect(ctx, ClientConfig{Endpoints: []string{a.ClientURL()}, Logger: testLogger(t), ReadyTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Embedded() || c.MemberID() != 0 {
		t.Fatal("external client claims a member")
	}
	if _, err := c.Client().Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := Connect(ctx, ClientConfig{Endpoints: []string{a.ClientURL()}, Cert: "x"}); err == nil {
		t.Fatal("cert without key accepted")
	}
}

func TestParseInitialCluster(t *testing.T) {
	n, u, err := ParseInitialCluster("a=127.0.0.1:1,b=http://127.0.0.2:2")
	if err != nil || len(n) != 2 || u[0] != "http://127.0.0.1:1" || n[1] != "b" {
		t.Fatalf("%v %v %v", n, u, err)
	}
	for _, bad := range []string{"", "a", "=x:1", "a=x:1,a=y:2", "a=ftp://x:1"} {
		if _, _, err := ParseInitialCluster(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestRenameOnRestart restarts a member from its data under another name
// (a renamed node, or data made when members were named by node id): it
// must start and publish the new name.
func TestRenameOnRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := Config{Dir: t.TempDir(), Name: "old-name", ClientURL: testport.Loopback(t), PeerURL: testport.Loopback(t), Logger: testLogger(t), ReadyTimeout: 30 * time.Second}
	n, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := n.MemberID()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.Name = "new-name"
	if n, err = Start(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ml, err := n.Client().MemberList(ctx)
	if err != nil || len(ml.Members) != 1 || ml.Members[0].ID != id || ml.Members[0].Name != "new-name" {
		t.Fatalf("members after rename: %v %v", ml, err)
	}
}
