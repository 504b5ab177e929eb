package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"sofs.io/sofs/integration/smbtest"
	"sofs.io/sofs/smbserver/wire"
)

// Server-side copies whose source and destination opens are on different
// nodes: the resume key (FSCTL_SRV_REQUEST_RESUME_KEY) or offload token
// (FSCTL_OFFLOAD_READ) one node issued is accepted by another, the copy is
// exact, and a key that names nothing is refused as one Windows server
// refuses it.

// accessRead is FILE_GENERIC_READ.
const accessRead = 0x00120089

// statusInvalidToken is STATUS_INVALID_TOKEN ([MS-FSA] 2.1.5.10.23).
const statusInvalidToken wire.Status = 0xC0000465

func (cl *client) fsctl(ctx context.Context, fid wire.FileID, code uint32, in []byte) (wire.Status, []byte, error) {
	r, err := cl.c.Call(ctx, wire.CmdIoctl, cl.tid, &wire.IoctlRequest{
		CtlCode: code, FileID: fid, Input: in, MaxOutputResponse: 64 << 10, Flags: wire.IoctlIsFsctl,
	}, 0)
	if err != nil {
		return 0, nil, err
	}
	var resp wire.IoctlResponse
	// An error carries an IOCTL response (StructureSize 49) when it
	// reports progress, else the 9-byte error response.
	if len(r.Msg) > wire.HeaderSize+2 && r.Msg[wire.HeaderSize] == 49 {
		if err := resp.Decode(r.Msg); err != nil {
			return r.Status(), nil, err
		}
	}
	return r.Status(), resp.Output, nil
}

// writeAll writes data at 0 in 64 KiB requests.
func (cl *client) writeAll(t *testing.T, ctx context.Context, fid wire.FileID, data []byte) {
	t.Helper()
	for off := 0; off < len(data); off += 64 << 10 {
		end := min(off+64<<10, len(data))
		r, err := cl.c.Call(ctx, wire.CmdWrite, cl.tid, &wire.WriteRequest{FileID: fid, Offset: uint64(off), Data: data[off:end]}, 0)
		if err != nil || r.Status() != wire.StatusSuccess {
			t.Fatalf("write at %d: %v %v", off, r.Status(), err)
		}
	}
}

// readAll reads n bytes from 0 in 64 KiB requests.
func (cl *client) readAll(t *testing.T, ctx context.Context, fid wire.FileID, n int) []byte {
	t.Helper()
	out := make([]byte, 0, n)
	for len(out) < n {
		r, err := cl.c.Call(ctx, wire.CmdRead, cl.tid, &wire.ReadRequest{FileID: fid, Offset: uint64(len(out)), Length: uint32(min(64<<10, n-len(out)))}, 0)
		if err != nil || r.Status() != wire.StatusSuccess {
			t.Fatalf("read at %d: %v %v", len(out), r.Status(), err)
		}
		var rr wire.ReadResponse
		if err := rr.Decode(r.Msg); err != nil || len(rr.Data) == 0 {
			t.Fatalf("read at %d: %d bytes, %v", len(out), len(rr.Data), err)
		}
		out = append(out, rr.Data...)
	}
	return out
}

func randomData(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func copychunkInput(key []byte, chunks ...wire.SrvCopychunk) []byte {
	in := wire.SrvCopychunkCopy{Chunks: chunks}
	copy(in.SourceKey[:], key)
	return in.Encode()
}

func TestCopyKeysAcrossNodes(t *testing.T) {
	c, nodes := threeNodeShare(t)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// One client (one ClientGuid) with connections to n1 and n2, and
	// another client on n3.
	var guid [16]byte
	rand.Read(guid[:])
	a, b := c.connectAs(ctx, n1, guid), c.connectAs(ctx, n2, guid)
	d := c.connect(ctx, n3)

	const size = 3 << 20
	data := randomData(t, size)
	src := a.mustCreate(t, ctx, openReq("copy-src.bin", smbtest.AccessReadWrite, smbtest.ShareAll))
	a.writeAll(t, ctx, src, data)

	t.Run("Copychunk", func(t *testing.T) {
		st, out, err := a.fsctl(ctx, src, wire.FsctlSrvRequestResumeKey, nil)
		if err != nil || st != wire.StatusSuccess || len(out) < wire.ResumeKeySize {
			t.Fatalf("resume key on n1: %v %v (%d bytes)", st, err, len(out))
		}
		key := out[:wire.ResumeKeySize]
		dst := b.mustCreate(t, ctx, openReq("copy-dst.bin", smbtest.AccessReadWrite, smbtest.ShareAll))
		defer b.c.CloseFile(ctx, b.tid, dst)
		// Three 1 MiB chunks, the second and third swapped, so the
		// offsets are honoured, not just the bytes.
		const mib = 1 << 20
		st, out, err = b.fsctl(ctx, dst, wire.FsctlSrvCopychunkWrite, copychunkInput(key,
			wire.SrvCopychunk{SourceOffset: 0, TargetOffset: 0, Length: mib},
			wire.SrvCopychunk{SourceOffset: 2 * mib, TargetOffset: 2 * mib, Length: mib},
			wire.SrvCopychunk{SourceOffset: mib, TargetOffset: mib, Length: mib}))
		if err != nil || st != wire.StatusSuccess {
			t.Fatalf("copychunk on n2 with n1's resume key: %v %v", st, err)
		}
		resp, err := wire.DecodeSrvCopychunkResponse(out)
		if err != nil || resp.ChunksWritten != 3 || resp.TotalBytesWritten != size {
			t.Fatalf("copychunk response %+v %v, want 3 chunks, %d bytes", resp, err, size)
		}
		// Read back through the third node: what n2 wrote is on the
		// shared volume.
		got := d.mustCreate(t, ctx, openReq("copy-dst.bin", accessRead, smbtest.ShareAll))
		if !bytes.Equal(d.readAll(t, ctx, got, size), data) {
			t.Fatal("the copy through n2 differs from the source written through n1")
		}
		d.c.CloseFile(ctx, d.tid, got)

		// A range another client locked against the source open's
		// reads is refused, with the progress so far.
		lk := d.mustCreate(t, ctx, openReq("copy-src.bin", smbtest.AccessReadWrite, smbtest.ShareAll))
		p, err := d.lock(ctx, lk, mib, 10, wire.LockFlagExclusiveLock|wire.LockFlagFailImmediately)
		if s := status(t, ctx, p, err); s != wire.StatusSuccess {
			t.Fatalf("lock on n3: %v", s)
		}
		st, out, err = b.fsctl(ctx, dst, wire.FsctlSrvCopychunkWrite, copychunkInput(key,
			wire.SrvCopychunk{SourceOffset: 0, TargetOffset: 0, Length: 4096},
			wire.SrvCopychunk{SourceOffset: mib, TargetOffset: mib, Length: 4096}))
		if err != nil || st != wire.StatusFileLockConflict {
			t.Fatalf("copychunk of a range locked through n3: %v %v, want STATUS_FILE_LOCK_CONFLICT", st, err)
		}
		if resp, err := wire.DecodeSrvCopychunkResponse(out); err != nil || resp.ChunksWritten != 1 || resp.TotalBytesWritten != 4096 {
			t.Fatalf("copychunk progress before the lock: %+v %v, want 1 chunk, 4096 bytes", resp, err)
		}
		d.c.CloseFile(ctx, d.tid, lk)

		// A key no node issued, and the key of an open that has closed,
		// name nothing: STATUS_OBJECT_NAME_NOT_FOUND ([MS-SMB2] 3.3.5.15.6).
		forged := randomData(t, wire.ResumeKeySize)
		if st, _, err := b.fsctl(ctx, dst, wire.FsctlSrvCopychunkWrite, copychunkInput(forged,
			wire.SrvCopychunk{Length: 4096})); err != nil || st != wire.StatusObjectNameNotFound {
			t.Fatalf("copychunk with a forged key: %v %v, want STATUS_OBJECT_NAME_NOT_FOUND", st, err)
		}
		src2 := a.mustCreate(t, ctx, openReq("copy-src.bin", accessRead, smbtest.ShareAll))
		st, out, err = a.fsctl(ctx, src2, wire.FsctlSrvRequestResumeKey, nil)
		if err != nil || st != wire.StatusSuccess {
			t.Fatalf("second resume key: %v %v", st, err)
		}
		key2 := out[:wire.ResumeKeySize]
		a.c.CloseFile(ctx, a.tid, src2)
		if st, _, err := b.fsctl(ctx, dst, wire.FsctlSrvCopychunkWrite, copychunkInput(key2,
			wire.SrvCopychunk{Length: 4096})); err != nil || st != wire.StatusObjectNameNotFound {
			t.Fatalf("copychunk with the key of a closed open: %v %v, want STATUS_OBJECT_NAME_NOT_FOUND", st, err)
		}
	})

	// The price of a key from another node: one gather to find the
	// issuer and an open of the source there, per request. Measured, not
	// asserted (the machine is shared); the median of 20 1 MiB copies.
	t.Run("Cost", func(t *testing.T) {
		st, out, err := a.fsctl(ctx, src, wire.FsctlSrvRequestResumeKey, nil)
		if err != nil || st != wire.StatusSuccess {
			t.Fatalf("resume key: %v %v", st, err)
		}
		key := out[:wire.ResumeKeySize]
		median := func(cl *client, name string) time.Duration {
			dst := cl.mustCreate(t, ctx, openReq(name, smbtest.AccessReadWrite, smbtest.ShareAll))
			defer cl.c.CloseFile(ctx, cl.tid, dst)
			var ds []time.Duration
			for range 20 {
				start := time.Now()
				st, _, err := cl.fsctl(ctx, dst, wire.FsctlSrvCopychunkWrite, copychunkInput(key, wire.SrvCopychunk{Length: 1 << 20}))
				if err != nil || st != wire.StatusSuccess {
					t.Fatalf("copychunk into %s: %v %v", name, st, err)
				}
				ds = append(ds, time.Since(start))
			}
			slices.Sort(ds)
			return ds[len(ds)/2]
		}
		same, other := median(a, "cost-same.bin"), median(b, "cost-other.bin")
		t.Logf("copychunk of 1 MiB, median of 20: key and destination on one node %v, on two nodes %v", same, other)
	})

	offloadRead := func(t *testing.T, ttlMS uint32) [wire.OffloadTokenSize]byte {
		t.Helper()
		st, out, err := a.fsctl(ctx, src, wire.FsctlOffloadRead, wire.OffloadReadInput{TokenTimeToLive: ttlMS, CopyLength: size}.Encode())
		if err != nil || st != wire.StatusSuccess {
			t.Fatalf("offload read on n1: %v %v", st, err)
		}
		o, err := wire.DecodeOffloadReadOutput(out)
		if err != nil || o.TransferLength != size {
			t.Fatalf("offload read output: %d bytes, %v", o.TransferLength, err)
		}
		return o.Token
	}
	offloadWrite := func(fid wire.FileID, tok [wire.OffloadTokenSize]byte) (wire.Status, []byte, error) {
		return b.fsctl(ctx, fid, wire.FsctlOffloadWrite, wire.OffloadWriteInput{CopyLength: size, Token: tok}.Encode())
	}

	t.Run("Offload", func(t *testing.T) {
		tok := offloadRead(t, 0)
		dst := b.mustCreate(t, ctx, openReq("odx-dst.bin", smbtest.AccessReadWrite, smbtest.ShareAll))
		defer b.c.CloseFile(ctx, b.tid, dst)
		st, out, err := offloadWrite(dst, tok)
		if err != nil || st != wire.StatusSuccess || len(out) < 16 {
			t.Fatalf("offload write on n2 with n1's token: %v %v", st, err)
		}
		if n := le64(out[8:]); n != size {
			t.Fatalf("offload write: %d bytes written, want %d", n, size)
		}
		got := d.mustCreate(t, ctx, openReq("odx-dst.bin", accessRead, smbtest.ShareAll))
		if !bytes.Equal(d.readAll(t, ctx, got, size), data) {
			t.Fatal("the offload copy through n2 differs from the source written through n1")
		}
		d.c.CloseFile(ctx, d.tid, got)

		// Forged: STATUS_INVALID_TOKEN.
		var forged [wire.OffloadTokenSize]byte
		copy(forged[:8], tok[:8]) // a well-formed header, an id no node made
		copy(forged[8:], randomData(t, wire.OffloadTokenSize-8))
		if st, _, err := offloadWrite(dst, forged); err != nil || st != statusInvalidToken {
			t.Fatalf("offload write with a forged token: %v %v, want STATUS_INVALID_TOKEN", st, err)
		}

		// Voided by a write to the source through a third node.
		tok = offloadRead(t, 0)
		w := d.mustCreate(t, ctx, openReq("copy-src.bin", smbtest.AccessReadWrite, smbtest.ShareAll))
		d.writeAll(t, ctx, w, data[:4096])
		d.c.CloseFile(ctx, d.tid, w)
		// The same bytes, but the write time moved: Windows voids a
		// token on any write to its range.
		if st, _, err := offloadWrite(dst, tok); err != nil || st != statusInvalidToken {
			t.Fatalf("offload write with a token whose source was written through n3: %v %v, want STATUS_INVALID_TOKEN", st, err)
		}

		// Expired: a token asked to live 50 ms is refused after that.
		const ttl = 50 * time.Millisecond
		issued := time.Now()
		tok = offloadRead(t, uint32(ttl/time.Millisecond))
		// Waiting is the point here (the token's lifetime), not
		// synchronisation with the server.
		time.Sleep(time.Until(issued.Add(2 * ttl)))
		if st, _, err := offloadWrite(dst, tok); err != nil || st != statusInvalidToken {
			t.Fatalf("offload write with an expired token: %v %v, want STATUS_INVALID_TOKEN", st, err)
		}
	})
}

func le64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}
