package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	cloudsoda "github.com/cloudsoda/go-smb2"
	hiro "github.com/hirochachacha/go-smb2"

	"sofs.io/sofs/integration/harness"
)

// goShare is the part of a mounted share both Go client libraries offer
// with identical signatures, so one test body exercises both.
type goShare interface {
	WriteFile(name string, data []byte, perm os.FileMode) error
	ReadFile(name string) ([]byte, error)
	Mkdir(name string, perm os.FileMode) error
	Rename(oldpath, newpath string) error
	Remove(name string) error
	Stat(name string) (os.FileInfo, error)
	ReadDir(name string) ([]os.FileInfo, error)
}

// goClientTimeout bounds one client's whole session against a server that
// may hang.
const goClientTimeout = 2 * time.Minute

// hiroDialects are [MS-SMB2] 2.2.3 DialectRevision values hirochachacha's
// client can pin.
var hiroDialects = []uint16{0x0202, 0x0210, 0x0300, 0x0302, 0x0311}

func TestGoClientHirochachacha(t *testing.T) {
	target := harness.FromEnv(t)
	for _, d := range hiroDialects {
		t.Run(fmt.Sprintf("%#04x", d), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), goClientTimeout)
			defer cancel()
			conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", target.HostPort())
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			// This client signs every request of an authenticated session
			// whatever is negotiated, so the server's verification of each
			// message is exercised anyway. RequireMessageSigning stays off:
			// with it, v1.1.0 rejects unsigned interim (STATUS_PENDING)
			// responses, which [MS-SMB2] 3.3.4.2 says a server SHOULD NOT
			// sign, and Samba sends them for pipe I/O and asynchronous writes.
			dialer := &hiro.Dialer{
				Negotiator: hiro.Negotiator{SpecifiedDialect: d},
				Initiator:  &hiro.NTLMInitiator{User: target.User, Password: target.Password},
			}
			s, err := dialer.DialContext(ctx, conn)
			if err != nil {
				t.Fatalf("session setup: %v", err)
			}
			defer s.Logoff()
			names, err := s.ListSharenames()
			if err != nil {
				t.Fatalf("ListSharenames: %v", err)
			}
			if !slices.Contains(names, target.Share) {
				t.Fatalf("ListSharenames %q lacks %q", names, target.Share)
			}
			sh, err := s.WithContext(ctx).Mount(target.Share)
			if err != nil {
				t.Fatalf("mount %s: %v", target.Share, err)
			}
			defer sh.Umount()
			exerciseShare(t, sh, target, fmt.Sprintf("hiro_%04x", d))
		})
	}
}

func TestGoClientCloudsoda(t *testing.T) {
	target := harness.FromEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), goClientTimeout)
	defer cancel()
	dialer := &cloudsoda.Dialer{
		// Ask for 128 credits: this client's large reads and writes need a
		// balance of at least 64 (one credit per 64 KiB, [MS-SMB2] 3.1.5.2),
		// and lower balances make it fall back to small I/O.
		MaxCreditBalance: 128,
		Negotiator:       cloudsoda.Negotiator{RequireMessageSigning: true},
		Initiator:        &cloudsoda.NTLMInitiator{User: target.User, Password: target.Password},
	}
	s, err := dialer.Dial(ctx, target.HostPort())
	if err != nil {
		t.Fatalf("dial and session setup: %v", err)
	}
	defer s.Logoff()
	names, err := s.ListSharenames()
	if err != nil {
		t.Fatalf("ListSharenames: %v", err)
	}
	if !slices.Contains(names, target.Share) {
		t.Fatalf("ListSharenames %q lacks %q", names, target.Share)
	}
	sh, err := s.WithContext(ctx).Mount(target.Share)
	if err != nil {
		t.Fatalf("mount %s: %v", target.Share, err)
	}
	defer sh.Umount()
	exerciseShare(t, sh, target, "cloudsoda")
}

// exerciseShare runs the file operations every Go client must get right,
// checking each result through the client and, where it matters, on the
// backing directory.
func exerciseShare(t *testing.T, sh goShare, target *harness.Target, dir string) {
	t.Helper()
	if err := sh.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("mkdir %s: %v", dir, err)
	}
	if err := sh.Mkdir(dir, 0o755); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second mkdir %s: got %v, want an error matching fs.ErrExist", dir, err)
	}
	// 3 MiB + 1: larger than one 1 MiB read/write, and not a multiple of
	// any chunk size, so the last partial chunk is checked too.
	data := make([]byte, 3<<20+1)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	a, b := dir+`\a.bin`, dir+`\b.bin`
	if err := sh.WriteFile(a, data, 0o644); err != nil {
		t.Fatalf("write %s: %v", a, err)
	}
	fi, err := sh.Stat(a)
	if err != nil {
		t.Fatalf("stat %s: %v", a, err)
	}
	if fi.Size() != int64(len(data)) || fi.IsDir() {
		t.Fatalf("stat %s: size %d dir %v, want size %d file", a, fi.Size(), fi.IsDir(), len(data))
	}
	got, err := sh.ReadFile(a)
	if err != nil {
		t.Fatalf("read %s: %v", a, err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %s: %d bytes differing from the %d written", a, len(got), len(data))
	}
	if err := sh.WriteFile(dir+`\small.txt`, []byte("hello"), 0o644); err != nil {
		t.Fatalf("write small.txt: %v", err)
	}
	if err := sh.Rename(a, b); err != nil {
		t.Fatalf("rename %s -> %s: %v", a, b, err)
	}
	if _, err := sh.Stat(a); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat %s after rename: got %v, want fs.ErrNotExist", a, err)
	}
	onDisk, err := os.ReadFile(target.ShareDir + "/" + dir + "/b.bin")
	if err != nil || !bytes.Equal(onDisk, data) {
		t.Fatalf("backing file b.bin after rename: err %v, equal %v", err, bytes.Equal(onDisk, data))
	}
	entries, err := sh.ReadDir(dir)
	if err != nil {
		t.Fatalf("readdir %s: %v", dir, err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if !slices.Equal(names, []string{"b.bin", "small.txt"}) {
		t.Fatalf("readdir %s: %q, want [b.bin small.txt]", dir, names)
	}
	// A directory that is not empty cannot be deleted ([MS-FSCC] 2.4.4
	// / STATUS_DIRECTORY_NOT_EMPTY); a server that lies here loses data.
	if err := sh.Remove(dir); err == nil {
		t.Fatalf("remove non-empty %s succeeded", dir)
	}
	for _, n := range []string{b, dir + `\small.txt`, dir} {
		if err := sh.Remove(n); err != nil {
			t.Fatalf("remove %s: %v", n, err)
		}
	}
	if _, err := os.Stat(target.ShareDir + "/" + dir); !os.IsNotExist(err) {
		t.Fatalf("backing dir after remove: %v, want not exist", err)
	}
}
