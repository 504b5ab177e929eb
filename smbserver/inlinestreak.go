package smbserver

import (
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Why a reader that runs frames itself sometimes hands one to a worker.
//
// A reader running frames inline (conn.go) whose client answers before the
// frame's tail is done never parks: each read finds the next request
// already in the socket, and a fast read system call does not enter the
// scheduler. The Go runtime polls the network when a P looks for work (or
// when sysmon does, every 10 ms). While such a reader keeps its P and the
// other Ps are busy (a GC worker, another hot reader) or their threads are
// asleep with none blocked in the poller, a request arriving on any other
// connection stays unread: on two cores, smbtorture smb2.notify.basedir
// had its CHANGE_NOTIFY on the wire 0.5-1 ms before another connection's
// SET_INFO and still read after it, so the watch missed the event.
// Starting a goroutine to wake an idle P did not cure it (the idle P was
// not always there) and cost QD1 clients up to 15%.
//
// What cures it is what the worker path does anyway: after the reader has
// gone inlineStreakMax without parking, its next frame goes to a worker.
// The reader then parks on its read (the client waits for that answer),
// the worker answers and parks, and each park makes the P look for work,
// polling the network first. A client that parks the reader between
// requests (the common case: one frame in six or fewer found its
// successor waiting in QD1 benchmarks) never reaches the bound.

// inlineStreakMax is how long a reader may run frames without parking
// before one of them goes to a worker; another connection's frame waits
// about this plus one frame at worst.
const inlineStreakMax = 200 * time.Microsecond

// inlineStreak is a reader role's run without parking.
type inlineStreak struct {
	start time.Time // zero: the last read parked (or will)
}

// extend records that the next read will not park and reports whether
// the streak has reached inlineStreakMax; it then starts over.
func (s *inlineStreak) extend() bool {
	now := time.Now()
	if s.start.IsZero() {
		s.start = now
		return false
	}
	if now.Sub(s.start) < inlineStreakMax {
		return false
	}
	s.start = time.Time{}
	return true
}

// end records that the next read will park.
func (s *inlineStreak) end() { s.start = time.Time{} }

// socketProbe tells whether a connection's socket holds bytes not yet
// read, without reading them. It belongs to whichever goroutine holds the
// reader role.
type socketProbe struct {
	rc       syscall.RawConn
	queryFn  func(fd uintptr) // p.query, bound once so probing allocates nothing
	unread   int
	queryErr error
}

// newSocketProbe returns nil when nc exposes no file descriptor.
func newSocketProbe(nc net.Conn) *socketProbe {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	p := &socketProbe{rc: rc}
	p.queryFn = p.query
	return p
}

func (p *socketProbe) query(fd uintptr) {
	p.unread, p.queryErr = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
}

// readWillNotPark says whether the next read returns without waiting. A
// connection without a probe, or a probe that fails, says yes: the
// hand-off it can lead to is harmless.
func (p *socketProbe) readWillNotPark() bool {
	if p == nil {
		return true
	}
	if err := p.rc.Control(p.queryFn); err != nil || p.queryErr != nil {
		return true
	}
	return p.unread > 0
}
