package failover

import (
	"bufio"
	"context"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"sofs.io/sofs/integration/harness"
)

// TestWitnessDrivenFailover is the repeated failover of TestRepeatedFailover
// with a client that follows the SMB Witness service, as Windows clients
// of a scale-out file server do: it registers with the witness of another
// node than the one it uses (python3-samba's MS-SWN client), and when its
// node is killed it does not act on the dropped connection but waits for
// RESOURCE_CHANGE unavailable, then reconnects (DH2C) through a survivor
// and re-registers for that node. It measures, per kill, how long the
// notification took after SIGKILL and the client-visible pause (last
// acknowledged WRITE before the kill to the first after), and checks
// that every notification names the killed node and that nothing
// acknowledged is lost. Issue 17's goal for the pause is p99 <= 2 s; the
// numbers are logged (WITNESS-SUMMARY), not asserted.
//
// SOFS_FAILOVER_KILLS sets the number of kills (default 10 here);
// scripts/failover-soak.sh --witness runs more.
func TestWitnessDrivenFailover(t *testing.T) {
	py := pythonSamba(t)
	kills := killCount(t, 10)
	var (
		wc       *witnessClient
		notified []time.Duration
		rounds   int
	)
	res := runFailover(t, kills, harness.SofsOptions{CA: true, WitnessService: true}, failoverClient{
		on: func(ctx context.Context, nodes []*harness.ClusterNode, cur *harness.ClusterNode) {
			if wc != nil {
				// A client that moves ends its old registration, so
				// the placement counts only live clients.
				wc.unregister(ctx)
			}
			// The witness of another node: the client's own node is the
			// one whose loss it must hear about.
			var others []*harness.ClusterNode
			for _, n := range nodes {
				if n != cur {
					others = append(others, n)
				}
			}
			w := others[mrand.IntN(len(others))]
			rounds++
			wc = startWitnessClient(ctx, t, py, w, cur.Addr, "failover-"+strconv.Itoa(rounds))
		},
		lost: func(ctx context.Context, victim *harness.ClusterNode, killed time.Time, survivors []*harness.ClusterNode) *harness.ClusterNode {
			at, _ := wc.await(ctx, "^resource "+regexp.QuoteMeta(victim.Addr)+" unavailable$", time.Minute)
			notified = append(notified, at.Sub(killed))
			t.Logf("RESOURCE_CHANGE: %s unavailable %v after SIGKILL at %s (through the witness of %s)", victim.Name, at.Sub(killed).Round(time.Millisecond), killed.UTC().Format("15:04:05.000"), wc.witness.Name)
			return survivors[mrand.IntN(len(survivors))]
		},
	})
	if wc != nil {
		wc.unregister(context.Background())
	}
	n50, n99, nmax := percentiles(notified)
	p50, p99, pmax := percentiles(res.pauses)
	t.Logf("WITNESS-SUMMARY kills=%d notified_p50=%v notified_p99=%v notified_max=%v pause_p50=%v pause_p99=%v pause_max=%v",
		kills, n50, n99, nmax, p50, p99, pmax)
}

// pythonSamba returns the python3 that has Samba's bindings (Debian's
// python3-samba, for the system python), or fails the test in CI.
func pythonSamba(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import samba.dcerpc.witness").Run() == nil {
			return p
		}
	}
	harness.MissingDependency(t, "python3-samba (import samba.dcerpc.witness)")
	return ""
}

// witnessClient is one testdata/witness_client.py process: one witness
// registration, waiting for news.
type witnessClient struct {
	t       *testing.T
	py      string
	witness *harness.ClusterNode
	handle  string // the registration's context handle (a UUID)
	cmd     *exec.Cmd
	lines   chan witnessLine
	out     strings.Builder // everything it printed, for failures
}

// witnessLine is a line the client printed and when the test read it.
type witnessLine struct {
	text string
	at   time.Time
}

// witnessClientEnv is testdata/witness_client.py's environment: the
// account it logs on to the witness with (which serves authenticated
// users only), and a home of its own that keeps a developer's Samba
// settings out.
func witnessClientEnv(t *testing.T) []string {
	return append(os.Environ(), "HOME="+t.TempDir(),
		"WITNESS_USER="+harness.DefaultUser, "WITNESS_PASSWORD="+harness.DefaultPassword)
}

// startWitnessClient registers with the witness service of node w for the
// node whose address is ip, and returns once the registration is made.
func startWitnessClient(ctx context.Context, t *testing.T, py string, w *harness.ClusterNode, ip, name string) *witnessClient {
	t.Helper()
	cmd := exec.Command(py, "testdata/witness_client.py", w.Addr, strconv.Itoa(w.SWNPort), ip, name)
	cmd.Env = witnessClientEnv(t)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &witnessClient{t: t, py: py, witness: w, cmd: cmd, lines: make(chan witnessLine, 64)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- witnessLine{text: sc.Text(), at: time.Now()}
		}
		close(c.lines)
	}()
	t.Cleanup(c.stop)
	_, m := c.await(ctx, `^registered ([0-9a-f-]{36})$`, 30*time.Second)
	c.handle = m[1]
	return c
}

// await returns when the client printed a line matching the regular
// expression want (when it was read, and the submatches), failing the
// test if the client exits first or prints nothing of the kind within
// limit (a liveness bound, not a measurement). Other lines are kept for
// the failure message and otherwise ignored.
func (c *witnessClient) await(ctx context.Context, want string, limit time.Duration) (time.Time, []string) {
	c.t.Helper()
	re := regexp.MustCompile(want)
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("witness client exited before %q:\n%s", want, c.out.String())
			}
			fmt.Fprintln(&c.out, l.text)
			if m := re.FindStringSubmatch(l.text); m != nil {
				return l.at, m
			}
		case <-timer.C:
			c.t.Fatalf("witness client: no %q within %v:\n%s", want, limit, c.out.String())
		case <-ctx.Done():
			c.t.Fatalf("witness client: %v waiting for %q:\n%s", ctx.Err(), want, c.out.String())
		}
	}
}

// unregister ends the client and its registration (WitnessrUnRegister,
// through the same witness).
func (c *witnessClient) unregister(ctx context.Context) {
	c.t.Helper()
	c.stop()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.py, "testdata/witness_client.py", "unregister", c.witness.Addr, strconv.Itoa(c.witness.SWNPort), c.handle)
	cmd.Env = witnessClientEnv(c.t)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "unregistered" {
		c.t.Fatalf("witness UnRegister of %s: %v\n%s", c.handle, err, out)
	}
}

// stop ends the client process; its registration is left to expire, as
// that of a client that went away without a word does.
func (c *witnessClient) stop() {
	if c.cmd.ProcessState != nil {
		return
	}
	c.cmd.Process.Kill()
	c.cmd.Wait()
}
