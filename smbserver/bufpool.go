package smbserver

import "sync"

// bufPool hands out byte slices in a few size classes so the read/write
// path does not allocate per request. Classes are powers of four from
// 4 KiB; the largest covers MaxReadSize plus header room (16 MiB + slack).
type bufPool struct {
	classes [8]sync.Pool
	// boxes recycles the *[]byte holders the classes store, so that put
	// does not allocate one per call (a sync.Pool needs a pointer).
	boxes sync.Pool
}

const (
	minBufShift = 12                       // 4 KiB
	maxBufSize  = 1 << (minBufShift + 2*7) // 64 MiB bound for the top class
)

func classFor(n int) int {
	c, size := 0, 1<<minBufShift
	for size < n && c < 7 {
		size <<= 2
		c++
	}
	return c
}

// get returns a slice of length 0 and capacity at least n.
func (p *bufPool) get(n int) []byte {
	c := classFor(n)
	size := 1 << (minBufShift + 2*c)
	if n > size {
		return make([]byte, 0, n)
	}
	if v := p.classes[c].Get(); v != nil {
		box := v.(*[]byte)
		b := (*box)[:0]
		*box = nil
		p.boxes.Put(box)
		return b
	}
	return make([]byte, 0, size)
}

// put returns b to the pool if its capacity is exactly one of the classes.
func (p *bufPool) put(b []byte) {
	c := classFor(cap(b))
	if cap(b) != 1<<(minBufShift+2*c) {
		return
	}
	box, _ := p.boxes.Get().(*[]byte)
	if box == nil {
		box = new([]byte)
	}
	*box = b[:0]
	p.classes[c].Put(box)
}
