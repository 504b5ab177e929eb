package harness

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	clientv3 "go.etcd.io/etcd/client/v3"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sofs.io/sofs/namespace/clustertls"
)

// ClusterNode is one sofsd process of a multi-node test (a sofs node or a
// quorum witness) on its own loopback address, with ports chosen once so
// that a restart reuses them: etcd peers know a member by its peer URL.
type ClusterNode struct {
	Name string
	// Addr is the node's loopback address, such as 127.0.0.2.
	Addr string
	// Dir holds the node's data directory (Dir/data) and log.
	Dir string
	// Witness runs "sofsd witness" instead of a node.
	Witness bool
	// Ports.
	SMBPort, APIPort, EtcdClientPort, EtcdPeerPort int
	// Args are appended to every start's command line (etcd mode, ...).
	Args []string
	// CADir holds the cluster CA every node of one cluster shares (etcd
	// speaks mutual TLS between them); created on the first start that
	// needs it, and copied into the node's DATA/pki before it starts.
	// Give all nodes of a cluster the same directory.
	CADir string
	// Joining skips copying CADir: the node gets its certificate with a
	// join token given in Args (--join, --join-token).
	Joining bool
	// Wrap, when set, is a command the node's sofsd runs under: the
	// binary and its arguments are appended to it (for example unshare,
	// to give the node its own view of the mounts).
	Wrap []string
	// JoinPort is the node's join endpoint (--join-listen), where nodes
	// that join with a token get their certificates.
	JoinPort int
	// SWNPort is the node's SMB Witness service port, used when the
	// cluster runs the witness service (SofsOptions.WitnessService).
	SWNPort int

	proc   *Process
	killed bool // the current process was ended by Kill
	// paused: the process group was stopped by Pause and not resumed.
	paused bool
	// exitSeen: the test observed the process's own exit (WaitExit), so
	// its exit status is not an error of Stop.
	exitSeen bool
}

// NewClusterNode picks free ports on addr for a node named name, keeping
// its files under dir.
func NewClusterNode(name, addr, dir string) (*ClusterNode, error) {
	n := &ClusterNode{Name: name, Addr: addr, Dir: dir}
	for _, p := range []*int{&n.SMBPort, &n.APIPort, &n.EtcdClientPort, &n.EtcdPeerPort, &n.JoinPort, &n.SWNPort} {
		var err error
		if *p, err = FreePort(addr); err != nil {
			return nil, err
		}
	}
	return n, os.MkdirAll(dir, 0o755)
}

// Data returns the node's data directory.
func (n *ClusterNode) Data() string { return filepath.Join(n.Dir, "data") }

// LogPath returns the file the node's stdout and stderr go to (appended
// across restarts).
func (n *ClusterNode) LogPath() string { return filepath.Join(n.Dir, "sofsd.log") }

// PeerURL and ClientURL are the node's embedded etcd URLs; etcd speaks
// mutual TLS with the cluster's certificates (EtcdTLS).
func (n *ClusterNode) PeerURL() string   { return "https://" + n.hostPort(n.EtcdPeerPort) }
func (n *ClusterNode) ClientURL() string { return "https://" + n.hostPort(n.EtcdClientPort) }

// EtcdTLS is a client TLS configuration with the node's certificate, for
// tests that talk to its etcd member directly.
func (n *ClusterNode) EtcdTLS() (*tls.Config, error) {
	b, err := clustertls.Load(filepath.Join(n.Data(), "pki"))
	if err != nil {
		return nil, err
	}
	return b.ClientConfig(), nil
}

// EtcdClient is an etcd client of the node's member, with the node's own
// certificate (tests that look at what sofs keeps in etcd). Close it.
func (n *ClusterNode) EtcdClient() (*clientv3.Client, error) {
	tc, err := n.EtcdTLS()
	if err != nil {
		return nil, err
	}
	return clientv3.New(clientv3.Config{Endpoints: []string{n.ClientURL()}, TLS: tc, DialTimeout: 5 * time.Second})
}

// provisionCA copies the cluster CA from CADir (creating it there first if
// needed) into the node's DATA/pki, unless the node already has one.
func (n *ClusterNode) provisionCA() error {
	pki := filepath.Join(n.Data(), "pki")
	if clustertls.HasCA(pki) {
		return nil
	}
	if n.CADir == "" {
		return fmt.Errorf("harness: node %s has no CADir for its cluster CA", n.Name)
	}
	if !clustertls.HasCA(n.CADir) {
		if err := clustertls.NewCA(n.CADir, "harness"); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return fmt.Errorf("harness: %w", err)
	}
	for _, f := range []string{clustertls.CACertFile, clustertls.CAKeyFile} {
		b, err := os.ReadFile(filepath.Join(n.CADir, f))
		if err != nil {
			return fmt.Errorf("harness: %w", err)
		}
		if err := os.WriteFile(filepath.Join(pki, f), b, 0o600); err != nil {
			return fmt.Errorf("harness: %w", err)
		}
	}
	return nil
}

// APIURL is the node's admin API.
func (n *ClusterNode) APIURL() string { return "http://" + n.hostPort(n.APIPort) }

// TokenFile is the node's admin API token file.
func (n *ClusterNode) TokenFile() string { return filepath.Join(n.Data(), "api-token") }

// SMBHostPort is the node's SMB address.
func (n *ClusterNode) SMBHostPort() string { return n.hostPort(n.SMBPort) }

func (n *ClusterNode) hostPort(p int) string { return n.Addr + ":" + strconv.Itoa(p) }

// InitialCluster returns the etcd-initial-cluster value for members.
func InitialCluster(members ...*ClusterNode) string {
	parts := make([]string, len(members))
	for i, m := range members {
		parts[i] = m.Name + "=" + m.PeerURL()
	}
	return strings.Join(parts, ",")
}

func (n *ClusterNode) args() []string {
	var a []string
	if n.Witness {
		a = append(a, "witness")
	}
	a = append(a,
		"--data", n.Data(),
		"--node-name", n.Name,
		"--etcd-client-listen", n.ClientURL(),
		"--etcd-peer-listen", n.PeerURL(),
	)
	// A witness serves only /healthz and /readyz on its API address.
	a = append(a, "--api-listen", n.hostPort(n.APIPort))
	if !n.Witness {
		// The open-state service's port is advertised in the node's
		// record, so any free one will do.
		a = append(a, "--smb-listen", n.SMBHostPort(), "--peer-listen", n.hostPort(0), "--join-listen", n.JoinHostPort())
	}
	return append(a, n.Args...)
}

// Start launches the process without waiting for it to serve (members of
// a new etcd cluster only become ready together); see Wait.
func (n *ClusterNode) Start() error {
	if n.proc != nil {
		select {
		case <-n.proc.exited:
		default:
			return fmt.Errorf("harness: node %s is already running", n.Name)
		}
	}
	bin, err := sofsdBinary()
	if err != nil {
		return err
	}
	if !n.Joining {
		if err := n.provisionCA(); err != nil {
			return err
		}
	}
	logf, err := os.OpenFile(n.LogPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("harness: node log: %w", err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "==== harness: starting %s %s\n", bin, strings.Join(n.args(), " "))
	argv := append([]string{bin}, n.args()...)
	if len(n.Wrap) > 0 {
		argv = append(append([]string(nil), n.Wrap...), argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("harness: start %s: %w", bin, err)
	}
	p := &Process{Dir: n.Dir, LogPath: n.LogPath(), cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	n.proc, n.killed, n.paused, n.exitSeen = p, false, false, false
	return nil
}

// Wait waits until the node serves: its SMB port (a witness: its etcd
// client port) accepts connections.
func (n *ClusterNode) Wait(ctx context.Context) error {
	if n.proc == nil {
		return fmt.Errorf("harness: node %s not started", n.Name)
	}
	port := n.SMBPort
	if n.Witness {
		port = n.EtcdClientPort
	}
	if err := WaitForPort(ctx, n.Addr, port, n.proc.exited); err != nil {
		return fmt.Errorf("node %s: %w\n%s", n.Name, err, tailFile(n.LogPath()))
	}
	return nil
}

// DumpStacks ends the node with SIGQUIT, so that the Go runtime writes
// every goroutine's stack to its log (a test that found it hanging), and
// waits for it to exit.
func (n *ClusterNode) DumpStacks() {
	if n.proc == nil {
		return
	}
	n.killed = true
	_ = syscall.Kill(n.proc.cmd.Process.Pid, syscall.SIGQUIT)
	<-n.proc.exited
}

// Kill ends the node with SIGKILL (a crash) and waits for it to exit.
func (n *ClusterNode) Kill() {
	if n.proc == nil {
		return
	}
	n.killed = true
	_ = syscall.Kill(-n.proc.cmd.Process.Pid, syscall.SIGKILL)
	<-n.proc.exited
}

// Stop ends the node with SIGTERM (SIGKILL after a grace period). A node
// already ended by Kill, or whose exit the test observed with WaitExit,
// is not an error; a paused node is resumed so it can act on SIGTERM.
func (n *ClusterNode) Stop() error {
	if n.proc == nil || n.killed || n.exitSeen {
		return nil
	}
	if n.paused {
		if err := n.Resume(); err != nil {
			return err
		}
	}
	return n.proc.Stop()
}

// JoinHostPort is the node's join endpoint.
func (n *ClusterNode) JoinHostPort() string { return n.hostPort(n.JoinPort) }

// ExitCode waits until the node's process ends or ctx does, and returns
// its exit code (WaitExit).
func (n *ClusterNode) ExitCode(ctx context.Context) (int, error) { return n.WaitExit(ctx) }

// Pause freezes the node with SIGSTOP to its process group, as a VM
// pause, a swap storm or a stuck kernel would: its sockets stay open and
// the kernel keeps queueing what clients send, but nothing runs, not even
// its lease renewal or its etcd member.
func (n *ClusterNode) Pause() error {
	if n.proc == nil {
		return fmt.Errorf("harness: node %s not started", n.Name)
	}
	if err := syscall.Kill(-n.proc.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("harness: pause %s: %w", n.Name, err)
	}
	n.paused = true
	if err := waitStopped(n.proc.cmd.Process.Pid); err != nil {
		return fmt.Errorf("harness: pause %s: %w", n.Name, err)
	}
	return nil
}

// stopWithin bounds how long Pause waits for every thread of a node to
// stop.
const stopWithin = 10 * time.Second

// waitStopped returns once every thread of pid is stopped. kill(2)
// returns as soon as SIGSTOP is queued, and the kernel stops a process's
// threads one by one as each is next scheduled: on a busy machine the
// others go on running for milliseconds, long enough to read, execute
// and answer a request sent "after" the pause. A test that sends to a
// paused node must know that nothing of it runs.
func waitStopped(pid int) error {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	deadline := time.Now().Add(stopWithin)
	for {
		running, err := runningThreads(dir)
		if err != nil {
			return err
		}
		if running == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d threads of process %d still running %s after SIGSTOP", running, pid, stopWithin)
		}
		time.Sleep(2 * time.Millisecond) // poll interval; the loop checks the threads' state
	}
}

// runningThreads counts the threads under dir (/proc/PID/task) that are
// neither stopped nor gone.
func runningThreads(dir string) (int, error) {
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("list threads: %w", err)
	}
	running := 0
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "stat"))
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread ended
		}
		if err != nil {
			return 0, fmt.Errorf("read thread state: %w", err)
		}
		// "tid (comm) S ...": comm may hold spaces and parentheses, so
		// the state is the first field after the last ')'.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+2 >= len(b) {
			return 0, fmt.Errorf("thread %s: unreadable stat %q", t.Name(), b)
		}
		switch b[i+2] {
		case 'T', 't', 'Z', 'X':
		default:
			running++
		}
	}
	return running, nil
}

// Resume continues a paused node (SIGCONT to its process group).
func (n *ClusterNode) Resume() error {
	if n.proc == nil {
		return fmt.Errorf("harness: node %s not started", n.Name)
	}
	if err := syscall.Kill(-n.proc.cmd.Process.Pid, syscall.SIGCONT); err != nil {
		return fmt.Errorf("harness: resume %s: %w", n.Name, err)
	}
	n.paused = false
	return nil
}

// WaitExit waits, within ctx, for the node's process to end by itself
// and returns its exit code (-1 if a signal ended it). The exit is then
// the test's to judge: Stop no longer reports it.
func (n *ClusterNode) WaitExit(ctx context.Context) (int, error) {
	if n.proc == nil {
		return 0, fmt.Errorf("harness: node %s not started", n.Name)
	}
	select {
	case <-n.proc.exited:
	case <-ctx.Done():
		return 0, fmt.Errorf("harness: node %s still running: %w", n.Name, ctx.Err())
	}
	n.exitSeen = true
	return n.proc.cmd.ProcessState.ExitCode(), nil
}

// Log returns the end of the node's log.
func (n *ClusterNode) Log() string { return tailFile(n.LogPath()) }

// BuildSofsctl builds ./cmd/sofsctl of the module into dir and returns the
// binary's path.
func BuildSofsctl(ctx context.Context, dir string) (string, error) {
	root, err := ModuleRoot(ctx)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sofsctl")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/sofsctl")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("harness: go build ./cmd/sofsctl: %w\n%s", err, out)
	}
	return bin, nil
}

// Sofsd runs the sofsd binary the harness built with args (a subcommand
// such as "cert renew") and returns its combined output and exit code.
func Sofsd(ctx context.Context, env []string, args ...string) ([]byte, int, error) {
	bin, err := sofsdBinary()
	if err != nil {
		return nil, 0, err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out, 0, nil
	case errors.As(err, &ee):
		return out, ee.ExitCode(), nil
	default:
		return out, 0, fmt.Errorf("harness: run sofsd %s: %w", strings.Join(args, " "), err)
	}
}
