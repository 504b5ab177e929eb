package harness

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"sofs.io/sofs/internal/testport"
)

// FreePort returns a TCP port on addr for a server this process starts.
// It comes from outside the kernel's ephemeral range and is claimed until
// the process exits, so neither an outbound connection nor another test
// process can take it between picking and binding, or while a node that
// owns it is down for a restart.
func FreePort(addr string) (int, error) {
	hp, _, err := testport.Reserve(addr)
	if err != nil {
		return 0, fmt.Errorf("harness: find free port on %s: %w", addr, err)
	}
	_, p, err := net.SplitHostPort(hp)
	if err != nil {
		return 0, fmt.Errorf("harness: reserved address %q: %w", hp, err)
	}
	return strconv.Atoi(p)
}

// portIsFree reports whether a listener can bind addr:port right now.
func portIsFree(addr string, port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// Readiness polling bounds: 200 attempts 50 ms apart give a server 10 s to
// open its port, generous for a process that embeds etcd on a busy 2-core
// machine while keeping a broken start from stalling the test run.
const (
	readyAttempts = 200
	readyInterval = 50 * time.Millisecond
)

// WaitForPort dials addr:port until it accepts a TCP connection, stop
// reports that waiting is pointless (for example the process exited), ctx
// ends, or the attempts run out.
func WaitForPort(ctx context.Context, addr string, port int, stop <-chan struct{}) error {
	hp := net.JoinHostPort(addr, strconv.Itoa(port))
	d := net.Dialer{Timeout: readyInterval}
	tick := time.NewTicker(readyInterval)
	defer tick.Stop()
	var lastErr error
	for range readyAttempts {
		c, err := d.DialContext(ctx, "tcp", hp)
		if err == nil {
			c.Close()
			return nil
		}
		lastErr = err
		select {
		case <-stop:
			return fmt.Errorf("harness: process exited before %s accepted connections", hp)
		case <-ctx.Done():
			return fmt.Errorf("harness: waiting for %s: %w", hp, ctx.Err())
		case <-tick.C:
		}
	}
	return fmt.Errorf("harness: %s not accepting connections after %d attempts: %w", hp, readyAttempts, lastErr)
}
