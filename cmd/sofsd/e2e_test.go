package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"sofs.io/sofs/internal/testport"
	"sofs.io/sofs/namespace"
	"sofs.io/sofs/namespace/clustertls"
)

// Bounds for the end-to-end test. Start-up includes etcd's first fsyncs
// on a possibly busy CI disk.
const (
	startBound = 60 * time.Second
	stopBound  = 30 * time.Second
)

// daemon is a sofsd process under test.
type daemon struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	ready  chan struct{} // closed when the "smb listening" line appears
	exited chan struct{} // closed when the process has exited
	err    error         // Wait's result, valid after exited

	mu     sync.Mutex
	stderr []string
}

func buildSofsd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sofsd")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func startDaemon(t *testing.T, bin string, args ...string) *daemon {
	t.Helper()
	d := &daemon{ready: make(chan struct{}), exited: make(chan struct{})}
	d.cmd = exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SOFS_") { // ignore the caller's settings
			d.cmd.Env = append(d.cmd.Env, kv)
		}
	}
	d.cmd.Stdout = &d.stdout
	pr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.stderr = append(d.stderr, line)
			d.mu.Unlock()
			if strings.Contains(line, `"message":"smb listening"`) {
				once.Do(func() { close(d.ready) })
			}
		}
	}()
	go func() {
		<-scanned // Wait must not run before the pipe is drained
		d.err = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			d.cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("sofsd stderr:\n%s", d.log())
		}
	})
	return d
}

func (d *daemon) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.stderr, "\n")
}

func (d *daemon) waitReady(t *testing.T) {
	t.Helper()
	timer := time.NewTimer(startBound)
	defer timer.Stop()
	select {
	case <-d.ready:
	case <-d.exited:
		t.Fatalf("sofsd exited before listening: %v", d.err)
	case <-timer.C:
		t.Fatalf("sofsd not listening after %s", startBound)
	}
}

// stop sends SIGTERM and requires exit status 0 within stopBound.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	timer := time.NewTimer(stopBound)
	defer timer.Stop()
	select {
	case <-d.exited:
	case <-timer.C:
		t.Fatalf("sofsd still running %s after SIGTERM", stopBound)
	}
	if d.err != nil {
		var ee *exec.ExitError
		if errors.As(d.err, &ee) {
			t.Fatalf("sofsd exit code %d after SIGTERM, want 0", ee.ExitCode())
		}
		t.Fatal(d.err)
	}
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	bin := buildSofsd(t)
	data := filepath.Join(t.TempDir(), "data")
	shareDir := filepath.Join(t.TempDir(), "share")
	smbAddr, etcdAddr, peerAddr, apiAddr := testport.Loopback(t), testport.Loopback(t), testport.Loopback(t), testport.Loopback(t)
	common := []string{
		"--data", data, "--smb-listen", smbAddr,
		"--etcd-client-listen", etcdAddr, "--etcd-peer-listen", peerAddr, "--api-listen", apiAddr,
		"--peer-listen", "127.0.0.1:0", "--node-name", "e2e-node",
	}

	// First start: a share and a user on the command line.
	d := startDaemon(t, bin, append(common, "--share", "share="+shareDir+",ca", "--user", "test:test123")...)
	d.waitReady(t)
	conn, err := net.DialTimeout("tcp", smbAddr, 5*time.Second)
	if err != nil {
		t.Fatalf("SMB port does not accept: %v", err)
	}
	conn.Close()
	if st, err := os.Stat(shareDir); err != nil || !st.IsDir() {
		t.Fatalf("share directory not created: %v", err)
	}
	checkAPI(t, apiAddr, filepath.Join(data, "api-token"))
	d.stop(t)
	if d.stdout.Len() != 0 {
		t.Fatalf("stdout %q: nothing should be printed when a user is given", d.stdout.String())
	}
	if strings.Contains(d.log(), "test123") {
		t.Fatal("password in the log")
	}
	for _, f := range []string{"node.json", "etcd"} {
		if _, err := os.Stat(filepath.Join(data, f)); err != nil {
			t.Fatalf("data layout: %v", err)
		}
	}

	// Restart from the same data directory with no share or user flags.
	d = startDaemon(t, bin, common...)
	d.waitReady(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// etcd speaks mutual TLS by default: without the cluster's
	// certificates nothing can be read or written.
	expectEtcdClosed(ctx, t, etcdAddr)
	bundle, err := clustertls.Load(filepath.Join(data, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"https://" + etcdAddr}, TLS: bundle.ClientConfig(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	st := namespace.NewStore(cli)
	sh, err := st.GetShare(ctx, "share")
	if err != nil {
		t.Fatalf("share lost across restart: %v", err)
	}
	if want := (namespace.Share{Name: "share", Path: shareDir, ContinuouslyAvailable: true}); !reflect.DeepEqual(sh, want) {
		t.Fatalf("share = %+v, want %+v", sh, want)
	}
	if h, err := st.LookupNTHash(ctx, "test"); err != nil || h != namespace.NTHash("test123") {
		t.Fatalf("user lost across restart: %v", err)
	}
	if users, err := st.ListUsers(ctx); err != nil || len(users) != 1 {
		t.Fatalf("users = %+v, %v; want only test (no generated admin)", users, err)
	}
	cli.Close()
	d.stop(t)
	if d.stdout.Len() != 0 {
		t.Fatalf("restart printed %q", d.stdout.String())
	}
}

// checkAPI proves the admin API is wired: it refuses a request without the
// token from the data directory and lists the share with it.
func checkAPI(t *testing.T, addr, tokenFile string) {
	t.Helper()
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatalf("token file: %v", err)
	}
	token := ""
	for _, line := range strings.Split(string(tok), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			token = line
			break
		}
	}
	get := func(auth string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+addr+"/api/v1/shares", nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("API: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(""); code != http.StatusUnauthorized {
		t.Fatalf("API without token: %d, want 401", code)
	}
	if code, body := get(token); code != http.StatusOK || !strings.Contains(body, `"share"`) {
		t.Fatalf("API shares: %d %s", code, body)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+addr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"sofs_smb_request_duration_seconds", "sofs_smb_sessions", "sofs_node_lease_held", "sofs_etcd_requests_total"} {
		if !strings.Contains(string(b), name) {
			t.Fatalf("/metrics lacks %s", name)
		}
	}
}

// expectEtcdClosed checks that a client without the cluster's
// certificates can neither read nor write the member at addr: not over
// plain HTTP, not over TLS without a client certificate, and not with a
// certificate from another CA.
func expectEtcdClosed(ctx context.Context, t *testing.T, addr string) {
	t.Helper()
	strangerDir := t.TempDir()
	if err := clustertls.NewCA(strangerDir, "stranger"); err != nil {
		t.Fatal(err)
	}
	if _, err := clustertls.EnsureNodeCert(strangerDir, "stranger", nil); err != nil {
		t.Fatal(err)
	}
	stranger, err := clustertls.Load(strangerDir)
	if err != nil {
		t.Fatal(err)
	}
	foreign := stranger.ClientConfig()
	foreign.InsecureSkipVerify = true // an attacker need not trust the server
	for name, cc := range map[string]clientv3.Config{
		"plain":              {Endpoints: []string{"http://" + addr}},
		"TLS without a cert": {Endpoints: []string{"https://" + addr}, TLS: &tls.Config{InsecureSkipVerify: true}},
		"another CA's cert":  {Endpoints: []string{"https://" + addr}, TLS: foreign},
	} {
		cc.DialTimeout = 3 * time.Second
		cli, err := clientv3.New(cc)
		if err != nil {
			continue // refused at dial: fine
		}
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if _, err := cli.Get(rctx, namespace.Prefix, clientv3.WithPrefix()); err == nil {
			t.Errorf("%s client read etcd", name)
		}
		if _, err := cli.Put(rctx, namespace.Prefix+"intruder", "x"); err == nil {
			t.Errorf("%s client wrote etcd", name)
		}
		cancel()
		cli.Close()
	}
}
