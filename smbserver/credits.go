package smbserver

import (
	"fmt"
	"sync"
)

// creditWindow is the server's CommandSequenceWindow ([MS-SMB2] 3.3.1.1):
// the set of MessageIds the client may use next. It starts as {0}; each
// granted credit extends it by one id at the top; each request consumes
// the ids [MessageId, MessageId+CreditCharge). Ids may be consumed out of
// order (requests run in parallel), so used ids inside the window are kept
// in a ring bitmap whose size bounds the window (maxCredits).
type creditWindow struct {
	mu   sync.Mutex
	lo   uint64 // lowest id not yet consumed
	hi   uint64 // one past the highest granted id
	max  uint64
	used []uint64 // bitmap over ids [lo, lo+max), ring-indexed by id % max
}

func newCreditWindow(maxCredits uint16) *creditWindow {
	m := uint64(maxCredits)
	return &creditWindow{lo: 0, hi: 1, max: m, used: make([]uint64, (m+63)/64)}
}

func (w *creditWindow) bit(id uint64) (int, uint64) {
	i := id % w.max
	return int(i / 64), 1 << (i % 64)
}

// consume checks that ids [id, id+charge) are all granted and unused and
// marks them used. A failure is a protocol violation: the caller closes the
// connection ([MS-SMB2] 3.3.5.2.3).
func (w *creditWindow) consume(id uint64, charge uint16) error {
	n := uint64(charge)
	if n == 0 {
		n = 1
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if id < w.lo || id+n > w.hi || id+n < id {
		return fmt.Errorf("message id %d (charge %d) outside window [%d,%d)", id, n, w.lo, w.hi)
	}
	for k := id; k < id+n; k++ {
		wd, b := w.bit(k)
		if w.used[wd]&b != 0 {
			return fmt.Errorf("message id %d reused", k)
		}
	}
	for k := id; k < id+n; k++ {
		wd, b := w.bit(k)
		w.used[wd] |= b
	}
	for w.lo < w.hi {
		wd, b := w.bit(w.lo)
		if w.used[wd]&b == 0 {
			break
		}
		w.used[wd] &^= b
		w.lo++
	}
	return nil
}

// grant extends the window by up to want credits, never letting the
// window exceed max ids; it returns the number granted. At least one credit
// is granted whenever the window would otherwise be empty, so a client can
// never be left without a way to send its next request.
func (w *creditWindow) grant(want uint16) uint16 {
	w.mu.Lock()
	defer w.mu.Unlock()
	room := w.max - (w.hi - w.lo)
	g := uint64(want)
	if g > room {
		g = room
	}
	if g == 0 && w.hi == w.lo && room > 0 {
		g = 1
	}
	w.hi += g
	return uint16(g)
}

// unconsumed reports whether id is granted and not yet used: a request
// with this MessageId may still arrive.
func (w *creditWindow) unconsumed(id uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if id < w.lo || id >= w.hi {
		return false
	}
	wd, b := w.bit(id)
	return w.used[wd]&b == 0
}

// outstanding is the number of ids granted and not yet consumed.
func (w *creditWindow) outstanding() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hi - w.lo
}
