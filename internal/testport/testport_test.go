package testport

import (
	"net"
	"strconv"
	"testing"
)

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOutsideEphemeralRange: a reserved port is one the kernel never hands
// out by itself, and it binds.
func TestOutsideEphemeralRange(t *testing.T) {
	elo, ehi, err := ephemeralRange()
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		addr := Loopback(t)
		if p := port(t, addr); p >= elo && p <= ehi {
			t.Fatalf("%s is inside the ephemeral range %d-%d", addr, elo, ehi)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("reserved %s does not bind: %v", addr, err)
		}
		ln.Close()
	}
}

// TestClaimExcludes: while one reservation holds a port, no other can take
// it, even from the same process; once released it can be taken again.
func TestClaimExcludes(t *testing.T) {
	lo, _, err := span()
	if err != nil {
		t.Fatal(err)
	}
	addr, release, err := reserve("127.0.0.1", lo, lo+1)
	if err != nil {
		t.Fatal(err)
	}
	held := port(t, addr)
	other, release2, err := reserve("127.0.0.1", held, held)
	if err == nil {
		release2()
		t.Fatalf("second reservation got held port: %s", other)
	}
	release()
	again, release3, err := reserve("127.0.0.1", held, held)
	if err != nil {
		t.Fatalf("released port not reservable: %v", err)
	}
	release3()
	if again != addr {
		t.Fatalf("got %s, want %s", again, addr)
	}
}

// TestSkipsForeignListener: a port some other program listens on is not
// handed out, though no lock file names it.
func TestSkipsForeignListener(t *testing.T) {
	lo, _, err := span()
	if err != nil {
		t.Fatal(err)
	}
	// Find two adjacent free ports, occupy the first with a plain listener.
	var ln net.Listener
	var p int
	for p = lo + 500; p < lo+600; p += 2 {
		if ln, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			break
		}
	}
	if ln == nil {
		t.Fatal("no free port to occupy")
	}
	defer ln.Close()
	if addr, release, err := reserve("127.0.0.1", p, p); err == nil {
		release()
		t.Fatalf("reserved %s, which another listener holds", addr)
	}
	addr, release, err := reserve("127.0.0.1", p, p+1)
	if err != nil {
		// p+1 may be busy on this machine; that is not what is tested.
		t.Logf("p+1 unavailable: %v", err)
		return
	}
	defer release()
	if got := port(t, addr); got != p+1 {
		t.Fatalf("got port %d, want %d", got, p+1)
	}
}
