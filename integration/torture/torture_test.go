package torture

import (
	"context"
	"os"
	"testing"
	"time"

	"sofs.io/sofs/integration/harness"
)

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m))
}

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
			sr := RunSuite(t, ctx, bin, target, suite, expectations(t, target), strict, nil)
			WriteResults(t, "one-node", suite, sr.Results)
		})
	}
}
