package csv

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
)

// TestCloseWaitsForInFlightIO races reads and writes against Close: every
// operation either completes on the real file or reports ErrClosed; none
// may fail with a bad descriptor (or worse, hit a reused one).
func TestCloseWaitsForInFlightIO(t *testing.T) {
	v, _ := newVolume(t, Options{})
	for round := 0; round < 50; round++ {
		h, _, err := v.Open(context.Background(), OpenRequest{Path: "race.bin", Disposition: OpenIf, Write: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.WriteAt(make([]byte, 4096), 0); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 512)
				for i := 0; i < 200; i++ {
					_, rerr := h.ReadAt(buf, int64(i%8)*512)
					_, werr := h.WriteAt(buf, int64(i%8)*512)
					for _, err := range []error{rerr, werr} {
						if errors.Is(err, ErrClosed) {
							return
						}
						if err != nil && !errors.Is(err, io.EOF) {
							errs <- err
							return
						}
					}
				}
			}()
		}
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: I/O racing Close failed with %v, want success or ErrClosed", round, err)
		}
	}
}
