package torture

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sofs.io/sofs/integration/harness"
)

// What the smbtorture tests share (TestSmbtorture here, TestSmbtortureCluster
// in integration/torture/cluster, which is a package of its own so that its
// run overlaps this package's in CI instead of following it).

// StrictEnv makes listed-but-passing tests fail the smbtorture tests, so
// the known-failures lists are kept minimal.
const StrictEnv = "SOFS_TORTURE_STRICT"

// ResultsEnv names a directory where TestSmbtorture and
// TestSmbtortureCluster write each suite's per-test results ("name
// status" lines, as samba-baseline.txt) to one-node-SUITE.txt and
// cluster-SUITE.txt, for comparing the two runs.
const ResultsEnv = "SOFS_TORTURE_RESULTS"

// WriteResults keeps rs in SOFS_TORTURE_RESULTS, when it is set.
func WriteResults(t *testing.T, run, suite string, rs []Result) {
	t.Helper()
	dir := os.Getenv(ResultsEnv)
	if dir == "" {
		return
	}
	f, err := os.Create(filepath.Join(dir, run+"-"+suite+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := FormatResults(f, rs); err != nil {
		t.Fatal(err)
	}
}

// LoadKnown reads a list in known-failures.txt's format.
func LoadKnown(t *testing.T, name string) KnownFailures {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer f.Close()
	kf, err := ParseKnownFailures(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return kf
}

// RunSuite runs suite against target (the subtests isolate names each in
// a process of its own, Runner.Isolate) and fails t on every failure kf does
// not list; listed tests that pass are logged, or, when strict, fail t.
func RunSuite(t *testing.T, ctx context.Context, bin string, target *harness.Target, suite string, kf KnownFailures, strict bool, isolate map[string][]string) SuiteResult {
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
