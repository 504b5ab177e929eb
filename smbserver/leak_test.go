package smbserver

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain runs the package's tests and then fails the run if any
// goroutine the tests started is still alive: a connection reader, a
// worker, a break waiter or a timer callback that outlives its server is
// a leak in production too, where servers do not restart. Leaks are
// checked only after a passing run, since a failed test may legitimately
// leave its server running.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := strayGoroutines(leakWait); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines still running %s after the tests:\n\n%s\n", leakWait, leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// leakWait bounds how long goroutines get to finish after the last test:
// a closed connection's goroutines end within milliseconds, but a loaded
// CI machine (and the race detector) can delay them.
const leakWait = 10 * time.Second

// strayGoroutines waits up to wait for every goroutine but the test
// binary's own to end, polling the stacks every leakPoll, and returns the
// stacks of those still running, or "".
func strayGoroutines(wait time.Duration) string {
	const leakPoll = 50 * time.Millisecond
	deadline := time.Now().Add(wait)
	for {
		stray := stray()
		if len(stray) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(stray, "\n\n")
		}
		time.Sleep(leakPoll)
	}
}

// benignGoroutines are frames of goroutines that belong to the runtime or
// the testing package, not to code under test.
var benignGoroutines = []string{
	"testing.(*M).",
	"testing.tRunner",
	"runtime.goexit0",
	"os/signal.signal_recv",
	"os/signal.loop",
	"runtime.ensureSigM",
	"created by runtime.gc",
	"runtime.ReadTrace",
}

func stray() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "strayGoroutines") || strings.Contains(g, "leak_test.go") {
			continue // this goroutine
		}
		benign := false
		for _, b := range benignGoroutines {
			if strings.Contains(g, b) {
				benign = true
				break
			}
		}
		if !benign {
			out = append(out, g)
		}
	}
	return out
}
