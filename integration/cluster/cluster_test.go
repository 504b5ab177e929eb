// Package cluster holds multi-node integration tests: sofsd processes on
// 127.0.0.1, .2 and .3 sharing one backing directory (the cluster shared
// volume), with embedded etcd members, an external etcd, or two nodes and
// a quorum witness. They exercise membership, namespace replication and
// the shared volume; handle failover needs cluster-wide open state, which
// is not there yet.
package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	cloudsoda "github.com/cloudsoda/go-smb2"
	clientv3 "go.etcd.io/etcd/client/v3"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/integration/harness"
)

// sofsctl is the CLI binary TestMain builds.
var sofsctl string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sofsctl-build-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if sofsctl, err = harness.BuildSofsctl(ctx, dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return harness.Main(m)
}

// Test bounds. Membership is lease-based with a 5 s TTL; a dead leader
// adds an election and etcd's lease extension on the new leader.
const (
	startTimeout = 45 * time.Second
	downWithin   = 30 * time.Second
	upWithin     = 30 * time.Second
	pollEvery    = 250 * time.Millisecond
	smbTimeout   = 20 * time.Second
	user         = "clusteruser"
	password     = "Cluster-pw-1"
)

// tc is one cluster under test.
type tc struct {
	t     *testing.T
	nodes []*harness.ClusterNode
	csv   string // the shared backing directory
	// caDir holds the cluster CA the nodes share (harness.ClusterNode.CADir).
	caDir string
}

func newCluster(t *testing.T) *tc {
	c := &tc{t: t, csv: filepath.Join(t.TempDir(), "csv")}
	if err := os.MkdirAll(c.csv, 0o755); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *tc) add(name, addr string, witness bool, args ...string) *harness.ClusterNode {
	n, err := harness.NewClusterNode(name, addr, filepath.Join(c.t.TempDir(), name))
	if err != nil {
		c.t.Fatal(err)
	}
	n.Witness = witness
	n.Args = args
	if c.caDir == "" {
		c.caDir = c.t.TempDir()
	}
	n.CADir = c.caDir
	c.nodes = append(c.nodes, n)
	c.t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			c.t.Errorf("stop %s: %v", n.Name, err)
		}
		if c.t.Failed() {
			c.t.Logf("==== %s log:\n%s", n.Name, n.Log())
		}
	})
	return n
}

// start launches nodes together and waits until each serves.
func (c *tc) start(nodes ...*harness.ClusterNode) {
	c.t.Helper()
	for _, n := range nodes {
		if err := n.Start(); err != nil {
			c.t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for _, n := range nodes {
		if err := n.Wait(ctx); err != nil {
			c.t.Fatal(err)
		}
	}
}

// ctl runs sofsctl against node n's API with n's token.
func (c *tc) ctl(n *harness.ClusterNode, args ...string) ([]byte, error) {
	full := append([]string{"--api", n.APIURL(), "--token-file", n.TokenFile(), "-o", "json", "--timeout", "10s"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, sofsctl, full...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("sofsctl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return out, nil
}

func (c *tc) mustCtl(n *harness.ClusterNode, args ...string) []byte {
	c.t.Helper()
	out, err := c.ctl(n, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// nodeStates lists the nodes as n reports them, by name.
func (c *tc) nodeStates(n *harness.ClusterNode) (map[string]adminapi.NodeInfo, error) {
	out, err := c.ctl(n, "node", "list")
	if err != nil {
		return nil, err
	}
	var nl adminapi.NodeList
	if err := json.Unmarshal(out, &nl); err != nil {
		return nil, fmt.Errorf("node list: %w: %s", err, out)
	}
	m := map[string]adminapi.NodeInfo{}
	for _, ni := range nl.Nodes {
		m[ni.Name] = ni
	}
	return m, nil
}

// waitState polls n's node list until node name has state, failing after
// limit; it returns how long that took.
func (c *tc) waitState(n *harness.ClusterNode, name, state string, limit time.Duration) time.Duration {
	c.t.Helper()
	start := time.Now()
	var last map[string]adminapi.NodeInfo
	var lastErr error
	for attempt := 0; time.Since(start) < limit; attempt++ {
		last, lastErr = c.nodeStates(n)
		if lastErr == nil && last[name].State == state {
			return time.Since(start)
		}
		time.Sleep(pollEvery) // polling interval, not synchronisation: the loop checks the state
	}
	c.t.Fatalf("%s did not report %s %s within %s: last %+v, %v", n.Name, name, state, limit, last, lastErr)
	return 0
}

// createShareAndUser creates share "data" on the shared volume and the
// test user through n's API.
func (c *tc) createShareAndUser(n *harness.ClusterNode) {
	c.t.Helper()
	c.mustCtl(n, "share", "create", "data", "--path", c.csv, "--comment", "cluster shared volume")
	c.mustCtl(n, "user", "create", user, "--password", password)
}

// mount connects to n's SMB port and mounts share, retrying until the
// share has replicated to n or smbTimeout passes.
func (c *tc) mount(n *harness.ClusterNode, share string) (*cloudsoda.Share, func()) {
	c.t.Helper()
	deadline := time.Now().Add(smbTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), smbTimeout)
		d := &cloudsoda.Dialer{
			MaxCreditBalance: 128,
			Negotiator:       cloudsoda.Negotiator{RequireMessageSigning: true},
			Initiator:        &cloudsoda.NTLMInitiator{User: user, Password: password},
		}
		s, err := d.Dial(ctx, n.SMBHostPort())
		if err == nil {
			sh, merr := s.Mount(share)
			if merr == nil {
				return sh, func() { sh.Umount(); s.Logoff(); cancel() }
			}
			s.Logoff()
			err = merr
		}
		cancel()
		lastErr = err
		time.Sleep(pollEvery) // retry interval; the loop checks success
	}
	c.t.Fatalf("mount %s on %s: %v", share, n.Name, lastErr)
	return nil, nil
}

// writeRead writes a fresh random file through node w and reads it back
// byte for byte through node r.
func (c *tc) writeRead(w, r *harness.ClusterNode, name string) {
	c.t.Helper()
	data := make([]byte, 1<<20+123)
	rand.Read(data)
	ws, wdone := c.mount(w, "data")
	if err := ws.WriteFile(name, data, 0o644); err != nil {
		wdone()
		c.t.Fatalf("write %s through %s: %v", name, w.Name, err)
	}
	wdone()
	rs, rdone := c.mount(r, "data")
	defer rdone()
	got, err := rs.ReadFile(name)
	if err != nil {
		c.t.Fatalf("read %s through %s: %v", name, r.Name, err)
	}
	if !bytes.Equal(got, data) {
		c.t.Fatalf("%s read through %s differs from what %s wrote (%d vs %d bytes)", name, r.Name, w.Name, len(got), len(data))
	}
}

// refusesSMB checks that n closes a new SMB connection without answering
// its NEGOTIATE.
func (c *tc) refusesSMB(n *harness.ClusterNode) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), smbTimeout)
	defer cancel()
	d := &cloudsoda.Dialer{
		MaxCreditBalance: 128,
		Negotiator:       cloudsoda.Negotiator{RequireMessageSigning: true},
		Initiator:        &cloudsoda.NTLMInitiator{User: user, Password: password},
	}
	s, err := d.Dial(ctx, n.SMBHostPort())
	if err == nil {
		s.Logoff()
		c.t.Fatalf("%s accepted a new SMB session while draining", n.Name)
	}
	if ctx.Err() != nil {
		c.t.Fatalf("%s neither served nor refused a new SMB connection within %s", n.Name, smbTimeout)
	}
}

// killAndRecover SIGKILLs victim, checks the survivors keep serving and
// report it down, restarts it and checks it rejoins.
func (c *tc) killAndRecover(victim *harness.ClusterNode, survivors []*harness.ClusterNode, tag string) {
	c.t.Helper()
	victim.Kill()
	a, b := survivors[0], survivors[len(survivors)-1]
	if !victim.Witness {
		took := c.waitState(a, victim.Name, adminapi.NodeDown, downWithin)
		c.t.Logf("%s reported %s down %s after SIGKILL", a.Name, victim.Name, took.Round(time.Millisecond))
	}
	c.writeRead(a, b, tag+"-after-kill.bin")
	// Quorum: the namespace is still writable through a survivor.
	c.mustCtl(b, "share", "create", tag+"share", "--path", c.csv)
	if _, err := c.ctl(a, "share", "show", tag+"share"); err != nil {
		// Replication to a takes a moment: poll.
		deadline := time.Now().Add(10 * time.Second)
		for err != nil && time.Now().Before(deadline) {
			time.Sleep(pollEvery)
			_, err = c.ctl(a, "share", "show", tag+"share")
		}
		if err != nil {
			c.t.Fatal(err)
		}
	}
	c.start(victim)
	if !victim.Witness {
		took := c.waitState(a, victim.Name, adminapi.NodeUp, upWithin)
		c.t.Logf("%s reported %s up %s after restart", a.Name, victim.Name, took.Round(time.Millisecond))
		c.writeRead(victim, a, tag+"-after-restart.bin")
	}
}

// threeNodes runs the scenario every three-node cluster must pass.
func (c *tc) threeNodes(n1, n2, n3 *harness.ClusterNode) {
	c.t.Helper()
	for _, n := range []*harness.ClusterNode{n1, n2, n3} {
		c.waitState(n1, n.Name, adminapi.NodeUp, upWithin)
	}
	c.createShareAndUser(n1)
	c.writeRead(n2, n3, "hello.bin")
	c.killAndRecover(n3, []*harness.ClusterNode{n1, n2}, "n3")
	// Every node sees every other up again.
	for _, n := range []*harness.ClusterNode{n1, n2, n3} {
		c.waitState(n2, n.Name, adminapi.NodeUp, upWithin)
	}
}

func TestThreeNodesEmbeddedEtcd(t *testing.T) {
	c := newCluster(t)
	n1 := c.add("n1", "127.0.0.1", false)
	n2 := c.add("n2", "127.0.0.2", false)
	n3 := c.add("n3", "127.0.0.3", false)
	ic := harness.InitialCluster(n1, n2, n3)
	for _, n := range c.nodes {
		n.Args = []string{"--etcd-initial-cluster", ic}
	}
	c.start(n1, n2, n3)
	c.threeNodes(n1, n2, n3)
	c.etcdClosed()

	// Drain n2 through n1: its state changes everywhere and its readiness
	// turns false; a live node cannot be removed.
	states, err := c.nodeStates(n1)
	if err != nil {
		t.Fatal(err)
	}
	c.mustCtl(n1, "node", "drain", states["n2"].ID)
	c.waitState(n3, "n2", adminapi.NodeDraining, upWithin)
	if code := readyz(t, n2); code != http.StatusServiceUnavailable {
		t.Fatalf("draining n2 /readyz = %d, want 503", code)
	}
	// A draining node takes no new clients: its listener closes new
	// connections before they can negotiate.
	c.refusesSMB(n2)
	if out, err := c.ctl(n1, "node", "remove", states["n2"].ID); err == nil || !strings.Contains(string(out), "node_busy") {
		t.Fatalf("removing a live node: %v %s", err, out)
	}
	// Remove a dead n3: its record and its etcd member go.
	n3.Kill()
	c.waitState(n1, "n3", adminapi.NodeDown, downWithin)
	c.mustCtl(n1, "node", "remove", states["n3"].ID)
	if after, err := c.nodeStates(n1); err != nil || len(after) != 2 {
		t.Fatalf("nodes after removing n3: %+v %v", after, err)
	}
	etcdTLS, err := n1.EtcdTLS()
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{n1.ClientURL()}, TLS: etcdTLS, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ml, err := cli.MemberList(ctx)
	if err != nil || len(ml.Members) != 2 {
		t.Fatalf("etcd members after removing n3: %v %v", ml, err)
	}
	c.writeRead(n1, n1, "after-remove.bin")

	// A new node joins the running cluster through n1 and serves.
	n4 := c.add("n4", "127.0.0.3", false, "--etcd-join", n1.ClientURL())
	c.start(n4)
	c.waitState(n1, "n4", adminapi.NodeUp, upWithin)
	if ml, err = cli.MemberList(ctx); err != nil || len(ml.Members) != 3 {
		t.Fatalf("etcd members after n4 joined: %v %v", ml, err)
	}
	c.writeRead(n4, n1, "joined.bin")
}

// etcdClosed checks that no process without the cluster's certificates
// can read or write any member's etcd or talk to its peer port.
func (c *tc) etcdClosed() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, n := range c.nodes {
		if err := harness.EtcdStranger(ctx, c.t.TempDir(), n.ClientURL(), n.PeerURL()); err != nil {
			c.t.Fatalf("%s: %v", n.Name, err)
		}
	}
}

// readyz returns the status of n's GET /readyz.
func readyz(t *testing.T, n *harness.ClusterNode) int {
	t.Helper()
	cl := &http.Client{Timeout: 10 * time.Second}
	resp, err := cl.Get(n.APIURL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestThreeNodesExternalEtcd(t *testing.T) {
	endpoints := startExternalEtcd(t)
	c := newCluster(t)
	n1 := c.add("n1", "127.0.0.1", false, "--etcd-endpoints", endpoints)
	n2 := c.add("n2", "127.0.0.2", false, "--etcd-endpoints", endpoints)
	n3 := c.add("n3", "127.0.0.3", false, "--etcd-endpoints", endpoints)
	c.start(n1, n2, n3)
	c.threeNodes(n1, n2, n3)
}

func TestTwoNodesAndWitness(t *testing.T) {
	c := newCluster(t)
	n1 := c.add("n1", "127.0.0.1", false)
	n2 := c.add("n2", "127.0.0.2", false)
	w := c.add("w", "127.0.0.3", true)
	ic := harness.InitialCluster(n1, n2, w)
	for _, n := range c.nodes {
		n.Args = []string{"--etcd-initial-cluster", ic}
	}
	c.start(n1, n2, w)
	c.waitState(n1, "n2", adminapi.NodeUp, upWithin)
	c.etcdClosed()
	for _, n := range c.nodes {
		if code := readyz(t, n); code != http.StatusOK {
			t.Fatalf("%s /readyz = %d", n.Name, code)
		}
	}
	c.createShareAndUser(n1)
	c.writeRead(n1, n2, "hello.bin")
	c.killAndRecover(n1, []*harness.ClusterNode{n2}, "n1")
	c.killAndRecover(n2, []*harness.ClusterNode{n1}, "n2")
	c.killAndRecover(w, []*harness.ClusterNode{n1, n2}, "w")
	states, err := c.nodeStates(n2)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 2 || states["n1"].State != adminapi.NodeUp || states["n2"].State != adminapi.NodeUp {
		t.Fatalf("nodes after the witness restart: %+v", states)
	}

	// Lose the majority: n2 and the witness die. n1 can no longer renew
	// its lease, so it fences itself: not ready, and new SMB connections
	// are refused. With the majority back it serves again.
	n2.Kill()
	w.Kill()
	took := waitReadyz(t, n1, http.StatusServiceUnavailable, downWithin)
	t.Logf("n1 fenced %s after losing the majority", took.Round(time.Millisecond))
	if err := refused(t, n1); err != nil {
		t.Fatalf("fenced n1 accepted a new SMB connection: %v", err)
	}
	c.start(n2, w)
	took = waitReadyz(t, n1, http.StatusOK, upWithin)
	t.Logf("n1 ready again %s after the majority returned", took.Round(time.Millisecond))
	c.writeRead(n1, n2, "after-fence.bin")
}

// waitReadyz polls n's /readyz until it answers code, failing after limit.
func waitReadyz(t *testing.T, n *harness.ClusterNode, code int, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	last := 0
	for time.Since(start) < limit {
		if last = readyz(t, n); last == code {
			return time.Since(start)
		}
		time.Sleep(pollEvery) // polling interval; the loop checks the answer
	}
	t.Fatalf("%s /readyz still %d after %s, want %d", n.Name, last, limit, code)
	return 0
}

// refused connects to n's SMB port and returns nil if the node closed the
// connection without a word (what a fenced node does), else an error.
func refused(t *testing.T, n *harness.ClusterNode) error {
	t.Helper()
	conn, err := net.DialTimeout("tcp", n.SMBHostPort(), 5*time.Second)
	if err != nil {
		return nil // not even accepted: refused too
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = conn.Read(make([]byte, 1))
	if err == io.EOF || errors.Is(err, syscall.ECONNRESET) {
		return nil
	}
	return fmt.Errorf("connection not closed: %v", err)
}
