package csv

import "sync"

// syncBatcher is group commit for one descriptor: callers that each need
// their completed writes on stable storage share fdatasync calls.
//
// The guarantee is the one a lone fdatasync after each write gives: do
// returns only after a sync that STARTED after do was called has
// completed. A sync already running when a caller arrives may have
// started before that caller's write reached the page cache, so it
// cannot cover the caller; the caller waits for the next one. Every
// caller that arrives while a sync runs is covered by the single sync
// started when it ends, so with N writes in flight the file is synced
// about twice per batch instead of N times.
//
// A sync's error is reported to every caller whose covering window it
// falls in (any sync started after the caller arrived that failed), never
// hidden by a later success: after a failed fdatasync Linux may have
// dropped the dirty pages, so a later sync proves nothing about them.
type syncBatcher struct {
	mu      sync.Mutex
	cond    sync.Cond // signalled with mu when a sync completes
	running bool
	started uint64 // syncs started so far; the running one is number started
	done    uint64 // the highest sync number completed
	errGen  uint64 // the highest sync number that failed
	err     error  // the error of sync errGen
}

// fdSyncer is what syncBatcher calls: one fsync or fdatasync. *Handle
// implements it; tests inject one that records the order of events. An
// interface rather than a func value, so that passing a *Handle does not
// allocate a closure on every WRITE.
type fdSyncer interface{ syncFD() error }

// do calls s.syncFD, or waits for a call that covers this one (see
// syncBatcher).
func (b *syncBatcher) do(s fdSyncer) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cond.L == nil {
		b.cond.L = &b.mu
	}
	need := b.started + 1 // the first sync to start after this call
	for b.done < need {
		if b.running {
			b.cond.Wait()
			continue
		}
		b.running = true
		b.started++
		n := b.started
		b.mu.Unlock()
		err := s.syncFD()
		b.mu.Lock()
		b.running = false
		b.done = n
		if err != nil {
			b.errGen, b.err = n, err
		}
		b.cond.Broadcast()
	}
	if b.errGen >= need {
		return b.err
	}
	return nil
}
