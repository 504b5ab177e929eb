package failover

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sofs.io/sofs/integration/harness"
	"sofs.io/sofs/integration/smbtest"
	"sofs.io/sofs/smbserver/wire"
)

// TestRollingRestartWithDrain is issue 16's rolling upgrade: three nodes,
// four clients each writing (and reading back) its own file through a
// persistent handle, spread over the nodes; each node in turn is drained
// (`POST /nodes/{id}/drain`, then waiting until it holds no open file, as
// `sofsctl node drain --wait` does), stopped, started again and rejoined.
// The clients reconnect through another node whenever their connection
// drops. No client operation may fail, and every byte must be where it
// was written.
func TestRollingRestartWithDrain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c := harness.StartSofsCluster(t, 3, harness.SofsOptions{CA: true})

	const clients = 4
	var wg sync.WaitGroup
	stop := make(chan struct{})
	rws := make([]*rollingClient, clients)
	for i := range clients {
		rw := &rollingClient{c: c, name: fmt.Sprintf("rolling%d.vhdx", i), node: i % len(c.Nodes)}
		rand.Read(rw.clientGUID[:])
		rand.Read(rw.createGUID[:])
		rand.Read(rw.leaseKey[:])
		if err := rw.open(ctx); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		rws[i] = rw
		wg.Add(1)
		go func() {
			defer wg.Done()
			rw.run(ctx, stop)
		}()
	}

	for _, n := range c.Nodes {
		// Let the clients work through the cluster as it is first.
		waitWrites(ctx, t, rws, 32)
		id := nodeID(ctx, t, c.Nodes[0], n.Name)
		if n == c.Nodes[0] {
			id = nodeID(ctx, t, c.Nodes[1], n.Name)
		}
		api := c.Nodes[0]
		if api == n {
			api = c.Nodes[1]
		}
		started := time.Now()
		apiCall(ctx, t, api, "POST", "/api/v1/nodes/"+id+"/drain", nil)
		for deadline := time.Now().Add(2 * time.Minute); ; {
			var ol struct {
				OpenFiles []struct{ Node string } `json:"openFiles"`
			}
			apiCall(ctx, t, api, "GET", "/api/v1/open-files", &ol)
			held := 0
			for _, f := range ol.OpenFiles {
				if f.Node == id {
					held++
				}
			}
			if held == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still holds %d open files two minutes into its drain", n.Name, held)
			}
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
		t.Logf("%s drained in %v", n.Name, time.Since(started).Round(time.Millisecond))
		if err := n.Stop(); err != nil {
			t.Fatalf("stop %s: %v", n.Name, err)
		}
		if err := c.Rejoin(ctx, n); err != nil {
			t.Fatalf("restart %s: %v", n.Name, err)
		}
		t.Logf("%s restarted and rejoined", n.Name)
	}
	waitWrites(ctx, t, rws, 32)
	close(stop)
	wg.Wait()

	for i, rw := range rws {
		if len(rw.failures) > 0 {
			t.Errorf("client %d: %d failed operations, first: %v", i, len(rw.failures), rw.failures[0])
		}
		if rw.s != nil {
			if err := rw.s.c.CloseFile(ctx, rw.s.tid, rw.fid); err != nil {
				t.Errorf("client %d: CLOSE: %v", i, err)
			}
		}
		got, err := os.ReadFile(filepath.Join(c.Target.ShareDir, rw.name))
		if err != nil {
			t.Fatal(err)
		}
		for b := 0; b < rw.written; b++ {
			if b*blockSize+blockSize > len(got) || !bytes.Equal(got[b*blockSize:(b+1)*blockSize], block(b)) {
				t.Fatalf("client %d: block %d of %d lost or wrong", i, b, rw.written)
			}
		}
		t.Logf("client %d: %d blocks written, %d reconnects", i, rw.written, rw.reconnects)
	}
	if owners := handleOwners(ctx, t, c.Nodes[0]); len(owners) != 0 {
		t.Fatalf("handle records left after CLOSE: %v", owners)
	}
}

// rollingClient writes blocks 0, 1, 2, ... of its file through one
// persistent handle, reading each previous block back, and reconnects
// through the next node whenever its connection drops.
type rollingClient struct {
	c                                *harness.SofsCluster
	name                             string
	node                             int
	clientGUID, createGUID, leaseKey [16]byte

	s          *session
	fid        wire.FileID
	csn        uint16
	written    int // blocks acknowledged, in order
	reconnects int
	failures   []error

	mu       sync.Mutex
	progress int
	failed   error // the failure that stopped the client
}

// fail records the failure that stops the client.
func (rw *rollingClient) fail(err error) {
	rw.failures = append(rw.failures, err)
	rw.mu.Lock()
	rw.failed = err
	rw.mu.Unlock()
}

func (rw *rollingClient) open(ctx context.Context) error {
	s, err := dialSession(ctx, nodeTarget(rw.c.Target, rw.c.Nodes[rw.node]), rw.clientGUID)
	if err != nil {
		return err
	}
	cr, err := s.c.Create(ctx, s.tid, smbtest.PersistentOpen(rw.name, rw.createGUID, rw.leaseKey, 60000))
	if err != nil {
		return err
	}
	rw.s, rw.fid = s, cr.FileID
	return nil
}

// run writes until stop closes; a write or read whose connection dropped
// is retried after a reconnect (with the replay flag), anything else
// that fails is a failure.
func (rw *rollingClient) run(ctx context.Context, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		i := rw.written
		flags := wire.HeaderFlags(0)
		for attempt := 0; ; attempt++ {
			err := rw.step(ctx, i, flags)
			if err == nil {
				break
			}
			if !errors.Is(err, smbtest.ErrClosed) && !errors.Is(err, errDropped) {
				rw.fail(fmt.Errorf("block %d: %w", i, err))
				return
			}
			if attempt > 5 {
				rw.fail(fmt.Errorf("block %d: %d reconnects did not help: %w", i, attempt, err))
				return
			}
			if err := rw.reconnect(ctx); err != nil {
				rw.fail(fmt.Errorf("block %d: reconnect: %w", i, err))
				return
			}
			flags = wire.FlagReplayOperation
		}
		rw.written++
		rw.mu.Lock()
		rw.progress = rw.written
		rw.mu.Unlock()
	}
}

// errDropped: the connection went away while a request waited.
var errDropped = errors.New("connection dropped")

// callTimeout bounds one request: a server that neither answers nor
// drops the connection leaves a client hanging, which is a failure.
const callTimeout = 30 * time.Second

// call sends one request, telling a dropped connection (to reconnect
// from) from one left hanging (a failure).
func (rw *rollingClient) call(ctx context.Context, cmd wire.Command, body smbtest.Appender, flags wire.HeaderFlags) (smbtest.Response, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := rw.s.c.Call(cctx, cmd, rw.s.tid, body, flags)
	switch {
	case err == nil:
		return resp, nil
	case cctx.Err() != nil && ctx.Err() == nil:
		return resp, fmt.Errorf("%v through %s not answered in %v", cmd, rw.c.Nodes[rw.node].Name, callTimeout)
	}
	return resp, fmt.Errorf("%w: %w", errDropped, err)
}

// step writes block i and reads block i-1 back.
func (rw *rollingClient) step(ctx context.Context, i int, flags wire.HeaderFlags) error {
	w := &wire.WriteRequest{FileID: rw.fid, Offset: uint64(i) * blockSize, Data: block(i), Flags: wire.WriteFlagWriteThrough}
	resp, err := rw.call(ctx, wire.CmdWrite, w, flags)
	if err != nil {
		return err
	}
	if resp.Status() != wire.StatusSuccess {
		return fmt.Errorf("WRITE: %v", resp.Status())
	}
	if i == 0 {
		return nil
	}
	r := &wire.ReadRequest{FileID: rw.fid, Offset: uint64(i-1) * blockSize, Length: blockSize}
	resp, err = rw.call(ctx, wire.CmdRead, r, 0)
	if err != nil {
		return err
	}
	if resp.Status() != wire.StatusSuccess {
		return fmt.Errorf("READ: %v", resp.Status())
	}
	var rr wire.ReadResponse
	if err := rr.Decode(resp.Msg); err != nil || !bytes.Equal(rr.Data, block(i-1)) {
		return fmt.Errorf("READ of block %d: wrong data (%v)", i-1, err)
	}
	return nil
}

// reconnect logs on through the next node that admits the client and
// reclaims the handle with DH2C, within a minute.
func (rw *rollingClient) reconnect(ctx context.Context) error {
	rw.s.c.Close()
	deadline := time.Now().Add(time.Minute)
	var last error
	for time.Now().Before(deadline) {
		rw.node = (rw.node + 1) % len(rw.c.Nodes)
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		s, err := dialSession(cctx, nodeTarget(rw.c.Target, rw.c.Nodes[rw.node]), rw.clientGUID)
		if err == nil {
			var rc wire.CreateResponse
			rc, err = s.c.Create(cctx, s.tid, smbtest.PersistentReconnect(rw.name, rw.fid, rw.createGUID, rw.leaseKey))
			cancel()
			if err != nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
				s.c.Close()
				return fmt.Errorf("DH2C through %s not answered in %v", rw.c.Nodes[rw.node].Name, callTimeout)
			}
			if err == nil {
				rw.s, rw.fid = s, rc.FileID
				rw.csn++
				s.c.SetChannelSequence(rw.csn)
				rw.reconnects++
				return nil
			}
			s.c.Close()
		} else {
			cancel()
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return last
}

// dialSession is connect without the test's Fatal (it runs on the
// clients' goroutines).
func dialSession(ctx context.Context, target *harness.Target, clientGUID [16]byte) (*session, error) {
	c, err := smbtest.Dial(ctx, target.HostPort(), clientGUID)
	if err != nil {
		return nil, err
	}
	if err := c.Login(ctx, target.User, target.Password); err != nil {
		c.Close()
		return nil, err
	}
	tid, err := c.TreeConnect(ctx, target.Share)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &session{c: c, tid: tid}, nil
}

// waitWrites waits until every client has acknowledged n more blocks (or
// has failed).
func waitWrites(ctx context.Context, t *testing.T, rws []*rollingClient, n int) {
	t.Helper()
	base := make([]int, len(rws))
	for i, rw := range rws {
		rw.mu.Lock()
		base[i] = rw.progress
		rw.mu.Unlock()
	}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		done := true
		for i, rw := range rws {
			rw.mu.Lock()
			p := rw.progress
			rw.mu.Unlock()
			if p < base[i]+n {
				done = false
			}
		}
		if done {
			return
		}
		for i, rw := range rws {
			rw.mu.Lock()
			failed := rw.failed
			rw.mu.Unlock()
			if failed != nil {
				dumpNodes(t, rws[0].c)
				t.Fatalf("client %d stopped: %v", i, failed)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("clients made no progress for two minutes")
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// apiCall calls node n's REST API with its admin token and decodes the
// answer into out (if not nil).
func apiCall(ctx context.Context, t *testing.T, n *harness.ClusterNode, method, path string, out any) {
	t.Helper()
	token, err := os.ReadFile(n.TokenFile())
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, method, n.APIURL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// nodeID is the id of the node called name, asked through node api.
func nodeID(ctx context.Context, t *testing.T, api *harness.ClusterNode, name string) string {
	t.Helper()
	var list struct {
		Nodes []struct{ ID, Name string }
	}
	apiCall(ctx, t, api, "GET", "/api/v1/nodes", &list)
	for _, n := range list.Nodes {
		if n.Name == name {
			return n.ID
		}
	}
	t.Fatalf("no node %s in %+v", name, list.Nodes)
	return ""
}

// dumpNodes makes every node write its goroutines' stacks to its log and
// keeps the logs in SOFS_TEST_LOGS (if set), for a client found hanging.
func dumpNodes(t *testing.T, c *harness.SofsCluster) {
	for _, n := range c.Nodes {
		n.DumpStacks()
	}
	keepLogs(t, c)
}

// keepLogs copies the nodes' logs to SOFS_TEST_LOGS, if set.
func keepLogs(t *testing.T, c *harness.SofsCluster) {
	dir := os.Getenv("SOFS_TEST_LOGS")
	for _, n := range c.Nodes {
		if dir == "" {
			continue
		}
		if b, err := os.ReadFile(n.LogPath()); err == nil {
			p := filepath.Join(dir, t.Name()+"-"+n.Name+".log")
			if err := os.WriteFile(p, b, 0o644); err == nil {
				t.Logf("%s's log: %s", n.Name, p)
			}
		}
	}
}
