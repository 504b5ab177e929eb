package csv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSecurityDescriptorStorage(t *testing.T) {
	v, root := newVolume(t, Options{})
	if !v.xattrs {
		t.Skip("backing file system has no user xattrs")
	}
	ctx := context.Background()
	sd := []byte("opaque descriptor bytes")
	h, act := open(t, v, OpenRequest{Path: "d", Disposition: Create, Directory: true, Security: sd})
	if act != Created {
		t.Fatalf("action %v", act)
	}
	got, ok, err := h.SecurityDescriptor()
	if err != nil || !ok || !bytes.Equal(got, sd) {
		t.Fatalf("SecurityDescriptor = %q %v %v", got, ok, err)
	}
	closeH(t, h)

	// An existing object keeps its descriptor when opened with another.
	h, _ = open(t, v, OpenRequest{Path: "d", Disposition: OpenIf, Directory: true, Security: []byte("other")})
	closeH(t, h)
	got, isDir, err := v.SecurityDescriptorAt(ctx, "D")
	if err != nil || !isDir || !bytes.Equal(got, sd) {
		t.Fatalf("SecurityDescriptorAt = %q %v %v", got, isDir, err)
	}

	// A large descriptor (beyond the first read buffer) round-trips, and
	// survives reopening the volume.
	big := bytes.Repeat([]byte{0xA5}, 3000)
	h, _ = open(t, v, OpenRequest{Path: `d\f`, Disposition: Create})
	if _, ok, _ := h.SecurityDescriptor(); ok {
		t.Fatal("new file without a descriptor reports one")
	}
	if err := h.SetSecurityDescriptor(big); err != nil {
		t.Fatalf("SetSecurityDescriptor: %v", err)
	}
	closeH(t, h)
	v.Close()
	v2 := openAt(t, root, Options{})
	got, isDir, err = v2.SecurityDescriptorAt(ctx, `d\f`)
	if err != nil || isDir || !bytes.Equal(got, big) {
		t.Fatalf("after reopen: %d bytes %v %v", len(got), isDir, err)
	}
	if got, isDir, err := v2.SecurityDescriptorAt(ctx, ""); err != nil || got != nil || !isDir {
		t.Fatalf("root: %q %v %v", got, isDir, err)
	}
	if _, _, err := v2.SecurityDescriptorAt(ctx, `d\missing`); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	// Spelled otherwise than on disk (the lookup path) the answer is the same.
	if got, isDir, err := v2.SecurityDescriptorAt(ctx, `D\F`); err != nil || isDir || !bytes.Equal(got, big) {
		t.Fatalf("other case: %d bytes %v %v", len(got), isDir, err)
	}
	// Neither path reads through a symbolic link or from a FIFO.
	os.Symlink("f", filepath.Join(root, "d", "link"))
	unix.Mkfifo(filepath.Join(root, "d", "fifo"), 0o644)
	for _, p := range []string{`d\link`, `D\LINK`, `d\fifo`, `D\FIFO`} {
		if _, _, err := v2.SecurityDescriptorAt(ctx, p); !errors.Is(err, ErrAccessDenied) {
			t.Fatalf("%s: %v, want access denied", p, err)
		}
	}
}

func TestSecurityDescriptorWithoutXattrs(t *testing.T) {
	v, _ := newVolume(t, Options{})
	v.xattrs = false // as probe sets it on a file system that refuses them
	h, _ := open(t, v, OpenRequest{Path: "f", Disposition: Create, Security: []byte("x")})
	defer closeH(t, h)
	if _, ok, err := h.SecurityDescriptor(); ok || err != nil {
		t.Fatalf("SecurityDescriptor = %v %v", ok, err)
	}
	if err := h.SetSecurityDescriptor([]byte("x")); !errors.Is(err, ErrSecurityUnsupported) {
		t.Fatalf("SetSecurityDescriptor = %v, want ErrSecurityUnsupported", err)
	}
}

func TestSecurityDescriptorStore(t *testing.T) {
	v, root := newVolume(t, Options{})
	if !v.xattrs {
		t.Skip("backing file system has no user xattrs")
	}
	ctx := context.Background()
	sd := bytes.Repeat([]byte("descriptor"), 20)
	// Occupy the id sd hashes to with another descriptor, so storing sd
	// must probe to the next id.
	sum := sha256.Sum256(sd)
	first := binary.LittleEndian.Uint32(sum[:4])
	if err := os.Mkdir(filepath.Join(root, sdStoreDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, sdStoreDir, sdFileName(first)), []byte("someone else"), 0o600); err != nil {
		t.Fatal(err)
	}
	plain, _ := open(t, v, OpenRequest{Path: "plain", Disposition: Create})
	closeH(t, plain)
	for _, name := range []string{"a", "b"} {
		h, _ := open(t, v, OpenRequest{Path: name, Disposition: Create, Security: sd})
		closeH(t, h)
	}
	var ids []uint32
	for _, name := range []string{"a", "b"} {
		b := make([]byte, 8)
		n, err := unix.Getxattr(filepath.Join(root, name), sdXattr, b)
		if err != nil || n != sdIDSize {
			t.Fatalf("%s: xattr %x %v", name, b[:max(n, 0)], err)
		}
		ids = append(ids, binary.LittleEndian.Uint32(b))
	}
	if ids[0] != first+1 || ids[1] != ids[0] {
		t.Errorf("ids %x, want both %x (probed past %x)", ids, first+1, first)
	}
	// A fresh volume (another node) reads the descriptors from the store.
	v2 := openAt(t, root, Options{})
	if got, _, err := v2.SecurityDescriptorAt(ctx, "b"); err != nil || !bytes.Equal(got, sd) {
		t.Fatalf("other volume: %q %v", got, err)
	}
	// The descriptor costs the file no allocation (the id fits inside
	// the inode where the file system keeps small attributes).
	a, _ := v2.Stat(ctx, "a")
	p, _ := v2.Stat(ctx, "plain")
	if a.AllocationSize != p.AllocationSize {
		t.Errorf("AllocationSize with descriptor %d, without %d", a.AllocationSize, p.AllocationSize)
	}
	// The store is invisible and unreachable through the volume.
	h, _ := open(t, v2, OpenRequest{Path: "", Disposition: Open, Directory: true})
	defer closeH(t, h)
	list, err := h.ReadDir(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, fi := range list {
		if strings.Contains(fi.Name, "security") {
			t.Errorf("store listed: %q", fi.Name)
		}
	}
	if _, _, err := v2.Open(ctx, OpenRequest{Path: sdStoreDir, Disposition: Open}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("open store: %v, want ErrInvalidName", err)
	}
}
