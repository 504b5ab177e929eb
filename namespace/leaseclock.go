package namespace

import (
	"errors"
	"sync/atomic"
	"time"
)

// ErrLeaseUnsure is what MayServe answers once this node can no longer
// prove that it holds its etcd lease: the last renewal it saw may run out
// within the fence margin, or etcd said the lease is gone.
var ErrLeaseUnsure = errors.New("namespace: etcd lease not proven valid: this node is fenced")

// leaseClock is the instant until which this node may serve I/O on its
// opens, readable without a lock or a goroutine hand-off, so the I/O path
// can check it at the moment it acts. A process that was stopped (SIGSTOP,
// a VM pause, a long GC or swap storm) finds on waking that the instant
// has passed, whatever the renewal goroutine has or has not done yet.
//
// The instant is kept as a monotonic offset from base: wall-clock steps
// (NTP, an operator's date) must not lengthen it.
type leaseClock struct {
	base time.Time
	// until is the offset from base, in nanoseconds, of the end of
	// service; 0 (the zero value) means never.
	until atomic.Int64
	// lost is set once etcd said the lease is gone: no renewal of that
	// lease can come back, so the clock never moves again.
	lost atomic.Bool
}

func newLeaseClock(base time.Time) *leaseClock { return &leaseClock{base: base} }

// renewed records a renewal (or grant) that was sent at sent and granted
// ttl: etcd counts ttl from when it received the request, which is no
// earlier than sent, so the lease is valid at least until sent+ttl; the
// node serves until margin before that. An older renewal answered late
// never shortens what a newer one proved.
func (c *leaseClock) renewed(sent time.Time, ttl, margin time.Duration) {
	if c.lost.Load() {
		return
	}
	until := int64(sent.Add(ttl - margin).Sub(c.base))
	if until <= 0 {
		return
	}
	for {
		cur := c.until.Load()
		if until <= cur || c.until.CompareAndSwap(cur, until) {
			return
		}
	}
}

// lose ends service for good.
func (c *leaseClock) lose() {
	c.lost.Store(true)
	c.until.Store(0)
}

// mayServe reports whether the node may act on its opens at now.
func (c *leaseClock) mayServe(now time.Time) error {
	if int64(now.Sub(c.base)) < c.until.Load() {
		return nil
	}
	return ErrLeaseUnsure
}

// remaining is how long the node may still serve from now (0 if fenced).
func (c *leaseClock) remaining(now time.Time) time.Duration {
	return max(0, time.Duration(c.until.Load()-int64(now.Sub(c.base))))
}

// reset ends service until the next renewal (a lease replaced by a new
// one, for a holder without per-node state).
func (c *leaseClock) reset() { c.until.Store(0) }
