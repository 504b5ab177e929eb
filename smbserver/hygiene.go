package smbserver

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Connection hygiene: bounds on what a peer that has not authenticated
// can hold. Until a SESSION_SETUP succeeds on it (a new session, a
// reauthentication or a multichannel binding), a connection
//
//   - must complete NEGOTIATE and that SESSION_SETUP within
//     Config.LogonTimeout of being accepted, or is closed;
//   - counts against Config.MaxUnauthenticated (server-wide) and
//     Config.MaxUnauthenticatedPerClient (per client IP); a connection
//     over either is closed as soon as it is accepted;
//   - may send frames of at most preAuthFrameMax bytes after NEGOTIATE
//     (preNegotiateFrameMax before it).
//
// On every connection, authenticated or not, a frame whose first byte
// has arrived must arrive whole within frameDeadline, so a peer cannot
// hold a reader (and a frame-sized buffer) by announcing a large frame
// and trickling it. Between frames there is no deadline: an
// authenticated client may stay idle as long as it likes, with its open
// files and durable handles (TCP keep-alive finds dead peers).

// Defaults for the hygiene limits in Config.
const (
	// DefaultLogonTimeout: Windows and Samba clients complete NEGOTIATE
	// and SESSION_SETUP within milliseconds on a LAN, and a client that
	// fetches a Kerberos ticket from a distant KDC first within seconds;
	// 30 s cuts only peers that are not logging on.
	DefaultLogonTimeout = 30 * time.Second
	// DefaultFrameTimeout is the base time one frame may take to arrive
	// once it has started; see frameDeadline.
	DefaultFrameTimeout = 30 * time.Second
	// DefaultMaxUnauthenticated bounds connections that have not
	// authenticated, server-wide. Each holds a goroutine, a 64 KiB read
	// buffer and at most a preAuthFrameMax frame, so 512 of them cost at
	// most about 100 MiB, and a logon storm of 512 clients at the same
	// instant is far beyond what a node sees.
	DefaultMaxUnauthenticated = 512
	// DefaultMaxUnauthenticatedPerClient bounds them per client IP
	// address: one host opens a handful of connections at once (a
	// multichannel client one per interface), while a NAT gateway in
	// front of many clients may need more; 64 leaves room for that and
	// keeps one address from taking the whole server-wide budget.
	DefaultMaxUnauthenticatedPerClient = 64
)

// preAuthFrameMax bounds frames between NEGOTIATE and the first
// successful SESSION_SETUP. The largest legitimate one is a SESSION_SETUP
// carrying a Kerberos AP-REQ: Windows caps security tokens at
// MaxTokenSize, at most 65535 bytes, so 128 KiB holds any of them with
// the SMB2 header and SPNEGO wrapping, while an unauthenticated peer can
// no longer make the server allocate MaxWriteSize-sized buffers.
const preAuthFrameMax = 128 << 10

// frameRateFloor is the slowest transfer a large frame is allowed: a frame
// of n bytes gets FrameTimeout plus one second per frameRateFloor bytes,
// so an 8 MiB WRITE from a client on a 1 Mbit/s link still arrives.
const frameRateFloor = 64 << 10

// Reasons passed to ConnObserver.ConnLimited.
const (
	LimitUnauthenticated          = "unauthenticated_total"
	LimitUnauthenticatedPerClient = "unauthenticated_per_client"
	LimitLogonTimeout             = "logon_timeout"
	LimitFrameTimeout             = "frame_timeout"
)

// ConnObserver is told of every connection a hygiene limit refuses or
// closes, for metrics. It must be cheap and safe for concurrent use.
type ConnObserver interface {
	ConnLimited(reason string)
}

// frameDeadline is how long a frame of n bytes may take to arrive once its
// first byte has.
func (c *conn) frameDeadline(n int) time.Duration {
	return c.srv.cfg.FrameTimeout + time.Duration(n/frameRateFloor)*time.Second
}

// admission counts the connections that have not authenticated.
type admission struct {
	mu        sync.Mutex
	total     int
	perClient map[netip.Addr]int
}

// clientAddr is the IP address a connection counts under; connections
// that are not TCP (tests' pipes) share the zero address.
func clientAddr(nc net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// admit takes an unauthenticated slot for c, or reports which limit
// refuses it.
func (s *Server) admit(c *conn) (ok bool, reason string) {
	a := &s.admission
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.total >= s.cfg.MaxUnauthenticated:
		return false, LimitUnauthenticated
	case a.perClient[c.client] >= s.cfg.MaxUnauthenticatedPerClient:
		return false, LimitUnauthenticatedPerClient
	}
	if a.perClient == nil {
		a.perClient = make(map[netip.Addr]int)
	}
	a.total++
	a.perClient[c.client]++
	c.unauth.Store(true)
	return true, ""
}

// releaseUnauth gives c's unauthenticated slot back, once.
func (s *Server) releaseUnauth(c *conn) {
	if !c.unauth.CompareAndSwap(true, false) {
		return
	}
	a := &s.admission
	a.mu.Lock()
	defer a.mu.Unlock()
	a.total--
	if a.perClient[c.client]--; a.perClient[c.client] <= 0 {
		delete(a.perClient, c.client)
	}
}

// UnauthenticatedConns is the number of connections that have not yet
// authenticated (for metrics).
func (s *Server) UnauthenticatedConns() int {
	s.admission.mu.Lock()
	defer s.admission.mu.Unlock()
	return s.admission.total
}

// limited records that a hygiene limit refused or closed c.
func (s *Server) limited(c *conn, reason string) {
	if o := s.cfg.ConnObserver; o != nil {
		o.ConnLimited(reason)
	}
	s.limitLog.Warn().Str("remote", c.nc.RemoteAddr().String()).Str("limit", reason).Msg("connection closed by a limit")
}

// newLimitLog is the sampled logger for hygiene refusals: a flood of
// refused connections is the case these limits exist for, and must not
// become a flood of log lines (at most 10 a minute, with the metric
// counting all of them).
func newLimitLog(log zerolog.Logger) zerolog.Logger {
	return log.Sample(&zerolog.BurstSampler{Burst: 10, Period: time.Minute})
}

// startLogonTimer closes c if it has not authenticated within
// LogonTimeout.
func (c *conn) startLogonTimer() {
	c.logonTimer = time.AfterFunc(c.srv.cfg.LogonTimeout, func() {
		if c.authenticated.Load() || c.ctx.Err() != nil {
			return
		}
		c.srv.limited(c, LimitLogonTimeout)
		// The slot goes now, not when the reader has unwound: a new
		// client must not be refused for a connection already dead.
		c.srv.releaseUnauth(c)
		c.cancel()
	})
}

// markAuthenticated is called after a SESSION_SETUP succeeds on c: the
// logon limits no longer apply to it.
func (c *conn) markAuthenticated() {
	if c.authenticated.Swap(true) {
		return
	}
	if c.logonTimer != nil {
		c.logonTimer.Stop()
	}
	c.srv.releaseUnauth(c)
}

// isFrameTimeout reports whether a read failed on the frame deadline.
func isFrameTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}
