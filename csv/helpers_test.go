package csv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
)

// newVolume opens a Volume over a fresh directory "share" inside a temp
// dir and returns it with the backing path.
func newVolume(t testing.TB, opt Options) (*Volume, string) {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "share")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	return openAt(t, root, opt), root
}

func openAt(t testing.TB, root string, opt Options) *Volume {
	t.Helper()
	opt.Logger = zerolog.New(zerolog.NewTestWriter(t))
	if _, fuzz := t.(*testing.F); fuzz {
		// A fuzz target may not call F.Helper, which the test writer does.
		opt.Logger = zerolog.Nop()
	}
	v, err := OpenVolume(root, opt)
	if err != nil {
		t.Fatalf("OpenVolume: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func open(t testing.TB, v *Volume, req OpenRequest) (*Handle, Action) {
	t.Helper()
	h, act, err := v.Open(context.Background(), req)
	if err != nil {
		t.Fatalf("Open(%+v): %v", req, err)
	}
	return h, act
}

func closeH(t testing.TB, h *Handle) {
	t.Helper()
	if err := h.Close(); err != nil {
		t.Fatalf("Close %s: %v", h.Path(), err)
	}
}

func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("%s: unexpected error %v", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func isOneOf(err error, kinds ...error) bool {
	for _, k := range kinds {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}
