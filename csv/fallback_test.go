package csv

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestPerComponentFallback runs the namespace operations with openat2
// disabled, as on kernels before 5.6.
func TestPerComponentFallback(t *testing.T) {
	v, root := newVolume(t, Options{})
	v.noOpenat2 = true
	os.MkdirAll(filepath.Join(root, "A", "B"), 0o755)
	os.Symlink("..", filepath.Join(root, "A", "up"))
	h, act := open(t, v, OpenRequest{Path: `a\b\New`, Disposition: OpenIf, Write: true})
	if act != Created || h.Path() != `A\B\New` {
		t.Fatalf("create: %v %q", act, h.Path())
	}
	if err := h.Rename(context.Background(), `a\Moved`, false); err != nil {
		t.Fatal(err)
	}
	if err := h.SetDeletePending(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	closeH(t, h)
	if exists(filepath.Join(root, "A", "Moved")) {
		t.Fatal("not deleted")
	}
	_, err := v.Stat(bg, `a\up\A`)
	wantErr(t, "symlinked parent", err, ErrAccessDenied)
	_, err = v.Stat(bg, `a\missing`)
	wantErr(t, "missing", err, ErrNotFound)
	_, err = v.Stat(bg, `a\missing\x`)
	wantErr(t, "missing parent", err, ErrPathNotFound)
	fi, err := v.Stat(bg, `A\b`)
	if err != nil || !fi.IsDir || fi.Name != "B" || fi.EndOfFile != 0 {
		t.Fatalf("stat dir: %+v %v", fi, err)
	}
}
