package csv

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// syncLog records, in one total order, when each caller's write completed
// (it calls the batcher right after), when each sync started and ended,
// and when each caller got its answer.
type syncLog struct {
	mu     sync.Mutex
	seq    int
	arrive map[int]int // caller -> seq
	answer map[int]int
	starts []int // sync k (0-based) started at starts[k]
	ends   []int
	gates  []chan struct{} // sync k blocks until gates[k] is closed (gated mode)
	gated  bool
	fail   map[int]bool // syncs that return an error
}

func newSyncLog(gated bool) *syncLog {
	return &syncLog{arrive: map[int]int{}, answer: map[int]int{}, gated: gated, fail: map[int]bool{}}
}

func (l *syncLog) next() int { l.seq++; return l.seq }

// syncFD is the injected fdatasync.
func (l *syncLog) syncFD() error {
	l.mu.Lock()
	k := len(l.starts)
	l.starts = append(l.starts, l.next())
	l.ends = append(l.ends, 0)
	var gate chan struct{}
	if l.gated {
		gate = make(chan struct{})
		l.gates = append(l.gates, gate)
	}
	fail := l.fail[k]
	l.mu.Unlock()
	if gate != nil {
		<-gate
	}
	l.mu.Lock()
	l.ends[k] = l.next()
	l.mu.Unlock()
	if fail {
		return fmt.Errorf("sync %d failed", k)
	}
	return nil
}

func (l *syncLog) release(k int) {
	l.mu.Lock()
	g := l.gates[k]
	l.mu.Unlock()
	close(g)
}

func (l *syncLog) syncs() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.starts)
}

func (l *syncLog) answered(c int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.answer[c]
	return ok
}

// call is one WRITE's durability step: its pwrite has returned, now it
// asks do for a covering sync.
func (l *syncLog) call(do func(fdSyncer) error, c int) error {
	l.mu.Lock()
	l.arrive[c] = l.next()
	l.mu.Unlock()
	err := do(l)
	l.mu.Lock()
	l.answer[c] = l.next()
	l.mu.Unlock()
	return err
}

// covered checks rule 1 of the brief for every answered caller: some
// sync started after the caller's write completed and ended before the
// caller was answered.
func (l *syncLog) covered() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c, ans := range l.answer {
		ok := false
		for k := range l.starts {
			if l.starts[k] > l.arrive[c] && l.ends[k] != 0 && l.ends[k] < ans {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("caller %d (write done at %d) answered at %d with no sync started after its write and finished before its answer (syncs %v..%v)",
				c, l.arrive[c], ans, l.starts, l.ends)
		}
	}
	return nil
}

// joinRunning is a broken batcher: a caller that finds a sync running
// waits for that sync instead of a later one. Its acknowledgments can
// precede the write's durability; the checks below must catch it.
type joinRunning struct {
	mu      sync.Mutex
	running chan struct{}
}

func (j *joinRunning) do(s fdSyncer) error {
	j.mu.Lock()
	if ch := j.running; ch != nil {
		j.mu.Unlock()
		<-ch
		return nil
	}
	ch := make(chan struct{})
	j.running = ch
	j.mu.Unlock()
	err := s.syncFD()
	j.mu.Lock()
	j.running = nil
	j.mu.Unlock()
	close(ch)
	return err
}

// gatedScenario: caller 1 starts a sync that is held; callers 2 and 3
// complete their writes while it runs; then the syncs are released one
// by one. It returns the log and whether callers 2 and 3 were answered
// while only the first sync had finished.
func gatedScenario(t *testing.T, do func(fdSyncer) error) (l *syncLog, early bool) {
	l = newSyncLog(true)
	var wg sync.WaitGroup
	wg.Go(func() { _ = l.call(do, 1) })
	synctest.Wait() // caller 1 is inside sync 0
	if l.syncs() != 1 {
		t.Fatalf("%d syncs started, want 1", l.syncs())
	}
	wg.Go(func() { _ = l.call(do, 2) })
	wg.Go(func() { _ = l.call(do, 3) })
	synctest.Wait() // callers 2 and 3 wait
	l.release(0)
	synctest.Wait()
	early = l.answered(2) || l.answered(3)
	if !l.answered(1) {
		t.Errorf("caller 1 not answered after its sync ended")
	}
	for k := 1; k < l.syncs(); k++ {
		l.release(k)
		synctest.Wait()
	}
	wg.Wait()
	return l, early
}

func TestSyncBatcherCoversEveryWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b syncBatcher
		l, early := gatedScenario(t, b.do)
		if early {
			t.Error("a write that completed during a running sync was answered when that sync ended")
		}
		if err := l.covered(); err != nil {
			t.Error(err)
		}
		// Callers 2 and 3 share the second sync: group commit happened.
		if n := l.syncs(); n != 2 {
			t.Errorf("%d syncs for 3 writes, want 2 (callers 2 and 3 batched)", n)
		}
	})
}

// TestSyncBatcherCheckCatchesEarlyAck runs the same scenario against a
// batcher that acknowledges from a sync that started before the write:
// the checks must fail it, or they prove nothing.
func TestSyncBatcherCheckCatchesEarlyAck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var j joinRunning
		l, early := gatedScenario(t, j.do)
		if !early {
			t.Error("broken batcher not caught answering early")
		}
		if err := l.covered(); err == nil {
			t.Error("coverage check passed a batcher that acknowledges before the covering sync")
		}
	})
}

// TestSyncBatcherError: a failed sync is reported to every caller it was
// meant to cover, even when a later sync succeeds before they look.
func TestSyncBatcherError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b syncBatcher
		l := newSyncLog(true)
		l.fail[1] = true
		errs := make([]error, 4)
		var wg sync.WaitGroup
		wg.Go(func() { errs[1] = l.call(b.do, 1) })
		synctest.Wait()
		wg.Go(func() { errs[2] = l.call(b.do, 2) })
		synctest.Wait()
		l.release(0) // caller 2 starts sync 1, which will fail
		synctest.Wait()
		wg.Go(func() { errs[3] = l.call(b.do, 3) }) // arrives during sync 1: needs sync 2
		synctest.Wait()
		l.release(1)
		synctest.Wait()
		l.release(2)
		wg.Wait()
		if errs[1] != nil || errs[3] != nil {
			t.Errorf("callers 1 and 3: %v, %v; want success", errs[1], errs[3])
		}
		if errs[2] == nil {
			t.Error("caller 2's covering sync failed but it was answered with success")
		}
		if err := l.covered(); err != nil {
			t.Error(err)
		}
	})
}

// TestSyncBatcherConcurrent hammers one batcher with ungated syncs from
// many goroutines and checks coverage of every call.
func TestSyncBatcherConcurrent(t *testing.T) {
	var b syncBatcher
	l := newSyncLog(false)
	var id atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Bool
	for range 16 {
		wg.Go(func() {
			for range 200 {
				if err := l.call(b.do, int(id.Add(1))); err != nil {
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() {
		t.Fatal("a sync failed")
	}
	if err := l.covered(); err != nil {
		t.Fatal(err)
	}
	if len(l.answer) != 3200 {
		t.Fatalf("%d answers, want 3200", len(l.answer))
	}
	t.Logf("%d syncs for %d writes", l.syncs(), len(l.answer))
}
