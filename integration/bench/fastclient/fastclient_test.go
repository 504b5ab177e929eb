package fastclient

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/md4"

	"sofs.io/sofs/integration/harness"
	"sofs.io/sofs/smbserver"
	"sofs.io/sofs/smbserver/wire"
)

type shares []smbserver.Share

func (s shares) Share(n string) (smbserver.Share, bool) {
	for _, x := range s {
		if strings.EqualFold(x.Name, n) {
			return x, true
		}
	}
	return smbserver.Share{}, false
}

func (s shares) Shares() []smbserver.Share { return s }

type users struct{}

func (users) NTHash(u string) ([16]byte, bool) {
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

// startSofs runs the protocol engine in process with shares "share" and
// "enc" (encryption required).
func startSofs(t *testing.T, requireSigning bool) string {
	return startSofsWith(t, func(c *smbserver.Config) { c.RequireSigning = requireSigning })
}

// startSofsWith is startSofs with the configuration changed by mutate.
func startSofsWith(t *testing.T, mutate func(*smbserver.Config)) string {
	t.Helper()
	dir := t.TempDir()
	cfg := smbserver.Config{
		Logger: zerolog.Nop(),
		Shares: shares{{Name: "share", Path: dir}, {Name: "enc", Path: dir, EncryptData: true}},
		Users:  users{},
	}
	cfg.ServerGUID[0] = 0xfa
	mutate(&cfg)
	srv, err := smbserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		ln.Close()
		srv.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	return ln.Addr().String()
}

type mode struct {
	name   string
	share  string
	cfg    Config
	sign   bool   // requests must be signed
	seal   bool   // requests must be sealed
	alg    uint16 // expected signing algorithm
	cipher uint16 // expected cipher (0: any)
}

func modes() []mode {
	return []mode{
		{name: "plain", share: "share", alg: wire.SigningAESGMAC},
		{name: "signing-gmac", share: "share", cfg: Config{RequireSigning: true}, sign: true, alg: wire.SigningAESGMAC},
		{name: "signing-cmac", share: "share", cfg: Config{RequireSigning: true, SigningAlgorithms: []uint16{wire.SigningAESCMAC}}, sign: true, alg: wire.SigningAESCMAC},
		{name: "encrypt-all-aes256gcm", share: "share", cfg: Config{EncryptAll: true, Ciphers: []uint16{wire.CipherAES256GCM}}, seal: true, alg: wire.SigningAESGMAC, cipher: wire.CipherAES256GCM},
		{name: "encrypt-all-aes128ccm", share: "share", cfg: Config{EncryptAll: true, Ciphers: []uint16{wire.CipherAES128CCM}}, seal: true, alg: wire.SigningAESGMAC, cipher: wire.CipherAES128CCM},
	}
}

func fill(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// exercise runs every operation the harness uses and checks each result.
func exercise(t *testing.T, addr string, m mode) {
	t.Helper()
	m.cfg.User, m.cfg.Password = "test", "test123"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Dial(ctx, addr, m.cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if c.SigningAlg != m.alg {
		t.Errorf("signing algorithm %d, want %d", c.SigningAlg, m.alg)
	}
	if m.cipher != 0 && c.Cipher != m.cipher {
		t.Errorf("cipher %d, want %d", c.Cipher, m.cipher)
	}
	if m.sign && !c.Signing() {
		t.Error("requests not signed")
	}
	tr, err := c.Mount(m.share)
	if err != nil {
		t.Fatal(err)
	}
	if m.seal && !tr.Encrypted() {
		t.Error("tree not encrypted")
	}
	dir := fmt.Sprintf("fc-%s-%d", m.name, time.Now().UnixNano()%1e9)
	if err := tr.Mkdir(dir); err != nil {
		t.Fatal(err)
	}

	// Large sequential I/O: more than MaxWrite so requests are split, and
	// both read paths (direct into the buffer, and through the pool).
	big := fill(1, c.MaxWrite+3<<20+123)
	f, err := tr.Open(dir+`\big`, OpenSpec{Access: wire.GenericRead | wire.GenericWrite, Disposition: FileOverwriteIf})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f.WriteAt(big, 0); err != nil || n != len(big) {
		t.Fatalf("write: %d %v", n, err)
	}
	// One WRITE from several buffers (writev when plain).
	half := c.MaxWrite / 2
	vec := fill(2, c.MaxWrite)
	if n, err := f.WriteVec(4096, vec[:half], vec[half:]); err != nil || n != len(vec) {
		t.Fatalf("WriteVec: %d %v", n, err)
	}
	copy(big[4096:], vec)
	if _, err := f.WriteVec(0, make([]byte, c.MaxWrite+1)); err == nil {
		t.Error("WriteVec above MaxWrite accepted")
	}
	got := make([]byte, len(big))
	if n, err := f.ReadAt(got, 0); err != nil || n != len(big) || !bytes.Equal(got, big) {
		t.Fatalf("read back: %d %v equal=%v", n, err, bytes.Equal(got, big))
	}
	if n, err := f.ReadAt(make([]byte, 10), int64(len(big))+100); n != 0 || err == nil {
		t.Errorf("read past EOF: %d %v", n, err)
	}
	// A full-size READ across the end of file returns what is there.
	tail := make([]byte, c.MaxRead)
	if n, err := f.readOnce(tail, int64(len(big))-1000); err != nil || n != 1000 || !bytes.Equal(tail[:n], big[len(big)-1000:]) {
		t.Errorf("read across EOF: %d bytes, %v", n, err)
	}

	// 32 requests in flight on the one handle, answered in any order.
	const qd, ops = 32, 20
	var wg sync.WaitGroup
	errs := make([]error, qd)
	for w := range qd {
		wg.Go(func() {
			buf := make([]byte, 4096)
			for i := range ops {
				off := int64((w*ops+i)*4096) % int64(len(big)-4096)
				want := fill(uint64(w*1000+i+7), 4096)
				if _, err := f.WriteAt(want, off); err != nil {
					errs[w] = err
					return
				}
				if _, err := f.ReadAt(buf, off); err != nil {
					errs[w] = err
					return
				}
				if !bytes.Equal(buf, want) {
					errs[w] = fmt.Errorf("worker %d op %d: data mismatch at %d", w, i, off)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := c.MaxInFlight(); n < 2 {
		t.Errorf("at most %d request(s) in flight with %d goroutines", n, qd)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	// Server-side copy, checked by reading the target back.
	src, err := tr.Open(dir+`\big`, OpenSpec{Access: wire.GenericRead, Disposition: FileOpen})
	if err != nil {
		t.Fatal(err)
	}
	dst, err := tr.Open(dir+`\copy`, OpenSpec{Access: wire.GenericRead | wire.GenericWrite, Disposition: FileOverwriteIf})
	if err != nil {
		t.Fatal(err)
	}
	n, err := tr.CopyFile(src, dst, src.Size)
	if err != nil || n != src.Size {
		t.Fatalf("copychunk: %d of %d: %v", n, src.Size, err)
	}
	want := make([]byte, src.Size)
	if _, err := src.ReadAt(want, 0); err != nil {
		t.Fatal(err)
	}
	got = make([]byte, n)
	if _, err := dst.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("copy differs from its source (%v)", err)
	}
	src.Close()
	dst.Close()

	// Listing, stat, remove.
	const files = 150
	for i := range files {
		f, err := tr.Open(dir+`\f`+strconv.Itoa(i), OpenSpec{Access: wire.GenericWrite, Disposition: FileCreate})
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	ents, err := tr.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
	}
	sort.Strings(names)
	if len(names) != files+2 || names[0] != "big" || names[1] != "copy" {
		t.Fatalf("listing: %d names %v...", len(names), names[:min(4, len(names))])
	}
	if size, isDir, err := tr.Stat(dir + `\big`); err != nil || size != int64(len(big)) || isDir {
		t.Errorf("stat: %d %v %v", size, isDir, err)
	}
	if _, isDir, err := tr.Stat(dir); err != nil || !isDir {
		t.Errorf("stat dir: %v %v", isDir, err)
	}
	if _, _, err := tr.Stat(dir + `\nothing`); err == nil {
		t.Error("stat of a missing file succeeded")
	} else if st, ok := StatusOf(err); !ok || st != wire.StatusObjectNameNotFound {
		t.Errorf("stat of a missing file: %v", err)
	}
	for _, nm := range names {
		if err := tr.Remove(dir + `\` + nm); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if c.Credits() < 2 {
		t.Errorf("credit balance %d at the end", c.Credits())
	}
	if err := tr.Disconnect(); err != nil {
		t.Error(err)
	}
}

func TestSofs(t *testing.T) {
	addr := startSofs(t, false)
	for _, m := range modes() {
		t.Run(m.name, func(t *testing.T) { exercise(t, addr, m) })
	}
	t.Run("share-encryption", func(t *testing.T) {
		exercise(t, addr, mode{name: "enc", share: "enc", seal: true, alg: wire.SigningAESGMAC, cipher: wire.CipherAES128GCM})
	})
	t.Run("server-requires-signing", func(t *testing.T) {
		exercise(t, startSofs(t, true), mode{name: "srvsign", share: "share", sign: true, alg: wire.SigningAESGMAC})
	})

}

func TestWrongPassword(t *testing.T) {
	addr := startSofs(t, false)
	_, err := Dial(context.Background(), addr, Config{User: "test", Password: "nope"})
	if st, ok := StatusOf(err); !ok || st != wire.StatusLogonFailure {
		t.Fatalf("wrong password: %v", err)
	}
}

// TestUnsignedTreeConnectDisconnects: on 3.1.1 a server must drop the
// connection of a named user's session whose TREE_CONNECT is neither
// signed nor sealed ([MS-SMB2] 3.3.5.7), however the session signs.
func TestUnsignedTreeConnectDisconnects(t *testing.T) {
	addr := startSofs(t, false)
	c, err := Dial(context.Background(), addr, Config{User: "test", Password: "test123"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Mount("share"); err != nil {
		t.Fatalf("signed TREE_CONNECT: %v", err)
	}
	c.unsignedTreeConnect = true
	_, err = c.Mount("share")
	if err == nil {
		t.Fatal("unsigned TREE_CONNECT on a 3.1.1 session accepted")
	}
	if _, ok := StatusOf(err); ok {
		t.Fatalf("unsigned TREE_CONNECT answered (%v); want the connection dropped", err)
	}
}

// TestSamba checks interoperability with the reference smbd in every mode:
// plain, signing (client-required, and mandatory on the server, GMAC and
// CMAC) and encryption (client-chosen, and required on the share).
func TestSamba(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("starts smbd")
	}
	tg := harness.StartSambaRef(t)
	for _, m := range modes() {
		t.Run(m.name, func(t *testing.T) { exercise(t, tg.HostPort(), m) })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := harness.LaunchSambaRef(ctx, "SAMBA_REF_GLOBAL_EXTRA=server signing = mandatory",
		"SAMBA_REF_SHARE_EXTRA=server smb encrypt = required")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	t.Run("server-requires-signing-and-encryption", func(t *testing.T) {
		exercise(t, r.Target.HostPort(), mode{name: "srv", share: "share", sign: true, seal: true, alg: wire.SigningAESGMAC, cipher: wire.CipherAES128GCM})
	})
}

// FuzzParseIDBothDir: the directory-entry decoder never panics, and what
// it accepts has names that fit the buffer.
func FuzzParseIDBothDir(f *testing.F) {
	entry := func(name string, next uint32) []byte {
		u := utf16.Encode([]rune(name))
		b := make([]byte, 104+2*len(u))
		binary.LittleEndian.PutUint32(b, next)
		binary.LittleEndian.PutUint32(b[60:], uint32(2*len(u)))
		for i, x := range u {
			binary.LittleEndian.PutUint16(b[104+2*i:], x)
		}
		return b
	}
	one := entry("a", 0)
	f.Add(one)
	two := append(entry("dir", 112), make([]byte, 2)...)
	f.Add(append(two, entry("file.txt", 0)...))
	f.Add([]byte{})
	f.Add(make([]byte, 104))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := parseIDBothDir(nil, b)
		if err != nil {
			return
		}
		total := 0
		for _, e := range out {
			total += len(e.Name)
		}
		if total > 3*len(b) {
			t.Fatalf("%d name bytes from a %d-byte buffer", total, len(b))
		}
	})
}
