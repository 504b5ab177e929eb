// Package testport gives tests TCP addresses that stay theirs between
// choosing a port and binding it.
//
// The usual trick (listen on port 0, read the port, close) loses races on a
// busy machine: the kernel hands the same port to the next outbound
// connection or port-0 bind from any process, and `go test ./...` runs many
// test processes at once. An embedded etcd member that is told its URLs up
// front then fails with "address already in use" (seen in CI, stop 13).
//
// Ports here come from below the kernel's ephemeral range, which the kernel
// never assigns on its own, and each is claimed with an flock on a file in
// the temporary directory, so two test processes using this package never
// pick the same one. The claim is released when the test ends.
package testport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// rangeLow is the first port considered: above the fixed ports project
// tools use (4400-4599 for reference Samba servers) and other services'
// well-known ports.
const rangeLow = 20000

// minSpan is the fewest ports worth drawing from; with less room below the
// ephemeral range, ports above it are used instead.
const minSpan = 1000

// Loopback returns "127.0.0.1:port" for a port reserved for t.
func Loopback(t testing.TB) string {
	t.Helper()
	return On(t, "127.0.0.1")
}

// On returns "host:port" for a port on host reserved for t.
func On(t testing.TB, host string) string {
	t.Helper()
	addr, release, err := Reserve(host)
	if err != nil {
		t.Fatalf("testport: %v", err)
	}
	t.Cleanup(release)
	return addr
}

// Reserve returns "host:port" for a port on host that no other user of
// this package holds, and the function that gives it up. A claim never
// given up lasts until the process exits, which suits servers that are
// stopped and started again on the same ports within one test run.
func Reserve(host string) (string, func(), error) {
	lo, hi, err := span()
	if err != nil {
		return "", nil, err
	}
	return reserve(host, lo, hi)
}

// reserve finds a port in lo-hi that no other user of this package holds
// and that binds on host right now.
func reserve(host string, lo, hi int) (string, func(), error) {
	// Per user, so one user's lock directory never blocks another's.
	dir := filepath.Join(os.TempDir(), "sofs-testport-"+strconv.Itoa(os.Getuid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("lock directory: %w", err)
	}
	n := hi - lo + 1
	start := rand.IntN(n)
	// Every port in the span is tried at most once, so a full span ends
	// the search rather than spinning.
	for i := range n {
		port := lo + (start+i)%n
		fd, ok, err := claim(dir, host, port)
		if err != nil {
			return "", nil, err
		}
		if !ok {
			continue
		}
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			// Something outside this package listens there.
			syscall.Close(fd)
			continue
		}
		ln.Close()
		var once sync.Once
		return addr, func() { once.Do(func() { syscall.Close(fd) }) }, nil
	}
	return "", nil, fmt.Errorf("no free port on %s in %d-%d", host, lo, hi)
}

// claim takes the lock file for host:port without waiting; ok is false
// when another holder has it (flock conflicts between open files, so this
// covers other tests in the same process too). The lock lives as long as
// the returned descriptor: a raw descriptor rather than an *os.File, so
// no finalizer closes it behind a caller that keeps the claim on purpose.
// A crashed process releases everything it held.
func claim(dir, host string, port int) (int, bool, error) {
	name := filepath.Join(dir, strings.ReplaceAll(host, ":", "_")+"-"+strconv.Itoa(port))
	fd, err := syscall.Open(name, syscall.O_RDWR|syscall.O_CREAT|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return -1, false, fmt.Errorf("lock file %s: %w", name, err)
	}
	if err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		syscall.Close(fd)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return -1, false, nil
		}
		return -1, false, fmt.Errorf("lock %s: %w", name, err)
	}
	return fd, true, nil
}

// span is the port range to draw from: rangeLow up to just below the
// kernel's ephemeral range, or above that range when it starts too low.
func span() (lo, hi int, err error) {
	elo, ehi, err := ephemeralRange()
	if err != nil {
		return 0, 0, err
	}
	if elo-1-rangeLow+1 >= minSpan {
		return rangeLow, elo - 1, nil
	}
	if 65535-ehi >= minSpan {
		return ehi + 1, 65535, nil
	}
	return 0, 0, fmt.Errorf("ephemeral range %d-%d leaves fewer than %d ports outside it", elo, ehi, minSpan)
}

func ephemeralRange() (lo, hi int, err error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, fmt.Errorf("ephemeral port range: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("ephemeral port range: unexpected %q", b)
	}
	if lo, err = strconv.Atoi(f[0]); err == nil {
		hi, err = strconv.Atoi(f[1])
	}
	if err != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("ephemeral port range: unexpected %q", b)
	}
	return lo, hi, nil
}
