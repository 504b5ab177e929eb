package smbserver

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf16"

	"golang.org/x/sys/unix"

	"sofs.io/sofs/smbserver/fscc"
	"sofs.io/sofs/smbserver/wire"
)

// fsOpenIf is a CREATE of name with MAXIMUM_ALLOWED, FILE_OPEN_IF.
func fsOpenIf(name string) wire.CreateRequest {
	return wire.CreateRequest{Name: name, DesiredAccess: maximumAllowed, CreateDisposition: 3}
}

// TestCreateValidation covers the request checks of [MS-SMB2] 3.3.5.9
// that Windows applies before touching the file.
func TestCreateValidation(t *testing.T) {
	ts := startServer(t, nil)
	c := dialFS(t, ts)

	req := fsOpenIf("opts.txt")
	req.CreateOptions = optCreateTreeConnection
	if st, _ := c.create(req); st != wire.StatusNotSupported {
		t.Errorf("FILE_CREATE_TREE_CONNECTION: %#x, want NOT_SUPPORTED", uint32(st))
	}
	for _, attr := range []uint32{0x8, 0x40, 0x8000, 0x10000, 0x20000} {
		req := fsOpenIf("attrs.txt")
		req.FileAttributes = attr
		if st, _ := c.create(req); st != wire.StatusInvalidParameter {
			t.Errorf("FileAttributes %#x: %#x, want INVALID_PARAMETER", attr, uint32(st))
		}
	}
	// Short context names are malformed; unknown ones of four bytes or
	// more are ignored.
	for name, want := range map[string]wire.Status{"x": wire.StatusInvalidParameter, "xyz": wire.StatusInvalidParameter, "xxxx": wire.StatusSuccess, "FooOBar": wire.StatusSuccess} {
		req := fsOpenIf("ctx.txt")
		req.Contexts = []wire.CreateContext{{Name: name}}
		st, resp := c.create(req)
		if st != want {
			t.Errorf("context %q: %#x, want %#x", name, uint32(st), uint32(want))
		}
		if st == wire.StatusSuccess {
			c.close(resp.FileID)
		}
	}
	// No snapshots: a timewarp open finds nothing ([MS-SMB2] 3.3.5.9.4).
	req = fsOpenIf("ctx.txt")
	req.Contexts = []wire.CreateContext{{Name: wire.CreateContextTimewarp, Data: make([]byte, 8)}}
	if st, _ := c.create(req); st != wire.StatusObjectNameNotFound {
		t.Errorf("timewarp: %#x, want OBJECT_NAME_NOT_FOUND", uint32(st))
	}
}

// TestCreateAttributes checks which FileAttributes a CREATE stores
// ([MS-FSA] 2.1.5.1.2.1) and that EFS encryption is refused.
func TestCreateAttributes(t *testing.T) {
	ts := startServer(t, nil)
	c := dialFS(t, ts)
	for attr, want := range map[uint32]uint32{
		attrSparse:     attrArchive,
		attrCompressed: attrArchive,
		attrDirectory:  attrArchive,
		attrHidden:     attrHidden | attrArchive,
		attrTemporary:  attrTemporary | attrArchive,
	} {
		req := fsOpenIf(fmt.Sprintf("a%x.txt", attr))
		req.CreateDisposition = 5 // OVERWRITE_IF
		req.FileAttributes = attr
		resp := c.mustCreate(req)
		if resp.FileAttributes != want {
			t.Errorf("create with %#x: attributes %#x, want %#x", attr, resp.FileAttributes, want)
		}
		c.close(resp.FileID)
	}
	req := fsOpenIf("enc.txt")
	req.FileAttributes = attrEncrypted
	if st, _ := c.create(req); st != wire.StatusAccessDenied {
		t.Errorf("ENCRYPTED create: %#x, want ACCESS_DENIED", uint32(st))
	}
	// Opening an existing file ignores the attributes.
	req.Name = "a200.txt"
	resp := c.mustCreate(req)
	c.close(resp.FileID)
}

// TestReadWriteOffsets covers the offset rules of [MS-FSA] 2.1.5.2 and
// 2.1.5.3 as Windows applies them to SMB2 READ and WRITE.
func TestReadWriteOffsets(t *testing.T) {
	ts := startServer(t, nil)
	c := dialFS(t, ts)
	f := c.mustCreate(fsOpenIf("rw.bin")).FileID
	if st := c.write(f, 0, make([]byte, 100)); st != wire.StatusSuccess {
		t.Fatalf("write: %#x", uint32(st))
	}
	bad := wire.FileID{Persistent: 12345, Volatile: 12345}
	for _, tc := range []struct {
		name string
		id   wire.FileID
		off  uint64
		n    uint32
		want wire.Status
	}{
		{"negative offset before the handle check", bad, 1 << 63, 0, wire.StatusInvalidParameter},
		{"offset -1", bad, math.MaxUint64, 0, wire.StatusInvalidParameter},
		{"zero length at INT64_MAX", f, math.MaxInt64, 0, wire.StatusSuccess},
		{"one byte at INT64_MAX overflows", f, math.MaxInt64, 1, wire.StatusInvalidParameter},
		{"one byte at INT64_MAX-1", f, math.MaxInt64 - 1, 1, wire.StatusEndOfFile},
		{"zero length at end of file", f, 100, 0, wire.StatusSuccess},
		{"past end of file", f, 100, 10, wire.StatusEndOfFile},
	} {
		if st, data := c.read(tc.id, tc.off, tc.n); st != tc.want || len(data) != 0 && st == wire.StatusSuccess && tc.n == 0 {
			t.Errorf("read %s: %#x, want %#x", tc.name, uint32(st), uint32(tc.want))
		}
	}
	for _, tc := range []struct {
		name string
		id   wire.FileID
		off  uint64
		n    int
		want wire.Status
	}{
		{"offset -1 (no append convention)", bad, math.MaxUint64, 10, wire.StatusInvalidParameter},
		{"INT64_MIN", bad, 1 << 63, 0, wire.StatusInvalidParameter},
		{"zero length at INT64_MAX", f, math.MaxInt64, 0, wire.StatusSuccess},
		{"one byte at INT64_MAX", f, math.MaxInt64, 1, wire.StatusInvalidParameter},
		{"one byte at the NTFS limit", f, maxFileSize, 1, wire.StatusInvalidParameter},
		{"zero length at the NTFS limit", f, maxFileSize, 0, wire.StatusSuccess},
	} {
		if st := c.write(tc.id, tc.off, make([]byte, tc.n)); st != tc.want {
			t.Errorf("write %s: %#x, want %#x", tc.name, uint32(st), uint32(tc.want))
		}
	}
	st, buf := c.queryInfo(f, infoFile, fscc.FileStandardInformation, 0)
	if st != wire.StatusSuccess || binary.LittleEndian.Uint64(buf[8:]) != 100 {
		t.Fatalf("size after zero-length writes: %#x % x", uint32(st), buf)
	}
}

// TestWriteFarPastEndIsDiskFull: extending a non-sparse file allocates
// on NTFS, so growth beyond the free space is STATUS_DISK_FULL rather
// than a silent hole.
func TestWriteFarPastEndIsDiskFull(t *testing.T) {
	ts := startServer(t, nil)
	c := dialFS(t, ts)
	f := c.mustCreate(fsOpenIf("big.bin")).FileID
	var fs unix.Statfs_t
	if err := unix.Statfs(ts.dir, &fs); err != nil {
		t.Fatal(err)
	}
	if int64(fs.Bavail)*fs.Bsize >= maxFileSize-1 {
		t.Skip("the test file system has more free space than the NTFS file size limit")
	}
	if st := c.write(f, maxFileSize-1, []byte{1}); st != wire.StatusDiskFull {
		t.Errorf("write at the NTFS limit: %#x, want DISK_FULL", uint32(st))
	}
	eof := binary.LittleEndian.AppendUint64(nil, maxFileSize-1)
	if st := c.setInfo(f, infoFile, fscc.FileEndOfFileInformation, eof); st != wire.StatusDiskFull {
		t.Errorf("set end of file at the NTFS limit: %#x, want DISK_FULL", uint32(st))
	}
}

// TestQueryDirectorySkipsDeleted: an enumeration continued after names
// were removed through another handle does not return them (Windows
// enumerates the live directory).
// The directory is either fresh (its mtime too recent to prove anything)
// or old, so that only the change of its stamp reveals the deletions.
func TestQueryDirectorySkipsDeleted(t *testing.T) {
	for _, old := range []bool{false, true} {
		testQueryDirectorySkipsDeleted(t, old)
	}
}

func testQueryDirectorySkipsDeleted(t *testing.T, old bool) {
	ts := startServer(t, nil)
	c := dialFS(t, ts)
	dir := wire.CreateRequest{Name: "d", DesiredAccess: maximumAllowed, CreateDisposition: 3, CreateOptions: optDirectoryFile}
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		if n == "a" {
			c.close(c.mustCreate(dir).FileID)
		}
		c.close(c.mustCreate(fsOpenIf(`d\` + n)).FileID)
	}
	if old {
		past := time.Now().Add(-time.Hour)
		if err := os.Chtimes(filepath.Join(ts.dir, "d"), past, past); err != nil {
			t.Fatal(err)
		}
	}
	d1 := c.mustCreate(dir).FileID
	st, buf := c.queryDir(d1, fscc.FileNamesInformation, qdReturnSingleEntry, "*", 4096)
	if st != wire.StatusSuccess || len(fsNames(buf)) != 1 {
		t.Fatalf("first query: %#x %q", uint32(st), fsNames(buf))
	}
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		req := wire.CreateRequest{Name: `d\` + n, DesiredAccess: accessDelete, CreateDisposition: 1, CreateOptions: optDeleteOnClose}
		c.close(c.mustCreate(req).FileID)
	}
	st, buf = c.queryDir(d1, fscc.FileNamesInformation, 0, "*", 4096)
	for _, n := range fsNames(buf) {
		if n != "." && n != ".." {
			t.Errorf("deleted name %q returned", n)
		}
	}
	if st != wire.StatusSuccess && st != wire.StatusNoMoreFiles {
		t.Fatalf("second query: %#x", uint32(st))
	}
}

// fsNames decodes the names of a FILE_NAMES_INFORMATION buffer.
func fsNames(b []byte) []string {
	var out []string
	for len(b) >= 12 {
		next := binary.LittleEndian.Uint32(b)
		n := binary.LittleEndian.Uint32(b[8:])
		if 12+int(n) > len(b) {
			break
		}
		u := make([]uint16, n/2)
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(b[12+2*i:])
		}
		out = append(out, string(utf16.Decode(u)))
		if next == 0 || int(next) > len(b) {
			break
		}
		b = b[next:]
	}
	return out
}

// TestSetInfoChecks covers SET_INFO / QUERY_INFO rules of [MS-FSA]:
// TEMPORARY on a directory, delete pending hiding the link, and the
// access FileFullEaInformation needs.
func TestSetInfoChecks(t *testing.T) {
	ts := startServer(t, nil)
	c := dialFS(t, ts)
	d := c.mustCreate(wire.CreateRequest{Name: "dir", DesiredAccess: maximumAllowed, CreateDisposition: 3, CreateOptions: optDirectoryFile}).FileID
	basic := make([]byte, 40)
	binary.LittleEndian.PutUint32(basic[32:], attrTemporary)
	if st := c.setInfo(d, infoFile, fscc.FileBasicInformation, basic); st != wire.StatusInvalidParameter {
		t.Errorf("TEMPORARY on a directory: %#x, want INVALID_PARAMETER", uint32(st))
	}

	f := c.mustCreate(fsOpenIf("f.txt")).FileID
	if st := c.setInfo(f, infoFile, fscc.FileDispositionInformation, []byte{1}); st != wire.StatusSuccess {
		t.Fatalf("set delete pending: %#x", uint32(st))
	}
	st, buf := c.queryInfo(f, infoFile, fscc.FileStandardInformation, 0)
	if st != wire.StatusSuccess || binary.LittleEndian.Uint32(buf[16:]) != 0 || buf[20] != 1 {
		t.Errorf("standard info with delete pending: %#x % x (want 0 links, DeletePending 1)", uint32(st), buf)
	}
	c.setInfo(f, infoFile, fscc.FileDispositionInformation, []byte{0})

	sync := c.mustCreate(wire.CreateRequest{Name: "f.txt", DesiredAccess: synchronize, CreateDisposition: 1}).FileID
	if st, _ := c.queryInfo(sync, infoFile, fscc.FileFullEaInformation, 0); st != wire.StatusAccessDenied {
		t.Errorf("FileFullEaInformation without FILE_READ_EA: %#x, want ACCESS_DENIED", uint32(st))
	}
}

// TestSetChangeTime: a change time set with FileBasicInformation is
// reported back ([MS-FSCC] 2.4.7), also after an attribute-only change
// through the same handle ([MS-FSA] 2.1.5.14.2, Open.UserSetChangeTime).
// Directories report no allocation, as on NTFS.
func TestSetChangeTime(t *testing.T) {
	ts := startServer(t, nil)
	c := dialFS(t, ts)
	f := c.mustCreate(fsOpenIf("t.txt")).FileID
	basic := make([]byte, 40)
	times := []uint64{133000000000000000, 133100000000000000, 133200000000000000, 133300000000000000}
	for i, v := range times {
		binary.LittleEndian.PutUint64(basic[8*i:], v)
	}
	binary.LittleEndian.PutUint32(basic[32:], attrReadonly)
	if st := c.setInfo(f, infoFile, fscc.FileBasicInformation, basic); st != wire.StatusSuccess {
		t.Fatalf("set basic: %#x", uint32(st))
	}
	attrsOnly := make([]byte, 40)
	binary.LittleEndian.PutUint32(attrsOnly[32:], attrNormal)
	if st := c.setInfo(f, infoFile, fscc.FileBasicInformation, attrsOnly); st != wire.StatusSuccess {
		t.Fatalf("set attributes: %#x", uint32(st))
	}
	st, buf := c.queryInfo(f, infoFile, fscc.FileBasicInformation, 0)
	if st != wire.StatusSuccess {
		t.Fatalf("query basic: %#x", uint32(st))
	}
	for i, v := range times {
		if got := binary.LittleEndian.Uint64(buf[8*i:]); got != v {
			t.Errorf("time %d: %d, want %d", i, got, v)
		}
	}
	d := c.mustCreate(wire.CreateRequest{Name: "d", DesiredAccess: maximumAllowed, CreateDisposition: 2, CreateOptions: optDirectoryFile})
	if d.AllocationSize != 0 {
		t.Errorf("new directory AllocationSize %d, want 0", d.AllocationSize)
	}
}
