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

// readSlice is one slice of a READ.
type readSlice struct {
	h   *csv.Handle
	p   []byte
	off int64
	n   int
	err error
	wg  *sync.WaitGroup
}

func (sl *readSlice) run() {
	sl.n, sl.err = sl.h.ReadAt(sl.p, sl.off)
	sl.wg.Done()
}

// slicedRead is the pooled state of one sliced READ, so that slicing
// allocates nothing.
type slicedRead struct {
	wg     sync.WaitGroup
	slices [maxReadSlices]readSlice
}

var slicedReadPool = sync.Pool{New: func() any { return new(slicedRead) }}

// runReadSlicers starts the slice readers of one Serve; they end with ctx.
func (s *Server) runReadSlicers(ctx context.Context) {
	for range readSlicers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				select {
				case sl := <-s.readSlices:
					sl.run()
				case <-ctx.Done():
					return
				}
			}
		}()
	}
}

// readAt is h.ReadAt (same contract: fewer bytes only with an error,
// io.EOF at the end of the file), in parallel slices when p is large.
func (s *Server) readAt(h *csv.Handle, p []byte, off int64) (int, error) {
	if len(p) < readSliceMin {
		return h.ReadAt(p, off)
	}
	k := min((len(p)+readSliceSize-1)/readSliceSize, maxReadSlices)
	size := (len(p) + k - 1) / k
	b := slicedReadPool.Get().(*slicedRead)
	for i := range k {
		b.slices[i] = readSlice{h: h, p: p[i*size : min(len(p), (i+1)*size)], off: off + int64(i*size), wg: &b.wg}
	}
	b.wg.Add(k - 1)
	for i := 1; i < k; i++ {
		select {
		case s.readSlices <- &b.slices[i]: // an idle slice reader took it
		default:
			b.slices[i].run()
		}
	}
	first := &b.slices[0]
	first.n, first.err = h.ReadAt(first.p, first.off)
	b.wg.Wait()
	// Every slice before the first error was read in full.
	n := 0
	var err error
	for i := range k {
		n += b.slices[i].n
		if b.slices[i].err != nil {
			err = b.slices[i].err
			break
		}
	}
	clear(b.slices[:k])
	slicedReadPool.Put(b)
	return n, err
}
