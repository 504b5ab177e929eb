package smbserver

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"sofs.io/sofs/smbserver/wire"
)

// Every response of a compound is padded to 8 bytes, the last one too,
// while a response on its own is not ([MS-SMB2] 3.3.4.1.3; Windows and
// smbd pad the last response of a compound, and smbtorture's
// smb2.compound.compound-padding checks that a 3-byte READ answered last
// in a compound has a 24-byte body and a lone one a 19-byte body).
func TestCompoundLastResponsePadded(t *testing.T) {
	ts := startServer(t, nil)
	if err := os.WriteFile(filepath.Join(ts.dir, "pad.dat"), []byte("123"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, ts.addr, Dialect302)
	s := c.login("test", "test123")
	tid := c.treeConnect(s, "share")
	anyFID := wire.FileID{Persistent: anyID, Volatile: anyID}
	related := func(cmd wire.Command) wire.Header {
		h := c.header(cmd, anyID, ^uint32(0))
		h.Flags |= wire.FlagRelatedOps
		return h
	}
	readBody := func(t *testing.T, m []byte) int {
		t.Helper()
		expect(t, m, wire.CmdRead, wire.StatusSuccess)
		if !s.signer.Verify(m) {
			t.Fatal("READ response not signed (padding outside the signature?)")
		}
		if binary.LittleEndian.Uint32(m[wire.OffNextCommand:]) != 0 {
			t.Fatal("last response has a NextCommand")
		}
		return len(m) - wire.HeaderSize
	}

	// CREATE + related READ: the READ is last and padded.
	cr := createReq("pad.dat", false)
	cr.CreateDisposition = 1 // FILE_OPEN
	c.send(s.signer,
		message(c.header(wire.CmdCreate, s.id, tid), cr),
		message(related(wire.CmdRead), &wire.ReadRequest{FileID: anyFID, Length: 3, MinimumCount: 1}))
	r := c.recvFrame()
	if len(r) != 2 {
		t.Fatalf("%d responses, want 2", len(r))
	}
	expect(t, r[0], wire.CmdCreate, wire.StatusSuccess)
	if n := readBody(t, r[1]); n != 24 {
		t.Fatalf("last READ of a compound: body %d bytes, want 24 (16 + 3 data, padded to 8)", n)
	}
	var resp wire.CreateResponse
	if err := resp.Decode(r[0]); err != nil {
		t.Fatal(err)
	}
	fid := resp.FileID

	// Two unrelated READs in one compound: both padded.
	c.send(s.signer,
		message(c.header(wire.CmdRead, s.id, tid), &wire.ReadRequest{FileID: fid, Length: 3, MinimumCount: 1}),
		message(c.header(wire.CmdRead, s.id, tid), &wire.ReadRequest{FileID: fid, Length: 3, MinimumCount: 1}))
	r = c.recvFrame()
	if len(r) != 2 {
		t.Fatalf("%d responses, want 2", len(r))
	}
	expect(t, r[0], wire.CmdRead, wire.StatusSuccess)
	if n := len(r[0]) - wire.HeaderSize; n != 24 {
		t.Fatalf("first READ of a compound: body %d bytes, want 24", n)
	}
	if n := readBody(t, r[1]); n != 24 {
		t.Fatalf("second READ of a compound: body %d bytes, want 24", n)
	}

	// A READ on its own is not padded.
	c.send(s.signer, message(c.header(wire.CmdRead, s.id, tid), &wire.ReadRequest{FileID: fid, Length: 3, MinimumCount: 1}))
	if n := readBody(t, c.recvOne()); n != 19 {
		t.Fatalf("lone READ: body %d bytes, want 19 (no padding)", n)
	}
}

// A CREATE refused with ACCESS_DENIED fails every related request after
// it with the same status, NOTIFY and IOCTL included, which must neither
// go async nor reach their handlers (smb2.compound.related4 and related7
// check this once a DACL denies the open; here a reserved access bit does).
func TestCompoundDeniedCreatePropagates(t *testing.T) {
	ts := startServer(t, nil)
	c := dialRaw(t, ts.addr, Dialect302)
	s := c.login("test", "test123")
	tid := c.treeConnect(s, "share")
	anyFID := wire.FileID{Persistent: anyID, Volatile: anyID}
	related := func(cmd wire.Command) wire.Header {
		h := c.header(cmd, anyID, ^uint32(0))
		h.Flags |= wire.FlagRelatedOps
		return h
	}
	const fsctlCreateOrGetObjectID = 0x000900C0
	cr := createReq("denied.dat", false)
	cr.DesiredAccess = 0x08000000 // reserved: STATUS_ACCESS_DENIED ([MS-SMB2] 3.3.5.9)
	setSD := &wire.SetInfoRequest{InfoType: 3, AdditionalInformation: 4, FileID: anyFID, Buffer: make([]byte, 20)}
	for _, second := range []struct {
		cmd  wire.Command
		body appender
	}{
		{wire.CmdIoctl, &wire.IoctlRequest{CtlCode: fsctlCreateOrGetObjectID, FileID: anyFID, Flags: 1, MaxOutputResponse: 64}},
		{wire.CmdChangeNotify, &wire.ChangeNotifyRequest{Flags: 1, OutputBufferLength: 0x1000, FileID: anyFID, CompletionFilter: 0x3}},
	} {
		c.send(s.signer,
			message(c.header(wire.CmdCreate, s.id, tid), cr),
			message(related(second.cmd), second.body),
			message(related(wire.CmdClose), &wire.CloseRequest{FileID: anyFID}),
			message(related(wire.CmdSetInfo), setSD))
		r := c.recvFrame()
		if len(r) != 4 {
			t.Fatalf("%v: %d responses in the frame, want 4", second.cmd, len(r))
		}
		expect(t, r[0], wire.CmdCreate, wire.StatusAccessDenied)
		expect(t, r[1], second.cmd, wire.StatusAccessDenied)
		expect(t, r[2], wire.CmdClose, wire.StatusAccessDenied)
		expect(t, r[3], wire.CmdSetInfo, wire.StatusAccessDenied)
	}
}
