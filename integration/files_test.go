package integration

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// writeRandomFile writes size random bytes to a new file in dir and returns
// its path and sha256. Large files use a seeded ChaCha8 stream (fast, and
// incompressible so no layer can cheat); the seed comes from crypto/rand.
func writeRandomFile(t *testing.T, dir, name string, size int64) (string, string) {
	t.Helper()
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		t.Fatalf("seed: %v", err)
	}
	src := mrand.NewChaCha8(seed)
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatalf("create %s: %v", p, err)
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := int64(len(buf))
		if left < n {
			n = left
		}
		for i := 0; i+8 <= int(n); i += 8 {
			binary.LittleEndian.PutUint64(buf[i:], src.Uint64())
		}
		for i := int(n) &^ 7; i < int(n); i++ {
			buf[i] = byte(src.Uint64())
		}
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatalf("write %s: %v", p, err)
		}
		h.Write(buf[:n])
		left -= n
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close %s: %v", p, err)
	}
	return p, hex.EncodeToString(h.Sum(nil))
}

// sha256File returns the hex sha256 of the file at p.
func sha256File(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// populateDir creates n empty files named f00000.. in a new directory under
// the share's backing directory, owned like the share root so that a server
// running file operations as the share user (smbd) can use them. It returns
// the set of names.
func populateDir(t *testing.T, shareDir, dir string, n int) map[string]bool {
	t.Helper()
	root, err := os.Stat(shareDir)
	if err != nil {
		t.Fatalf("share dir: %v", err)
	}
	st, _ := root.Sys().(*syscall.Stat_t)
	chown := func(p string) {
		if st != nil && os.Geteuid() == 0 {
			if err := os.Lchown(p, int(st.Uid), int(st.Gid)); err != nil {
				t.Fatalf("chown %s: %v", p, err)
			}
		}
	}
	d := filepath.Join(shareDir, dir)
	if err := os.Mkdir(d, 0o775); err != nil {
		t.Fatalf("mkdir %s: %v", d, err)
	}
	chown(d)
	names := make(map[string]bool, n)
	for i := range n {
		name := fmt.Sprintf("f%05d", i)
		p := filepath.Join(d, name)
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o664)
		if err != nil {
			t.Fatalf("create %s: %v", p, err)
		}
		f.Close()
		chown(p)
		names[name] = true
	}
	return names
}
