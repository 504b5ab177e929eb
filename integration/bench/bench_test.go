package bench

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/md4"
	"golang.org/x/sys/unix"

	"sofs.io/sofs/smbserver"
)

// listenEnv overrides the address the in-process server listens on
// (default: a free loopback port).
const listenEnv = "SOFS_BENCH_LISTEN"

type testShares []smbserver.Share

func (s testShares) Share(n string) (smbserver.Share, bool) {
	for _, x := range s {
		if strings.EqualFold(x.Name, n) {
			return x, true
		}
	}
	return smbserver.Share{}, false
}

func (s testShares) Shares() []smbserver.Share { return s }

type testUsers struct{}

func (testUsers) NTHash(u string) ([16]byte, bool) {
	var o [16]byte
	if !strings.EqualFold(u, "test") {
		return o, false
	}
	h := md4.New()
	for _, c := range utf16.Encode([]rune("test123")) {
		h.Write([]byte{byte(c), byte(c >> 8)})
	}
	copy(o[:], h.Sum(nil))
	return o, true
}

// startServer runs sofs's protocol engine in process over a fresh
// directory with shares "share", "enc" (encrypted) and "ca" (continuously
// available), and returns its address and the directory.
func startServer(t *testing.T, requireSigning bool) (string, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := smbserver.Config{
		Logger: zerolog.Nop(),
		Shares: testShares{
			{Name: "share", Path: dir},
			{Name: "enc", Path: dir, EncryptData: true},
			{Name: "ca", Path: dir, ContinuouslyAvailable: true},
		},
		Users:          testUsers{},
		RequireSigning: requireSigning,
	}
	cfg.ServerGUID[0] = 0xbe
	srv, err := smbserver.New(cfg)
	if err != nil {
		t.Fatalf("smbserver.New: %v", err)
	}
	addr := os.Getenv(listenEnv)
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		ln.Close()
		srv.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("server did not stop")
		}
	})
	return ln.Addr().String(), dir
}

// TestShortRun runs every workload in -short mode in the modes the
// comparison script uses, so the harness cannot rot. It checks correctness
// only (every workload ran and verified its data), never timings.
func TestShortRun(t *testing.T) {
	cases := []shortCase{
		{"plain", "share", false, false, true},
		{"signing", "share", true, true, false},
		{"encryption", "enc", true, false, true},
		{"ca", "ca", false, false, true},
	}
	for _, client := range Clients {
		for _, tc := range cases {
			t.Run(client+"/"+tc.name, func(t *testing.T) { shortRun(t, client, tc) })
		}
	}
}

// shortCase is one mode of TestShortRun.
type shortCase struct {
	name       string
	share      string
	serverSign bool
	clientSign bool
	local      bool // create listing fixtures in the backing directory
}

// shortRun runs the short workloads with client in mode tc and checks
// every result.
func shortRun(t *testing.T, client string, tc shortCase) {
	addr, dir := startServer(t, tc.serverSign)
	cfg := ShortConfig()
	cfg.Addr, cfg.Share, cfg.RequireSigning, cfg.Client = addr, tc.share, tc.clientSign, client
	if tc.local {
		cfg.LocalDir = dir
	} else {
		cfg.ListSizes = []int{50} // fixture over SMB
	}
	cfg.Logf = t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var sb strings.Builder
	if err := WriteTable(&sb, rep); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", sb.String())
	want := len(AllWorkloads) - 1 + len(cfg.ListSizes)
	if len(rep.Results) != want {
		t.Errorf("%d results, want %d", len(rep.Results), want)
	}
	for _, r := range rep.Results {
		switch {
		case r.Error != "":
			t.Errorf("%s: %s", r.Name, r.Error)
		case r.Unsupported != "":
			t.Logf("%s: unsupported: %s", r.Name, r.Unsupported)
		case r.Ops == 0:
			t.Errorf("%s: no operation completed", r.Name)
		case strings.HasPrefix(r.Name, "seq-read") || strings.HasPrefix(r.Name, "rand-read") || strings.HasPrefix(r.Name, WList):
			if r.Verified == 0 {
				t.Errorf("%s: nothing verified", r.Name)
			}
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range ents {
		// sofs's own areas at the share root (named streams, security
		// descriptors) are not the harness's.
		if n := e.Name(); n != ".sofs" && !strings.HasPrefix(n, ".sofs|") {
			left = append(left, n)
		}
	}
	if len(left) != 0 {
		t.Errorf("work directory left behind: %v", left)
	}
	// The JSON round trip is what the comparison reads.
	p := t.TempDir() + "/r.json"
	rep.Server, rep.Mode = "sofs", tc.name
	if err := WriteJSON(p, rep); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(p)
	if err != nil || len(back) != 1 || len(back[0].Results) != len(rep.Results) {
		t.Fatalf("JSON round trip: %v", err)
	}
	ref := *back[0]
	ref.Server = "ref"
	sb.Reset()
	if err := Compare(&sb, []*Report{back[0], &ref}, "sofs", "ref"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sb.String(), "| seq-write | MiB/s |") {
		t.Errorf("comparison lacks seq-write row:\n%s", sb.String())
	}
	if rep.Client != client || !strings.Contains(sb.String(), "client "+client) {
		t.Errorf("report does not record client %s (%q)", client, rep.Client)
	}
	for _, r := range rep.Results {
		if r.Name == WCopy && r.Unsupported != "" {
			t.Errorf("copychunk reported unsupported by sofs: %s", r.Unsupported)
		}
	}
}

func TestCeilingsShort(t *testing.T) {
	addr := os.Getenv(listenEnv)
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	res, err := Ceilings(context.Background(), addr, 2, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Bytes == 0 {
			t.Errorf("%s moved no bytes", r.Name)
		}
	}
}

func TestPatternVerify(t *testing.T) {
	p := newPattern(1)
	buf := append([]byte(nil), p.at(7, BlockSize-100, 100)...)
	buf = append(buf, p.at(7, BlockSize, 200)...)
	if err := p.verify(7, BlockSize-100, buf); err != nil {
		t.Fatalf("verify across a block boundary: %v", err)
	}
	if err := p.verify(8, BlockSize-100, buf); err == nil {
		t.Fatal("another file's data verified")
	}
	if err := p.verify(7, BlockSize-99, buf); err == nil {
		t.Fatal("data at the wrong offset verified")
	}
	buf[150] ^= 1
	if err := p.verify(7, BlockSize-100, buf); err == nil || !strings.Contains(err.Error(), "offset 1048626") {
		t.Fatalf("flipped byte: %v", err)
	}
}

// TestSettleWritesBack checks that settle leaves no dirty pages of a file
// it did not write itself and reports a directory it cannot open.
func TestSettleWritesBack(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "dirty"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(bytes.Repeat([]byte{0xa5}, 8<<20)); err != nil {
		t.Fatal(err)
	}
	// Freshly written pages stay dirty for 30 s (vm.dirty_expire_centisecs)
	// unless memory is short; if they are not, this test cannot tell.
	if st := pageCacheState(t, f); st.Dirty == 0 {
		t.Fatalf("no dirty pages right after an 8 MiB write (%d cached): the test cannot tell", st.Cache)
	}
	if _, err := settle(dir); err != nil {
		t.Fatalf("settle %s: %v", dir, err)
	}
	if st := pageCacheState(t, f); st.Cache == 0 || st.Dirty != 0 || st.Writeback != 0 {
		t.Fatalf("after settle: %d pages cached, %d dirty, %d under write-back; want cached and clean", st.Cache, st.Dirty, st.Writeback)
	}
	if _, err := settle(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("settle of a missing directory succeeded")
	}
}

// pageCacheState is cachestat(2) of the whole of f.
func pageCacheState(t *testing.T, f *os.File) unix.Cachestat_t {
	t.Helper()
	var st unix.Cachestat_t
	if err := unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{}, &st, 0); err != nil {
		t.Fatalf("cachestat: %v", err)
	}
	return st
}
