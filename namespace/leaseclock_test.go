package namespace

import (
	"errors"
	"testing"
	"time"
)

// TestLeaseClock drives the lease clock through explicit instants: a
// renewal proves service up to TTL minus the margin from when it was
// sent, a hiccup shorter than that never refuses, a process stopped past
// it is refused whatever it receives late, and a lost lease never serves
// again.
func TestLeaseClock(t *testing.T) {
	const ttl, margin = 5 * time.Second, 1500 * time.Millisecond
	t0 := time.Now()
	c := newLeaseClock(t0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	if err := c.mayServe(at(0)); !errors.Is(err, ErrLeaseUnsure) {
		t.Fatalf("before any grant: %v, want ErrLeaseUnsure", err)
	}
	c.renewed(at(0), ttl, margin)
	if err := c.mayServe(at(3499 * time.Millisecond)); err != nil {
		t.Fatalf("inside TTL-margin: %v", err)
	}
	if err := c.mayServe(at(3500 * time.Millisecond)); !errors.Is(err, ErrLeaseUnsure) {
		t.Fatalf("at TTL-margin: %v, want refused", err)
	}

	// A hiccup: renewals at 1 s and 2 s are lost, the one sent at 3 s
	// comes back; service never stops.
	c.renewed(at(3*time.Second), ttl, margin)
	for d := time.Duration(0); d < 6500*time.Millisecond; d += 100 * time.Millisecond {
		if err := c.mayServe(at(d)); err != nil {
			t.Fatalf("hiccup: refused at %s", d)
		}
	}
	if got := c.remaining(at(6 * time.Second)); got != 500*time.Millisecond {
		t.Fatalf("remaining at 6s = %s, want 500ms", got)
	}

	// An older renewal answered late does not shorten a newer one.
	c.renewed(at(2*time.Second), ttl, margin)
	if err := c.mayServe(at(6400 * time.Millisecond)); err != nil {
		t.Fatalf("older renewal shortened the clock: %v", err)
	}

	// Stopped from 4 s to 14 s: the renewal sent at 4 s is answered on
	// waking, but proves nothing past 7.5 s.
	c.renewed(at(4*time.Second), ttl, margin)
	if err := c.mayServe(at(14 * time.Second)); !errors.Is(err, ErrLeaseUnsure) {
		t.Fatalf("after a 10 s stop: %v, want refused", err)
	}
	if got := c.remaining(at(14 * time.Second)); got != 0 {
		t.Fatalf("remaining after the stop = %s, want 0", got)
	}

	// Lost: nothing brings it back.
	c.lose()
	c.renewed(at(15*time.Second), ttl, margin)
	if err := c.mayServe(at(15 * time.Second)); !errors.Is(err, ErrLeaseUnsure) {
		t.Fatalf("after lose: %v, want refused", err)
	}
}

// TestLeaseClockNoAlloc keeps MayServe off the allocator: it runs on every
// READ and WRITE.
func TestLeaseClockNoAlloc(t *testing.T) {
	c := newLeaseClock(time.Now())
	c.renewed(time.Now(), time.Hour, time.Second)
	if n := testing.AllocsPerRun(100, func() { _ = c.mayServe(time.Now()) }); n != 0 {
		t.Fatalf("mayServe allocates %v times", n)
	}
}

// BenchmarkMayServe is the cost the lease clock adds to each check (three
// or more per READ and WRITE).
func BenchmarkMayServe(b *testing.B) {
	c := newLeaseClock(time.Now())
	c.renewed(time.Now(), time.Hour, time.Second)
	for b.Loop() {
		if c.mayServe(time.Now()) != nil {
			b.Fatal("refused")
		}
	}
}
