package witness

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/internal/testetcd"
	"sofs.io/sofs/namespace"
)

// epmHost is the loopback address this package's tests put the endpoint
// mapper on: rpcclient always asks port 135, and no other package's tests
// use this address.
const epmHost = "127.0.135.2"

// cluster is a witness service on epmHost over a real etcd, with nodes
// registered as sofsd registers them.
type cluster struct {
	store   *namespace.Store
	members *namespace.Members
	nodes   map[string]*namespace.Registration
	svc     *Service
}

func startCluster(t *testing.T, nodes map[string]string) *cluster {
	t.Helper()
	ctx := context.Background()
	e := testetcd.Start(t)
	st := namespace.NewStore(e.Client())
	if _, err := st.InitCluster(ctx, "sofs"); err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(zerolog.NewTestWriter(t))
	c := &cluster{store: st, nodes: map[string]*namespace.Registration{}}
	for name, addr := range nodes {
		c.register(t, name, addr)
	}
	m, err := namespace.NewMembers(ctx, st, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	c.members = m
	c.svc = New(Config{Store: st, Members: m, NodeID: "node-a", Log: log})
	return c
}

// register joins node name with SMB address addr (host:port).
func (c *cluster) register(t *testing.T, name, addr string) {
	t.Helper()
	r, err := c.store.Register(context.Background(), namespace.NodeRecord{
		ID: "node-" + name, Name: name, SMBAddresses: []string{addr}, State: namespace.NodeUp,
	}, namespace.RegisterOptions{Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[name] = r
	t.Cleanup(func() { r.Close(context.Background()) })
}

// serve runs the witness on epmHost, with the endpoint mapper on port 135.
func (c *cluster) serve(t *testing.T) {
	t.Helper()
	epm, err := net.Listen("tcp", net.JoinHostPort(epmHost, "135"))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("endpoint mapper port: %v", err)
		}
		t.Skipf("endpoint mapper port (needs root): %v", err)
	}
	wl, err := net.Listen("tcp", epmHost+":0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.svc.Serve(ctx, wl, epm) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// rpcclient drives an interactive Samba rpcclient over ncacn_ip_tcp, so
// that every command shares one connection (rpcclient keeps one pipe for
// all witness commands, which context handles need).
type rpcclient struct {
	t     *testing.T
	stdin io.WriteCloser
	lines chan string
	mu    sync.Mutex
	seen  []string
}

func startRPCClient(t *testing.T, host string) *rpcclient {
	t.Helper()
	bin := needTool(t, "rpcclient")
	cmd := exec.Command(bin, "-N", "-U", "", "ncacn_ip_tcp:"+host)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &rpcclient{t: t, stdin: stdin, lines: make(chan string, 256)}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
	}()
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
		pw.Close()
	})
	return r
}

func (r *rpcclient) send(cmd string) {
	r.t.Helper()
	if _, err := io.WriteString(r.stdin, cmd+"\n"); err != nil {
		r.t.Fatalf("rpcclient %q: %v", cmd, err)
	}
}

// expect returns the first output line matching re, failing the test if
// rpcclient exits or prints nothing matching within limit (a liveness
// bound, not a measurement).
func (r *rpcclient) expect(re string, limit time.Duration) []string {
	r.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		select {
		case l, ok := <-r.lines:
			if !ok {
				r.t.Fatalf("rpcclient exited waiting for %q; output:\n%s", re, strings.Join(r.seen, "\n"))
			}
			r.seen = append(r.seen, l)
			if m := rx.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-deadline.C:
			r.t.Fatalf("no %q from rpcclient in %s; output:\n%s", re, limit, strings.Join(r.seen, "\n"))
		}
	}
}

// TestRPCClient runs Samba's rpcclient witness commands against the
// service, which it finds through the endpoint mapper: the interface list
// shows every node with its state, RegisterEx returns a handle, and
// AsyncNotify reports the client's node going down, then coming back.
func TestRPCClient(t *testing.T) {
	c := startCluster(t, map[string]string{
		"a": "127.0.136.1:445", "b": "127.0.136.2:445", "c": "127.0.136.3:445",
	})
	c.serve(t)
	r := startRPCClient(t, epmHost)

	r.send("GetInterfaceList")
	got := map[string]string{}
	for range 3 {
		m := r.expect(`^(\*)?([+\-?X]) (\S+) (\S+) V2$`, 30*time.Second)
		got[m[3]] = m[1] + m[2] + " " + m[4]
	}
	want := map[string]string{"a": "*+ 127.0.136.1", "b": "*+ 127.0.136.2", "c": "*+ 127.0.136.3"}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("interface list %v, want %v", got, want)
		}
	}

	r.send("RegisterEx --net=sofs --ip=127.0.136.2 --share=nosuchshare --client=rpcclient")
	r.expect(`WERR_INVALID_STATE|INVALID_STATE`, 30*time.Second)
	r.send("RegisterEx --net=sofs --ip=127.0.136.2 --client=rpcclient")
	h := r.expect(`^([0-9a-f]+:[0-9a-f-]{36})$`, 30*time.Second)[1]
	regs, err := c.store.ListWitnessRegistrations(context.Background())
	if err != nil || len(regs) != 1 || regs[0].NodeID != "node-b" || regs[0].Client != "rpcclient" || !strings.HasSuffix(h, regs[0].ID) {
		t.Fatalf("registrations %+v, %v; handle %s", regs, err, h)
	}

	r.send("AsyncNotify " + h)
	// Node b leaves: its lease is revoked and its live record goes.
	if err := c.nodes["b"].Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.expect(`^Resource change with 1 messages$`, 30*time.Second)
	r.expect(`^127\.0\.136\.2 -> Unavailable$`, 5*time.Second)

	r.send("AsyncNotify " + h)
	c.register(t, "b", "127.0.136.2:445")
	r.expect(`^Resource change with 1 messages$`, 30*time.Second)
	r.expect(`^127\.0\.136\.2 -> Available$`, 5*time.Second)

	r.send("UnRegister " + h)
	r.send("UnRegister " + h)
	// End of input makes rpcclient exit, flushing what it printed.
	r.stdin.Close()
	r.expect(`UnRegister failed, error: WERR_INVALID_PARAMETER`, 30*time.Second)
	if regs, err := c.store.ListWitnessRegistrations(context.Background()); err != nil || len(regs) != 0 {
		t.Fatalf("registrations left: %+v, %v", regs, err)
	}
}
