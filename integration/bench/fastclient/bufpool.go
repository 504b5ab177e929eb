package fastclient

import (
	"math/bits"
	"sync"
)

// Buffer size classes: powers of two from 4 KiB to 16 MiB, enough for an
// 8 MiB request plus its header and a transform header.
const (
	minClassBits = 12
	maxClassBits = 24
)

// bufPool hands out byte slices by power-of-two size class, so that a
// steady stream of equal-sized requests reuses the same buffers.
type bufPool struct {
	classes [maxClassBits - minClassBits + 1]sync.Pool
}

func classOf(n int) int {
	if n <= 1<<minClassBits {
		return 0
	}
	return bits.Len(uint(n-1)) - minClassBits
}

// get returns a buffer of length 0 and capacity at least n.
func (p *bufPool) get(n int) *[]byte {
	c := classOf(n)
	if c >= len(p.classes) {
		b := make([]byte, 0, n)
		return &b
	}
	if v, ok := p.classes[c].Get().(*[]byte); ok {
		*v = (*v)[:0]
		return v
	}
	b := make([]byte, 0, 1<<(c+minClassBits))
	return &b
}

// put returns a buffer from get.
func (p *bufPool) put(b *[]byte) {
	if b == nil {
		return
	}
	c := classOf(cap(*b))
	if c >= len(p.classes) || cap(*b) != 1<<(c+minClassBits) {
		return
	}
	p.classes[c].Put(b)
}
