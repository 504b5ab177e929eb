// Package witness runs smbtorture's rpc.witness against sofs. It is a
// package of its own so that its four minutes of waiting out keep-alive
// timeouts overlap with other packages' tests instead of lengthening the
// torture package's long run.
package witness

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sofs.io/sofs/integration/harness"
	"sofs.io/sofs/integration/torture"
)

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m))
}

// witnessCases are the rpc.witness cases run, all expected to pass.
var witnessCases = []string{"GetInterfaceList", "Register", "UnRegister", "RegisterEx", "AsyncNotify", "AsyncNotify_timeouts"}

// witnessTimeout bounds the rpc.witness run. AsyncNotify_timeouts waits out
// keep-alives of 0, 1, 10, 100 and 120 s for each available interface (one
// on a one-node server), 231 s in all; the other cases take about a second.
const witnessTimeout = 6 * time.Minute

// TestSmbtortureWitness runs smbtorture's rpc.witness against sofs with the
// witness on: smbtorture finds it through the endpoint mapper on port 135
// of the server's address and binds with SPNEGO/NTLMSSP at packet
// integrity, as its default for authenticated ncacn_ip_tcp; it also
// enumerates shares over srvsvc on the SMB port (-p), and AsyncNotify
// takes the cluster name resource offline and online over MS-CMRP on the
// witness's binding. Results are compared with known-failures.txt like the
// smb2 suites'.
func TestSmbtortureWitness(t *testing.T) {
	bin := harness.RequireTool(t, "smbtorture")
	epm := net.JoinHostPort("127.0.0.1", "135")
	if ln, err := net.Listen("tcp", epm); err != nil {
		harness.MissingDependency(t, "endpoint mapper port %s (needs root): %v", epm, err)
	} else {
		ln.Close()
	}
	target := harness.StartSofs(t, harness.SofsOptions{
		ExtraArgs: []string{"--witness-listen", "127.0.0.1:0", "--epm-listen", epm},
	})
	kf := knownFailures(t)
	ctx, cancel := context.WithTimeout(context.Background(), witnessTimeout)
	defer cancel()
	list := filepath.Join(t.TempDir(), "load-list")
	var names []string
	for _, n := range witnessCases {
		names = append(names, "witness."+n)
	}
	if err := os.WriteFile(list, []byte(strings.Join(names, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{
		"ncacn_ip_tcp:" + target.Addr,
		"--load-list=" + list,
		"-p", strconv.Itoa(target.Port),
		"-U", target.User + "%" + target.Password,
		// The cluster's name, which WitnessrRegister checks NetName
		// against (sofsd names its cluster "sofs").
		"--option=torture:net_name=sofs",
		"rpc.witness",
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = t.TempDir()          // smbtorture leaves a temporary directory in its working directory
	out, _ := cmd.CombinedOutput() // smbtorture exits 1 when any test fails
	rs, err := torture.ParseOutput(bytes.NewReader(out), "rpc.witness")
	if err != nil {
		t.Fatal(err)
	}
	// A crash of smbtorture ends the run early; the cases sofs passes
	// must have run and passed, not just be absent from the failures.
	passed := map[string]bool{}
	for _, r := range rs {
		passed[r.Name] = r.Status.Passed()
	}
	for _, name := range witnessCases {
		if full := "rpc.witness.witness." + name; !passed[full] {
			t.Errorf("%s did not pass", full)
		}
	}
	c := torture.Compare(kf, rs)
	for _, res := range c.NewFailures {
		t.Errorf("%s: %s (not in the known-failures list)\n%s", res.Name, res.Status, strings.TrimSpace(res.Detail))
	}
	for _, name := range c.NowPassing {
		t.Logf("%s passes now: it can be removed from the known-failures list", name)
	}
	if t.Failed() {
		t.Logf("smbtorture %s output (tail):\n%s", strings.Join(args, " "), lastLines(string(out), 60))
	}
}

// knownFailures loads the torture package's known-failures list.
func knownFailures(t *testing.T) torture.KnownFailures {
	t.Helper()
	f, err := os.Open("../known-failures.txt")
	if err != nil {
		t.Fatalf("known failures: %v", err)
	}
	defer f.Close()
	kf, err := torture.ParseKnownFailures(f)
	if err != nil {
		t.Fatal(err)
	}
	return kf
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
