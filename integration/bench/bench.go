// Package bench is sofs's benchmark harness: a fixed set of workloads
// (sequential and random I/O, metadata, directory listing, server-side
// copy) driven through one SMB client against any SMB server, so that
// sofs and a reference server are measured with the same client, the same
// requests and the same verification. The client is the project's own
// fastclient (AES-GMAC signing, AES-GCM, requests up to 8 MiB, many in
// flight) or github.com/cloudsoda/go-smb2 as a second opinion.
//
// Every byte read is compared with what was written (see pattern), every
// loop is bounded both in operations and in time, and a workload the
// server does not support is reported as such instead of failing the run.
package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"sofs.io/sofs/smbserver/smbcrypto"
)

// Workload names, in the order Run runs them. Random writes run before
// random reads so that the reads verify what the writes stored.
const (
	WSeqWrite    = "seq-write"
	WSeqRead     = "seq-read"
	WRandWrite1  = "rand-write-4k-qd1"
	WRandWrite32 = "rand-write-4k-qd32"
	WRandRead1   = "rand-read-4k-qd1"
	WRandRead32  = "rand-read-4k-qd32"
	WMetaCreate  = "meta-create-write-close-delete"
	WMetaOpen    = "meta-open-close"
	WMetaStat    = "meta-stat"
	WList        = "list" // one result per size: list-10000, list-100000
	WCopy        = "copychunk"
)

// AllWorkloads lists the workload names Config.Workloads accepts.
var AllWorkloads = []string{WSeqWrite, WSeqRead, WRandWrite1, WRandWrite32, WRandRead1, WRandRead32,
	WMetaCreate, WMetaOpen, WMetaStat, WList, WCopy}

// MinCredits is the smallest credit balance the go-smb2 client may ask
// for: the library needs 16 credits per 1 MiB request and falls back to
// 64 KiB requests below a balance of 64.
const MinCredits = 64

// Config is one benchmark run against one server.
type Config struct {
	// Addr is the server's host:port.
	Addr           string
	Share          string
	User           string
	Password       string `json:"-"`
	RequireSigning bool   // client sets SMB2_NEGOTIATE_SIGNING_REQUIRED
	MaxCredits     uint16 // credit balance the client asks for; 0: the client's default (go-smb2 128, fast 1024)
	// Client is ClientFast (default) or ClientGoSMB2.
	Client string
	// IOSize caps the fast client's READ and WRITE requests (0: the
	// server's maximum, at most 8 MiB); go-smb2 always uses 1 MiB.
	IOSize int
	// Cipher and SigningAlg restrict what the fast client offers
	// ("aes-128-gcm", "aes-256-gcm", ...; "aes-gmac", "aes-cmac");
	// empty offers all, fastest first.
	Cipher, SigningAlg string
	LocalDir           string // optional: the share's backing directory, for fast fixture creation and cleanup
	WorkDir            string // directory inside the share; a fresh name when empty
	Workloads          []string
	Streams            int           // sequential streams (goroutines on one session, one file each)
	SeqBytes           int64         // total bytes written (and read back) by the sequential workloads
	SeqTime            time.Duration // time bound of each sequential workload
	// SeqReadPasses is how many times seq-read reads back what seq-write
	// wrote (each pass verified): a gigabyte reads in under half a second
	// here, too short to measure well.
	SeqReadPasses int
	// NoPrewarm turns off the page-cache warm-up before seq-write (see
	// prewarm); it only runs when LocalDir is set.
	NoPrewarm bool
	// NoSettle turns off the write-back of the share's file system before
	// each workload (see settle); it only runs when LocalDir is set.
	NoSettle        bool
	RandFileBytes   int64         // size of the random-I/O file
	RandTime        time.Duration // time bound of each random workload
	RandMaxOps      int           // op bound of each random workload
	QD              int           // queue depth of the deep random workloads (goroutines on one session)
	MetaTime        time.Duration // time bound of each metadata workload
	MetaMaxOps      int           // op bound of each metadata workload
	MetaFiles       int           // existing files for open+close and stat
	ListSizes       []int         // directory sizes to list
	ListTime        time.Duration // time bound of the repeated listings of one directory (one listing always completes)
	ListMaxRuns     int           // bound on listings of one directory
	CopyBytes       int64         // bytes copied server-side, as files of up to 16 MiB
	FixtureParallel int           // goroutines creating listing fixtures over SMB (when LocalDir is empty)
	// Logf, when set, receives progress lines.
	Logf func(format string, args ...any) `json:"-"`
}

// DefaultConfig is the full run: about 30 seconds per server and mode on a
// two-core machine.
func DefaultConfig() Config {
	return Config{
		Share: "share", User: "test", Password: "test123", Client: ClientFast,
		Streams: 4, SeqBytes: 1 << 30, SeqTime: 10 * time.Second, SeqReadPasses: 3,
		RandFileBytes: 64 << 20, RandTime: 2 * time.Second, RandMaxOps: 1 << 20, QD: 32,
		MetaTime: 2 * time.Second, MetaMaxOps: 1 << 20, MetaFiles: 1000,
		ListSizes: []int{10000, 100000}, ListTime: 2 * time.Second, ListMaxRuns: 20,
		CopyBytes: 256 << 20, FixtureParallel: 8,
	}
}

// ShortConfig is the CI run: tiny sizes, a few seconds in all.
func ShortConfig() Config {
	c := DefaultConfig()
	c.Streams = 2
	c.SeqBytes = 8 << 20
	c.SeqTime = 5 * time.Second
	c.SeqReadPasses = 1
	c.RandFileBytes = 4 << 20
	c.RandTime = 200 * time.Millisecond
	c.RandMaxOps = 2000
	c.QD = 8
	c.MetaTime = 200 * time.Millisecond
	c.MetaMaxOps = 200
	c.MetaFiles = 20
	c.ListSizes = []int{100, 1000}
	c.ListTime = 200 * time.Millisecond
	c.ListMaxRuns = 3
	c.CopyBytes = 4 << 20
	return c
}

// Result is one workload's measurement. Value is always "higher is
// better" (a rate), so sofs/reference ratios read the same way everywhere.
type Result struct {
	Name    string  `json:"name"`
	Unit    string  `json:"unit"` // MiB/s, ops/s, entries/s
	Value   float64 `json:"value"`
	Ops     int64   `json:"ops"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	// Verified counts bytes (or directory entries) checked against what was written.
	Verified int64   `json:"verified"`
	P50us    float64 `json:"p50_us,omitempty"`
	P99us    float64 `json:"p99_us,omitempty"`
	Note     string  `json:"note,omitempty"`
	// Unsupported says the server lacks the feature; Error that the
	// workload failed (a protocol error or a verification failure).
	Unsupported string `json:"unsupported,omitempty"`
	Error       string `json:"error,omitempty"`
}

// Report is the outcome of Run.
type Report struct {
	Server string `json:"server"` // label, e.g. "sofs" or "samba"
	Mode   string `json:"mode"`   // label, e.g. "plain", "signing", "encryption", "ca"
	// Client names the client that ran (Config.Client) and ClientInfo
	// what it negotiated.
	Client     string    `json:"client"`
	ClientInfo string    `json:"client_info,omitempty"`
	Started    time.Time `json:"started"`
	Config     Config    `json:"config"`
	Host       Host      `json:"host"`
	Results    []Result  `json:"results"`
	WireSent   int64     `json:"wire_sent_bytes"`
	WireRecv   int64     `json:"wire_recv_bytes"`
	// LoadBefore and LoadAfter are /proc/loadavg around the run: on a
	// shared machine they tell a disturbed run from a clean one.
	LoadBefore string `json:"loadavg_before,omitempty"`
	LoadAfter  string `json:"loadavg_after,omitempty"`
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(b))
}

// Failed returns the results that carry an Error.
func (r *Report) Failed() []Result {
	var out []Result
	for _, x := range r.Results {
		if x.Error != "" {
			out = append(out, x)
		}
	}
	return out
}

// Host describes the machine the run happened on.
type Host struct {
	GOOS    string `json:"goos"`
	GOARCH  string `json:"goarch"`
	NumCPU  int    `json:"num_cpu"`
	CPU     string `json:"cpu,omitempty"`
	Kernel  string `json:"kernel,omitempty"`
	MemGiB  int    `json:"mem_gib,omitempty"`
	Version string `json:"go_version"`
	// CryptoAsm is smbcrypto.Accelerations() on this machine: which
	// signing and encryption loops ran in assembly, in the client and in
	// a sofsd built from the same tree.
	CryptoAsm string `json:"crypto_asm,omitempty"`
}

// DescribeHost reads what Linux tells about the machine; fields it cannot
// find stay empty.
func DescribeHost() Host {
	h := Host{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, NumCPU: runtime.NumCPU(), Version: runtime.Version(),
		CryptoAsm: smbcrypto.Accelerations()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				h.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			h.MemGiB = int((kb + 1<<19) >> 20)
		}
	}
	return h
}

func (c *Config) validate() error {
	if c.Addr == "" {
		return errors.New("bench: no server address")
	}
	if c.Client == "" {
		c.Client = ClientFast
	}
	if !slices.Contains(Clients, c.Client) {
		return fmt.Errorf("bench: unknown client %q (have %s)", c.Client, strings.Join(Clients, ", "))
	}
	if c.Client == ClientGoSMB2 && c.MaxCredits != 0 && c.MaxCredits < MinCredits {
		return fmt.Errorf("bench: MaxCredits %d below %d (go-smb2 would fall back to 64 KiB requests)", c.MaxCredits, MinCredits)
	}
	for _, w := range c.Workloads {
		if !slices.Contains(AllWorkloads, w) {
			return fmt.Errorf("bench: unknown workload %q (have %s)", w, strings.Join(AllWorkloads, ", "))
		}
	}
	if c.Streams < 1 || c.QD < 1 || c.SeqBytes < BlockSize || c.SeqReadPasses < 1 || c.RandFileBytes < 4096 || c.CopyBytes < 1 {
		return errors.New("bench: streams, queue depth and sizes must be positive (sequential bytes at least 1 MiB)")
	}
	if c.RandMaxOps < 1 || c.MetaMaxOps < 1 || c.ListMaxRuns < 1 || c.MetaFiles < 1 {
		return errors.New("bench: operation bounds must be positive")
	}
	if c.FixtureParallel < 1 {
		c.FixtureParallel = 1
	}
	if c.WorkDir == "" {
		c.WorkDir = fmt.Sprintf("sofsbench-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9)
	}
	return nil
}

func (c *Config) wants(w string) bool {
	return len(c.Workloads) == 0 || slices.Contains(c.Workloads, w)
}

func (c *Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// runner holds one run's session and state.
type runner struct {
	cfg       Config
	ctx       context.Context
	cl        fsClient
	pat       *pattern
	rep       *Report
	seq       *seqState
	randReady bool
	metaReady bool
}

// File ids for the pattern: each benchmark file's content is distinct.
const (
	fileSeq  = 1 // + stream index
	fileRand = 1000
	fileCopy = 2000
	fileMeta = 3000
)

// Run connects to the server, runs the configured workloads and removes
// what it created. An error means the run could not start (or could not
// clean up); failures of single workloads are in the results.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, ctx: ctx, pat: newPattern(uint64(time.Now().UnixNano()))}
	r.rep = &Report{Started: time.Now().UTC(), Config: cfg, Host: DescribeHost(), LoadBefore: loadavg(), Client: cfg.Client}
	cl, err := dial(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	r.cl = cl
	defer cl.Close()
	r.rep.ClientInfo = cl.Describe()
	cfg.logf("bench: client %s", r.rep.ClientInfo)
	if err := r.cl.Mkdir(cfg.WorkDir); err != nil {
		return nil, fmt.Errorf("bench: mkdir %s: %w", cfg.WorkDir, err)
	}
	type step struct {
		name string
		fn   func() []Result
	}
	steps := []step{
		{WSeqWrite, r.seqWrite}, {WSeqRead, r.seqRead},
		{WRandWrite1, func() []Result { return r.random(WRandWrite1, true, 1) }},
		{WRandWrite32, func() []Result { return r.random(WRandWrite32, true, r.cfg.QD) }},
		{WRandRead1, func() []Result { return r.random(WRandRead1, false, 1) }},
		{WRandRead32, func() []Result { return r.random(WRandRead32, false, r.cfg.QD) }},
		{WMetaCreate, r.metaCreate}, {WMetaOpen, r.metaOpen}, {WMetaStat, r.metaStat},
		{WList, r.list}, {WCopy, r.copychunk},
	}
	for _, s := range steps {
		if !cfg.wants(s.name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			r.rep.Results = append(r.rep.Results, Result{Name: s.name, Error: "not run: " + err.Error()})
			continue
		}
		if cfg.LocalDir != "" && !cfg.NoSettle {
			took, err := settle(cfg.LocalDir)
			if err != nil {
				return nil, errors.Join(err, r.cleanup())
			}
			cfg.logf("bench: settled the share's file system in %v", took.Round(time.Millisecond))
		}
		cfg.logf("bench: %s", s.name)
		for _, res := range s.fn() {
			if res.Seconds > 0 && res.Error == "" && res.Unsupported == "" {
				switch res.Unit {
				case "MiB/s":
					res.Value = float64(res.Bytes) / (1 << 20) / res.Seconds
				case "entries/s":
					res.Value = float64(res.Verified) / res.Seconds
				default:
					res.Value = float64(res.Ops) / res.Seconds
				}
			}
			r.rep.Results = append(r.rep.Results, res)
		}
	}
	r.rep.WireSent, r.rep.WireRecv = r.cl.WireBytes()
	r.rep.LoadAfter = loadavg()
	return r.rep, r.cleanup()
}

// cleanup removes the work directory: locally when the backing directory
// is known (listing fixtures can hold 100,000 files), else over SMB.
func (r *runner) cleanup() error {
	if r.cfg.LocalDir != "" {
		if err := os.RemoveAll(r.local(r.cfg.WorkDir)); err != nil {
			return fmt.Errorf("bench: cleanup: %w", err)
		}
		return nil
	}
	return r.removeAll(r.cfg.WorkDir)
}

func (r *runner) removeAll(dir string) error {
	ents, err := r.cl.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("bench: cleanup: list %s: %w", dir, err)
	}
	for _, e := range ents {
		p := dir + `\` + e.name
		if e.isDir {
			if err := r.removeAll(p); err != nil {
				return err
			}
			continue
		}
		if err := r.cl.Remove(p); err != nil {
			return fmt.Errorf("bench: cleanup: %w", err)
		}
	}
	if err := r.cl.Remove(dir); err != nil {
		return fmt.Errorf("bench: cleanup: %w", err)
	}
	return nil
}

// path joins names under the work directory as an SMB path.
func (r *runner) path(names ...string) string {
	return r.cfg.WorkDir + `\` + strings.Join(names, `\`)
}

// local maps an SMB path under the share to the backing directory.
func (r *runner) local(p string) string {
	return r.cfg.LocalDir + "/" + strings.ReplaceAll(p, `\`, "/")
}

// writeFile creates name with size bytes of file id's pattern (setup, not measured).
func (r *runner) writeFile(name string, id, size int64) error {
	f, err := r.cl.Create(name)
	if err != nil {
		return err
	}
	for off := int64(0); off < size; off += BlockSize {
		n := int(min(BlockSize, size-off))
		if _, err := f.WriteAt(r.pat.at(id, off, n), off); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// readVerify reads name (size bytes) through SMB and compares it with the pattern.
func (r *runner) readVerify(name string, id, size int64) error {
	f, err := r.cl.Open(name, false)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, BlockSize)
	for off := int64(0); off < size; off += BlockSize {
		n := int(min(BlockSize, size-off))
		got, err := f.ReadAt(buf[:n], off)
		if got != n {
			return fmt.Errorf("short read of %s at %d: %d of %d bytes (%v)", name, off, got, n, err)
		}
		if err := r.pat.verify(id, off, buf[:n]); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// percentiles returns p50 and p99 of lat in microseconds (sorting lat).
func percentiles(lat []time.Duration) (p50, p99 float64) {
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	at := func(q float64) float64 {
		i := int(q * float64(len(lat)-1))
		return float64(lat[i].Nanoseconds()) / 1e3
	}
	return at(0.50), at(0.99)
}

func errResult(name string, err error) []Result {
	return []Result{{Name: name, Error: err.Error()}}
}
