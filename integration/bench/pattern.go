package bench

import (
	"bytes"
	"fmt"
	"math/rand/v2"
)

// BlockSize is the unit of sequential I/O and of the data pattern: every
// sequential request moves one block (1 MiB, the largest request the client
// library sends, see [github.com/cloudsoda/go-smb2] winMaxPayloadSize).
const BlockSize = 1 << 20

// shiftSpan is how far into the random pool a block may start.
const shiftSpan = 64 << 10

// pattern defines the expected content of every benchmark file without
// storing it: block b of file f is pool[shift(f,b):][:BlockSize]. Distinct
// files and blocks start at different places in the pool, so a block
// written or returned at the wrong offset, or for the wrong file, fails
// verification; expected data is a slice of the pool, never a copy.
type pattern struct {
	pool []byte
}

func newPattern(seed uint64) *pattern {
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)}))
	p := &pattern{pool: make([]byte, BlockSize+shiftSpan)}
	for i := 0; i+8 <= len(p.pool); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			p.pool[i+j] = byte(v >> (8 * j))
		}
	}
	return p
}

// shift is a mixing hash (splitmix64 finaliser) of file and block.
func shift(file, block int64) int {
	h := uint64(file)*0x9E3779B97F4A7C15 + uint64(block)*0xBF58476D1CE4E5B9
	h ^= h >> 30
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 27
	h *= 0x94D049BB133111EB
	h ^= h >> 31
	return int(h % shiftSpan)
}

// at returns the expected n bytes of file at off. The range must not cross
// a block boundary.
func (p *pattern) at(file, off int64, n int) []byte {
	b, o := off/BlockSize, int(off%BlockSize)
	if o+n > BlockSize {
		panic(fmt.Sprintf("bench: pattern range %d+%d crosses a block", off, n))
	}
	s := shift(file, b) + o
	return p.pool[s : s+n]
}

// verify checks got against the expected content of file at off, which may
// span blocks.
func (p *pattern) verify(file, off int64, got []byte) error {
	for done := 0; done < len(got); {
		cur := off + int64(done)
		n := min(len(got)-done, BlockSize-int(cur%BlockSize))
		if !bytes.Equal(got[done:done+n], p.at(file, cur, n)) {
			want := p.at(file, cur, n)
			i := 0
			for i < n && got[done+i] == want[i] {
				i++
			}
			return fmt.Errorf("data mismatch in file %d at offset %d", file, cur+int64(i))
		}
		done += n
	}
	return nil
}
