// Command sofsbench runs the benchmark harness (sofs.io/sofs/integration/bench)
// against any SMB server, compares saved runs, and measures the machine's
// ceilings.
//
//	sofsbench -addr 127.0.0.1:4601 [-share share] [-sign] [-client fast|go-smb2] [-short] [-json out.json] [-server sofs -mode plain]
//	sofsbench compare [-subject sofs -reference samba] run1.json run2.json ...
//	sofsbench ceilings [-addr 127.0.0.1:4619] [-json out.json]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"sofs.io/sofs/integration/bench"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "compare":
			os.Exit(compare(os.Args[2:]))
		case "ceilings":
			os.Exit(ceilings(os.Args[2:]))
		}
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("sofsbench", flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: sofsbench -addr HOST:PORT [flags]\n       sofsbench compare [flags] FILE.json...\n       sofsbench ceilings [flags]\n\nflags (sizes from -short or the full defaults, then overridden one by one):\n")
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "", "server host:port (required)")
	share := fs.String("share", "share", "share name")
	user := fs.String("user", "test", "user name")
	pass := fs.String("pass", "test123", "password")
	sign := fs.Bool("sign", false, "client requires signing (SMB2_NEGOTIATE_SIGNING_REQUIRED); the server may require it regardless")
	short := fs.Bool("short", false, "tiny sizes and durations (CI): a few seconds in all")
	jsonOut := fs.String("json", "", "write the report as JSON to this file")
	server := fs.String("server", "", "label of the server in the report (e.g. sofs, samba)")
	mode := fs.String("mode", "", "label of the mode in the report (e.g. plain, signing, encryption, ca)")
	localDir := fs.String("local-dir", "", "the share's backing directory on this machine: listing fixtures are created and the work directory removed there")
	workloads := fs.String("workloads", "", "comma-separated subset of: "+strings.Join(bench.AllWorkloads, ","))
	timeout := fs.Duration("timeout", 10*time.Minute, "bound on the whole run")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	// Size and time flags: zero keeps the preset.
	streams := fs.Int("streams", 0, "sequential streams")
	seqMiB := fs.Int64("seq-mib", 0, "MiB written and read back by the sequential workloads (all streams)")
	seqTime := fs.Duration("seq-time", 0, "time bound of each sequential workload")
	seqPasses := fs.Int("seq-read-passes", 0, "times seq-read reads back what seq-write wrote")
	noSettle := fs.Bool("no-settle", false, "with -local-dir: do not write back the share's file system (syncfs, not timed) before each workload")
	noPrewarm := fs.Bool("no-prewarm", false, "with -local-dir: skip writing and removing a scratch file of the seq-write size locally before seq-write (the page-cache warm-up)")
	randMiB := fs.Int64("rand-file-mib", 0, "size of the random-I/O file in MiB")
	randTime := fs.Duration("rand-time", 0, "time bound of each random workload")
	randOps := fs.Int("rand-ops", 0, "operation bound of each random workload")
	qd := fs.Int("qd", 0, "queue depth of the deep random workloads (goroutines on one session)")
	metaTime := fs.Duration("meta-time", 0, "time bound of each metadata workload")
	metaOps := fs.Int("meta-ops", 0, "operation bound of each metadata workload")
	metaFiles := fs.Int("meta-files", 0, "existing files for open+close and stat")
	list := fs.String("list", "", "comma-separated directory sizes to list")
	listTime := fs.Duration("list-time", 0, "time bound of the repeated listings of one directory")
	copyMiB := fs.Int64("copy-mib", 0, "size of the server-side copy in MiB")
	credits := fs.Uint("credits", 0, fmt.Sprintf("client credit balance (0: the client's default; go-smb2 needs at least %d)", bench.MinCredits))
	client := fs.String("client", bench.ClientFast, "SMB client: "+strings.Join(bench.Clients, " | ")+" (fast: the project's own; go-smb2: github.com/cloudsoda/go-smb2, 1 MiB requests, AES-CMAC)")
	ioMiB := fs.Int("io-mib", 0, "fast client: largest READ/WRITE in MiB (0: the server's maximum, at most 8)")
	cipher := fs.String("cipher", "", "fast client: offer only this cipher (aes-128-gcm, aes-256-gcm, aes-128-ccm, aes-256-ccm)")
	signAlg := fs.String("signing-alg", "", "fast client: offer only this signing algorithm (aes-gmac, aes-cmac)")
	_ = fs.Parse(args)
	if *addr == "" || fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	cfg := bench.DefaultConfig()
	if *short {
		cfg = bench.ShortConfig()
	}
	cfg.Addr, cfg.Share, cfg.User, cfg.Password, cfg.RequireSigning, cfg.LocalDir = *addr, *share, *user, *pass, *sign, *localDir
	cfg.Client, cfg.IOSize, cfg.Cipher, cfg.SigningAlg = *client, *ioMiB<<20, *cipher, *signAlg
	if *workloads != "" {
		cfg.Workloads = strings.Split(*workloads, ",")
	}
	setInt(&cfg.Streams, *streams)
	setInt(&cfg.QD, *qd)
	setInt(&cfg.RandMaxOps, *randOps)
	setInt(&cfg.MetaMaxOps, *metaOps)
	setInt(&cfg.MetaFiles, *metaFiles)
	setDur(&cfg.SeqTime, *seqTime)
	setInt(&cfg.SeqReadPasses, *seqPasses)
	cfg.NoPrewarm = *noPrewarm
	cfg.NoSettle = *noSettle
	setDur(&cfg.RandTime, *randTime)
	setDur(&cfg.MetaTime, *metaTime)
	setDur(&cfg.ListTime, *listTime)
	if *seqMiB > 0 {
		cfg.SeqBytes = *seqMiB << 20
	}
	if *randMiB > 0 {
		cfg.RandFileBytes = *randMiB << 20
	}
	if *copyMiB > 0 {
		cfg.CopyBytes = *copyMiB << 20
	}
	if *credits > 0 {
		cfg.MaxCredits = uint16(min(*credits, 8192))
	}
	if *list != "" {
		cfg.ListSizes = nil
		for _, s := range strings.Split(*list, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 {
				fmt.Fprintf(os.Stderr, "sofsbench: bad -list size %q\n", s)
				return 2
			}
			cfg.ListSizes = append(cfg.ListSizes, n)
		}
	}
	if !*quiet {
		cfg.Logf = func(f string, a ...any) {
			fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(f, a...))
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rep, err := bench.Run(ctx, cfg)
	if rep == nil {
		fmt.Fprintln(os.Stderr, "sofsbench:", err)
		return 1
	}
	rep.Server, rep.Mode = *server, *mode
	if werr := bench.WriteTable(os.Stdout, rep); werr != nil {
		fmt.Fprintln(os.Stderr, "sofsbench:", werr)
		return 1
	}
	if *jsonOut != "" {
		if werr := bench.WriteJSON(*jsonOut, rep); werr != nil {
			fmt.Fprintln(os.Stderr, "sofsbench:", werr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sofsbench:", err)
		return 1
	}
	if f := rep.Failed(); len(f) > 0 {
		fmt.Fprintf(os.Stderr, "sofsbench: %d workload(s) failed\n", len(f))
		return 1
	}
	return 0
}

func setInt(p *int, v int) {
	if v > 0 {
		*p = v
	}
}

func setDur(p *time.Duration, v time.Duration) {
	if v > 0 {
		*p = v
	}
}

func compare(args []string) int {
	fs := flag.NewFlagSet("sofsbench compare", flag.ExitOnError)
	subject := fs.String("subject", "sofs", "server label whose values are the numerators")
	reference := fs.String("reference", "samba", "server label whose values are the denominators")
	_ = fs.Parse(args)
	var reps []*bench.Report
	for _, p := range fs.Args() {
		r, err := bench.ReadJSON(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sofsbench compare:", err)
			return 1
		}
		reps = append(reps, r...)
	}
	if err := bench.Compare(os.Stdout, reps, *subject, *reference); err != nil {
		fmt.Fprintln(os.Stderr, "sofsbench compare:", err)
		return 1
	}
	return 0
}

func ceilings(args []string) int {
	fs := flag.NewFlagSet("sofsbench ceilings", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:4619", "loopback address for the TCP receiver")
	streams := fs.Int("streams", 4, "parallel connections for the multi-stream measurement")
	d := fs.Duration("time", 2*time.Second, "duration of each measurement")
	jsonOut := fs.String("json", "", "write the results as JSON to this file")
	_ = fs.Parse(args)
	res, err := bench.Ceilings(context.Background(), *addr, *streams, *d)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sofsbench ceilings:", err)
		return 1
	}
	rep := &bench.Report{Server: "ceilings", Started: time.Now().UTC(), Host: bench.DescribeHost(), Results: res}
	h := rep.Host
	fmt.Printf("host: %d CPUs, %s, kernel %s, %d GiB, %s, crypto asm: %s\n", h.NumCPU, h.CPU, h.Kernel, h.MemGiB, h.Version, h.CryptoAsm)
	for _, r := range res {
		fmt.Printf("%-28s %10.0f %s  (%s)\n", r.Name, r.Value, r.Unit, r.Note)
	}
	if *jsonOut != "" {
		if err := bench.WriteJSON(*jsonOut, rep); err != nil {
			fmt.Fprintln(os.Stderr, "sofsbench ceilings:", err)
			return 1
		}
	}
	return 0
}
