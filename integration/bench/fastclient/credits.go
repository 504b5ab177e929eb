package fastclient

import "sync"

// creditWindow tracks the credits the client holds ([MS-SMB2] 3.2.4.1.5):
// a request of charge n needs n credits and n consecutive MessageIds,
// and every response returns what the server grants. Requests ask for
// enough credits to bring the balance back to target, so that the window
// grows to target and stays there.
type creditWindow struct {
	mu       sync.Mutex
	cond     sync.Cond
	avail    uint32 // credits not spent on a request in flight
	inflight uint32 // charges of requests sent and not yet answered
	next     uint64 // the next MessageId
	target   uint32
	err      error // set when the connection is gone
}

func (w *creditWindow) init(target uint16) {
	w.cond.L = &w.mu
	w.avail = 1 // [MS-SMB2] 3.2.4.1.5: the first request may use MessageId 0
	w.target = uint32(max(target, 1))
}

// take waits for charge credits and returns the request's first
// MessageId and the CreditRequest to send.
func (w *creditWindow) take(charge uint16) (mid uint64, request uint16, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.avail < uint32(charge) && w.err == nil {
		w.cond.Wait()
	}
	if w.err != nil {
		return 0, 0, w.err
	}
	w.avail -= uint32(charge)
	w.inflight += uint32(charge)
	mid = w.next
	w.next += uint64(charge)
	want := uint32(charge)
	if held := w.avail + w.inflight; held < w.target {
		want += w.target - held
	}
	return mid, uint16(min(want, 0xFFFF)), nil
}

// grant adds the credits a response granted; charge is the answered
// request's charge (0 for an interim response, which does not end it).
func (w *creditWindow) grant(granted, charge uint16) {
	w.mu.Lock()
	w.avail += uint32(granted)
	w.inflight -= min(w.inflight, uint32(charge))
	w.mu.Unlock()
	w.cond.Broadcast()
}

// fail wakes every waiter with err.
func (w *creditWindow) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.cond.Broadcast()
}

// balance returns the credits held (available and in flight).
func (w *creditWindow) balance() uint32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.avail + w.inflight
}
