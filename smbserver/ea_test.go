package smbserver

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"sofs.io/sofs/smbserver/fscc"
	"sofs.io/sofs/smbserver/wire"
)

// queryEA sends QUERY_INFO FileFullEaInformation with the given flags,
// index, FILE_GET_EA_INFORMATION list and output buffer size.
func (c *fsClient) queryEA(id wire.FileID, flags, index uint32, get []byte, max uint32) (wire.Status, []fscc.EA) {
	c.t.Helper()
	req := wire.QueryInfoRequest{InfoType: infoFile, FileInfoClass: fscc.FileFullEaInformation, OutputBufferLength: max,
		InputBuffer: get, Flags: flags, AdditionalInformation: index, FileID: id}
	h, msg := c.call(wire.CmdQueryInfo, req.AppendTo)
	st := wire.Status(h.Status)
	if st != wire.StatusSuccess && st != wire.StatusBufferOverflow {
		return st, nil
	}
	var resp wire.QueryInfoResponse
	if err := resp.Decode(msg); err != nil {
		c.t.Fatal(err)
	}
	eas, err := fscc.DecodeFullEA(resp.Buffer)
	if err != nil {
		c.t.Fatalf("server sent a malformed EA list: %v", err)
	}
	return st, eas
}

func eaNames(eas []fscc.EA) []string {
	var out []string
	for _, ea := range eas {
		out = append(out, ea.Name+"="+string(ea.Value))
	}
	return out
}

func fullEA(t *testing.T, eas ...fscc.EA) []byte {
	t.Helper()
	b, err := fscc.AppendFullEA(nil, eas)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func getEAList(names ...string) []byte {
	var b []byte
	for i, n := range names {
		size := 5 + len(n) + 1
		next := 0
		if i < len(names)-1 {
			next = (size + 3) &^ 3
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(next))
		b = append(b, byte(len(n)))
		b = append(b, n...)
		for j := size - 1; j < max(next, size); j++ {
			b = append(b, 0)
		}
	}
	return b
}

func TestEAsOverTheWire(t *testing.T) {
	ts := startServer(t, nil)
	c := dialFS(t, ts)
	ext := fullEA(t, fscc.EA{Name: "EaOne", Value: []byte("VALUE1")}, fscc.EA{Name: "SECONDEA", Value: []byte("ValueTwo")})
	cr := c.mustCreate(wire.CreateRequest{Name: "ea.txt", DesiredAccess: 0x001F01FF, CreateDisposition: 2,
		Contexts: []wire.CreateContext{{Name: wire.CreateContextEABuffer, Data: ext}}})
	id := cr.FileID

	// EaSize is the list's FILE_FULL_EA_INFORMATION size: 8+5+1+6 = 20
	// (aligned) + 8+8+1+8 = 25.
	st, b := c.queryInfo(id, infoFile, fscc.FileEaInformation, 0)
	if st != wire.StatusSuccess || binary.LittleEndian.Uint32(b) != 45 {
		t.Fatalf("FileEaInformation: %v % x", st, b)
	}
	st, eas := c.queryEA(id, slRestartScan, 0, nil, 65536)
	if st != wire.StatusSuccess || !slices.Equal(eaNames(eas), []string{"EAONE=VALUE1", "SECONDEA=ValueTwo"}) {
		t.Fatalf("all EAs: %v %q (names are stored upper-cased)", st, eaNames(eas))
	}
	// Scanning one entry at a time, then past the end.
	st, eas = c.queryEA(id, slRestartScan|slReturnSingleEntry, 0, nil, 65536)
	if st != wire.StatusSuccess || len(eas) != 1 || eas[0].Name != "EAONE" {
		t.Fatalf("first single entry: %v %q", st, eaNames(eas))
	}
	st, eas = c.queryEA(id, slReturnSingleEntry, 0, nil, 65536)
	if st != wire.StatusSuccess || len(eas) != 1 || eas[0].Name != "SECONDEA" {
		t.Fatalf("next single entry: %v %q", st, eaNames(eas))
	}
	if st, _ = c.queryEA(id, slReturnSingleEntry, 0, nil, 65536); st != wire.StatusNoMoreEAs {
		t.Fatalf("past the end: %v", st)
	}
	// By index (1-based).
	st, eas = c.queryEA(id, slIndexSpecified|slReturnSingleEntry, 2, nil, 65536)
	if st != wire.StatusSuccess || len(eas) != 1 || eas[0].Name != "SECONDEA" {
		t.Fatalf("index 2: %v %q", st, eaNames(eas))
	}
	if st, _ = c.queryEA(id, slIndexSpecified, 3, nil, 65536); st != wire.StatusNonexistentEAEntry {
		t.Fatalf("index 3: %v", st)
	}
	// Only whole entries: room for the first only.
	st, eas = c.queryEA(id, slRestartScan, 0, nil, 30)
	if st != wire.StatusBufferOverflow || len(eas) != 1 {
		t.Fatalf("30-byte buffer: %v %q", st, eaNames(eas))
	}
	if st, _ = c.queryEA(id, slRestartScan, 0, nil, 10); st != wire.StatusBufferTooSmall {
		t.Fatalf("10-byte buffer: %v", st)
	}
	// A get list: in its order, case-insensitive, absent names empty.
	st, eas = c.queryEA(id, 0, 0, getEAList("secondea", "missing"), 65536)
	if st != wire.StatusSuccess || !slices.Equal(eaNames(eas), []string{"SECONDEA=ValueTwo", "missing="}) {
		t.Fatalf("get list: %v %q", st, eaNames(eas))
	}
	if st, _ = c.queryEA(id, 0, 0, []byte{1, 2, 3}, 65536); st != wire.StatusEAListInconsistent {
		t.Fatalf("malformed get list: %v", st)
	}

	// SET: replace one, delete one (empty value), add one; bad names and
	// malformed lists change nothing.
	if st := c.setInfo(id, infoFile, fscc.FileFullEaInformation, fullEA(t, fscc.EA{Name: "bad*name", Value: []byte("x")})); st != wire.StatusInvalidEAName {
		t.Fatalf("invalid name: %v", st)
	}
	if st := c.setInfo(id, infoFile, fscc.FileFullEaInformation, []byte{0, 0, 0, 0, 0, 9, 0}); st != wire.StatusEAListInconsistent {
		t.Fatalf("malformed list: %v", st)
	}
	set := fullEA(t, fscc.EA{Name: "eaone"}, fscc.EA{Name: "SecondEA", Value: []byte("2")}, fscc.EA{Name: "third", Value: []byte("3")})
	if st := c.setInfo(id, infoFile, fscc.FileFullEaInformation, set); st != wire.StatusSuccess {
		t.Fatalf("set: %v", st)
	}
	st, eas = c.queryEA(id, slRestartScan, 0, nil, 65536)
	if st != wire.StatusSuccess || !slices.Equal(eaNames(eas), []string{"SECONDEA=2", "THIRD=3"}) {
		t.Fatalf("after set: %v %q", st, eaNames(eas))
	}
	// The size shows in directory listings (FileFullDirectoryInformation
	// EaSize at offset 64): 8+8+1+1 = 18 padded to 20, + 8+5+1+1 = 15.
	root := c.mustCreate(wire.CreateRequest{Name: "", DesiredAccess: 0x001F01FF, CreateDisposition: 1, CreateOptions: optDirectoryFile})
	st, b = c.queryDir(root.FileID, fscc.FileFullDirectoryInformation, 0, "ea.txt", 65536)
	if st != wire.StatusSuccess || binary.LittleEndian.Uint32(b[64:]) != 35 {
		t.Fatalf("listing EaSize: %v %d", st, binary.LittleEndian.Uint32(b[64:]))
	}
	c.close(root.FileID)

	// Deleting every EA leaves none.
	if st := c.setInfo(id, infoFile, fscc.FileFullEaInformation, fullEA(t, fscc.EA{Name: "secondea"}, fscc.EA{Name: "third"})); st != wire.StatusSuccess {
		t.Fatalf("delete all: %v", st)
	}
	if st, _ = c.queryEA(id, slRestartScan, 0, nil, 65536); st != wire.StatusNoEAsOnFile {
		t.Fatalf("no EAs left: %v", st)
	}
	c.close(id)

	// Access: reading EAs needs FILE_READ_EA, writing FILE_WRITE_EA.
	ro := c.mustCreate(wire.CreateRequest{Name: "ea.txt", DesiredAccess: fileReadAttributes, CreateDisposition: 1})
	if st, _ = c.queryEA(ro.FileID, slRestartScan, 0, nil, 65536); st != wire.StatusAccessDenied {
		t.Fatalf("query without FILE_READ_EA: %v", st)
	}
	if st := c.setInfo(ro.FileID, infoFile, fscc.FileFullEaInformation, set); st != wire.StatusAccessDenied {
		t.Fatalf("set without FILE_WRITE_EA: %v", st)
	}
	c.close(ro.FileID)

	// FILE_NEED_EA keeps out openers that declare no EA knowledge.
	need := fullEA(t, fscc.EA{Flags: fscc.FileNeedEA, Name: "NEEDED", Value: []byte("x")})
	cr = c.mustCreate(wire.CreateRequest{Name: "need.txt", DesiredAccess: 0x001F01FF, CreateDisposition: 2,
		Contexts: []wire.CreateContext{{Name: wire.CreateContextEABuffer, Data: need}}})
	c.close(cr.FileID)
	if st, _ := c.create(wire.CreateRequest{Name: "need.txt", DesiredAccess: 0x001F01FF, CreateDisposition: 1, CreateOptions: optNoEAKnowledge}); st != wire.StatusAccessDenied {
		t.Fatalf("FILE_NO_EA_KNOWLEDGE on a NEED_EA file: %v", st)
	}
	// A bad EA buffer fails the CREATE and creates nothing.
	bad := fullEA(t, fscc.EA{Name: "a:b", Value: []byte("x")})
	if st, _ := c.create(wire.CreateRequest{Name: "bad.txt", DesiredAccess: 0x001F01FF, CreateDisposition: 2,
		Contexts: []wire.CreateContext{{Name: wire.CreateContextEABuffer, Data: bad}}}); st != wire.StatusInvalidEAName {
		t.Fatalf("bad ExtA: %v", st)
	}
	if _, err := os.Stat(filepath.Join(ts.dir, "bad.txt")); err == nil {
		t.Fatal("a CREATE with a bad EA buffer created the file")
	}
}

// streamEntries decodes FILE_STREAM_INFORMATION into "name size" strings.
func streamEntries(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	for off := 0; off < len(b); {
		e := b[off:]
		if len(e) < 24 {
			t.Fatalf("short entry at %d", off)
		}
		n := int(binary.LittleEndian.Uint32(e[4:]))
		name, err := fscc.DecodeUTF16(e[24 : 24+n])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, name+" "+string(rune('0'+binary.LittleEndian.Uint64(e[8:]))))
		next := int(binary.LittleEndian.Uint32(e))
		if next == 0 {
			break
		}
		off += next
	}
	return out
}

func TestStreamsOverTheWire(t *testing.T) {
	ts := startServer(t, nil)
	c := dialFS(t, ts)
	s := c.mustCreate(wire.CreateRequest{Name: `f.txt:Zone.Identifier`, DesiredAccess: 0x001F01FF, CreateDisposition: 2})
	if st := c.write(s.FileID, 0, []byte("zone=3")); st != wire.StatusSuccess {
		t.Fatalf("write stream: %v", st)
	}
	b := c.mustCreate(wire.CreateRequest{Name: `f.txt`, DesiredAccess: 0x001F01FF, CreateDisposition: 1})
	if st := c.write(b.FileID, 0, []byte("main")); st != wire.StatusSuccess {
		t.Fatalf("write base: %v", st)
	}
	st, data := c.queryInfo(b.FileID, infoFile, fscc.FileStreamInformation, 0)
	if got := streamEntries(t, data); st != wire.StatusSuccess || !slices.Equal(got, []string{"::$DATA 4", ":Zone.Identifier:$DATA 6"}) {
		t.Fatalf("streams: %v %q", st, got)
	}
	// Only whole entries: room for the first leaves the second out.
	qreq := wire.QueryInfoRequest{InfoType: infoFile, FileInfoClass: fscc.FileStreamInformation, OutputBufferLength: 60, FileID: b.FileID}
	h, msg := c.call(wire.CmdQueryInfo, qreq.AppendTo)
	var qresp wire.QueryInfoResponse
	if wire.Status(h.Status) != wire.StatusBufferOverflow || qresp.Decode(msg) != nil {
		t.Fatalf("60-byte stream query: %v", wire.Status(h.Status))
	}
	if got := streamEntries(t, qresp.Buffer); !slices.Equal(got, []string{"::$DATA 4"}) || len(qresp.Buffer) != 38 {
		t.Fatalf("60-byte stream query returned %q in %d bytes", got, len(qresp.Buffer))
	}
	// The stream's data is its own; the base file on disk holds only its
	// default stream.
	if st, got := c.read(s.FileID, 0, 100); st != wire.StatusSuccess || string(got) != "zone=3" {
		t.Fatalf("read stream: %v %q", st, got)
	}
	if onDisk, _ := os.ReadFile(filepath.Join(ts.dir, "f.txt")); string(onDisk) != "main" {
		t.Fatalf("base file holds %q", onDisk)
	}
	// FileNameInformation names the stream.
	st, data = c.queryInfo(s.FileID, infoFile, fscc.FileNameInformation, 0)
	if name, _ := fscc.DecodeUTF16(data[4:]); st != wire.StatusSuccess || name != `\f.txt:Zone.Identifier` {
		t.Fatalf("stream name info: %v %q", st, name)
	}
	// Rename the stream, then delete it through its handle.
	ri := make([]byte, 20)
	ri = append(ri, fscc.EncodeUTF16(nil, ":renamed:$DATA")...)
	binary.LittleEndian.PutUint32(ri[16:], uint32(len(ri)-20))
	if st := c.setInfo(s.FileID, infoFile, fscc.FileRenameInformation, ri); st != wire.StatusSuccess {
		t.Fatalf("rename stream: %v", st)
	}
	if st := c.setInfo(s.FileID, infoFile, fscc.FileDispositionInformation, []byte{1}); st != wire.StatusSuccess {
		t.Fatalf("delete stream: %v", st)
	}
	c.close(s.FileID)
	st, data = c.queryInfo(b.FileID, infoFile, fscc.FileStreamInformation, 0)
	if got := streamEntries(t, data); st != wire.StatusSuccess || !slices.Equal(got, []string{"::$DATA 4"}) {
		t.Fatalf("streams after delete: %v %q", st, got)
	}
	c.close(b.FileID)

	// Invalid stream names, and the hidden area.
	for name, want := range map[string]wire.Status{
		`f.txt:`:         wire.StatusObjectNameInvalid,
		`f.txt:s:$FOO`:   wire.StatusObjectNameInvalid,
		`f.txt:a/b`:      wire.StatusObjectNameInvalid,
		`f.txt:missing`:  wire.StatusObjectNameNotFound,
		`.sofs`:          wire.StatusAccessDenied,
		`.SOFS\streams`:  wire.StatusAccessDenied,
		`.sofs:x:$DATA`:  wire.StatusAccessDenied,
		`dir*:s`:         wire.StatusObjectNameInvalid,
		`f.txt::$DATA:x`: wire.StatusObjectNameInvalid,
	} {
		if st, _ := c.create(wire.CreateRequest{Name: name, DesiredAccess: 0x001F01FF, CreateDisposition: 1}); st != want {
			t.Errorf("open %q: %v, want %v", name, st, want)
		}
	}
	root := c.mustCreate(wire.CreateRequest{Name: "", DesiredAccess: 0x001F01FF, CreateDisposition: 1, CreateOptions: optDirectoryFile})
	st, data = c.queryDir(root.FileID, fscc.FileNamesInformation, 0, "*", 65536)
	if st != wire.StatusSuccess {
		t.Fatalf("list root: %v", st)
	}
	for off := 0; off < len(data); {
		n := int(binary.LittleEndian.Uint32(data[off+8:]))
		name, _ := fscc.DecodeUTF16(data[off+12 : off+12+n])
		if name != "." && name != ".." && name != "f.txt" {
			t.Errorf("root lists %q", name)
		}
		next := int(binary.LittleEndian.Uint32(data[off:]))
		if next == 0 {
			break
		}
		off += next
	}
	if _, err := os.Stat(filepath.Join(ts.dir, ".sofs", "streams")); err != nil {
		t.Fatalf("hidden area missing on disk: %v", err)
	}
}

// TestStreamsGoClient drives streams through a real third-party client
// (cloudsoda/go-smb2), which passes "file:stream" names through as is.
func TestStreamsGoClient(t *testing.T) {
	ts := startServer(t, nil)
	fs, err := ts.mount(t, "test", "test123")
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	defer fs.Umount()
	if err := fs.WriteFile("doc.txt", []byte("main data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := fs.WriteFile("doc.txt:Zone.Identifier", []byte("[ZoneTransfer]\r\nZoneId=3\r\n"), 0o644); err != nil {
		t.Fatalf("write stream: %v", err)
	}
	got, err := fs.ReadFile("doc.txt:zone.identifier:$DATA")
	if err != nil || string(got) != "[ZoneTransfer]\r\nZoneId=3\r\n" {
		t.Fatalf("read stream: %q, %v", got, err)
	}
	if got, err := fs.ReadFile("doc.txt"); err != nil || string(got) != "main data" {
		t.Fatalf("read file: %q, %v", got, err)
	}
	ents, err := fs.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "doc.txt" || ents[0].Size() != 9 {
		for _, e := range ents {
			t.Errorf("listed %q (%d bytes)", e.Name(), e.Size())
		}
		t.Fatal("the root should list doc.txt alone, with its default stream's size")
	}
	if err := fs.Remove("doc.txt:Zone.Identifier"); err != nil {
		t.Fatalf("remove stream: %v", err)
	}
	if _, err := fs.Stat("doc.txt"); err != nil {
		t.Fatalf("removing the stream removed the file: %v", err)
	}
	if _, err := fs.ReadFile("doc.txt:Zone.Identifier"); err == nil {
		t.Fatal("stream still readable after removal")
	}
	if err := fs.Remove("doc.txt"); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(ts.dir, ".sofs", "streams")); len(ents) != 0 {
		t.Fatalf("%d stream directories left after the file was removed", len(ents))
	}
}
