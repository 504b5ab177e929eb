package torture

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sofs.io/sofs/integration/harness"
)

func fakeTorture(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "smbtorture")
	if err := os.WriteFile(p, []byte("#!/bin/bash\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

var fakeTarget = &harness.Target{Name: "fake", Addr: "127.0.0.1", Port: 1, Share: "share", User: "u", Password: "p"}

// TestRunnerKillsHungSuite runs a stand-in smbtorture that reports one
// result, starts a second test and hangs in a child process: Run must come
// back soon after the suite timeout, with the finished result kept and the
// unfinished test reported as an error.
func TestRunnerKillsHungSuite(t *testing.T) {
	bin := fakeTorture(t, "echo 'test: a'; echo 'success: a'; echo 'test: b'; sleep 600 & wait\n")
	r := &Runner{Binary: bin, Target: fakeTarget, SuiteTimeout: 500 * time.Millisecond}
	start := time.Now()
	sr, err := r.Run(context.Background(), "smb2.fake")
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Run returned after %v; the hung suite was not killed", d)
	}
	if !sr.TimedOut {
		t.Error("TimedOut not set")
	}
	if len(sr.Results) != 2 || sr.Results[0].Status != Success || sr.Results[1].Name != "smb2.fake.b" || sr.Results[1].Status != Error {
		t.Fatalf("results %+v, want a success and smb2.fake.b as error", sr.Results)
	}
}

// TestRunnerNoResults checks that a suite that cannot even connect still
// yields a failing result, so a dead server can never look like a pass.
func TestRunnerNoResults(t *testing.T) {
	bin := fakeTorture(t, "echo 'NT_STATUS_CONNECTION_REFUSED' >&2; exit 1\n")
	r := &Runner{Binary: bin, Target: fakeTarget}
	sr, err := r.Run(context.Background(), "smb2.read")
	if err != nil {
		t.Fatal(err)
	}
	if len(sr.Results) != 1 || sr.Results[0].Name != "smb2.read" || !sr.Results[0].Status.Failed() ||
		!strings.Contains(sr.Results[0].Detail, "CONNECTION_REFUSED") {
		t.Fatalf("results %+v, want one error for the suite carrying the output", sr.Results)
	}
}

func TestRunnerArgs(t *testing.T) {
	r := &Runner{Binary: "smbtorture", Target: fakeTarget}
	got := r.Args("smb2.read")
	want := []string{"//127.0.0.1/share", "-p", "1", "-U", "u%p",
		"--option=torture:sharedelay=100000", "--option=torture:writetimeupdatedelay=500000", "smb2.read"}
	if !slices.Equal(got, want) {
		t.Fatalf("args %q, want %q", got, want)
	}
}

// TestRunnerManualSuite: a manual suite gets its options and fixture, and
// the check after the run catches a server that reports success without
// doing the work.
func TestRunnerManualSuite(t *testing.T) {
	share := t.TempDir()
	target := *fakeTarget
	target.ShareDir = share
	// A stand-in that zeroes the file its options name, as SET_ZERO_DATA
	// on a working server does.
	zeroes := fakeTorture(t, `for a; do case $a in --option=torture:filename=*) f=${a##*=};; esac; done
echo 'test: zero-data-ioctl'
head -c 131072 /dev/zero > '`+share+`'/"$f"
echo 'success: zero-data-ioctl'
`)
	// One that claims success and changes nothing.
	lies := fakeTorture(t, "echo 'test: zero-data-ioctl'; echo 'success: zero-data-ioctl'\n")
	for _, tc := range []struct {
		bin  string
		want Status
	}{{zeroes, Success}, {lies, Failure}} {
		r := &Runner{Binary: tc.bin, Target: &target}
		if args := strings.Join(r.Args("smb2.zero-data-ioctl"), " "); !strings.Contains(args, "torture:filename="+manualFile) || !strings.Contains(args, "torture:beyond_final_zero=131072") {
			t.Fatalf("args %q lack the manual options", args)
		}
		sr, err := r.Run(context.Background(), "smb2.zero-data-ioctl")
		if err != nil {
			t.Fatal(err)
		}
		if len(sr.Results) != 2 || !sr.Results[0].Status.Passed() || sr.Results[1].Name != "smb2.zero-data-ioctl.stored" || sr.Results[1].Status != tc.want {
			t.Fatalf("results %+v, want the check to report %s", sr.Results, tc.want)
		}
	}
}

// TestRunnerIsolatesTests: a suite with isolated tests runs as two
// smbtorture processes, the suite with a load list naming every other
// test, then the isolated test alone; the results of both are merged under
// the suite's name.
func TestRunnerIsolatesTests(t *testing.T) {
	log := filepath.Join(t.TempDir(), "calls")
	bin := fakeTorture(t, `
if [ "$1" = --list ]; then
	echo "smbtorture 4.x"
	for n in one basedir two; do echo "smb2.notify.$n.$n"; done
	exit 0
fi
echo "$*" >> `+log+`
last="${@: -1}"
for a in "$@"; do
	case "$a" in --load-list=*) while read -r n; do echo "test: $n"; echo "success: $n"; done < "${a#--load-list=}"; exit 0 ;; esac
done
n="${last#smb2.notify.}"
echo "test: $n"; echo "success: $n"
`)
	r := &Runner{Binary: bin, Target: fakeTarget, SuiteTimeout: 10 * time.Second}
	sr, err := r.Run(context.Background(), "smb2.notify")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, res := range sr.Results {
		if res.Status != Success {
			t.Errorf("%s: %v", res.Name, res.Status)
		}
		names = append(names, res.Name)
	}
	want := []string{"smb2.notify.one", "smb2.notify.two", "smb2.notify.basedir"}
	if !slices.Equal(names, want) {
		t.Fatalf("results %v, want %v", names, want)
	}
	calls, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(calls)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "--load-list=") || !strings.HasSuffix(lines[0], " smb2.notify") ||
		!strings.HasSuffix(lines[1], " smb2.notify.basedir") {
		t.Fatalf("smbtorture calls:\n%s", calls)
	}
}

// TestRunnerIsolatePatterns: subtests Runner.Isolate names by pattern run
// one per process after the rest, so one that crashes smbtorture (as
// smb2.replay's session-binding cases do when their channel lands on
// another node) loses only its own result.
func TestRunnerIsolatePatterns(t *testing.T) {
	bin := fakeTorture(t, `
if [ "$1" = --list ]; then
	echo "smbtorture 4.x"
	for n in a crash1 b crash2; do echo "smb2.fake.$n.$n"; done
	exit 0
fi
last="${@: -1}"
for a in "$@"; do
	case "$a" in --load-list=*) while read -r n; do echo "test: $n"; echo "success: $n"; done < "${a#--load-list=}"; exit 0 ;; esac
done
n="${last#smb2.fake.}"
echo "test: $n"
case "$n" in crash*) kill -SEGV $$ ;; esac
echo "success: $n"
`)
	r := &Runner{Binary: bin, Target: fakeTarget, SuiteTimeout: 10 * time.Second,
		Isolate: map[string][]string{"smb2.fake": {"crash*"}}}
	sr, err := r.Run(context.Background(), "smb2.fake")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Status{}
	var names []string
	for _, res := range sr.Results {
		got[res.Name] = res.Status
		names = append(names, res.Name)
	}
	want := []string{"smb2.fake.a", "smb2.fake.b", "smb2.fake.crash1", "smb2.fake.crash2"}
	if !slices.Equal(names, want) {
		t.Fatalf("results %v, want %v", names, want)
	}
	if got["smb2.fake.a"] != Success || got["smb2.fake.b"] != Success ||
		!got["smb2.fake.crash1"].Failed() || !got["smb2.fake.crash2"].Failed() {
		t.Fatalf("statuses %v: want a and b passed, the crashes failed", got)
	}
}
