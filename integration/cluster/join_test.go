package cluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
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

// twoNodes starts n1 and n2 as one cluster, with the share and the user.
func (c *tc) twoNodes() (n1, n2 *harness.ClusterNode) {
	c.t.Helper()
	n1 = c.add("n1", "127.0.0.1", false)
	n2 = c.add("n2", "127.0.0.2", false)
	ic := harness.InitialCluster(n1, n2)
	for _, n := range c.nodes {
		n.Args = []string{"--etcd-initial-cluster", ic}
	}
	c.start(n1, n2)
	c.waitState(n1, "n2", adminapi.NodeUp, upWithin)
	c.createShareAndUser(n1)
	return n1, n2
}

// join starts node name on addr, joining through via with token, and
// waits until the cluster and the node see each other up.
func (c *tc) join(via *harness.ClusterNode, name, addr, token string) *harness.ClusterNode {
	c.t.Helper()
	n := c.add(name, addr, false, "--join", via.JoinHostPort(), "--join-token", token)
	n.Joining = true
	c.start(n)
	c.waitState(via, name, adminapi.NodeUp, upWithin)
	c.waitState(n, via.Name, adminapi.NodeUp, upWithin)
	return n
}

// exitJoinRefused is sofsd's exit code for a refused join (README, exit
// codes).
const exitJoinRefused = 6

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
// an expired token are refused with exit code 6, and add no member.
func TestJoinWithToken(t *testing.T) {
	c := newCluster(t)
	n1, n2 := c.twoNodes()
	jt := c.createToken(n1, "10m")
	if !strings.HasPrefix(jt.Token, "sofs1.") || time.Until(jt.Expires) > 10*time.Minute || time.Until(jt.Expires) < 9*time.Minute {
		t.Fatalf("token %+v", jt)
	}
	// The token's secret is nowhere in etcd.
	secret := strings.Split(jt.Token, ".")[2]
	cli, err := n1.EtcdClient()
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

	n3 := c.join(n1, "n3", "127.0.0.3", jt.Token)
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

// certSerial reads the serial of n's node certificate on disk.
func certSerial(t *testing.T, n *harness.ClusterNode) string {
	t.Helper()
	b, err := clustertls.Load(filepath.Join(n.Data(), "pki"))
	if err != nil {
		t.Fatal(err)
	}
	return b.Cert.Leaf.SerialNumber.String()
}

// presented dials addr with from's cluster certificate and returns the
// serial of the certificate the server presents.
func presented(t *testing.T, from *harness.ClusterNode, addr string) string {
	t.Helper()
	cfg, err := from.EtcdTLS()
	if err != nil {
		t.Fatal(err)
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("TLS to %s with %s's certificate: %v", addr, from.Name, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// TestCertRotation: node certificates are renewed while the cluster runs,
// both on a node that holds the CA key (it issues its own) and on one that
// joined with a token (it asks a member, with a new token). New
// connections to the renewed nodes' etcd ports get the new certificates at
// once; after a rolling restart every node talks to etcd and to its peers
// with them, and the cluster never stopped serving.
func TestCertRotation(t *testing.T) {
	c := newCluster(t)
	n1, n2 := c.twoNodes()
	n3 := c.join(n1, "n3", "127.0.0.3", c.createToken(n1, "10m").Token)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	etcdArgs := func(n *harness.ClusterNode) []string {
		return []string{"cert", "renew", "--data", n.Data(), "--node-name", n.Name,
			"--etcd-client-listen", n.ClientURL(), "--etcd-peer-listen", n.PeerURL()}
	}

	old1, old3 := certSerial(t, n1), certSerial(t, n3)
	out, code, err := harness.Sofsd(ctx, nil, etcdArgs(n1)...)
	if err != nil || code != 0 {
		t.Fatalf("cert renew on n1: exit %d, %v: %s", code, err, out)
	}
	new1 := certSerial(t, n1)
	if new1 == old1 || !strings.Contains(string(out), fmt.Sprintf("%x", mustBig(t, new1))) {
		t.Fatalf("n1's certificate not renewed: %s -> %s; %s", old1, new1, out)
	}
	for _, port := range []int{n1.EtcdClientPort, n1.EtcdPeerPort} {
		if got := presented(t, n2, fmt.Sprintf("%s:%d", n1.Addr, port)); got != new1 {
			t.Fatalf("n1's etcd port %d presents serial %s after the renewal, want %s", port, got, new1)
		}
	}
	// n1 keeps working on its existing connections and its new ones.
	c.mustCtl(n1, "share", "create", "rot1", "--path", c.csv)
	c.writeRead(n1, n2, "renewed-n1.bin")

	// n3 has no CA key: without a token it is told how, with one it
	// gets a new certificate from n1.
	out, code, err = harness.Sofsd(ctx, nil, etcdArgs(n3)...)
	if err != nil || code != 2 || !strings.Contains(string(out), "no CA key") {
		t.Fatalf("cert renew on n3 without a token: exit %d, %v: %s", code, err, out)
	}
	jt := c.createToken(n2, "5m")
	out, code, err = harness.Sofsd(ctx, []string{"SOFS_JOIN_TOKEN=" + jt.Token}, append(etcdArgs(n3), "--join", n1.JoinHostPort())...)
	if err != nil || code != 0 {
		t.Fatalf("cert renew on n3 through n1: exit %d, %v: %s", code, err, out)
	}
	new3 := certSerial(t, n3)
	if new3 == old3 {
		t.Fatal("n3's certificate not renewed")
	}
	if got := presented(t, n1, fmt.Sprintf("%s:%d", n3.Addr, n3.EtcdClientPort)); got != new3 {
		t.Fatalf("n3's etcd client port presents %s after the renewal, want %s", got, new3)
	}
	// The token is spent like a join's.
	out, code, _ = harness.Sofsd(ctx, []string{"SOFS_JOIN_TOKEN=" + jt.Token}, append(etcdArgs(n3), "--join", n1.JoinHostPort())...)
	if code != exitJoinRefused || !strings.Contains(string(out), "already used") {
		t.Fatalf("renewal with a used token: exit %d: %s", code, out)
	}

	// Rolling restart: one node at a time, the others keep the quorum
	// and serve.
	for _, n := range []*harness.ClusterNode{n1, n3} {
		other := n2
		if err := n.Stop(); err != nil {
			t.Fatalf("stop %s: %v", n.Name, err)
		}
		c.writeRead(other, other, "during-restart-"+n.Name+".bin")
		c.start(n)
		c.waitState(other, n.Name, adminapi.NodeUp, upWithin)
	}
	for _, n := range []*harness.ClusterNode{n1, n3} {
		if got := c.etcdMembers(n); len(got) != 3 {
			t.Fatalf("etcd members through %s after the rotation: %v", n.Name, got)
		}
	}
	if certSerial(t, n1) != new1 || certSerial(t, n3) != new3 {
		t.Fatal("a restart replaced a renewed certificate")
	}
	c.writeRead(n3, n1, "after-rotation-31.bin")
	c.writeRead(n1, n3, "after-rotation-13.bin")
	c.writeRead(n2, n3, "after-rotation-23.bin")
}

func mustBig(t *testing.T, dec string) *big.Int {
	t.Helper()
	n, ok := new(big.Int).SetString(dec, 10)
	if !ok {
		t.Fatalf("serial %q", dec)
	}
	return n
}
