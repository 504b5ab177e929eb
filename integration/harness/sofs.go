package harness

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sofs.io/sofs/namespace/clustertls"
)

// SofsOptions are the sofsd settings a test can choose. The zero value runs
// a one-node server with share "share", signing negotiable, no encryption.
type SofsOptions struct {
	// Share is the share name; "share" when empty.
	Share string
	// CA marks the share continuously available (",ca").
	CA bool
	// EncryptShare requires encryption on the share (",encrypt").
	EncryptShare bool
	// EncryptAll requires encryption server-wide (--encrypt).
	EncryptAll bool
	// RequireSigning, when set, is passed as --require-signing.
	RequireSigning *bool
	// LogLevel is passed as --log-level when set ("debug" helps when a test fails).
	LogLevel string
	// ExtraArgs are appended to the command line.
	ExtraArgs []string
	// Dir is the working directory for data, share and log; a fresh
	// temporary directory when empty (StartSofs uses t.TempDir()).
	Dir string
	// WitnessService runs the SMB Witness service on every node of a
	// StartSofsCluster cluster, on the node's SWNPort, without the
	// endpoint mapper (clients bind to the port directly, so tests need
	// not own port 135).
	WitnessService bool
}

// Sofs test credentials, the same as samba-ref.sh's so that one test body
// fits both servers.
const (
	defaultShare    = "share"
	defaultUser     = "test"
	defaultPassword = "test123"
	loopback        = "127.0.0.1"
)

// DefaultUser and DefaultPassword are the account every sofs node the
// harness starts has (Target.User and Target.Password), for clients that
// need it without a Target at hand (the witness's).
const (
	DefaultUser     = defaultUser
	DefaultPassword = defaultPassword
)

// Process is a running sofsd started by LaunchSofs.
type Process struct {
	Target *Target
	// Dir holds data, share and log; the caller owns it.
	Dir     string
	LogPath string
	// EtcdClientPort is the loopback port of the embedded etcd member,
	// for tests that inspect the cluster's keys.
	EtcdClientPort int
	// Data is the node's data directory.
	Data    string
	bin     string
	args    []string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// Exited is closed once the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// stopGrace bounds how long Stop waits after SIGTERM before SIGKILL: long
// enough for a clean etcd shutdown, short enough not to stall a test run.
const stopGrace = 10 * time.Second

// Stop ends the process: SIGTERM to its process group, then SIGKILL if it is
// still running after stopGrace. It returns the process's exit error, if any
// other than the termination itself.
func (p *Process) Stop() error {
	select {
	case <-p.exited:
		return p.waitErr
	default:
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(stopGrace):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.exited
	return fmt.Errorf("harness: sofsd pid %d ignored SIGTERM for %v; killed", pgid, stopGrace)
}

// args builds the sofsd command line for opts.
func (o SofsOptions) args(data, shareDir string, port, etcdClient, etcdPeer int) []string {
	a := []string{
		"--data", data,
		"--smb-listen", loopback + ":" + strconv.Itoa(port),
	}
	a = append(a, o.serviceArgs(shareDir)...)
	// Always explicit etcd ports: the defaults (2379/2380) would collide
	// between servers of tests running in parallel packages.
	a = append(a,
		"--etcd-client-listen", loopback+":"+strconv.Itoa(etcdClient),
		"--etcd-peer-listen", loopback+":"+strconv.Itoa(etcdPeer),
		// A free port per node, so parallel test servers never collide.
		"--api-listen", loopback+":0",
		"--peer-listen", loopback+":0")
	if o.LogLevel != "" {
		a = append(a, "--log-level", o.LogLevel)
	}
	return append(a, o.ExtraArgs...)
}

// serviceArgs returns the flags for what a node serves (the share on
// shareDir, the test user, signing and encryption), the same on a
// one-node server and on every node of a cluster.
func (o SofsOptions) serviceArgs(shareDir string) []string {
	share := o.Share
	if share == "" {
		share = defaultShare
	}
	spec := share + "=" + shareDir
	if o.CA {
		spec += ",ca"
	}
	if o.EncryptShare {
		spec += ",encrypt"
	}
	a := []string{
		"--share", spec,
		"--user", defaultUser + ":" + defaultPassword,
	}
	if o.RequireSigning != nil {
		a = append(a, "--require-signing="+strconv.FormatBool(*o.RequireSigning))
	}
	if o.EncryptAll {
		a = append(a, "--encrypt")
	}
	return a
}

// launchAttempts bounds retries when a port FreePort picked was taken by
// a program outside the harness's port claims before sofsd bound it; any
// other start failure is returned at once.
const launchAttempts = 3

// LaunchSofs builds sofsd (once per process), starts it with opts and waits
// until its SMB port accepts connections. The caller must Stop it.
func LaunchSofs(ctx context.Context, opts SofsOptions) (*Process, error) {
	bin, err := sofsdBinary()
	if err != nil {
		return nil, err
	}
	dir := opts.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "sofs-harness-"); err != nil {
			return nil, fmt.Errorf("harness: temp dir: %w", err)
		}
	}
	shareDir := filepath.Join(dir, "share")
	if err := os.MkdirAll(shareDir, 0o755); err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	for attempt := 1; ; attempt++ {
		// A fresh data directory per attempt: a member that failed half-way
		// must not leave etcd state naming the ports it did not get.
		data := filepath.Join(dir, "data")
		if attempt > 1 {
			data += "." + strconv.Itoa(attempt)
		}
		p, err := launchOnce(ctx, bin, opts, dir, data, shareDir, attempt)
		if err == nil || attempt == launchAttempts || !strings.Contains(err.Error(), "address already in use") {
			return p, err
		}
	}
}

// launchOnce makes one start attempt on freshly picked ports.
func launchOnce(ctx context.Context, bin string, opts SofsOptions, dir, data, shareDir string, attempt int) (*Process, error) {
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	var ports [3]int
	for i := range ports {
		var err error
		if ports[i], err = FreePort(loopback); err != nil {
			return nil, err
		}
	}
	logPath := filepath.Join(dir, "sofsd.stderr.log")
	if attempt > 1 {
		logPath = filepath.Join(dir, "sofsd.stderr."+strconv.Itoa(attempt)+".log")
	}
	p := &Process{Dir: dir, LogPath: logPath, EtcdClientPort: ports[1], Data: data, bin: bin, args: opts.args(data, shareDir, ports[0], ports[1], ports[2])}
	if err := p.start(os.O_TRUNC); err != nil {
		return nil, err
	}
	share := opts.Share
	if share == "" {
		share = defaultShare
	}
	p.Target = &Target{
		Name: "sofs", Addr: loopback, Port: ports[0], Share: share,
		User: defaultUser, Password: defaultPassword, ShareDir: shareDir,
	}
	if err := WaitForPort(ctx, loopback, ports[0], p.exited); err != nil {
		stopErr := p.Stop()
		return nil, errors.Join(fmt.Errorf("%w (sofsd %s)\n%s", err, strings.Join(p.args, " "), tailFile(logPath)), stopErr)
	}
	return p, nil
}

// start runs the process with p's command line, its output going to
// LogPath (truncated or appended to, by logFlag).
func (p *Process) start(logFlag int) error {
	logf, err := os.OpenFile(p.LogPath, os.O_WRONLY|os.O_CREATE|logFlag, 0o644)
	if err != nil {
		return fmt.Errorf("harness: sofsd log: %w", err)
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Own process group, so Stop also reaches anything sofsd spawns.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("harness: start %s: %w", p.bin, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.waitErr = cmd, exited, nil
	go func() {
		p.waitErr = cmd.Wait()
		close(exited)
	}()
	return nil
}

// killWait bounds how long Kill waits for the kernel to reap a SIGKILLed
// process (it cannot ignore the signal; this only guards a wedged host).
const killWait = 30 * time.Second

// Kill crashes sofsd: SIGKILL to its process group, no shutdown of any
// kind (connections reset, etcd not closed), as a node losing power. It
// returns once the process is gone.
func (p *Process) Kill() error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.exited:
		p.waitErr = nil // the death was asked for, not a failure to report
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("harness: sofsd pid %d still running %v after SIGKILL", p.cmd.Process.Pid, killWait)
	}
}

// Restart starts sofsd again after it ended (Kill or Stop), with the same
// command line: the same data directory, share and ports. It returns once
// the SMB port accepts connections. Not safe for use concurrently with
// the other methods.
func (p *Process) Restart(ctx context.Context) error {
	select {
	case <-p.exited:
	default:
		return errors.New("harness: Restart of a running sofsd")
	}
	if err := p.start(os.O_APPEND); err != nil {
		return err
	}
	if err := WaitForPort(ctx, loopback, p.Target.Port, p.exited); err != nil {
		stopErr := p.Stop()
		return errors.Join(fmt.Errorf("harness: restart: %w\n%s", err, tailFile(p.LogPath)), stopErr)
	}
	return nil
}

// StartSofs starts sofsd for the test and returns it as a Target. The
// process is stopped when t ends; if the test failed, sofsd's stderr is
// printed to the test log.
func StartSofs(t testing.TB, opts SofsOptions) *Target {
	t.Helper()
	return StartSofsProcess(t, opts).Target
}

// StartSofsProcess is StartSofs for tests that need the process itself
// (Kill, Restart, the etcd port).
func StartSofsProcess(t testing.TB, opts SofsOptions) *Process {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p, err := LaunchSofs(ctx, opts)
	if err != nil {
		t.Fatalf("start sofsd: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stop sofsd: %v", err)
		}
		if t.Failed() {
			t.Logf("sofsd stderr (%s):\n%s", p.LogPath, tailFile(p.LogPath))
		}
	})
	return p
}

// logTail bounds how much of a server log a failure prints: the end is
// where the cause is, and a debug log of a long test can be huge.
const logTail = 64 << 10

// tailFile returns the last logTail bytes of the file at path.
func tailFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	if len(b) > logTail {
		b = append([]byte("...\n"), b[len(b)-logTail:]...)
	}
	return string(b)
}

// EtcdEndpoint is the embedded etcd member's client URL: https, with
// mutual TLS (EtcdTLS).
func (p *Process) EtcdEndpoint() string {
	return "https://" + net.JoinHostPort(loopback, strconv.Itoa(p.EtcdClientPort))
}

// EtcdTLS is a client TLS configuration with the node's certificate, for
// tests that inspect the cluster's keys.
func (p *Process) EtcdTLS() (*tls.Config, error) {
	b, err := clustertls.Load(filepath.Join(p.Data, "pki"))
	if err != nil {
		return nil, err
	}
	return b.ClientConfig(), nil
}
