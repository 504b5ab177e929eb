package harness

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sofs.io/sofs/integration/smbtest"
)

// SofsCluster is a sofs cluster of several nodes on one shared directory,
// reached through a Spreader: its Target is the spreader's address, so a
// client sees one server while each of its TCP connections lands on the
// next node, as a client of a cluster name resolving to every node's
// address would (issue 15).
type SofsCluster struct {
	// Target is the spreader, as an SMB server; its ShareDir is the shared
	// directory every node serves.
	Target   *Target
	Nodes    []*ClusterNode
	Spreader *Spreader
}

// clusterReady bounds how long StartSofsCluster waits for the nodes to
// form their etcd cluster, see each other up and serve the share: a
// cluster's members start in about a second each on an idle machine; a
// 2-core machine shared by several test processes needs far more.
const clusterReady = 90 * time.Second

// clusterPoll is the interval of StartSofsCluster's readiness polls.
const clusterPoll = 250 * time.Millisecond

// StartSofsCluster starts nodes sofsd nodes (embedded etcd members forming
// one cluster) on 127.0.0.1, 127.0.0.2, ..., each given opts' share, user
// and settings, with the share's directory shared by all (opts.Dir/share),
// and a Spreader on 127.0.0.1 in front of them. It returns once every
// node reports every node up and serves the share. Everything is stopped
// when t ends; if the test failed, the end of each node's log is printed.
func StartSofsCluster(t testing.TB, nodes int, opts SofsOptions) *SofsCluster {
	t.Helper()
	if nodes < 1 || nodes > 250 {
		t.Fatalf("harness: StartSofsCluster(%d nodes): want 1 to 250", nodes)
	}
	dir := opts.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	shareDir := filepath.Join(dir, "share")
	if err := os.MkdirAll(shareDir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &SofsCluster{}
	// One cluster CA for all the nodes (etcd and the node-to-node channel
	// are mutual TLS).
	caDir := filepath.Join(dir, "cluster-ca")
	for i := range nodes {
		name := "n" + strconv.Itoa(i+1)
		n, err := NewClusterNode(name, "127.0.0."+strconv.Itoa(i+1), filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		n.CADir = caDir
		c.Nodes = append(c.Nodes, n)
		t.Cleanup(func() {
			if err := n.Stop(); err != nil {
				t.Errorf("stop %s: %v", n.Name, err)
			}
			if t.Failed() {
				t.Logf("==== %s log (%s), end:\n%s", n.Name, n.LogPath(), lastBytes(n.Log(), clusterLogTail))
			}
		})
	}
	ic := InitialCluster(c.Nodes...)
	for _, n := range c.Nodes {
		n.Args = append([]string{"--etcd-initial-cluster", ic}, opts.serviceArgs(shareDir)...)
		if opts.LogLevel != "" {
			n.Args = append(n.Args, "--log-level", opts.LogLevel)
		}
		if opts.WitnessService {
			n.Args = append(n.Args, "--witness-listen", n.hostPort(n.SWNPort), "--epm-listen", "off")
		}
		n.Args = append(n.Args, opts.ExtraArgs...)
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterReady)
	defer cancel()
	var backends []string
	for _, n := range c.Nodes {
		if err := n.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		backends = append(backends, n.SMBHostPort())
	}
	for _, n := range c.Nodes {
		if err := waitAllUp(ctx, n, len(c.Nodes)); err != nil {
			t.Fatal(err)
		}
	}
	share := opts.Share
	if share == "" {
		share = defaultShare
	}
	for _, n := range c.Nodes {
		if err := waitShare(ctx, n.SMBHostPort(), share); err != nil {
			t.Fatalf("node %s: %v\n%s", n.Name, err, n.Log())
		}
	}
	sp, err := NewSpreader(loopback+":0", backends)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sp.Close()
		if errs := sp.DialErrors(); len(errs) > 0 {
			t.Logf("spreader: %d recent dial failures: %v", len(errs), errors.Join(errs...))
		}
		t.Logf("spreader: connections per node %v", sp.Counts())
	})
	c.Spreader = sp
	c.Target = &Target{
		Name: "sofs", Addr: loopback, Port: sp.Addr().Port, Share: share,
		User: defaultUser, Password: defaultPassword, ShareDir: shareDir,
	}
	return c
}

// clusterLogTail bounds each node's log printed after a failure: three
// nodes' full tails would drown the test's own output.
const clusterLogTail = 16 << 10

func lastBytes(s string, n int) string {
	if len(s) > n {
		return "...\n" + s[len(s)-n:]
	}
	return s
}

// waitAllUp polls n's node list (REST, with n's admin token) until it
// lists want nodes, all up: the open-state service places objects over
// the live members, so a node must know them all before the tests start.
func waitAllUp(ctx context.Context, n *ClusterNode, want int) error {
	var last string
	for {
		states, err := nodeStates(ctx, n)
		if err == nil {
			up := 0
			for _, s := range states {
				if s == "up" {
					up++
				}
			}
			if up == want {
				return nil
			}
			last = fmt.Sprint(states)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("harness: node %s does not see %d nodes up: last %s: %w\n%s", n.Name, want, last, ctx.Err(), n.Log())
		case <-time.After(clusterPoll):
		}
	}
}

// nodeStates returns node name → state from GET /api/v1/nodes on n.
func nodeStates(ctx context.Context, n *ClusterNode) (map[string]string, error) {
	token, err := os.ReadFile(n.TokenFile())
	if err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.APIURL()+"/api/v1/nodes", nil)
	if err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("harness: node list: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("harness: node list: %s", resp.Status)
	}
	var list struct {
		Nodes []struct {
			Name, State string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, fmt.Errorf("harness: node list: %w", err)
	}
	m := map[string]string{}
	for _, nd := range list.Nodes {
		m[nd.Name] = nd.State
	}
	return m, nil
}

// waitShare retries a logon and tree connect to share at hostPort until
// one succeeds: a node serves a share once the share's record has reached
// its view of the namespace.
func waitShare(ctx context.Context, hostPort, share string) error {
	var guid [16]byte
	rand.Read(guid[:])
	var lastErr error
	for {
		lastErr = tryShare(ctx, hostPort, share, guid)
		if lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("harness: tree connect to %s on %s: %w (%w)", share, hostPort, lastErr, ctx.Err())
		case <-time.After(clusterPoll):
		}
	}
}

func tryShare(ctx context.Context, hostPort, share string, guid [16]byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := smbtest.Dial(ctx, hostPort, guid)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Login(ctx, defaultUser, defaultPassword); err != nil {
		return err
	}
	_, err = c.TreeConnect(ctx, share)
	return err
}

// Rejoin starts node n again (after Kill or Stop) and waits until it
// serves the share and every node of c sees every node up again.
func (c *SofsCluster) Rejoin(ctx context.Context, n *ClusterNode) error {
	if err := n.Start(); err != nil {
		return err
	}
	if err := n.Wait(ctx); err != nil {
		return err
	}
	for _, m := range c.Nodes {
		if err := waitAllUp(ctx, m, len(c.Nodes)); err != nil {
			return err
		}
	}
	return waitShare(ctx, n.SMBHostPort(), c.Target.Share)
}
