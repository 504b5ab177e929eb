package smbserver

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"sofs.io/sofs/smbserver/fscc"
	"sofs.io/sofs/smbserver/wire"
)

// unwantedAttrs are the attributes Hyper-V refuses on a virtual disk file
// unless it asked for them: a sparse, compressed or encrypted VHDX is not
// opened for a running VM (the OPEN_VIRTUAL_DISK_FLAG_SUPPORT_* flags
// exist because the default refuses them).
const unwantedAttrs = attrSparse | attrCompressed | attrEncrypted

// vhdxAttrs reports a file's attributes as a client sees them in three
// places: FileBasicInformation, a directory listing and a fresh CREATE.
func vhdxAttrs(t *testing.T, c *fsClient, fid wire.FileID, name string) (basic, listed, opened uint32) {
	t.Helper()
	st, b := c.queryInfo(fid, 1, fscc.FileBasicInformation, 0)
	if st != wire.StatusSuccess || len(b) < 40 {
		t.Fatalf("FileBasicInformation: %v, %d bytes", st, len(b))
	}
	basic = binary.LittleEndian.Uint32(b[32:])
	root := c.mustCreate(wire.CreateRequest{DesiredAccess: 0x00120089, CreateDisposition: 1, CreateOptions: optDirectoryFile, Name: ""})
	defer c.close(root.FileID)
	st, d := c.queryDir(root.FileID, fscc.FileDirectoryInformation, 0, name, 65536)
	if st != wire.StatusSuccess || len(d) < 64 {
		t.Fatalf("QUERY_DIRECTORY %s: %v, %d bytes", name, st, len(d))
	}
	listed = binary.LittleEndian.Uint32(d[56:]) // [MS-FSCC] 2.4.10 FileAttributes
	again := c.mustCreate(wire.CreateRequest{DesiredAccess: 0x00120089, CreateDisposition: 1, Name: name})
	c.close(again.FileID)
	return basic, listed, again.FileAttributes
}

func (c *fsClient) fsctl(fid wire.FileID, code uint32, in []byte) wire.Status {
	c.t.Helper()
	req := wire.IoctlRequest{CtlCode: code, FileID: fid, Input: in, Flags: wire.IoctlIsFsctl}
	h, _ := c.call(wire.CmdIoctl, req.AppendTo)
	return wire.Status(h.Status)
}

// allocatedBytes is the backing file's allocation on disk.
func allocatedBytes(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}

// TestVirtualDiskNeverSparseUnlessAsked checks the issue #3 rule for
// Hyper-V ([MS-HVRS]): a VHDX never comes back sparse, compressed or
// encrypted unless a client made it so. Writing with gaps, zeroing ranges
// (FSCTL_SET_ZERO_DATA, which Hyper-V sends when it creates a disk) and
// trimming leave the attributes alone and keep the zeroed range allocated;
// asking for compression or encryption through the attribute bits
// changes nothing; only FSCTL_SET_SPARSE makes the file sparse, and
// clearing it makes it plain again.
func TestVirtualDiskNeverSparseUnlessAsked(t *testing.T) {
	ts := startServer(t, nil)
	c := dialFS(t, ts)
	const name = "vm.vhdx"
	// COMPRESSED in the create attributes is ignored, as on a volume
	// that cannot compress.
	cr := c.mustCreate(wire.CreateRequest{DesiredAccess: rw, CreateDisposition: 2, FileAttributes: attrNormal | attrCompressed, Name: name})
	fid := cr.FileID
	if cr.FileAttributes&unwantedAttrs != 0 {
		t.Fatalf("created with attributes %#x", cr.FileAttributes)
	}
	block := bytes.Repeat([]byte{0x5a}, 64<<10)
	for _, off := range []uint64{0, 4 << 20} { // a gap the client left
		if st := c.write(fid, off, block); st != wire.StatusSuccess {
			t.Fatalf("write at %d: %v", off, st)
		}
	}
	backing := filepath.Join(ts.dir, name)
	before := allocatedBytes(t, backing)
	zero := wire.FileZeroDataInformation{FileOffset: 0, BeyondFinalZero: 64 << 10}.Encode()
	if st := c.fsctl(fid, wire.FsctlSetZeroData, zero); st != wire.StatusSuccess {
		t.Fatalf("SET_ZERO_DATA: %v", st)
	}
	if st, got := c.read(fid, 0, 4096); st != wire.StatusSuccess || !bytes.Equal(got, make([]byte, 4096)) {
		t.Fatalf("zeroed range reads %v %x...", st, got[:min(8, len(got))])
	}
	if after := allocatedBytes(t, backing); after < before {
		t.Fatalf("SET_ZERO_DATA on a file that is not sparse deallocated it: %d -> %d bytes", before, after)
	}
	// A VM's SCSI UNMAP becomes FILE_LEVEL_TRIM: on a file that is not
	// sparse the allocation stays, so a fixed disk never meets a full
	// volume inside its own size.
	before = allocatedBytes(t, backing)
	trim := wire.FileLevelTrim{Ranges: []wire.AllocatedRange{{FileOffset: 4 << 20, Length: 64 << 10}}}
	if st := c.fsctl(fid, wire.FsctlFileLevelTrim, trim.Encode()); st != wire.StatusSuccess {
		t.Fatalf("FILE_LEVEL_TRIM: %v", st)
	}
	if after := allocatedBytes(t, backing); after < before {
		t.Fatalf("FILE_LEVEL_TRIM on a file that is not sparse deallocated it: %d -> %d bytes", before, after)
	}
	// Attribute bits the client may not set through SET_INFO are
	// ignored ([MS-FSA] 2.1.5.14.2).
	basicBuf := make([]byte, 40)
	binary.LittleEndian.PutUint32(basicBuf[32:], attrArchive|unwantedAttrs)
	if st := c.setInfo(fid, 1, fscc.FileBasicInformation, basicBuf); st != wire.StatusSuccess {
		t.Fatalf("SET_INFO basic: %v", st)
	}
	if b, l, o := vhdxAttrs(t, c, fid, name); (b|l|o)&unwantedAttrs != 0 {
		t.Fatalf("attributes basic %#x, listed %#x, opened %#x: a VHDX came back sparse, compressed or encrypted", b, l, o)
	}

	// The client's own choice shows, everywhere.
	if st := c.fsctl(fid, wire.FsctlSetSparse, nil); st != wire.StatusSuccess {
		t.Fatalf("SET_SPARSE: %v", st)
	}
	if b, l, o := vhdxAttrs(t, c, fid, name); b&l&o&attrSparse == 0 {
		t.Fatalf("after SET_SPARSE: basic %#x, listed %#x, opened %#x", b, l, o)
	}
	if st := c.fsctl(fid, wire.FsctlSetSparse, []byte{0}); st != wire.StatusSuccess {
		t.Fatalf("SET_SPARSE off: %v", st)
	}
	if b, l, o := vhdxAttrs(t, c, fid, name); (b|l|o)&unwantedAttrs != 0 {
		t.Fatalf("after clearing sparse: basic %#x, listed %#x, opened %#x", b, l, o)
	}
	c.close(fid)
}

// TestBlockRefcountingMeansDuplicateExtents checks [MS-HVRS] C0007 and
// C0009 as Hyper-V reads them from FileFsAttributeInformation: a volume
// that advertises FILE_SUPPORTS_BLOCK_REFCOUNTING must serve
// FSCTL_DUPLICATE_EXTENTS_TO_FILE (Hyper-V then clones blocks for
// checkpoint merges), one that does not refuses it; and
// FILE_SUPPORTS_SPARSE_VDL is never advertised, so Hyper-V keeps refusing
// sparse virtual disks, which sofs never makes on its own.
func TestBlockRefcountingMeansDuplicateExtents(t *testing.T) {
	ts := startServer(t, nil)
	c := dialFS(t, ts)
	src := c.mustCreate(wire.CreateRequest{DesiredAccess: rw, CreateDisposition: 2, Name: "parent.vhdx"})
	if st := c.write(src.FileID, 0, bytes.Repeat([]byte{7}, 8192)); st != wire.StatusSuccess {
		t.Fatalf("write: %v", st)
	}
	dst := c.mustCreate(wire.CreateRequest{DesiredAccess: rw, CreateDisposition: 2, Name: "child.vhdx"})
	st, fsa := c.queryInfo(dst.FileID, 2, fscc.FileFsAttributeInformation, 0)
	if st != wire.StatusSuccess || len(fsa) < 4 {
		t.Fatalf("FileFsAttributeInformation: %v, %d bytes", st, len(fsa))
	}
	flags := binary.LittleEndian.Uint32(fsa)
	if flags&fscc.FileSupportsSparseVDL != 0 {
		t.Fatalf("FILE_SUPPORTS_SPARSE_VDL advertised (flags %#x)", flags)
	}
	de := wire.DuplicateExtentsData{FileHandle: src.FileID, ByteCount: 4096}
	st = c.fsctl(dst.FileID, wire.FsctlDuplicateExtentsToFile, de.Encode())
	refcounting := flags&fscc.FileSupportsBlockRefcounting != 0
	switch {
	case refcounting && st != wire.StatusSuccess:
		t.Fatalf("BLOCK_REFCOUNTING advertised but DUPLICATE_EXTENTS_TO_FILE fails: %v", st)
	case !refcounting && st != wire.StatusInvalidDeviceRequest:
		t.Fatalf("BLOCK_REFCOUNTING not advertised, DUPLICATE_EXTENTS_TO_FILE answers %v", st)
	}
	if refcounting {
		if rs, got := c.read(dst.FileID, 0, 4096); rs != wire.StatusSuccess || !bytes.Equal(got, bytes.Repeat([]byte{7}, 4096)) {
			t.Fatalf("cloned range reads %v", rs)
		}
	}
	t.Logf("volume reflinks: %v", refcounting)
	c.close(dst.FileID)
	c.close(src.FileID)
}
