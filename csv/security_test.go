package csv

import (
	"bytes"
	"context"
	"errors"
	"testing"
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
