package smbserver

import (
	"context"
	"sync"

	"sofs.io/sofs/csv"
)

// Large READs are read in slices on several goroutines at once. One 8 MiB
// pread copies from the page cache on one core while the response cannot
// start until it ends; in slices the copy runs on every idle core and the
// response is ready sooner (seq-read +20 % measured on 2 cores, see
// docs/performance.md). Only idle slice readers take slices; when all are
// busy the request's own worker reads the rest, so a loaded server never
// queues behind them.
const (
	readSliceSize = 2 << 20           // target slice length
	readSliceMin  = 2 * readSliceSize // shorter reads are one pread
	maxReadSlices = 8                 // slices per READ at most
	// readSlicers is the slice goroutines per Serve: enough for the other
	// slices of one default-size (8 MiB) READ.
	readSlicers = 3
)

// sliceTask is one piece of a job split by sliceWorkers.Split.
type sliceTask struct {
	work func(i int)
	i    int
	wg   *sync.WaitGroup
}

// sliceWorkers are the goroutines that take pieces of large READs, and of
// the GMAC signatures of large messages (smbcrypto.SplitSigner), off the
// request's own worker. tasks is unbuffered: a piece goes to a worker only
// if one is idle, so a loaded server runs the pieces inline and never
// queues behind them. It implements smbcrypto.Splitter.
type sliceWorkers struct {
	tasks chan sliceTask
}

var sliceGroupPool = sync.Pool{New: func() any { return new(sync.WaitGroup) }}

// Split runs work(0), ..., work(n-1): pieces 1..n-1 on idle slice workers
// (or here, when none is idle), piece 0 here; it returns when all are done.
func (w *sliceWorkers) Split(n int, work func(i int)) {
	if n <= 1 {
		if n == 1 {
			work(0)
		}
		return
	}
	wg := sliceGroupPool.Get().(*sync.WaitGroup)
	wg.Add(n - 1)
	for i := 1; i < n; i++ {
		select {
		case w.tasks <- sliceTask{work: work, i: i, wg: wg}:
		default:
			work(i)
			wg.Done()
		}
	}
	work(0)
	wg.Wait()
	sliceGroupPool.Put(wg)
}

// run starts the slice workers of one Serve; they end with ctx.
func (w *sliceWorkers) run(ctx context.Context, wg *sync.WaitGroup) {
	for range readSlicers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case t := <-w.tasks:
					t.work(t.i)
					t.wg.Done()
				case <-ctx.Done():
					return
				}
			}
		}()
	}
}

// slicedRead is the pooled state of one sliced READ; read is bound once, so
// handing it to Split allocates nothing.
type slicedRead struct {
	h    *csv.Handle
	p    []byte
	off  int64
	size int
	n    [maxReadSlices]int
	err  [maxReadSlices]error
	read func(i int)
}

func (b *slicedRead) readSlice(i int) {
	lo := i * b.size
	hi := min(len(b.p), lo+b.size)
	b.n[i], b.err[i] = b.h.ReadAt(b.p[lo:hi], b.off+int64(lo))
}

var slicedReadPool = sync.Pool{New: func() any {
	b := new(slicedRead)
	b.read = b.readSlice
	return b
}}

// readAt is h.ReadAt (same contract: fewer bytes only with an error,
// io.EOF at the end of the file), in parallel slices when p is large.
func (s *Server) readAt(h *csv.Handle, p []byte, off int64) (int, error) {
	if len(p) < readSliceMin {
		return h.ReadAt(p, off)
	}
	k := min((len(p)+readSliceSize-1)/readSliceSize, maxReadSlices)
	b := slicedReadPool.Get().(*slicedRead)
	b.h, b.p, b.off, b.size = h, p, off, (len(p)+k-1)/k
	s.slicers.Split(k, b.read)
	// Every slice before the first error was read in full.
	n := 0
	var err error
	for i := range k {
		n += b.n[i]
		if b.err[i] != nil {
			err = b.err[i]
			break
		}
	}
	b.h, b.p = nil, nil
	clear(b.err[:k])
	slicedReadPool.Put(b)
	return n, err
}
