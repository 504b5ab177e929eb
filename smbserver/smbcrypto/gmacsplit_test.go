package smbcrypto

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// goSplitter runs every piece on its own goroutine, so the test sees the
// pieces race as they would on the server's slice workers.
type goSplitter struct{}

func (goSplitter) Split(n int, work func(int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); work(i) }()
	}
	wg.Wait()
}

// inlineSplitter runs the pieces one after another, in reverse, which a
// combination that depended on completion order would get wrong.
type inlineSplitter struct{ calls int }

func (s *inlineSplitter) Split(n int, work func(int)) {
	s.calls++
	for i := n - 1; i >= 0; i-- {
		work(i)
	}
}

// splitSizes straddle chunk boundaries, the padding of the last block and
// the chunk doubling above maxGMACChunks chunks.
var splitSizes = []int{
	SplitSignMin, SplitSignMin + 1, SplitSignMin + 15, SplitSignMin + 16, SplitSignMin + 17,
	3*gmacChunk - 1, 3 * gmacChunk, 3*gmacChunk + 1,
	8<<20 + 64 + 16, // an 8 MiB READ response: header, body, data
	8<<20 + 3,
	maxGMACChunks * gmacChunk, maxGMACChunks*gmacChunk + 1, // 17 chunks: doubled
	23<<20 + 5,
}

func TestSignSplitMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	s, err := NewSigner(dialect311, SigningAESGMAC, signKey)
	if err != nil {
		t.Fatal(err)
	}
	ss, ok := s.(SplitSigner)
	if !ok {
		t.Fatal("the AES-GMAC signer does not implement SplitSigner")
	}
	for _, n := range splitSizes {
		for _, sp := range []Splitter{nil, goSplitter{}, &inlineSplitter{}} {
			t.Run(fmt.Sprintf("%d/%T", n, sp), func(t *testing.T) {
				msg := testMessage(rng, n)
				binary.LittleEndian.PutUint64(msg[offMessageID:], rng.Uint64())
				msg[offFlags] |= byte(flagServerToRedir)
				want := refGMAC(signKey, msg, binary.LittleEndian.Uint64(msg[offMessageID:]), true, false)

				ss.SignSplit(msg, sp)
				if got := msg[offSignature : offSignature+signatureSize]; !bytes.Equal(got, want) {
					t.Fatalf("SignSplit signature %x, want %x", got, want)
				}
				if msg[offFlags]&byte(flagSigned) == 0 {
					t.Fatal("SignSplit did not set SMB2_FLAGS_SIGNED")
				}
				if !ss.VerifySplit(msg, sp) || !s.Verify(msg) {
					t.Fatal("a correctly signed message does not verify")
				}
				// A change anywhere - the signature, either side of a
				// chunk boundary, the padded last block - must fail.
				for _, at := range []int{0, offSignature, offSignature + 15, gmacChunk - 1, gmacChunk, n - 1, rng.IntN(n)} {
					msg[at] ^= 0x20
					if ss.VerifySplit(msg, sp) {
						t.Fatalf("VerifySplit accepts the message with byte %d flipped", at)
					}
					msg[at] ^= 0x20
				}
			})
		}
	}
}

// TestSplitShortFallsBack checks that messages under SplitSignMin are not
// handed to the Splitter and still get the one-pass signature.
func TestSplitShortFallsBack(t *testing.T) {
	s, _ := NewSigner(dialect311, SigningAESGMAC, signKey)
	ss := s.(SplitSigner)
	msg := testMessage(rand.New(rand.NewPCG(3, 3)), SplitSignMin-1)
	want := refGMAC(signKey, msg, binary.LittleEndian.Uint64(msg[offMessageID:]), false, false)
	sp := &inlineSplitter{}
	ss.SignSplit(msg, sp)
	if !bytes.Equal(msg[offSignature:offSignature+signatureSize], want) {
		t.Fatal("short SignSplit signature differs from the reference")
	}
	if !ss.VerifySplit(msg, sp) {
		t.Fatal("short VerifySplit rejects a good signature")
	}
	if sp.calls != 0 {
		t.Fatalf("a %d-byte message was split (%d calls)", len(msg), sp.calls)
	}
}

func TestSignSplitAllocs(t *testing.T) {
	s, _ := NewSigner(dialect311, SigningAESGMAC, signKey)
	ss := s.(SplitSigner)
	msg := testMessage(rand.New(rand.NewPCG(1, 2)), 8<<20+80)
	sp := &inlineSplitter{}
	ss.SignSplit(msg, sp)
	if a := testing.AllocsPerRun(5, func() { ss.SignSplit(msg, sp) }); a != 0 {
		t.Errorf("SignSplit allocates %v times", a)
	}
	if a := testing.AllocsPerRun(5, func() { ss.VerifySplit(msg, sp) }); a != 0 {
		t.Errorf("VerifySplit allocates %v times", a)
	}
}

func BenchmarkSignAESGMACSplit(b *testing.B) {
	s, _ := NewSigner(dialect311, SigningAESGMAC, signKey)
	ss := s.(SplitSigner)
	msg := make([]byte, 8<<20+80)
	copy(msg, []byte{0xFE, 'S', 'M', 'B'})
	for _, c := range []struct {
		name string
		sp   Splitter
	}{{"OnePass", nil}, {"Chunks", &inlineSplitter{}}, {"Goroutines", goSplitter{}}} {
		b.Run("8MiB/"+c.name, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if c.sp == nil {
					s.Sign(msg)
				} else {
					ss.SignSplit(msg, c.sp)
				}
			}
		})
	}
}
