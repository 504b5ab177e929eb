package csv

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// baitTree builds base/share (the volume) next to base/secret, with links
// from the share pointing out of it, and returns the volume and base.
func baitTree(t testing.TB, fallback bool) (*Volume, string) {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "share")
	secret := filepath.Join(base, "secret")
	for _, d := range []string{root, secret, filepath.Join(root, "dir")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(secret, "file"), "secret")
	writeFile(t, filepath.Join(root, "dir", "inside"), "ok")
	links := map[string]string{
		"out":          "../secret",
		"abs":          secret,
		"filelink":     "../secret/file",
		"dir/up":       "..",
		"dir/uplink":   "../../secret/file",
		"innerlink":    "dir",
		"dir/selflink": "inside",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	v := openAt(t, root, Options{})
	v.noOpenat2 = fallback
	return v, base
}

func TestNoEscape(t *testing.T) {
	tests := []struct {
		path string
		disp Disposition
		dir  bool
		err  error
	}{
		{`out`, Open, false, ErrAccessDenied},
		{`out\file`, Open, false, ErrAccessDenied},
		{`OUT\FILE`, Open, false, ErrAccessDenied},
		{`out\new`, Create, false, ErrAccessDenied},
		{`out\newdir`, Create, true, ErrAccessDenied},
		{`abs\file`, Open, false, ErrAccessDenied},
		{`filelink`, Open, false, ErrAccessDenied},
		{`FileLink`, OpenIf, false, ErrAccessDenied},
		{`filelink`, OverwriteIf, false, ErrAccessDenied},
		{`dir\up\secret`, Open, false, ErrAccessDenied},
		{`dir\uplink`, Open, false, ErrAccessDenied},
		{`innerlink\inside`, Open, false, ErrAccessDenied},
		{`dir\selflink`, Open, false, ErrAccessDenied},
		{`fifo`, Open, false, ErrAccessDenied},
		{`..\secret\file`, Open, false, ErrInvalidName},
		{`dir\..\..\secret\file`, Open, false, ErrInvalidName},
		{`/etc/passwd`, Open, false, ErrInvalidName},
		{`\etc\passwd`, Open, false, ErrInvalidName},
		{"dir\\inside\x00x", Open, false, ErrInvalidName},
		{`NUL`, OpenIf, false, ErrInvalidName},
		{`dir\inside:secret`, Open, false, ErrNotFound}, // a stream it does not have
		{`dir\inside::$DATA`, Open, false, nil},
		{`DIR\INSIDE`, Open, false, nil},
	}
	for _, fallback := range []bool{false, true} {
		v, base := baitTree(t, fallback)
		for _, tt := range tests {
			h, _, err := v.Open(context.Background(), OpenRequest{Path: tt.path, Disposition: tt.disp, Directory: tt.dir})
			wantErr(t, tt.path, err, tt.err)
			if err == nil {
				if h.Path() != `dir\inside` {
					t.Errorf("%s: Path() = %q", tt.path, h.Path())
				}
				closeH(t, h)
			}
			if _, err := v.Stat(context.Background(), tt.path); tt.err != nil && err == nil {
				t.Errorf("Stat(%s) succeeded", tt.path)
			}
		}
		ents, _ := os.ReadDir(filepath.Join(base, "secret"))
		if len(ents) != 1 {
			t.Fatalf("fallback=%v: secret dir changed: %v", fallback, ents)
		}
	}
}

// FuzzResolve opens fuzzed paths (creating with delete-on-close) in a
// share that has links out of it and a sibling directory as bait, and
// asserts that every accepted path resolves to an object inside the root
// and that nothing appears outside it.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"out", `out\file`, `dir\inside`, `DIR\Inside`, `..\secret`, "new", `dir\new`, `filelink`, `dir\up\x`, "NUL", "a:b", `innerlink\inside`} {
		f.Add(s, uint8(OpenIf), false)
	}
	v, base := baitTree(f, false)
	root := filepath.Join(base, "share")
	f.Fuzz(func(t *testing.T, p string, disp uint8, dir bool) {
		req := OpenRequest{Path: p, Disposition: Disposition(disp % 6), Directory: dir, DeleteOnClose: true}
		if req.Disposition != Open && req.Disposition != OpenIf && req.Disposition != Create {
			req.Disposition = OpenIf
		}
		h, _, err := v.Open(context.Background(), req)
		if err != nil {
			return
		}
		target, lerr := os.Readlink("/proc/self/fd/" + itoa(h.fd))
		if lerr != nil {
			t.Fatal(lerr)
		}
		if target != root && !strings.HasPrefix(target, root+"/") {
			t.Fatalf("Open(%q) resolved to %s, outside %s", p, target, root)
		}
		h.Close()
		if ents, _ := os.ReadDir(filepath.Join(base, "secret")); len(ents) != 1 {
			t.Fatalf("Open(%q) changed the sibling directory", p)
		}
		if ents, _ := os.ReadDir(base); len(ents) != 2 {
			t.Fatalf("Open(%q) created something beside the root", p)
		}
	})
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// TestHiddenAreaUnreachable: no client path reaches the volume's private
// area, whatever its spelling, and listings never show it.
func TestHiddenAreaUnreachable(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		t.Run(map[bool]string{false: "openat2", true: "per-component"}[fallback], func(t *testing.T) {
			testHiddenAreaUnreachable(t, fallback)
		})
	}
}

func testHiddenAreaUnreachable(t *testing.T, fallback bool) {
	v, root := newVolume(t, Options{})
	v.noOpenat2 = fallback
	ctx := context.Background()
	s, _ := open(t, v, OpenRequest{Path: `f:one`, Disposition: Create, Write: true})
	closeH(t, s)
	if !exists(filepath.Join(root, streamsRel)) {
		t.Fatal("streams area not created")
	}
	rootH, _ := open(t, v, OpenRequest{Path: "", Disposition: Open, Directory: true})
	defer closeH(t, rootH)
	ents, err := rootH.ReadDir(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name != "f" {
			t.Fatalf("root lists %q", e.Name)
		}
	}
	short := ShortName(hiddenDir)
	for _, p := range []string{".sofs", ".SOFS", `.sofs\streams`, `.Sofs\streams\x`, `.sofs:s`, `.sofs\streams:s`, short, short + `\streams`} {
		if p == "" || p == `\streams` {
			continue
		}
		for _, d := range []Disposition{Open, OpenIf, Create} {
			h, _, err := v.Open(ctx, OpenRequest{Path: p, Disposition: d})
			if err == nil {
				info, _ := h.Stat(ctx)
				h.Close()
				// Only a fresh object of the client's own (a short-name
				// spelling that named nothing) may come back.
				if info.IsDir || h.Path() != p {
					t.Fatalf("Open(%q, %v) reached %q", p, d, h.Path())
				}
				continue
			}
			if !isOneOf(err, ErrAccessDenied, ErrNotFound, ErrPathNotFound, ErrInvalidName, ErrExists) {
				t.Fatalf("Open(%q, %v): %v", p, d, err)
			}
		}
		if _, err := v.Stat(ctx, p); err == nil {
			if fi, _ := v.Stat(ctx, p); fi.IsDir {
				t.Fatalf("Stat(%q) reached the hidden area", p)
			}
		}
	}
	f, _ := open(t, v, OpenRequest{Path: "f", Disposition: Open})
	defer closeH(t, f)
	for _, p := range []string{".sofs", `.SOFS\x`} {
		if err := f.Rename(ctx, p, true); err == nil {
			t.Fatalf("rename to %q succeeded", p)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(root, streamsRel)); len(ents) != 1 {
		t.Fatalf("hidden area disturbed: %d entries", len(ents))
	}
}

// TestHiddenAreaNoSymlinkEscape: a symbolic link planted at the hidden
// area's place (by someone with access to the backing directory) is
// never followed when streams are created or listed.
func TestHiddenAreaNoSymlinkEscape(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		v, base := baitTree(t, fallback)
		root := filepath.Join(base, "share")
		if err := os.Symlink("../secret", filepath.Join(root, hiddenDir)); err != nil {
			t.Fatal(err)
		}
		_, _, err := v.Open(context.Background(), OpenRequest{Path: `dir\inside:s`, Disposition: OpenIf, Write: true})
		if err == nil {
			t.Fatalf("fallback=%v: stream created through a symlinked hidden area", fallback)
		}
		if ents, _ := os.ReadDir(filepath.Join(base, "secret")); len(ents) != 1 {
			t.Fatalf("fallback=%v: secret directory changed: %d entries", fallback, len(ents))
		}
	}
}
