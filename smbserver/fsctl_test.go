package smbserver

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"testing"
	"time"

	"sofs.io/sofs/smbserver/wire"
)

// fsctlClient is a raw session on the test share for FSCTL tests.
type fsctlClient struct {
	t   *testing.T
	c   *rawConn
	s   *rawSession
	tid uint32
}

func newFsctlClient(t *testing.T, ts *testServer) *fsctlClient {
	c := dialRaw(t, ts.addr, Dialect302)
	s := c.login("test", "test123")
	return &fsctlClient{t: t, c: c, s: s, tid: c.treeConnect(s, "share")}
}

func (f *fsctlClient) ioctl(fid wire.FileID, code uint32, in []byte, maxOut uint32) (wire.Status, []byte) {
	f.t.Helper()
	req := &wire.IoctlRequest{CtlCode: code, FileID: fid, Input: in, MaxOutputResponse: maxOut, Flags: wire.IoctlIsFsctl}
	resp := f.c.roundTrip(f.s.signer, f.c.header(wire.CmdIoctl, f.s.id, f.tid), req)
	st := status(resp)
	if hdrOf(f.t, resp).Command != wire.CmdIoctl {
		f.t.Fatalf("response to IOCTL is %v", hdrOf(f.t, resp).Command)
	}
	var ir wire.IoctlResponse
	if ir.Decode(resp) == nil {
		return st, ir.Output
	}
	return st, nil
}

func (f *fsctlClient) must(fid wire.FileID, code uint32, in []byte, maxOut uint32) []byte {
	f.t.Helper()
	st, out := f.ioctl(fid, code, in, maxOut)
	if st != wire.StatusSuccess {
		f.t.Fatalf("FSCTL %#x: %v", code, st)
	}
	return out
}

func (f *fsctlClient) write(fid wire.FileID, off uint64, data []byte) {
	f.t.Helper()
	for len(data) > 0 { // one credit each: 64 KiB at most
		n := min(len(data), 64<<10)
		resp := f.c.roundTrip(f.s.signer, f.c.header(wire.CmdWrite, f.s.id, f.tid), &wire.WriteRequest{FileID: fid, Offset: off, Data: data[:n]})
		expect(f.t, resp, wire.CmdWrite, wire.StatusSuccess)
		data, off = data[n:], off+uint64(n)
	}
}

func (f *fsctlClient) read(fid wire.FileID, off uint64, n uint32) []byte {
	f.t.Helper()
	resp := f.c.roundTrip(f.s.signer, f.c.header(wire.CmdRead, f.s.id, f.tid), &wire.ReadRequest{FileID: fid, Offset: off, Length: n})
	expect(f.t, resp, wire.CmdRead, wire.StatusSuccess)
	var rr wire.ReadResponse
	if err := rr.Decode(resp); err != nil {
		f.t.Fatal(err)
	}
	return rr.Data
}

func decodeRanges(t *testing.T, out []byte) []wire.AllocatedRange {
	t.Helper()
	var rs []wire.AllocatedRange
	for len(out) >= 16 {
		r, _ := wire.DecodeAllocatedRange(out)
		rs = append(rs, r)
		out = out[16:]
	}
	return rs
}

func TestFsctlSparseRangesZeroTrim(t *testing.T) {
	ts := startServer(t, nil)
	f := newFsctlClient(t, ts)
	fid := f.c.create(f.s, f.tid, "disk.vhdx", false)
	data := bytes.Repeat([]byte{0xAB}, 64<<10)
	f.write(fid, 0, data)
	f.write(fid, 1<<20, data)
	size := int64(1<<20 + 64<<10)
	all := wire.AllocatedRange{FileOffset: 0, Length: 1 << 30}.AppendTo(nil)

	// Not sparse: the whole file is reported allocated (a VHDX never shows
	// holes the client did not ask for).
	rs := decodeRanges(t, f.must(fid, wire.FsctlQueryAllocatedRanges, all, 1024))
	if len(rs) != 1 || rs[0] != (wire.AllocatedRange{FileOffset: 0, Length: size}) {
		t.Fatalf("non-sparse ranges %+v", rs)
	}
	if st, _ := f.ioctl(fid, wire.FsctlQueryAllocatedRanges, all[:8], 1024); st != wire.StatusInvalidParameter {
		t.Fatalf("short input: %v", st)
	}
	if st, _ := f.ioctl(fid, wire.FsctlQueryAllocatedRanges, all, 8); st != wire.StatusBufferTooSmall {
		t.Fatalf("tiny output: %v", st)
	}
	empty := f.c.create(f.s, f.tid, "empty", false)
	if st, out := f.ioctl(empty, wire.FsctlQueryAllocatedRanges, all, 0); st != wire.StatusSuccess || len(out) != 0 {
		t.Fatalf("no ranges, no room: %v %d", st, len(out))
	}
	neg := wire.AllocatedRange{FileOffset: -1, Length: 1}.AppendTo(nil)
	if st, _ := f.ioctl(fid, wire.FsctlQueryAllocatedRanges, neg, 1024); st != wire.StatusInvalidParameter {
		t.Fatalf("negative offset: %v", st)
	}

	f.must(fid, wire.FsctlSetSparse, nil, 0)
	rs = decodeRanges(t, f.must(fid, wire.FsctlQueryAllocatedRanges, all, 1024))
	want := []wire.AllocatedRange{{FileOffset: 0, Length: 64 << 10}, {FileOffset: 1 << 20, Length: 64 << 10}}
	if len(rs) != 2 || rs[0] != want[0] || rs[1] != want[1] {
		t.Fatalf("sparse ranges %+v, want %+v", rs, want)
	}
	st, out := f.ioctl(fid, wire.FsctlQueryAllocatedRanges, all, 16)
	if st != wire.StatusBufferOverflow || len(out) != 16 {
		t.Fatalf("one-entry buffer: %v, %d bytes", st, len(out))
	}

	// Zero the first run: it reads back as zeros and is deallocated.
	f.must(fid, wire.FsctlSetZeroData, wire.FileZeroDataInformation{FileOffset: 0, BeyondFinalZero: 64 << 10}.Encode(), 0)
	if got := f.read(fid, 0, 4096); !bytes.Equal(got, make([]byte, 4096)) {
		t.Fatal("zeroed range does not read as zeros")
	}
	rs = decodeRanges(t, f.must(fid, wire.FsctlQueryAllocatedRanges, all, 1024))
	if len(rs) != 1 || rs[0] != want[1] {
		t.Fatalf("ranges after zeroing %+v", rs)
	}
	bad := wire.FileZeroDataInformation{FileOffset: 10, BeyondFinalZero: 5}.Encode()
	if st, _ := f.ioctl(fid, wire.FsctlSetZeroData, bad, 0); st != wire.StatusInvalidParameter {
		t.Fatalf("offset past BeyondFinalZero: %v", st)
	}

	// Trim: the ranges are processed and the size kept.
	trim := wire.FileLevelTrim{Ranges: []wire.AllocatedRange{{FileOffset: 1 << 20, Length: 4096}, {FileOffset: 1 << 40, Length: 1}}}
	out = f.must(fid, wire.FsctlFileLevelTrim, trim.Encode(), 4)
	if len(out) != 4 || binary.LittleEndian.Uint32(out) != 2 {
		t.Fatalf("trim output %x", out)
	}
	if st, _ := f.ioctl(fid, wire.FsctlFileLevelTrim, []byte{0, 0, 0, 0, 5, 0, 0, 0}, 4); st != wire.StatusInvalidParameter {
		t.Fatalf("trim with missing ranges: %v", st)
	}

	// Unsparse: back to one allocated range.
	f.must(fid, wire.FsctlSetSparse, []byte{0}, 0)
	rs = decodeRanges(t, f.must(fid, wire.FsctlQueryAllocatedRanges, all, 1024))
	if len(rs) != 1 || rs[0].Length != size {
		t.Fatalf("ranges after clearing sparse %+v", rs)
	}

	dir := f.c.create(f.s, f.tid, "d", true)
	if st, _ := f.ioctl(dir, wire.FsctlSetSparse, nil, 0); st != wire.StatusInvalidParameter {
		t.Fatalf("sparse directory: %v", st)
	}
}

func TestFsctlObjectID(t *testing.T) {
	ts := startServer(t, nil)
	f := newFsctlClient(t, ts)
	fid := f.c.create(f.s, f.tid, "obj", false)
	if st, _ := f.ioctl(fid, wire.FsctlGetObjectID, nil, 64); st != wire.StatusObjectIDNotFound {
		t.Fatalf("GET without an id: %v", st)
	}
	a := f.must(fid, wire.FsctlCreateOrGetObjectID, nil, 64)
	b := f.must(fid, wire.FsctlCreateOrGetObjectID, nil, 64)
	g := f.must(fid, wire.FsctlGetObjectID, nil, 64)
	if len(a) != 64 || !bytes.Equal(a, b) || !bytes.Equal(a, g) || bytes.Equal(a[:16], make([]byte, 16)) {
		t.Fatalf("object ids differ or are empty:\n%x\n%x\n%x", a, b, g)
	}
	// A second file gets another id.
	other := f.c.create(f.s, f.tid, "obj2", false)
	if c := f.must(other, wire.FsctlCreateOrGetObjectID, nil, 64); bytes.Equal(c[:16], a[:16]) {
		t.Fatal("two files share an object id")
	}

	// smb2.compound.related3: CREATE + CREATE_OR_GET_OBJECT_ID + CLOSE
	// as one related chain.
	cr := message(f.c.header(wire.CmdCreate, f.s.id, f.tid), createReq("related3", false))
	rel := wire.FileID{Persistent: anyID, Volatile: anyID}
	ih := f.c.header(wire.CmdIoctl, f.s.id, f.tid)
	ih.Flags |= wire.FlagRelatedOps
	io := message(ih, &wire.IoctlRequest{CtlCode: wire.FsctlCreateOrGetObjectID, FileID: rel, MaxOutputResponse: 64, Flags: wire.IoctlIsFsctl})
	ch := f.c.header(wire.CmdClose, f.s.id, f.tid)
	ch.Flags |= wire.FlagRelatedOps
	cl := message(ch, &wire.CloseRequest{FileID: rel})
	f.c.send(f.s.signer, cr, io, cl)
	msgs := f.c.recvFrame()
	if len(msgs) != 3 {
		t.Fatalf("%d responses", len(msgs))
	}
	expect(t, msgs[0], wire.CmdCreate, wire.StatusSuccess)
	expect(t, msgs[1], wire.CmdIoctl, wire.StatusSuccess)
	expect(t, msgs[2], wire.CmdClose, wire.StatusSuccess)
}

func TestFsctlCopychunk(t *testing.T) {
	ts := startServer(t, nil)
	f := newFsctlClient(t, ts)
	src := f.c.create(f.s, f.tid, "src", false)
	dst := f.c.create(f.s, f.tid, "dst", false)
	data := make([]byte, 192<<10)
	rand.Read(data)
	f.write(src, 0, data)

	out := f.must(src, wire.FsctlSrvRequestResumeKey, nil, 32)
	if len(out) < wire.ResumeKeySize {
		t.Fatalf("resume key response of %d bytes", len(out))
	}
	var key [wire.ResumeKeySize]byte
	copy(key[:], out)
	if again := f.must(src, wire.FsctlSrvRequestResumeKey, nil, 32); !bytes.Equal(again[:24], key[:]) {
		t.Fatal("second resume key for the same open differs")
	}

	cc := wire.SrvCopychunkCopy{SourceKey: key, Chunks: []wire.SrvCopychunk{
		{SourceOffset: 0, TargetOffset: 64 << 10, Length: 64 << 10},
		{SourceOffset: 64 << 10, TargetOffset: 0, Length: 64 << 10},
	}}
	for _, code := range []uint32{wire.FsctlSrvCopychunk, wire.FsctlSrvCopychunkWrite} {
		r, err := wire.DecodeSrvCopychunkResponse(f.must(dst, code, cc.Encode(), 12))
		if err != nil || r.ChunksWritten != 2 || r.TotalBytesWritten != 128<<10 {
			t.Fatalf("copychunk response %+v %v", r, err)
		}
	}
	got := append(f.read(dst, 0, 64<<10), f.read(dst, 64<<10, 64<<10)...)
	if !bytes.Equal(got[:64<<10], data[64<<10:128<<10]) || !bytes.Equal(got[64<<10:], data[:64<<10]) {
		t.Fatal("copied data differs")
	}

	// Over the limits: STATUS_INVALID_PARAMETER with the limits.
	for name, in := range map[string]wire.SrvCopychunkCopy{
		"too many chunks": {SourceKey: key, Chunks: make([]wire.SrvCopychunk, 257)},
		"chunk too big":   {SourceKey: key, Chunks: []wire.SrvCopychunk{{Length: 1<<20 + 1}}},
		"zero length":     {SourceKey: key, Chunks: []wire.SrvCopychunk{{Length: 0}}},
		"total too big":   {SourceKey: key, Chunks: repeatChunk(17, 1<<20)},
	} {
		st, out := f.ioctl(dst, wire.FsctlSrvCopychunk, in.Encode(), 12)
		r, err := wire.DecodeSrvCopychunkResponse(out)
		if st != wire.StatusInvalidParameter || err != nil || r != (wire.SrvCopychunkResponse{ChunksWritten: 256, ChunkBytesWritten: 1 << 20, TotalBytesWritten: 16 << 20}) {
			t.Fatalf("%s: %v %+v %v", name, st, r, err)
		}
	}
	bad := cc
	bad.SourceKey[0] ^= 0xFF
	if st, _ := f.ioctl(dst, wire.FsctlSrvCopychunk, bad.Encode(), 12); st != wire.StatusObjectNameNotFound {
		t.Fatalf("bad key: %v", st)
	}
	past := wire.SrvCopychunkCopy{SourceKey: key, Chunks: []wire.SrvCopychunk{{SourceOffset: 190 << 10, Length: 64 << 10}}}
	if st, _ := f.ioctl(dst, wire.FsctlSrvCopychunk, past.Encode(), 12); st != wire.StatusInvalidViewSize {
		t.Fatalf("chunk past the source's end: %v", st)
	}
	// A closed source's key is void.
	resp := f.c.roundTrip(f.s.signer, f.c.header(wire.CmdClose, f.s.id, f.tid), &wire.CloseRequest{FileID: src})
	expect(t, resp, wire.CmdClose, wire.StatusSuccess)
	if st, _ := f.ioctl(dst, wire.FsctlSrvCopychunk, cc.Encode(), 12); st != wire.StatusObjectNameNotFound {
		t.Fatalf("key of a closed open: %v", st)
	}
}

func repeatChunk(n int, length uint32) []wire.SrvCopychunk {
	cs := make([]wire.SrvCopychunk, n)
	for i := range cs {
		cs[i] = wire.SrvCopychunk{SourceOffset: uint64(i) * uint64(length), Length: length}
	}
	return cs
}

func TestFsctlOffload(t *testing.T) {
	ts := startServer(t, nil)
	f := newFsctlClient(t, ts)
	src := f.c.create(f.s, f.tid, "src", false)
	dst := f.c.create(f.s, f.tid, "dst", false)
	data := make([]byte, 100<<10+100) // not sector-aligned at the end
	rand.Read(data)
	f.write(src, 0, data)

	out := f.must(src, wire.FsctlOffloadRead, wire.OffloadReadInput{FileOffset: 4096, CopyLength: 1 << 20}.Encode(), 16+wire.OffloadTokenSize)
	rd, err := wire.DecodeOffloadReadOutput(out)
	if err != nil || rd.TransferLength != uint64(len(data)-4096) || rd.Flags&1 == 0 {
		t.Fatalf("offload read %+v %v", rd.TransferLength, err)
	}
	wr := wire.OffloadWriteInput{FileOffset: 0, CopyLength: 8192, TransferOffset: 512, Token: rd.Token}
	out = f.must(dst, wire.FsctlOffloadWrite, wr.Encode(), 16)
	if binary.LittleEndian.Uint64(out[8:]) != 8192 {
		t.Fatalf("offload write output %x", out)
	}
	if got := f.read(dst, 0, 8192); !bytes.Equal(got, data[4096+512:4096+512+8192]) {
		t.Fatal("offload-written data differs")
	}
	if st, _ := f.ioctl(src, wire.FsctlOffloadRead, wire.OffloadReadInput{FileOffset: 1, CopyLength: 512}.Encode(), 528); st != wire.StatusInvalidParameter {
		t.Fatalf("unaligned offload read: %v", st)
	}
	forged := wr
	forged.Token[100] ^= 1
	if st, _ := f.ioctl(dst, wire.FsctlOffloadWrite, forged.Encode(), 16); st != statusInvalidToken {
		t.Fatalf("forged token: %v", st)
	}
	// A write to the source voids its tokens.
	time.Sleep(10 * time.Millisecond)
	f.write(src, 0, []byte{1, 2, 3})
	if st, _ := f.ioctl(dst, wire.FsctlOffloadWrite, wr.Encode(), 16); st != statusInvalidToken {
		t.Fatalf("token of a changed file: %v", st)
	}
}

func TestFsctlMisc(t *testing.T) {
	ts := startServer(t, nil)
	f := newFsctlClient(t, ts)
	fid := f.c.create(f.s, f.tid, "f", false)

	out := f.must(fid, wire.FsctlGetIntegrityInformation, nil, 16)
	if len(out) != 16 || binary.LittleEndian.Uint16(out) != wire.ChecksumTypeNone {
		t.Fatalf("integrity %x", out)
	}
	f.must(fid, wire.FsctlSetIntegrityInformation, []byte{0, 0, 0, 0, 0, 0, 0, 0}, 0)
	if st, _ := f.ioctl(fid, wire.FsctlSetIntegrityInformation, []byte{2, 0, 0, 0, 0, 0, 0, 0}, 0); st != wire.StatusInvalidDeviceRequest {
		t.Fatalf("integrity on: %v", st)
	}
	if st, _ := f.ioctl(fid, wire.FsctlSetIntegrityInformation, []byte{7, 0, 0, 0, 0, 0, 0, 0}, 0); st != wire.StatusInvalidParameter {
		t.Fatalf("bad checksum type: %v", st)
	}

	f.must(fid, wire.FsctlLmrRequestResiliency, wire.NetworkResiliencyRequest{Timeout: 60000}.Encode(), 0)
	o := ts.srv.opens.get(fid.Volatile)
	if d, ok := resiliencyTimeout(o); !ok || d != time.Minute {
		t.Fatalf("resiliency %v %v", d, ok)
	}
	if st, _ := f.ioctl(fid, wire.FsctlLmrRequestResiliency, []byte{1}, 0); st != wire.StatusInvalidParameter {
		t.Fatalf("short resiliency input: %v", st)
	}

	any := wire.FileID{Persistent: anyID, Volatile: anyID}
	out = f.must(any, wire.FsctlQueryNetworkInterfaceInfo, nil, 64<<10)
	if len(out) != 152 || binary.LittleEndian.Uint32(out) != 0 || binary.LittleEndian.Uint32(out[8:])&3 != 0 ||
		binary.LittleEndian.Uint64(out[16:]) == 0 || binary.LittleEndian.Uint16(out[24:]) != 2 || !bytes.Equal(out[28:32], []byte{127, 0, 0, 1}) {
		t.Fatalf("network interfaces %x", out)
	}

	// Without reflink in the backing file system (or with it) the answer
	// is one Windows gives.
	src := f.c.create(f.s, f.tid, "g", false)
	f.write(src, 0, make([]byte, 8192))
	de := wire.DuplicateExtentsData{FileHandle: src, ByteCount: 4096}
	st, _ := f.ioctl(fid, wire.FsctlDuplicateExtentsToFile, de.Encode(), 0)
	if o.handle.SupportsReflink() {
		if st != wire.StatusSuccess {
			t.Fatalf("duplicate extents: %v", st)
		}
	} else if st != wire.StatusInvalidDeviceRequest {
		t.Fatalf("duplicate extents without reflink: %v", st)
	}

	// Compression: never compressed, "none" accepted, compressing not
	// supported (Windows Server 2016 on a volume without compression).
	if out := f.must(fid, wire.FsctlGetCompression, nil, 2); !bytes.Equal(out, []byte{0, 0}) {
		t.Fatalf("get compression %x", out)
	}
	f.must(fid, wire.FsctlSetCompression, []byte{0, 0}, 0)
	if st, _ := f.ioctl(fid, wire.FsctlSetCompression, []byte{1, 0}, 0); st != wire.StatusNotSupported {
		t.Fatalf("set compression: %v", st)
	}
	// Other file-system FSCTLs the store does not implement.
	if st, _ := f.ioctl(fid, wire.FsctlQueryFileRegions, nil, 1024); st != wire.StatusInvalidDeviceRequest {
		t.Fatalf("unimplemented FSCTL: %v", st)
	}
	// QUERY_NETWORK_INTERFACE_INFO names no file.
	if st, _ := f.ioctl(fid, wire.FsctlQueryNetworkInterfaceInfo, nil, 64<<10); st != wire.StatusInvalidParameter {
		t.Fatalf("network interfaces with a FileId: %v", st)
	}
}

// A real client's server-side copy (go-smb2's File.ReadFrom between two
// files of one share uses FSCTL_SRV_REQUEST_RESUME_KEY and
// FSCTL_SRV_COPYCHUNK, in rounds within the 16 MiB limit).
func TestFsctlCopychunkClient(t *testing.T) {
	ts := startServer(t, nil)
	fs, err := ts.mount(t, "test", "test123")
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	defer fs.Umount()
	data := make([]byte, 5<<20+123)
	rand.Read(data)
	src, err := fs.Create("src.vhdx")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Write(data); err != nil {
		t.Fatal(err)
	}
	dst, err := fs.Create("dst.vhdx")
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := src.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	n, err := dst.ReadFrom(src)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("server-side copy: %d %v", n, err)
	}
	got, err := fs.ReadFile("dst.vhdx")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("copied file differs (%d bytes, %v)", len(got), err)
	}
	src.Close()
	dst.Close()
	// Neither file came back sparse.
	for _, name := range []string{"src.vhdx", "dst.vhdx"} {
		f := newFsctlClient(t, ts)
		fid := f.c.create(f.s, f.tid, name, false)
		rs := decodeRanges(t, f.must(fid, wire.FsctlQueryAllocatedRanges, wire.AllocatedRange{Length: 1 << 40}.AppendTo(nil), 1024))
		if len(rs) != 1 || rs[0].Length != int64(len(data)) {
			t.Fatalf("%s ranges %+v", name, rs)
		}
	}
}
