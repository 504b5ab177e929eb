package bench

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// seqState remembers how much each stream wrote, so seq-read reads back
// exactly that (a time-bounded write may stop early), and the request size.
type seqState struct {
	written []int64
	req     int64
}

var errNoSeqFiles = errors.New("seq-read needs seq-write to run first")

// seqRequest is the size of one sequential request: the client's largest
// (1 MiB for go-smb2; the server's MaxRead/MaxWrite up to 8 MiB for the
// fast client), a multiple of BlockSize.
func (r *runner) seqRequest() int64 {
	return max(BlockSize, int64(r.cl.MaxIO())/BlockSize*BlockSize)
}

// writeBlocks writes the pattern's blocks [off, off+n) of file id with one
// request: as separate buffers when the client can send them so (no
// copy), else gathered into buf.
func (r *runner) writeBlocks(f benchFile, id, off, n int64, buf []byte) error {
	if n == BlockSize {
		_, err := f.WriteAt(r.pat.at(id, off, BlockSize), off)
		return err
	}
	if vw, ok := f.(vecWriter); ok {
		pieces := make([][]byte, 0, n/BlockSize)
		for o := off; o < off+n; o += BlockSize {
			pieces = append(pieces, r.pat.at(id, o, BlockSize))
		}
		_, err := vw.WriteVec(off, pieces...)
		return err
	}
	buf = buf[:0]
	for o := off; o < off+n; o += BlockSize {
		buf = append(buf, r.pat.at(id, o, BlockSize)...)
	}
	_, err := f.WriteAt(buf, off)
	return err
}

// seqWrite: Streams goroutines on one session, each writing its own file
// sequentially in requests of seqRequest bytes, SeqBytes in total,
// bounded by SeqTime.
func (r *runner) seqWrite() []Result {
	n := r.cfg.Streams
	req := r.seqRequest()
	per := max(req, r.cfg.SeqBytes/int64(n)/req*req)
	written := make([]int64, n)
	errs := make([]error, n)
	note := fmt.Sprintf("%d streams x %d MiB requests, one session", n, req>>20)
	if r.cfg.LocalDir != "" && !r.cfg.NoPrewarm {
		if err := r.prewarm(per * int64(n)); err != nil {
			return errResult(WSeqWrite, err)
		}
		note += "; page cache prewarmed"
	}
	deadline := time.Now().Add(r.cfg.SeqTime)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			f, err := r.cl.Create(r.path("seq" + strconv.Itoa(i)))
			if err != nil {
				errs[i] = err
				return
			}
			id := int64(fileSeq + i)
			var buf []byte
			var off int64
			for ; off < per && time.Now().Before(deadline); off += req {
				if err := r.writeBlocks(f, id, off, req, buf); err != nil {
					errs[i] = err
					break
				}
			}
			written[i] = off
			if err := f.Close(); err != nil && errs[i] == nil {
				errs[i] = err
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	r.seq = &seqState{written: written, req: req}
	res := Result{Name: WSeqWrite, Unit: "MiB/s", Seconds: el.Seconds(), Note: note}
	for i := range n {
		res.Bytes += written[i]
		res.Ops += written[i] / req
	}
	if err := errors.Join(errs...); err != nil {
		res.Error = err.Error()
	}
	return []Result{res}
}

// seqRead reads back, in requests of the same size on the same streams,
// what seqWrite wrote, SeqReadPasses times, verifying every byte; bounded
// by SeqTime.
func (r *runner) seqRead() []Result {
	if r.seq == nil {
		return errResult(WSeqRead, errNoSeqFiles)
	}
	n := len(r.seq.written)
	req := r.seq.req
	read := make([]int64, n)
	errs := make([]error, n)
	deadline := time.Now().Add(r.cfg.SeqTime)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			f, err := r.cl.Open(r.path("seq"+strconv.Itoa(i)), false)
			if err != nil {
				errs[i] = err
				return
			}
			defer f.Close()
			id := int64(fileSeq + i)
			buf := make([]byte, req)
		passes:
			for range r.cfg.SeqReadPasses {
				for off := int64(0); off < r.seq.written[i]; off += req {
					if !time.Now().Before(deadline) {
						break passes
					}
					got, err := f.ReadAt(buf, off)
					if int64(got) != req {
						errs[i] = fmt.Errorf("short read at %d: %d bytes (%v)", off, got, err)
						break passes
					}
					if err := r.pat.verify(id, off, buf); err != nil {
						errs[i] = err
						break passes
					}
					read[i] += req
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	res := Result{Name: WSeqRead, Unit: "MiB/s", Seconds: el.Seconds(),
		Note: fmt.Sprintf("%d streams x %d MiB requests, one session, %d pass(es)", n, req>>20, r.cfg.SeqReadPasses)}
	for i := range n {
		res.Bytes += read[i]
		res.Ops += read[i] / req
	}
	res.Verified = res.Bytes
	if err := errors.Join(errs...); err != nil {
		res.Error = err.Error()
	}
	return []Result{res}
}

// randFile creates the random-I/O file once per run.
func (r *runner) randFile() (string, error) {
	name := r.path("rand")
	if r.randReady {
		return name, nil
	}
	if err := r.writeFile(name, fileRand, r.cfg.RandFileBytes); err != nil {
		return "", fmt.Errorf("create random-I/O file: %w", err)
	}
	r.randReady = true
	return name, nil
}

// random runs 4 KiB requests at 4 KiB-aligned random offsets of one file:
// qd goroutines on one session sharing one handle. Writes store the
// pattern's bytes for the offset, so any later read can verify.
func (r *runner) random(wname string, write bool, qd int) []Result {
	name, err := r.randFile()
	if err != nil {
		return errResult(wname, err)
	}
	f, err := r.cl.Open(name, write)
	if err != nil {
		return errResult(wname, err)
	}
	defer f.Close()
	nblk := r.cfg.RandFileBytes / 4096
	var ops atomic.Int64
	maxOps := int64(r.cfg.RandMaxOps)
	lats := make([][]time.Duration, qd)
	errs := make([]error, qd)
	deadline := time.Now().Add(r.cfg.RandTime)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range qd {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w)+1, uint64(start.UnixNano())))
			buf := make([]byte, 4096)
			lat := make([]time.Duration, 0, min(maxOps, 1<<16))
			for ops.Add(1) <= maxOps && time.Now().Before(deadline) {
				off := rng.Int64N(nblk) * 4096
				want := r.pat.at(fileRand, off, 4096)
				t0 := time.Now()
				var n int
				var err error
				if write {
					n, err = f.WriteAt(want, off)
				} else {
					n, err = f.ReadAt(buf, off)
				}
				lat = append(lat, time.Since(t0))
				if n != 4096 {
					errs[w] = fmt.Errorf("offset %d: %d of 4096 bytes (%v)", off, n, err)
					break
				}
				if !write {
					if err := r.pat.verify(fileRand, off, buf); err != nil {
						errs[w] = err
						break
					}
				}
			}
			lats[w] = lat
		})
	}
	wg.Wait()
	el := time.Since(start)
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	res := Result{Name: wname, Unit: "ops/s", Seconds: el.Seconds(), Ops: int64(len(all)), Bytes: int64(len(all)) * 4096,
		Note: fmt.Sprintf("%d goroutine(s) on one session, one shared handle, %d MiB file", qd, r.cfg.RandFileBytes>>20)}
	if !write {
		res.Verified = res.Bytes
	}
	res.P50us, res.P99us = percentiles(all)
	if err := errors.Join(errs...); err != nil {
		res.Error = err.Error()
	}
	return []Result{res}
}

// opLoop runs op(i) for i = 0, 1, ... until MetaMaxOps or MetaTime, one at a time.
func (r *runner) opLoop(name string, op func(i int) error) Result {
	lat := make([]time.Duration, 0, min(r.cfg.MetaMaxOps, 1<<16))
	deadline := time.Now().Add(r.cfg.MetaTime)
	start := time.Now()
	var err error
	for i := 0; i < r.cfg.MetaMaxOps && time.Now().Before(deadline); i++ {
		t0 := time.Now()
		if err = op(i); err != nil {
			break
		}
		lat = append(lat, time.Since(t0))
	}
	el := time.Since(start)
	res := Result{Name: name, Unit: "ops/s", Seconds: el.Seconds(), Ops: int64(len(lat)), Note: "queue depth 1"}
	res.P50us, res.P99us = percentiles(lat)
	if err != nil {
		res.Error = err.Error()
	}
	return res
}

// metaCreate: create a new file, write 4 KiB, close, delete; one op is all four.
func (r *runner) metaCreate() []Result {
	dir := r.path("mc")
	if err := r.cl.Mkdir(dir); err != nil {
		return errResult(WMetaCreate, err)
	}
	data := r.pat.at(fileMeta, 0, 4096)
	res := r.opLoop(WMetaCreate, func(i int) error {
		p := dir + `\f` + strconv.Itoa(i)
		f, err := r.cl.CreateNew(p)
		if err != nil {
			return err
		}
		if _, err := f.WriteAt(data, 0); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return r.cl.Remove(p)
	})
	res.Bytes = res.Ops * 4096
	res.Note = "CREATE + WRITE 4 KiB + CLOSE, then delete (CREATE + SET_INFO disposition + CLOSE); queue depth 1"
	return []Result{res}
}

// metaFiles creates the existing files for open+close and stat once per run.
func (r *runner) metaFiles() (string, error) {
	dir := r.path("me")
	if r.metaReady {
		return dir, nil
	}
	if err := r.cl.Mkdir(dir); err != nil {
		return "", err
	}
	for i := range r.cfg.MetaFiles {
		if err := r.writeFile(dir+`\f`+strconv.Itoa(i), fileMeta, 4096); err != nil {
			return "", fmt.Errorf("create metadata fixture: %w", err)
		}
	}
	r.metaReady = true
	return dir, nil
}

func (r *runner) metaOpen() []Result {
	dir, err := r.metaFiles()
	if err != nil {
		return errResult(WMetaOpen, err)
	}
	res := r.opLoop(WMetaOpen, func(i int) error {
		f, err := r.cl.Open(dir+`\f`+strconv.Itoa(i%r.cfg.MetaFiles), false)
		if err != nil {
			return err
		}
		return f.Close()
	})
	res.Note = fmt.Sprintf("CREATE (GENERIC_READ, FILE_OPEN) + CLOSE of %d existing files in turn; queue depth 1", r.cfg.MetaFiles)
	return []Result{res}
}

func (r *runner) metaStat() []Result {
	dir, err := r.metaFiles()
	if err != nil {
		return errResult(WMetaStat, err)
	}
	res := r.opLoop(WMetaStat, func(i int) error {
		p := dir + `\f` + strconv.Itoa(i%r.cfg.MetaFiles)
		size, isDir, err := r.cl.Stat(p)
		if err != nil {
			return err
		}
		if size != 4096 || isDir {
			return fmt.Errorf("stat %s: size %d dir %v, want a 4096-byte file", p, size, isDir)
		}
		return nil
	})
	res.Note = "Stat: CREATE (FILE_READ_ATTRIBUTES) + CLOSE, as the client does it; queue depth 1"
	return []Result{res}
}

// list creates directories of each ListSizes size and lists them whole,
// repeatedly within ListTime (at least once, at most ListMaxRuns),
// checking that every name comes back exactly once.
func (r *runner) list() []Result {
	var out []Result
	for _, size := range r.cfg.ListSizes {
		name := WList + "-" + strconv.Itoa(size)
		dir := r.path("l" + strconv.Itoa(size))
		how, err := r.listFixture(dir, size)
		if err != nil {
			out = append(out, Result{Name: name, Error: fmt.Sprintf("fixture: %v", err)})
			continue
		}
		seen := make([]int32, size)
		res := Result{Name: name, Unit: "entries/s"}
		deadline := time.Now().Add(r.cfg.ListTime)
		start := time.Now()
		var lat []time.Duration
		for run := int32(1); int(run) <= r.cfg.ListMaxRuns && (run == 1 || time.Now().Before(deadline)); run++ {
			t0 := time.Now()
			ents, err := r.cl.ReadDir(dir)
			lat = append(lat, time.Since(t0))
			if err == nil {
				err = checkListing(ents, seen, run)
			}
			if err != nil {
				res.Error = err.Error()
				break
			}
			res.Ops++
			res.Verified += int64(size)
		}
		res.Seconds = time.Since(start).Seconds()
		p50, _ := percentiles(lat)
		res.Note = fmt.Sprintf("%d listing(s), median %.0f ms each; fixture created %s", res.Ops, p50/1e3, how)
		out = append(out, res)
	}
	return out
}

// checkListing verifies that ents holds f0..f(n-1) exactly once each
// (run numbers the listing so seen needs no reset).
func checkListing(ents []dirEntry, seen []int32, run int32) error {
	if len(ents) != len(seen) {
		return fmt.Errorf("listing returned %d entries, want %d", len(ents), len(seen))
	}
	for _, e := range ents {
		nm := e.name
		i, err := strconv.Atoi(nm[min(1, len(nm)):])
		if len(nm) < 2 || nm[0] != 'f' || err != nil || i < 0 || i >= len(seen) || seen[i] == run {
			return fmt.Errorf("listing returned unexpected or repeated entry %q", nm)
		}
		seen[i] = run
	}
	return nil
}

// listFixture creates dir with n empty files f0..f(n-1): directly in the
// backing directory when it is known (100,000 SMB creates would dominate
// the run), else over SMB with FixtureParallel goroutines.
func (r *runner) listFixture(dir string, n int) (string, error) {
	if r.cfg.LocalDir != "" {
		ld := r.local(dir)
		if err := os.Mkdir(ld, 0o755); err != nil {
			return "", err
		}
		// Let the server's user manage the directory (samba-ref.sh serves
		// files as an unprivileged uid).
		if fi, err := os.Stat(r.cfg.LocalDir); err == nil {
			if st, ok := statOwner(fi); ok {
				_ = os.Lchown(ld, st.uid, st.gid)
			}
		}
		for i := range n {
			f, err := os.OpenFile(ld+"/f"+strconv.Itoa(i), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil {
				return "", err
			}
			f.Close()
		}
		return "in the backing directory", nil
	}
	if err := r.cl.Mkdir(dir); err != nil {
		return "", err
	}
	var next atomic.Int64
	errs := make([]error, r.cfg.FixtureParallel)
	var wg sync.WaitGroup
	for w := range r.cfg.FixtureParallel {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || r.ctx.Err() != nil {
					return
				}
				f, err := r.cl.Create(dir + `\f` + strconv.FormatInt(i, 10))
				if err == nil {
					err = f.Close()
				}
				if err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return "over SMB", errors.Join(errs...)
}

// copyPiece is the largest file the client library copies server-side
// correctly: for a longer file its File.copyTo sends every 16 MiB batch of
// chunks with the same source and target offsets (they never advance), so
// the first 16 MiB are copied over and over and the result is reported as
// complete. The copy workload therefore copies files of at most 16 MiB.
const copyPiece = 16 << 20

// copychunk copies CopyBytes server-side as files of up to 16 MiB
// (FSCTL_SRV_REQUEST_RESUME_KEY, then FSCTL_SRV_COPYCHUNK with 16 chunks of
// 1 MiB, as the client library does it), one file at a time, and verifies
// every copy by reading it back.
func (r *runner) copychunk() []Result {
	var sizes []int64
	for left := r.cfg.CopyBytes; left > 0; left -= copyPiece {
		sizes = append(sizes, min(left, copyPiece))
	}
	for i, sz := range sizes {
		if err := r.writeFile(r.path("copy-src"+strconv.Itoa(i)), int64(fileCopy+i), sz); err != nil {
			return errResult(WCopy, fmt.Errorf("create source: %w", err))
		}
	}
	res := Result{Name: WCopy, Unit: "MiB/s"}
	sent0, recv0 := r.cl.WireBytes()
	start := time.Now()
	var err error
	for i, sz := range sizes {
		var n int64
		if n, err = r.cl.Copy(r.path("copy-dst"+strconv.Itoa(i)), r.path("copy-src"+strconv.Itoa(i))); err != nil {
			break
		}
		if n != sz {
			err = fmt.Errorf("copy %d: %d bytes copied, want %d", i, n, sz)
			break
		}
		res.Bytes += n
		res.Ops++
	}
	res.Seconds = time.Since(start).Seconds()
	sent1, recv1 := r.cl.WireBytes()
	wire := sent1 - sent0 + recv1 - recv0
	res.Note = fmt.Sprintf("%d file(s) of up to 16 MiB, 16 x 1 MiB chunks per FSCTL_SRV_COPYCHUNK; %d bytes crossed the wire", len(sizes), wire)
	switch {
	case unsupported(err):
		res.Unsupported = "server refused the copychunk FSCTLs: " + err.Error()
		return []Result{res}
	case err != nil:
		res.Error = err.Error()
		return []Result{res}
	case wire > r.cfg.CopyBytes/4:
		res.Unsupported = "server lacks server-side copy: the client copied through itself"
		return []Result{res}
	}
	for i, sz := range sizes {
		if err := r.readVerify(r.path("copy-dst"+strconv.Itoa(i)), int64(fileCopy+i), sz); err != nil {
			res.Error = "verify copy: " + err.Error()
			return []Result{res}
		}
		res.Verified += sz
	}
	return []Result{res}
}

// prewarm writes n bytes to a scratch file in the work directory, through
// the local file system, and removes it, before seq-write is timed. On a
// virtual machine whose host takes back memory the guest has freed (this
// project's do), the first write into page-cache pages that have not been
// touched for a few seconds runs 2-5x slower than the next (measured:
// 600-1,100 MiB/s cold, 2,300-2,900 warm, same server and file system).
// That cost would land on whichever server happens to run after a pause,
// so the harness pays it itself, equally for every server.
func (r *runner) prewarm(n int64) error {
	name := r.local(r.cfg.WorkDir) + "/.sofsbench-prewarm"
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("bench: prewarm: %w", err)
	}
	buf := make([]byte, 8<<20)
	for off := int64(0); off < n && err == nil; off += int64(len(buf)) {
		_, err = f.Write(buf[:min(int64(len(buf)), n-off)])
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("bench: prewarm: %w", err)
	}
	return nil
}
