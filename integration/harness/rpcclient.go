package harness

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// RPCClient drives an interactive Samba rpcclient, so that every command
// shares one DCE/RPC connection: rpcclient keeps a single pipe for all its
// witness commands, which context handles need. Over ncacn_ip_tcp it finds
// the interface through the endpoint mapper on port 135 of the host.
type RPCClient struct {
	t     testing.TB
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	seen  []string
}

// StartRPCClient runs rpcclient with the binding string (such as
// "ncacn_ip_tcp:127.0.0.1"), logged on as user with NTLM at packet
// integrity ("[sign]" is added to a binding without options), as the
// witness requires. It is killed when the test ends.
func StartRPCClient(t testing.TB, binding, user, password string) *RPCClient {
	t.Helper()
	bin := RequireTool(t, "rpcclient")
	if !strings.HasSuffix(binding, "]") {
		binding += "[sign]"
	}
	cmd := exec.Command(bin, "--use-kerberos=off", "-U", user+"%"+password, binding)
	// A home of its own keeps a developer's Samba settings out.
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
	r := &RPCClient{t: t, cmd: cmd, stdin: stdin, lines: make(chan string, 256)}
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

// Send writes one command line.
func (r *RPCClient) Send(cmd string) {
	r.t.Helper()
	if _, err := io.WriteString(r.stdin, cmd+"\n"); err != nil {
		r.t.Fatalf("rpcclient %q: %v", cmd, err)
	}
}

// CloseInput ends rpcclient's input: it exits after the commands sent,
// flushing what it printed (its stdout is buffered when not a terminal).
func (r *RPCClient) CloseInput() { r.stdin.Close() }

// Expect returns the submatches of the first output line matching re,
// failing the test if rpcclient exits or prints nothing matching within
// limit, which is a liveness bound, not a measurement.
func (r *RPCClient) Expect(re string, limit time.Duration) []string {
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
