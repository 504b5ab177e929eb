package smbserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	smb2 "github.com/cloudsoda/go-smb2"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/md4"
)

// staticShares is a fixed ShareSource for tests.
type staticShares []Share

func (s staticShares) Share(name string) (Share, bool) {
	for _, sh := range s {
		if strings.EqualFold(sh.Name, name) {
			return sh, true
		}
	}
	return Share{}, false
}

func (s staticShares) Shares() []Share { return s }

// staticUsers is a fixed UserSource for tests.
type staticUsers map[string]string

func (u staticUsers) NTHash(user string) ([16]byte, bool) {
	for name, pw := range u {
		if strings.EqualFold(name, user) {
			return ntHash(pw), true
		}
	}
	return [16]byte{}, false
}

func ntHash(pw string) [16]byte {
	h := md4.New()
	for _, c := range utf16.Encode([]rune(pw)) {
		h.Write([]byte{byte(c), byte(c >> 8)})
	}
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

type testServer struct {
	addr string
	dir  string
	srv  *Server
}

// startServer runs a Server on a loopback port over a temporary share
// and stops it when the test ends.
func startServer(t testing.TB, mutate func(*Config)) *testServer {
	t.Helper()
	dir := t.TempDir()
	cfg := Config{
		Logger:         zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		Shares:         staticShares{{Name: "share", Path: dir}},
		Users:          staticUsers{"test": "test123"},
		RequireSigning: true,
	}
	rand.Read(cfg.ServerGUID[:])
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("server did not stop within 10s")
		}
	})
	return &testServer{addr: ln.Addr().String(), dir: dir, srv: srv}
}

func (ts *testServer) mount(t *testing.T, user, pass string) (*smb2.Share, error) {
	t.Helper()
	d := &smb2.Dialer{MaxCreditBalance: 128, Initiator: &smb2.NTLMInitiator{User: user, Password: pass}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := d.Dial(ctx, ts.addr)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { s.Logoff() })
	return s.Mount("share")
}

func TestFileLifecycle(t *testing.T) {
	ts := startServer(t, nil)
	fs, err := ts.mount(t, "test", "test123")
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	defer fs.Umount()

	data := make([]byte, 3<<20+17)
	rand.Read(data)
	if err := fs.WriteFile("a.bin", data, 0o644); err != nil {
		t.Fatalf("write: %v", err)
	}
	onDisk, err := os.ReadFile(filepath.Join(ts.dir, "a.bin"))
	if err != nil || !bytes.Equal(onDisk, data) {
		t.Fatalf("backing file differs (err %v, len %d)", err, len(onDisk))
	}
	got, err := fs.ReadFile("A.BIN") // case-insensitive lookup
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: err %v, equal %v", err, bytes.Equal(got, data))
	}
	st, err := fs.Stat("a.bin")
	if err != nil || st.Size() != int64(len(data)) || st.IsDir() {
		t.Fatalf("stat: %v %+v", err, st)
	}
	if err := fs.Mkdir("dir", 0o755); err != nil {
		t.Fatalf("mkdir: %v", err)
	}
	if err := fs.Rename("a.bin", `dir\b.bin`); err != nil {
		t.Fatalf("rename: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ts.dir, "dir", "b.bin")); err != nil {
		t.Fatalf("renamed file not on disk: %v", err)
	}
	for i := 0; i < 50; i++ {
		if err := fs.WriteFile(filepath.Join("dir", "f"+string(rune('a'+i%26))+string(rune('0'+i/26))), []byte{byte(i)}, 0o644); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	list, err := fs.ReadDir("dir")
	if err != nil {
		t.Fatalf("readdir: %v", err)
	}
	names := make([]string, 0, len(list))
	for _, fi := range list {
		names = append(names, fi.Name())
	}
	sort.Strings(names)
	if len(names) != 51 || names[0] != "b.bin" {
		t.Fatalf("listing has %d names, first %q", len(names), names[0])
	}
	if err := fs.Remove(`dir\b.bin`); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if _, err := fs.Stat(`dir\b.bin`); err == nil {
		t.Fatal("removed file still visible")
	}
	if err := fs.Remove("dir"); err == nil {
		t.Fatal("removing a non-empty directory succeeded")
	}
}

func TestLogonFailure(t *testing.T) {
	ts := startServer(t, nil)
	if _, err := ts.mount(t, "test", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	if _, err := ts.mount(t, "nobody", "test123"); err == nil {
		t.Fatal("unknown user accepted")
	}
}

func TestPathEscapeRefused(t *testing.T) {
	ts := startServer(t, nil)
	fs, err := ts.mount(t, "test", "test123")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{`..\x`, `a\..\..\x`, `..`} {
		if err := fs.WriteFile(name, []byte("x"), 0o644); err == nil {
			t.Errorf("create %q succeeded", name)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(ts.dir), "x")); err == nil {
		t.Fatal("a file escaped the share")
	}
}
