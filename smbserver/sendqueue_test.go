package smbserver

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/rs/zerolog"
)

// TestSendQueueFrames writes frames from many goroutines at once through
// the send queue and checks each arrives whole (length prefix, then its
// pieces in order, never interleaved with another frame).
func TestSendQueueFrames(t *testing.T) {
	srv, err := New(Config{Logger: zerolog.Nop(), Shares: staticShares{}, Users: staticUsers{}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	a, b := net.Pipe()
	defer b.Close()
	c := srv.newConn(context.Background(), a)
	defer c.close()

	const writers, frames = 16, 200
	got := make(chan map[[2]byte]int, 1)
	go func() {
		seen := map[[2]byte]int{}
		var nb [4]byte
		for i := 0; i < writers*frames; i++ {
			if _, err := io.ReadFull(b, nb[:]); err != nil {
				break
			}
			n := int(nb[1])<<16 | int(nb[2])<<8 | int(nb[3])
			f := make([]byte, n)
			if _, err := io.ReadFull(b, f); err != nil {
				break
			}
			// A frame is its id, then the id repeated to its length.
			id := [2]byte{f[0], f[1]}
			if !bytes.Equal(f, bytes.Repeat(id[:], n/2)) {
				t.Errorf("frame %x corrupted", id)
			}
			seen[id]++
		}
		got <- seen
	}()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < frames; i++ {
				id := [2]byte{byte(w), byte(i)}
				n := 2 * (1 + (w*frames+i)%300)
				body := bytes.Repeat(id[:], n/2)
				// Split in uneven pieces as sendResponses does.
				if err := c.writeFrame(body[:n/2&^1], body[n/2&^1:]); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	seen := <-got
	if len(seen) != writers*frames {
		t.Fatalf("%d distinct frames, want %d", len(seen), writers*frames)
	}
	for id, k := range seen {
		if k != 1 {
			t.Fatalf("frame %x seen %d times", id, k)
		}
	}
}

// TestSendQueueError checks a failed write fails the frames queued behind
// it and every later one, instead of leaving their senders waiting.
func TestSendQueueError(t *testing.T) {
	srv, err := New(Config{Logger: zerolog.Nop(), Shares: staticShares{}, Users: staticUsers{}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	a, b := net.Pipe()
	c := srv.newConn(context.Background(), a)
	defer c.close()
	b.Close()
	var wg sync.WaitGroup
	for i := 0; i < 2*sendQueueMax; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.writeFrame([]byte("xx")); err == nil {
				t.Error("write to a closed peer succeeded")
			}
		}()
	}
	wg.Wait()
}
