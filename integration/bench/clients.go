package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	smb2 "github.com/cloudsoda/go-smb2"

	"sofs.io/sofs/integration/bench/fastclient"
	"sofs.io/sofs/smbserver/wire"
)

// Client names for Config.Client.
const (
	ClientGoSMB2 = "go-smb2"
	ClientFast   = "fast"
)

// Clients lists the values Config.Client accepts.
var Clients = []string{ClientFast, ClientGoSMB2}

// fsClient is what the workloads need from an SMB client: one connection,
// one session, one tree, safe for concurrent use.
type fsClient interface {
	Mkdir(name string) error
	// Create creates or truncates name for reading and writing.
	Create(name string) (benchFile, error)
	// CreateNew creates name, which must not exist, for reading and writing.
	CreateNew(name string) (benchFile, error)
	Open(name string, write bool) (benchFile, error)
	Remove(name string) error
	ReadDir(dir string) ([]dirEntry, error)
	Stat(name string) (size int64, isDir bool, err error)
	// Copy copies src to a new file dst server-side; a server without
	// server-side copy gives an error for which unsupported is true.
	Copy(dst, src string) (int64, error)
	// MaxIO is the largest READ or WRITE the client sends.
	MaxIO() int
	// WireBytes counts the bytes on the connection so far.
	WireBytes() (sent, recv int64)
	// Describe says how the client connected (signing, cipher, sizes).
	Describe() string
	Close() error
}

type benchFile interface {
	io.ReaderAt
	io.WriterAt
	Close() error
}

// vecWriter is a benchFile that sends several buffers as one WRITE.
type vecWriter interface {
	WriteVec(off int64, pieces ...[]byte) (int, error)
}

type dirEntry struct {
	name  string
	isDir bool
}

// dial connects the configured client.
func dial(ctx context.Context, cfg *Config) (fsClient, error) {
	switch cfg.Client {
	case ClientGoSMB2:
		return dialGoSMB2(ctx, cfg)
	case ClientFast, "":
		return dialFast(ctx, cfg)
	}
	return nil, fmt.Errorf("bench: unknown client %q", cfg.Client)
}

// ---- github.com/cloudsoda/go-smb2 ----

// countConn counts the bytes that cross the client's TCP connection, which
// tells a server-side copy from the library's silent fallback to copying
// through the client.
type countConn struct {
	net.Conn
	sent, recv *atomic.Int64
}

func (c countConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.recv.Add(int64(n))
	return n, err
}

func (c countConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.sent.Add(int64(n))
	return n, err
}

type goSMB2 struct {
	sess       *smb2.Session
	share      *smb2.Share
	sent, recv atomic.Int64
	credits    uint16
}

func dialGoSMB2(ctx context.Context, cfg *Config) (*goSMB2, error) {
	g := &goSMB2{credits: cfg.MaxCredits}
	if g.credits == 0 {
		g.credits = 128
	}
	d := &smb2.Dialer{
		MaxCreditBalance: g.credits,
		Negotiator:       smb2.Negotiator{RequireMessageSigning: cfg.RequireSigning},
		Initiator:        &smb2.NTLMInitiator{User: cfg.User, Password: cfg.Password},
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(dctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("bench: dial %s: %w", cfg.Addr, err)
	}
	s, err := d.DialConn(dctx, countConn{Conn: c, sent: &g.sent, recv: &g.recv}, cfg.Addr)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("bench: session setup with %s: %w", cfg.Addr, err)
	}
	sh, err := s.WithContext(ctx).Mount(cfg.Share)
	if err != nil {
		s.Logoff()
		return nil, fmt.Errorf("bench: tree connect %s: %w", cfg.Share, err)
	}
	g.sess, g.share = s, sh
	return g, nil
}

func (g *goSMB2) Mkdir(name string) error { return g.share.Mkdir(name, 0o755) }
func (g *goSMB2) Create(name string) (benchFile, error) {
	return g.share.Create(name)
}
func (g *goSMB2) CreateNew(name string) (benchFile, error) {
	return g.share.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
}
func (g *goSMB2) Open(name string, write bool) (benchFile, error) {
	flag := os.O_RDONLY
	if write {
		flag = os.O_RDWR
	}
	return g.share.OpenFile(name, flag, 0)
}
func (g *goSMB2) Remove(name string) error { return g.share.Remove(name) }
func (g *goSMB2) ReadDir(dir string) ([]dirEntry, error) {
	fis, err := g.share.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]dirEntry, len(fis))
	for i, fi := range fis {
		out[i] = dirEntry{name: fi.Name(), isDir: fi.IsDir()}
	}
	return out, nil
}
func (g *goSMB2) Stat(name string) (int64, bool, error) {
	fi, err := g.share.Stat(name)
	if err != nil {
		return 0, false, err
	}
	return fi.Size(), fi.IsDir(), nil
}

// Copy uses *File.WriteTo through io.Copy: server-side copy when the
// server offers it. The library sends every 16 MiB batch of chunks with
// the same offsets (see copyPiece), so callers copy at most 16 MiB.
func (g *goSMB2) Copy(dst, src string) (int64, error) {
	sf, err := g.share.Open(src)
	if err != nil {
		return 0, err
	}
	defer sf.Close()
	df, err := g.share.Create(dst)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(df, sf)
	if cerr := df.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// MaxIO: the library never sends more than 1 MiB (winMaxPayloadSize).
func (g *goSMB2) MaxIO() int                    { return 1 << 20 }
func (g *goSMB2) WireBytes() (sent, recv int64) { return g.sent.Load(), g.recv.Load() }
func (g *goSMB2) Describe() string {
	return fmt.Sprintf("go-smb2 (github.com/cloudsoda/go-smb2): SMB 3.1.1, signing AES-CMAC, AES-128-GCM/CCM, 1 MiB requests, %d credits", g.credits)
}
func (g *goSMB2) Close() error {
	g.share.Umount()
	return g.sess.Logoff()
}

// ---- fastclient ----

type fast struct {
	c *fastclient.Client
	t *fastclient.Tree
}

func dialFast(ctx context.Context, cfg *Config) (*fast, error) {
	fc := fastclient.Config{User: cfg.User, Password: cfg.Password, RequireSigning: cfg.RequireSigning,
		MaxCredits: cfg.MaxCredits, MaxIO: cfg.IOSize}
	if cfg.Cipher != "" {
		id, ok := cipherIDs[cfg.Cipher]
		if !ok {
			return nil, fmt.Errorf("bench: unknown cipher %q", cfg.Cipher)
		}
		fc.Ciphers = []uint16{id}
	}
	if cfg.SigningAlg != "" {
		id, ok := signingIDs[cfg.SigningAlg]
		if !ok {
			return nil, fmt.Errorf("bench: unknown signing algorithm %q", cfg.SigningAlg)
		}
		fc.SigningAlgorithms = []uint16{id}
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := fastclient.Dial(dctx, cfg.Addr, fc)
	if err != nil {
		return nil, fmt.Errorf("bench: connect to %s: %w", cfg.Addr, err)
	}
	t, err := c.Mount(cfg.Share)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("bench: %w", err)
	}
	return &fast{c: c, t: t}, nil
}

var cipherIDs = map[string]uint16{
	"aes-128-gcm": wire.CipherAES128GCM, "aes-256-gcm": wire.CipherAES256GCM,
	"aes-128-ccm": wire.CipherAES128CCM, "aes-256-ccm": wire.CipherAES256CCM,
}

var signingIDs = map[string]uint16{"aes-gmac": wire.SigningAESGMAC, "aes-cmac": wire.SigningAESCMAC}

func name(m map[string]uint16, id uint16) string {
	for k, v := range m {
		if v == id {
			return k
		}
	}
	return fmt.Sprintf("%#04x", id)
}

func (f *fast) Mkdir(name string) error { return f.t.Mkdir(name) }
func (f *fast) Create(name string) (benchFile, error) {
	return f.t.Open(name, fastclient.OpenSpec{Access: wire.GenericRead | wire.GenericWrite, Disposition: fastclient.FileOverwriteIf})
}
func (f *fast) CreateNew(name string) (benchFile, error) {
	return f.t.Open(name, fastclient.OpenSpec{Access: wire.GenericRead | wire.GenericWrite, Disposition: fastclient.FileCreate})
}
func (f *fast) Open(name string, write bool) (benchFile, error) {
	acc := wire.GenericRead
	if write {
		acc |= wire.GenericWrite
	}
	return f.t.Open(name, fastclient.OpenSpec{Access: acc, Disposition: fastclient.FileOpen})
}
func (f *fast) Remove(name string) error { return f.t.Remove(name) }
func (f *fast) ReadDir(dir string) ([]dirEntry, error) {
	ents, err := f.t.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]dirEntry, len(ents))
	for i, e := range ents {
		out[i] = dirEntry{name: e.Name, isDir: e.IsDir}
	}
	return out, nil
}
func (f *fast) Stat(name string) (int64, bool, error) { return f.t.Stat(name) }

// Copy: FSCTL_SRV_REQUEST_RESUME_KEY on src, then FSCTL_SRV_COPYCHUNK_WRITE
// on dst, 16 chunks of 1 MiB per request, as go-smb2 and Windows do.
func (f *fast) Copy(dst, src string) (int64, error) {
	sf, err := f.t.Open(src, fastclient.OpenSpec{Access: wire.GenericRead, Disposition: fastclient.FileOpen})
	if err != nil {
		return 0, err
	}
	defer sf.Close()
	df, err := f.t.Open(dst, fastclient.OpenSpec{Access: wire.GenericRead | wire.GenericWrite, Disposition: fastclient.FileOverwriteIf})
	if err != nil {
		return 0, err
	}
	n, err := f.t.CopyFile(sf, df, sf.Size)
	if cerr := df.Close(); err == nil {
		err = cerr
	}
	return n, err
}
func (f *fast) MaxIO() int                    { return min(f.c.MaxRead, f.c.MaxWrite) }
func (f *fast) WireBytes() (sent, recv int64) { return f.c.WireBytes() }
func (f *fast) Describe() string {
	sign := "off"
	if f.c.Signing() {
		sign = "on"
	}
	enc := "off"
	if f.t.Encrypted() {
		enc = "on"
	}
	return fmt.Sprintf("fast (integration/bench/fastclient): SMB 3.1.1, signing %s (%s), encryption %s (%s), MaxRead %d / MaxWrite %d, %d credits",
		sign, name(signingIDs, f.c.SigningAlg), enc, name(cipherIDs, f.c.Cipher), f.c.MaxRead, f.c.MaxWrite, f.c.Credits())
}
func (f *fast) Close() error {
	f.t.Disconnect()
	return f.c.Close()
}

// NTSTATUS values a server returns for an FSCTL it does not implement.
const (
	statusInvalidDeviceRequest = 0xC0000010
	statusNotSupported         = 0xC00000BB
	statusNotImplemented       = 0xC0000002
)

// unsupported reports whether err is a server's refusal of a feature.
func unsupported(err error) bool {
	if errors.Is(err, fastclient.ErrNotSupported) {
		return true
	}
	var re *smb2.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	switch re.Code {
	case statusInvalidDeviceRequest, statusNotSupported, statusNotImplemented:
		return true
	}
	return false
}
