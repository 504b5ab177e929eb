// Command torturecompare runs smbtorture suites against sofs and against the
// reference Samba smbd in one run and writes a markdown conformance table
// (suite, subtests, sofs pass, samba pass) plus the per-test differences.
// It also records Samba's per-test results as the baseline TestSmbtorture
// uses when it runs against Samba.
//
// Usage, from the module root:
//
//	go run ./integration/torture/cmd/torturecompare -out docs/conformance-smbtorture.md
//
// Either server may be unavailable (sofs not building or not starting,
// Samba or root missing): its column then reads "n/a" and the run goes on.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"strings"
	"time"

	"sofs.io/sofs/integration/harness"
	"sofs.io/sofs/integration/torture"
)

func main() {
	out := flag.String("out", "docs/conformance-smbtorture.md", "markdown report to write")
	baseline := flag.String("baseline", "integration/torture/samba-baseline.txt", "where to write Samba's per-test results (empty: don't)")
	suites := flag.String("suites", strings.Join(torture.DefaultSuites(), ","), "comma-separated smbtorture suites")
	targets := flag.String("targets", "sofs,samba", "servers to run against, in column order")
	timeout := flag.Duration("suite-timeout", 0, "per-suite time limit (0: the runner's per-suite defaults)")
	flag.Parse()
	log.SetFlags(log.Ltime)
	if err := run(*out, *baseline, splitList(*suites), splitList(*targets), *timeout); err != nil {
		log.Fatal(err)
	}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// column is one server's results, or why there are none.
type column struct {
	name    string
	err     error
	results map[string][]torture.Result // by suite
}

func run(out, baseline string, suites, targets []string, timeout time.Duration) error {
	bin, err := exec.LookPath("smbtorture")
	if err != nil {
		return fmt.Errorf("smbtorture: %w", err)
	}
	ctx := context.Background()
	var cols []*column
	for _, name := range targets {
		c := &column{name: name, results: map[string][]torture.Result{}}
		c.err = runTarget(ctx, c, bin, suites, timeout)
		if c.err != nil {
			log.Printf("%s: %v", name, c.err)
		}
		cols = append(cols, c)
	}
	for _, c := range cols {
		if c.name == "samba" && c.err == nil && baseline != "" {
			if err := writeBaseline(baseline, bin, suites, c); err != nil {
				return err
			}
			log.Printf("wrote %s", baseline)
		}
	}
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer f.Close()
	if err := writeReport(f, suites, cols); err != nil {
		return fmt.Errorf("report %s: %w", out, err)
	}
	log.Printf("wrote %s", out)
	return f.Close()
}

// server is a started target and how to stop it.
type server struct {
	target *harness.Target
	stop   func()
}

// start launches a fresh server of the named kind for suite (sofs gets a
// continuously available share for the suites that need one).
func start(ctx context.Context, name, suite string) (*server, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	switch name {
	case "sofs":
		dir, err := os.MkdirTemp("", "torturecompare-sofs-")
		if err != nil {
			return nil, err
		}
		// The options TestSmbtorture uses (a CA share among them).
		opts, err := torture.SofsOptionsIn(dir)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		p, err := harness.LaunchSofs(ctx, opts)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		return &server{target: p.Target, stop: func() {
			if err := p.Stop(); err != nil {
				log.Printf("stop sofs: %v", err)
			}
			os.RemoveAll(dir)
		}}, nil
	case "samba":
		r, err := harness.LaunchSambaRef(ctx)
		if err != nil {
			return nil, err
		}
		return &server{target: r.Target, stop: func() {
			if err := r.Stop(); err != nil {
				log.Printf("stop samba: %v", err)
			}
		}}, nil
	}
	return nil, fmt.Errorf("unknown target %q (want sofs or samba)", name)
}

// runTarget runs every suite against a fresh server of kind c.name each.
// It gives up on the target if the first server cannot start.
func runTarget(ctx context.Context, c *column, bin string, suites []string, timeout time.Duration) error {
	for i, suite := range suites {
		srv, err := start(ctx, c.name, suite)
		if err != nil {
			if i == 0 {
				return err
			}
			c.results[suite] = []torture.Result{{Name: suite, Status: torture.Error, Detail: err.Error()}}
			continue
		}
		r := &torture.Runner{Binary: bin, Target: srv.target, SuiteTimeout: timeout}
		sr, err := r.Run(ctx, suite)
		srv.stop()
		if err != nil {
			return err
		}
		c.results[suite] = sr.Results
		pass, total := count(sr.Results)
		log.Printf("%s %s: %d/%d passed in %v", c.name, suite, pass, total, sr.Duration.Round(time.Millisecond))
	}
	return nil
}
