package harness

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"
)

// FreePort returns a TCP port on addr that was free a moment ago: it binds
// port 0 and closes the listener. Another process can take the port before
// the server binds it; callers that care retry with a new port.
func FreePort(addr string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return 0, fmt.Errorf("harness: find free port on %s: %w", addr, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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
