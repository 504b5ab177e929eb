package harness

import (
	"bufio"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// idBackend is a real TCP server that greets every connection with its id
// and a newline, then echoes each line it reads, upper-cased, until the
// client closes or sends "quit". Its ended channel receives once per connection that ended.
type idBackend struct {
	id    int
	ln    net.Listener
	ended chan struct{}
	wg    sync.WaitGroup
}

func startIDBackend(t *testing.T, id int) *idBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &idBackend{id: id, ln: ln, ended: make(chan struct{}, 64)}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer func() { b.ended <- struct{}{} }()
				defer c.Close()
				if _, err := io.WriteString(c, strconv.Itoa(id)+"\n"); err != nil {
					return
				}
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil || line == "quit\n" {
						return
					}
					if _, err := io.WriteString(c, strings.ToUpper(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); b.wg.Wait() })
	return b
}

func (b *idBackend) addr() string { return b.ln.Addr().String() }

// spreaderIO bounds every read and write in these tests, so a broken
// spreader fails them instead of hanging.
const spreaderIO = 10 * time.Second

// dialID connects through the spreader and returns the connection and the
// id of the backend that greeted it.
func dialID(t *testing.T, s *Spreader) (net.Conn, *bufio.Reader, int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.HostPort(), spreaderIO)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(spreaderIO))
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		c.Close()
		t.Fatalf("greeting through the spreader: %v", err)
	}
	id, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		c.Close()
		t.Fatalf("greeting %q: %v", line, err)
	}
	return c, r, id
}

func TestSpreaderRoundRobin(t *testing.T) {
	backends := []*idBackend{startIDBackend(t, 0), startIDBackend(t, 1), startIDBackend(t, 2)}
	var addrs []string
	for _, b := range backends {
		addrs = append(addrs, b.addr())
	}
	s, err := NewSpreader("127.0.0.1:0", addrs)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// Seven connections held open at once land on 0,1,2,0,1,2,0.
	var got []int
	var conns []net.Conn
	for i := range 7 {
		c, r, id := dialID(t, s)
		conns = append(conns, c)
		got = append(got, id)
		// Both directions carry data, and the bytes come back intact.
		msg := "hello " + strconv.Itoa(i) + " through the spreader\n"
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		echo, err := r.ReadString('\n')
		if err != nil || echo != strings.ToUpper(msg) {
			t.Fatalf("echo through backend %d: %q %v, want %q", id, echo, err, strings.ToUpper(msg))
		}
	}
	if want := []int{0, 1, 2, 0, 1, 2, 0}; !slices.Equal(got, want) {
		t.Fatalf("backends in connection order: %v, want %v", got, want)
	}
	if c := s.Counts(); !slices.Equal(c, []int{3, 2, 2}) {
		t.Fatalf("Counts: %v, want [3 2 2]", c)
	}
	if n := s.Active(); n != 7 {
		t.Fatalf("Active with 7 open connections: %d", n)
	}

	// A client closing ends the backend's side too, and the spreader lets
	// go of the connection.
	conns[0].Close()
	select {
	case <-backends[0].ended:
	case <-time.After(spreaderIO):
		t.Fatal("backend 0 never saw its client's close through the spreader")
	}
	waitActive(t, s, 6)

	// A backend closing ends the client's side.
	if _, err := io.WriteString(conns[1], "quit\n"); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(conns[1]); err != nil || len(b) != 0 {
		t.Fatalf("client after its backend closed: %q %v, want EOF", b, err)
	}
	waitActive(t, s, 5)

	// Close ends every carried connection: each client reads EOF (or a
	// reset), not a hang.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i, c := range conns[2:] {
		c.SetReadDeadline(time.Now().Add(spreaderIO))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			t.Fatalf("connection %d after Close: %v, want EOF or reset", i+2, err)
		}
		c.Close()
	}
	if n := s.Active(); n != 0 {
		t.Fatalf("Active after Close: %d", n)
	}
	if _, err := net.DialTimeout("tcp", s.HostPort(), spreaderIO); err == nil {
		t.Fatal("the spreader still accepts after Close")
	}
}

func TestSpreaderBackendDown(t *testing.T) {
	up := startIDBackend(t, 7)
	// A port nothing listens on: take one and close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	s, err := NewSpreader("127.0.0.1:0", []string{down, up.addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The connection sent to the dead backend is closed at once, and the
	// next one still reaches the live backend: round robin does not stall.
	c, err := net.DialTimeout("tcp", s.HostPort(), spreaderIO)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(spreaderIO))
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("connection to a dead backend read %d bytes", n)
	}
	c.Close()
	if errs := s.DialErrors(); len(errs) != 1 || !strings.Contains(errs[0].Error(), down) {
		t.Fatalf("DialErrors: %v, want one naming %s", errs, down)
	}
	c2, _, id := dialID(t, s)
	defer c2.Close()
	if id != 7 {
		t.Fatalf("second connection reached backend %d, want 7", id)
	}
}

func TestNewSpreaderRefuses(t *testing.T) {
	for _, c := range []struct {
		addr     string
		backends []string
	}{
		{"127.0.0.1:0", nil},                     // no backends
		{"0.0.0.0:0", []string{"127.0.0.1:1"}},   // not loopback
		{"localhost:0", []string{"127.0.0.1:1"}}, // a name, not an address
		{"127.0.0.1", []string{"127.0.0.1:1"}},   // no port
	} {
		if s, err := NewSpreader(c.addr, c.backends); err == nil {
			s.Close()
			t.Errorf("NewSpreader(%q, %v) started", c.addr, c.backends)
		}
	}
}

// waitActive polls Active until it is n: the spreader lets go of a
// connection on its own goroutines, after the bytes that show the close.
func waitActive(t *testing.T, s *Spreader, n int) {
	t.Helper()
	deadline := time.Now().Add(spreaderIO)
	for s.Active() != n {
		if time.Now().After(deadline) {
			t.Fatalf("Active: %d, want %d", s.Active(), n)
		}
		time.Sleep(10 * time.Millisecond) // poll interval; the loop checks the count
	}
}

// TestSpreaderBound: at its connection bound the spreader leaves the next
// client in the listen backlog, and carries it once a connection ends.
func TestSpreaderBound(t *testing.T) {
	b := startIDBackend(t, 4)
	s, err := newSpreader("127.0.0.1:0", []string{b.addr()}, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c1, _, _ := dialID(t, s)
	c2, _, _ := dialID(t, s)
	defer c2.Close()
	// The kernel completes the third handshake; the spreader must not
	// take it on while two are carried.
	c3, err := net.DialTimeout("tcp", s.HostPort(), spreaderIO)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if n := s.Counts()[0]; n != 2 {
		t.Fatalf("connections forwarded with the bound at 2 and a third waiting: %d", n)
	}
	c1.Close()
	c3.SetDeadline(time.Now().Add(spreaderIO))
	line, err := bufio.NewReader(c3).ReadString('\n')
	if err != nil || line != "4\n" {
		t.Fatalf("third connection after the first closed: %q %v, want the backend's greeting", line, err)
	}
}
