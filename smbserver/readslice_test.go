package smbserver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"sofs.io/sofs/csv"
)

// sliceFixture is a Server (not serving) and an open file of size bytes
// with a position-dependent pattern.
func sliceFixture(t *testing.T, size int) (*Server, *csv.Handle, []byte) {
	t.Helper()
	dir := t.TempDir()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>13)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := csv.OpenVolume(dir, csv.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	h, _, err := v.Open(context.Background(), csv.OpenRequest{Path: "f", Disposition: csv.Open})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	srv := &Server{slicers: sliceWorkers{tasks: make(chan sliceTask)}}
	return srv, h, data
}

// TestReadAtSlices: sliced reads return exactly what one pread would,
// with the io.ReaderAt contract at the end of the file, whether slice
// readers run or the caller reads every slice itself.
func TestReadAtSlices(t *testing.T) {
	const size = 21<<20 + 4097
	srv, h, data := sliceFixture(t, size)
	cases := []struct {
		off, n int
		want   int
		eof    bool
	}{
		{0, 8 << 20, 8 << 20, false},
		{4095, 8<<20 + 3, 8<<20 + 3, false},
		{1 << 20, 3 << 20, 3 << 20, false},     // below the slicing bound
		{0, 16 << 20, 16 << 20, false},         // the most slices
		{size - 5<<20, 8 << 20, 5 << 20, true}, // across the end
		{size - 100, 4 << 20, 100, true},       // only the first slice has data
		{size + 10, 4 << 20, 0, true},          // past the end
		{0, 20<<20 + 3, 20<<20 + 3, false},     // more than maxReadSlices slices' worth
	}
	run := func(t *testing.T) {
		for _, tc := range cases {
			p := make([]byte, tc.n)
			n, err := srv.readAt(h, p, int64(tc.off))
			if n != tc.want || (err != nil) != tc.eof || (tc.eof && !errors.Is(err, io.EOF)) {
				t.Fatalf("readAt(off %d, len %d) = %d, %v; want %d, eof %v", tc.off, tc.n, n, err, tc.want, tc.eof)
			}
			if !bytes.Equal(p[:n], data[min(tc.off, size):min(tc.off, size)+n]) {
				t.Fatalf("readAt(off %d, len %d): wrong data", tc.off, tc.n)
			}
		}
	}
	t.Run("inline", run)
	ctx, cancel := context.WithCancel(context.Background())
	srv.slicers.run(ctx, &srv.wg)
	t.Run("slicers", run)
	// Many sliced reads at once: slicers busy, callers read inline.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			p := make([]byte, 8<<20)
			for i := range 5 {
				off := (g*5 + i) * 300007 % (size - len(p))
				if n, err := srv.readAt(h, p, int64(off)); err != nil || n != len(p) || !bytes.Equal(p, data[off:off+len(p)]) {
					errs <- errors.New("concurrent sliced read returned wrong data")
					return
				}
			}
		})
	}
	wg.Wait()
	cancel()
	srv.wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestReadAtSlicesAllocs: slicing allocates nothing in steady state.
func TestReadAtSlicesAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	srv, h, _ := sliceFixture(t, 8<<20)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); srv.wg.Wait() }()
	srv.slicers.run(ctx, &srv.wg)
	p := make([]byte, 8<<20)
	if a := testing.AllocsPerRun(20, func() {
		if _, err := srv.readAt(h, p, 0); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("sliced 8 MiB read: %v allocations", a)
	}
}
