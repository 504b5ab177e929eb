package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// Spreader limits. MaxSpreaderConns bounds the client connections a
// Spreader carries at once (two goroutines each): smbtorture's busiest
// suites hold a few dozen connections at a time, so 256 is far above any
// real use while keeping a runaway test from exhausting descriptors; the
// next connection waits in the listen backlog until one ends.
// spreaderDialTimeout bounds the dial to a backend: a loopback node
// answers at once, and a node that is down refuses at once.
const (
	MaxSpreaderConns    = 256
	spreaderDialTimeout = 5 * time.Second
)

// Spreader is a loopback TCP proxy that sends each new client connection
// to the next of its backends, round robin, as a cluster name that
// resolves to every node's address spreads a client's connections in
// issue 15's tests. Bytes are copied both ways until either side closes
// or errs; the other side is then closed too (SMB2 never half-closes).
type Spreader struct {
	ln       net.Listener
	backends []string
	slots    chan struct{}      // one per connection carried; bounds them
	done     chan struct{}      // closed by Close
	ctx      context.Context    // ends with Close, ending dials in progress
	cancel   context.CancelFunc // ends ctx
	wg       sync.WaitGroup

	mu       sync.Mutex
	next     int
	active   int                   // connections accepted and not yet let go
	conns    map[net.Conn]struct{} // both ends of every carried connection
	counts   []int                 // connections sent to each backend
	dialErrs []error               // the most recent few dial failures
}

// maxDialErrs bounds how many dial failures a Spreader remembers for
// DialErrors.
const maxDialErrs = 16

// NewSpreader listens on addr (a loopback host:port; port 0 picks one)
// and starts spreading its connections over backends (host:port each),
// carrying at most MaxSpreaderConns at once. Close stops it.
func NewSpreader(addr string, backends []string) (*Spreader, error) {
	return newSpreader(addr, backends, MaxSpreaderConns)
}

func newSpreader(addr string, backends []string, maxConns int) (*Spreader, error) {
	if len(backends) == 0 {
		return nil, errors.New("harness: spreader needs at least one backend")
	}
	// Tests keep their traffic on loopback: refuse to listen anywhere else.
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("harness: spreader address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("harness: spreader address %q is not a loopback IP address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("harness: spreader listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Spreader{
		ctx:      ctx,
		cancel:   cancel,
		ln:       ln,
		backends: append([]string(nil), backends...),
		slots:    make(chan struct{}, maxConns),
		done:     make(chan struct{}),
		conns:    map[net.Conn]struct{}{},
		counts:   make([]int, len(backends)),
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Addr returns the address clients connect to.
func (s *Spreader) Addr() *net.TCPAddr { return s.ln.Addr().(*net.TCPAddr) }

// HostPort returns Addr as "host:port".
func (s *Spreader) HostPort() string {
	a := s.Addr()
	return net.JoinHostPort(a.IP.String(), strconv.Itoa(a.Port))
}

// Counts returns how many connections went to each backend so far, in
// the order the backends were given.
func (s *Spreader) Counts() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.counts...)
}

// Active returns the number of client connections being carried now.
func (s *Spreader) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// DialErrors returns the most recent failures to reach a backend (the
// client connection was closed each time).
func (s *Spreader) DialErrors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.dialErrs...)
}

// Close stops accepting, closes every carried connection and returns once
// all of the Spreader's goroutines have ended.
func (s *Spreader) Close() error {
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		return nil
	default:
	}
	close(s.done)
	s.cancel()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *Spreader) acceptLoop() {
	defer s.wg.Done()
	for {
		// Take a slot before accepting: at the bound, new clients wait in
		// the kernel's backlog instead of being refused.
		select {
		case s.slots <- struct{}{}:
		case <-s.done:
			return
		}
		c, err := s.ln.Accept()
		if err != nil {
			<-s.slots
			select {
			case <-s.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// The listener is broken; nothing more can be accepted.
			return
		}
		s.mu.Lock()
		i := s.next
		s.next = (s.next + 1) % len(s.backends)
		s.counts[i]++
		s.active++
		s.mu.Unlock()
		s.wg.Add(1)
		go s.carry(c, s.backends[i])
	}
}

// track registers c so that Close reaches it; it reports false (and
// closes c) when the Spreader is already closing.
func (s *Spreader) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		c.Close()
		return false
	default:
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Spreader) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

// carry connects client to backend and copies both ways until one side
// ends.
func (s *Spreader) carry(client net.Conn, backend string) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		s.active--
		s.mu.Unlock()
		<-s.slots
	}()
	if !s.track(client) {
		return
	}
	defer s.untrack(client)
	ctx, cancel := context.WithTimeout(s.ctx, spreaderDialTimeout)
	var d net.Dialer
	server, err := d.DialContext(ctx, "tcp", backend)
	cancel()
	if err != nil {
		s.mu.Lock()
		if len(s.dialErrs) == maxDialErrs {
			s.dialErrs = s.dialErrs[1:]
		}
		s.dialErrs = append(s.dialErrs, fmt.Errorf("harness: spreader dial %s: %w", backend, err))
		s.mu.Unlock()
		return
	}
	if !s.track(server) {
		return
	}
	defer s.untrack(server)
	ended := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src) // an error is just the end of this connection
		ended <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-ended
	// Either side ended: close both so the other copy ends too.
	client.Close()
	server.Close()
	<-ended
}
