package csv

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestConcurrentHandles runs I/O, Stat and Path on two handles of one file
// while a third handle renames it back and forth; run it with -race.
func TestConcurrentHandles(t *testing.T) {
	v, root := newVolume(t, Options{})
	os.Mkdir(filepath.Join(root, "x"), 0o755)
	w, _ := open(t, v, OpenRequest{Path: "f", Disposition: Create, Write: true})
	r, _ := open(t, v, OpenRequest{Path: "f", Disposition: Open})
	mv, _ := open(t, v, OpenRequest{Path: "f", Disposition: Open})
	const rounds = 200
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		block := bytes.Repeat([]byte{7}, 4096)
		for i := range rounds {
			if _, err := w.WriteAt(block, int64(i%8)*4096); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 4096)
		for range rounds {
			r.ReadAt(buf, 0)
			if _, err := r.Stat(context.Background()); err != nil {
				t.Error(err)
				return
			}
			if p := r.Path(); p != "f" && p != `x\g` {
				t.Errorf("Path() = %q mid-rename", p)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := range rounds {
			to := `x\g`
			if i%2 == 1 {
				to = "f"
			}
			if err := mv.Rename(context.Background(), to, false); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	if w.Path() != "f" || !exists(filepath.Join(root, "f")) {
		t.Fatalf("final path %q", w.Path())
	}
	closeH(t, mv)
	closeH(t, r)
	closeH(t, w)
}

// TestConcurrentDeletePending races opens against a delete-pending close:
// every open either fails with ErrDeletePending or sees the file, and the
// file is gone at the end.
func TestConcurrentDeletePending(t *testing.T) {
	v, root := newVolume(t, Options{})
	h, _ := open(t, v, OpenRequest{Path: "f", Disposition: Create})
	if err := h.SetDeletePending(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				g, _, err := v.Open(bg, OpenRequest{Path: "f", Disposition: Open})
				if err == nil {
					t.Error("opened a delete-pending file")
					g.Close()
					return
				}
				if !isOneOf(err, ErrDeletePending, ErrNotFound) {
					t.Error(err)
					return
				}
			}
		}()
	}
	closeH(t, h)
	wg.Wait()
	if exists(filepath.Join(root, "f")) {
		t.Fatal("file survived")
	}
}
