package cluster

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/integration/harness"
	"sofs.io/sofs/namespace/clustertls"
)

// exitJoinRefused is sofsd's exit code for a refused join (README, exit
// codes).
const exitJoinRefused = 5

// createToken makes a join token through n's API with sofsctl.
func (c *tc) createToken(n *harness.ClusterNode, ttl string) adminapi.JoinToken {
	c.t.Helper()
	var jt adminapi.JoinToken
	if err := json.Unmarshal(c.mustCtl(n, "token", "create", "--ttl", ttl), &jt); err != nil {
		c.t.Fatal(err)
	}
	return jt
}

// refusedJoin starts a node that joins through via with token and checks
// it exits with exitJoinRefused and a message containing want, and that
// the cluster's etcd did not grow.
func (c *tc) refusedJoin(name, addr string, via *harness.ClusterNode, token, want string) {
	c.t.Helper()
	n, err := harness.NewClusterNode(name, addr, filepath.Join(c.t.TempDir(), name))
	if err != nil {
		c.t.Fatal(err)
	}
	n.Joining = true
	n.Args = []string{"--join", via.JoinHostPort(), "--join-token", token}
	if err := n.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { n.Stop() }) // its refusal is the exit this test wants
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	code, err := n.ExitCode(ctx)
	if err != nil {
		c.t.Fatalf("%s: %v\n%s", name, err, n.Log())
	}
	if code != exitJoinRefused || !strings.Contains(n.Log(), want) {
		c.t.Fatalf("%s: exit %d, want %d with %q; log:\n%s", name, code, exitJoinRefused, want, n.Log())
	}
	if _, err := os.Stat(filepath.Join(n.Data(), "pki", clustertls.CertFile)); err == nil {
		c.t.Fatalf("%s: a refused join left a node certificate", name)
	}
}

// etcdMembers lists the etcd members through n with n's certificate.
func (c *tc) etcdMembers(n *harness.ClusterNode) []string {
	c.t.Helper()
	tc, err := n.EtcdTLS()
	if err != nil {
		c.t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{n.ClientURL()}, TLS: tc, DialTimeout: 5 * time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.MemberList(ctx)
	if err != nil {
		c.t.Fatalf("member list through %s with its own certificate: %v", n.Name, err)
	}
	var names []string
	for _, m := range resp.Members {
		names = append(names, m.Name)
	}
	return names
}

// TestJoinWithToken: a third node joins a two-node cluster with a token
// made by sofsctl, gets its certificate (the CA key stays behind), becomes
// an etcd member and serves the share; the same token a second time and
// an expired token are refused with exit code 5, and add no member.
func TestJoinWithToken(t *testing.T) {
	c := newCluster(t)
	n1 := c.add("n1", "127.0.0.1", false)
	n2 := c.add("n2", "127.0.0.2", false)
	ic := harness.InitialCluster(n1, n2)
	for _, n := range c.nodes {
		n.Args = []string{"--etcd-initial-cluster", ic}
	}
	c.start(n1, n2)
	c.waitState(n1, "n2", adminapi.NodeUp, upWithin)
	c.createShareAndUser(n1)

	jt := c.createToken(n1, "10m")
	if !strings.HasPrefix(jt.Token, "sofs1.") || time.Until(jt.Expires) > 10*time.Minute || time.Until(jt.Expires) < 9*time.Minute {
		t.Fatalf("token %+v", jt)
	}
	// The token's secret is nowhere in etcd.
	secret := strings.Split(jt.Token, ".")[2]
	tlsCfg, err := n1.EtcdTLS()
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{n1.ClientURL()}, TLS: tlsCfg, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	all, err := cli.Get(ctx, "/", clientv3.WithPrefix())
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range all.Kvs {
		if strings.Contains(string(kv.Value), secret) {
			t.Fatalf("etcd key %s holds the token's secret", kv.Key)
		}
	}

	n3 := c.add("n3", "127.0.0.3", false, "--join", n1.JoinHostPort(), "--join-token", jt.Token)
	n3.Joining = true
	c.start(n3)
	c.waitState(n1, "n3", adminapi.NodeUp, upWithin)
	c.waitState(n3, "n1", adminapi.NodeUp, upWithin)
	pki := filepath.Join(n3.Data(), "pki")
	if clustertls.HasCAKey(pki) {
		t.Fatal("the joined node holds the CA key")
	}
	if got := c.etcdMembers(n3); len(got) != 3 {
		t.Fatalf("etcd members after the join: %v", got)
	}
	// Files written through the new node are seen through the others,
	// both ways: its open-state channel to the peers works too.
	c.writeRead(n3, n2, "joined.bin")
	c.writeRead(n1, n3, "to-joined.bin")

	c.refusedJoin("n4", "127.0.0.4", n1, jt.Token, "already used")

	short := c.createToken(n2, "1s")
	// Waiting for a wall-clock deadline, not for another goroutine: the
	// token is expired once its expiry has passed.
	time.Sleep(time.Until(short.Expires) + 100*time.Millisecond)
	c.refusedJoin("n5", "127.0.0.5", n1, short.Token, "expired")

	if got := c.etcdMembers(n1); len(got) != 3 {
		t.Fatalf("etcd members after the refused joins: %v", got)
	}
	// A restart of the joined node starts from its data, without a token.
	n3.Stop()
	c.start(n3)
	c.waitState(n1, "n3", adminapi.NodeUp, upWithin)
}
