package torture

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"sofs.io/sofs/integration/harness"
)

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m))
}

// StrictEnv makes listed-but-passing tests fail TestSmbtorture, so the
// known-failures list is kept minimal.
const StrictEnv = "SOFS_TORTURE_STRICT"

// totalBudget caps the whole smbtorture run so that CI stays well inside
// its 45-minute budget even if sofs hangs several suites until their
// per-suite timeouts; suites left when it runs out are reported as errors.
const totalBudget = 30 * time.Minute

// expectations loads what TestSmbtorture compares against: the sofs
// known-failures list, or, when the target is the reference smbd itself,
// the failures recorded in samba-baseline.txt.
func expectations(t *testing.T, target *harness.Target) KnownFailures {
	t.Helper()
	if target.Name == "samba" {
		f, err := os.Open("samba-baseline.txt")
		if err != nil {
			t.Fatalf("baseline: %v", err)
		}
		defer f.Close()
		rs, err := ParseBaseline(f)
		if err != nil {
			t.Fatal(err)
		}
		return KnownFromBaseline(rs)
	}
	f, err := os.Open("known-failures.txt")
	if err != nil {
		t.Fatalf("known failures: %v", err)
	}
	defer f.Close()
	kf, err := ParseKnownFailures(f)
	if err != nil {
		t.Fatal(err)
	}
	return kf
}

func TestSmbtorture(t *testing.T) {
	bin := harness.RequireTool(t, "smbtorture")
	strict := os.Getenv(StrictEnv) == "1"
	ctx, cancel := context.WithTimeout(context.Background(), totalBudget)
	defer cancel()
	for _, suite := range SuitesFromEnv() {
		t.Run(suite, func(t *testing.T) {
			// A fresh server per suite: a suite that crashes or wedges the
			// server must not turn the next suites' results into noise.
			// The options (a CA share among them) are SofsOptions'.
			target := harness.FromEnvWith(t, SofsOptions(t.TempDir()))
			sr := runSuite(t, ctx, bin, target, suite, expectations(t, target), strict, nil)
			writeResults(t, "one-node", suite, sr.Results)
		})
	}
}

// runSuite runs suite against target (the subtests isolate names each in
// a process of its own, Runner.Isolate) and fails t on every failure kf does
// not list; listed tests that pass are logged, or, when strict, fail t.
func runSuite(t *testing.T, ctx context.Context, bin string, target *harness.Target, suite string, kf KnownFailures, strict bool, isolate map[string][]string) SuiteResult {
	t.Helper()
	r := &Runner{Binary: bin, Target: target, Isolate: isolate}
	sr, err := r.Run(ctx, suite)
	if err != nil {
		t.Fatal(err)
	}
	var pass, fail, skip int
	for _, res := range sr.Results {
		switch {
		case res.Status.Passed():
			pass++
		case res.Status.Failed():
			fail++
		default:
			skip++
		}
	}
	t.Logf("%s against %s: %d passed, %d failed, %d skipped in %v (timed out: %v)",
		suite, target.Name, pass, fail, skip, sr.Duration.Round(time.Millisecond), sr.TimedOut)
	c := Compare(kf, sr.Results)
	for _, res := range c.NewFailures {
		t.Errorf("%s: %s (not in the known-failures list)\n%s", res.Name, res.Status, strings.TrimSpace(res.Detail))
	}
	for _, name := range c.NowPassing {
		if strict {
			t.Errorf("%s passes now: remove it from the known-failures list", name)
		} else {
			t.Logf("%s passes now: it can be removed from the known-failures list", name)
		}
	}
	if t.Failed() {
		t.Logf("smbtorture %s output (tail):\n%s", strings.Join(r.Args(suite), " "), lastLines(sr.Output, 60))
	}
	return sr
}
