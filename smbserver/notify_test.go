package smbserver

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"testing"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/fscc"
	"sofs.io/sofs/smbserver/wire"
)

// CHANGE_NOTIFY end to end over the raw client. The server delivers a
// change before it answers the request that caused it, so a test reads
// both answers (in either order) and never sleeps.

type notifyEntry struct {
	Action uint32
	Name   string
}

// decodeNotify parses a CHANGE_NOTIFY response's FILE_NOTIFY_INFORMATION
// chain ([MS-FSCC] 2.7.1), checking the 4-byte alignment of each entry.
func decodeNotify(t *testing.T, msg []byte) []notifyEntry {
	t.Helper()
	var resp wire.ChangeNotifyResponse
	if err := resp.Decode(msg); err != nil {
		t.Fatal(err)
	}
	b := resp.Buffer
	var out []notifyEntry
	for off := 0; ; {
		if off%4 != 0 || len(b) < off+12 {
			t.Fatalf("bad entry offset %d in %d bytes", off, len(b))
		}
		next := binary.LittleEndian.Uint32(b[off:])
		n := int(binary.LittleEndian.Uint32(b[off+8:]))
		if len(b) < off+12+n {
			t.Fatalf("name of %d bytes overruns %d", n, len(b))
		}
		name, err := fscc.DecodeUTF16(b[off+12 : off+12+n])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, notifyEntry{binary.LittleEndian.Uint32(b[off+4:]), name})
		if next == 0 {
			if off+12+n != len(b) {
				t.Fatalf("trailing bytes after the last entry")
			}
			return out
		}
		off += int(next)
	}
}

type notifyClient struct {
	t   *testing.T
	c   *rawConn
	s   *rawSession
	tid uint32
}

func newNotifyClient(t *testing.T, ts *testServer, dialect uint16) *notifyClient {
	c := dialRaw(t, ts.addr, dialect)
	s := c.login("test", "test123")
	return &notifyClient{t: t, c: c, s: s, tid: c.treeConnect(s, "share")}
}

// notify sends a CHANGE_NOTIFY and returns its header.
func (n *notifyClient) notify(fid wire.FileID, filter uint32, tree bool, buf uint32) wire.Header {
	h := n.c.header(wire.CmdChangeNotify, n.s.id, n.tid)
	req := &wire.ChangeNotifyRequest{OutputBufferLength: buf, FileID: fid, CompletionFilter: filter}
	if tree {
		req.Flags = wire.WatchTree
	}
	n.c.send(n.s.signer, message(h, req))
	return h
}

// pending sends a CHANGE_NOTIFY that must go async and returns its
// interim header (AsyncId).
func (n *notifyClient) pending(fid wire.FileID, filter uint32, tree bool, buf uint32) wire.Header {
	n.t.Helper()
	n.notify(fid, filter, tree, buf)
	return expect(n.t, n.c.recvOne(), wire.CmdChangeNotify, wire.StatusPending)
}

// also sends req and returns its response together with the CHANGE_NOTIFY
// response it causes, whichever comes first.
func (n *notifyClient) also(cmd wire.Command, tid uint32, req appender) (resp, note []byte) {
	n.t.Helper()
	n.c.send(n.s.signer, message(n.c.header(cmd, n.s.id, tid), req))
	for range 2 {
		m := n.c.recvOne()
		switch hdrOf(n.t, m).Command {
		case cmd:
			resp = m
		case wire.CmdChangeNotify:
			note = m
		}
	}
	if resp == nil || note == nil {
		n.t.Fatalf("wanted a %v and a CHANGE_NOTIFY response", cmd)
	}
	return resp, note
}

func (n *notifyClient) want(note []byte, st wire.Status, entries ...notifyEntry) {
	n.t.Helper()
	expect(n.t, note, wire.CmdChangeNotify, st)
	if !n.s.signer.Verify(note) {
		n.t.Fatal("CHANGE_NOTIFY response not signed")
	}
	if st != wire.StatusSuccess {
		return
	}
	if got := decodeNotify(n.t, note); !reflect.DeepEqual(got, entries) {
		n.t.Fatalf("changes %+v, want %+v", got, entries)
	}
}

const (
	actionAdded   = 1
	actionRemoved = 2
	actionOldName = 4
	actionNewName = 5
)

// Changes reach a pending request (async, with an interim response) or
// wait on the open for the next one; the filter and WATCH_TREE select
// them; names are relative to the watched directory.
func TestChangeNotifyDelivery(t *testing.T) {
	ts := startServer(t, nil)
	for _, d := range rawDialects {
		t.Run(d.name, func(t *testing.T) {
			n := newNotifyClient(t, ts, d.dialect)
			dir := n.c.create(n.s, n.tid, "d"+d.name, true)
			names := wire.FileNotifyChangeFileName | wire.FileNotifyChangeDirName

			n.pending(dir, names, false, 4096)
			resp, note := n.also(wire.CmdCreate, n.tid, createReq(`d`+d.name+`\f`, false))
			expect(t, resp, wire.CmdCreate, wire.StatusSuccess)
			n.want(note, wire.StatusSuccess, notifyEntry{actionAdded, "f"})

			// Buffered between requests, answered at once.
			n.c.create(n.s, n.tid, `d`+d.name+`\g`, false)
			n.notify(dir, 0, false, 4096)
			n.want(n.c.recvOne(), wire.StatusSuccess, notifyEntry{actionAdded, "g"})

			// DIR_NAME only: a file creation is not reported, a directory is.
			dirsOnly := n.c.create(n.s, n.tid, "d"+d.name, true)
			n.pending(dirsOnly, wire.FileNotifyChangeDirName, false, 4096)
			n.c.create(n.s, n.tid, `d`+d.name+`\h`, false)
			_, note = n.also(wire.CmdCreate, n.tid, createReq(`d`+d.name+`\sub`, true))
			n.want(note, wire.StatusSuccess, notifyEntry{actionAdded, "sub"})

			// WATCH_TREE reports the subtree with relative names; the
			// non-recursive watch does not.
			tree := n.c.create(n.s, n.tid, "d"+d.name, true)
			n.pending(tree, names, true, 4096)
			_, note = n.also(wire.CmdCreate, n.tid, createReq(`d`+d.name+`\sub\x`, false))
			n.want(note, wire.StatusSuccess, notifyEntry{actionAdded, `sub\x`})
			n.notify(dir, names, false, 4096)
			// dir's queue holds h and sub, not sub\x.
			n.want(n.c.recvOne(), wire.StatusSuccess, notifyEntry{actionAdded, "h"}, notifyEntry{actionAdded, "sub"})
		})
	}
}

// A rename within a directory is reported as old and new name in one
// answer; a delete as a removal.
func TestChangeNotifyRenameDelete(t *testing.T) {
	ts := startServer(t, nil)
	n := newNotifyClient(t, ts, Dialect302)
	// Without DELETE access: a directory open for DELETE refuses renames
	// into it (sharing violation).
	req := createReq("d", true)
	req.DesiredAccess &^= accessDelete
	var cr wire.CreateResponse
	if err := cr.Decode(n.c.roundTrip(n.s.signer, n.c.header(wire.CmdCreate, n.s.id, n.tid), req)); err != nil {
		t.Fatal(err)
	}
	dir := cr.FileID
	f := n.c.create(n.s, n.tid, `d\f`, false)
	n.pending(dir, wire.FileNotifyChangeFileName, false, 4096)
	rename := &wire.SetInfoRequest{InfoType: infoFile, FileInfoClass: fscc.FileRenameInformation, FileID: f,
		Buffer: renameInfo(`d\g`)}
	resp, note := n.also(wire.CmdSetInfo, n.tid, rename)
	expect(t, resp, wire.CmdSetInfo, wire.StatusSuccess)
	n.want(note, wire.StatusSuccess, notifyEntry{actionOldName, "f"}, notifyEntry{actionNewName, "g"})

	del := &wire.SetInfoRequest{InfoType: infoFile, FileInfoClass: fscc.FileDispositionInformation, FileID: f, Buffer: []byte{1}}
	expect(t, n.c.roundTrip(n.s.signer, n.c.header(wire.CmdSetInfo, n.s.id, n.tid), del), wire.CmdSetInfo, wire.StatusSuccess)
	n.pending(dir, 0, false, 4096)
	_, note = n.also(wire.CmdClose, n.tid, &wire.CloseRequest{FileID: f})
	n.want(note, wire.StatusSuccess, notifyEntry{actionRemoved, "g"})
}

// renameInfo encodes FILE_RENAME_INFORMATION ([MS-FSCC] 2.4.42.2).
func renameInfo(target string) []byte {
	name := fscc.EncodeUTF16(nil, target)
	b := make([]byte, 20, 20+len(name))
	binary.LittleEndian.PutUint32(b[16:], uint32(len(name)))
	return append(b, name...)
}

// How a pending request ends other than with changes: CANCEL, CLOSE,
// TREE_DISCONNECT, LOGOFF, delete pending; and the requests refused
// outright.
func TestChangeNotifyCompletions(t *testing.T) {
	ts := startServer(t, nil)
	n := newNotifyClient(t, ts, Dialect302)
	names := wire.FileNotifyChangeFileName | wire.FileNotifyChangeDirName

	dir := n.c.create(n.s, n.tid, "d", true)
	ih := n.pending(dir, names, false, 4096)
	cancel := wire.Header{Command: wire.CmdCancel, Flags: wire.FlagAsyncCommand, AsyncID: ih.AsyncID, MessageID: ih.MessageID, SessionID: n.s.id}
	n.c.send(n.s.signer, message(cancel, &wire.CancelRequest{}))
	n.want(n.c.recvOne(), wire.StatusCancelled)

	// CLOSE of the directory completes it with STATUS_NOTIFY_CLEANUP.
	n.pending(dir, names, false, 4096)
	resp, note := n.also(wire.CmdClose, n.tid, &wire.CloseRequest{FileID: dir})
	expect(t, resp, wire.CmdClose, wire.StatusSuccess)
	n.want(note, wire.StatusNotifyCleanup)

	// Delete pending on the watched directory: STATUS_DELETE_PENDING.
	dir = n.c.create(n.s, n.tid, "e", true)
	other := n.c.create(n.s, n.tid, "e", true)
	n.pending(dir, names, false, 4096)
	del := &wire.SetInfoRequest{InfoType: infoFile, FileInfoClass: fscc.FileDispositionInformation, FileID: other, Buffer: []byte{1}}
	_, note = n.also(wire.CmdSetInfo, n.tid, del)
	n.want(note, wire.StatusDeletePending)

	// Refused: a file, a buffer beyond MaxTransactSize, an open without
	// FILE_LIST_DIRECTORY.
	f := n.c.create(n.s, n.tid, "f", false)
	n.notify(f, names, false, 4096)
	n.want(n.c.recvOne(), wire.StatusInvalidParameter)
	dir = n.c.create(n.s, n.tid, "g", true)
	n.notify(dir, names, false, ts.srv.cfg.MaxTransactSize+1)
	n.want(n.c.recvOne(), wire.StatusInvalidParameter)
	req := createReq("g", true)
	req.DesiredAccess = 0x80 // FILE_READ_ATTRIBUTES
	resp = n.c.roundTrip(n.s.signer, n.c.header(wire.CmdCreate, n.s.id, n.tid), req)
	var cr wire.CreateResponse
	if err := cr.Decode(resp); err != nil {
		t.Fatal(err)
	}
	n.notify(cr.FileID, names, false, 4096)
	n.want(n.c.recvOne(), wire.StatusAccessDenied)

	// TREE_DISCONNECT and LOGOFF close the open: STATUS_NOTIFY_CLEANUP.
	tid2 := n.c.treeConnect(n.s, "share")
	dir2 := n.c.roundTrip(n.s.signer, n.c.header(wire.CmdCreate, n.s.id, tid2), createReq("g", true))
	if err := cr.Decode(dir2); err != nil {
		t.Fatal(err)
	}
	h := n.c.header(wire.CmdChangeNotify, n.s.id, tid2)
	n.c.send(n.s.signer, message(h, &wire.ChangeNotifyRequest{OutputBufferLength: 4096, FileID: cr.FileID, CompletionFilter: names}))
	expect(t, n.c.recvOne(), wire.CmdChangeNotify, wire.StatusPending)
	resp, note = n.also(wire.CmdTreeDisconnect, tid2, &wire.TreeDisconnectRequest{})
	expect(t, resp, wire.CmdTreeDisconnect, wire.StatusSuccess)
	n.want(note, wire.StatusNotifyCleanup)

	n.pending(dir, names, false, 4096)
	n.c.send(n.s.signer, message(n.c.header(wire.CmdLogoff, n.s.id, 0), &wire.LogoffRequest{}))
	got := map[wire.Command]wire.Status{}
	for range 2 {
		m := n.c.recvOne()
		got[hdrOf(t, m).Command] = status(m)
	}
	if got[wire.CmdChangeNotify] != wire.StatusNotifyCleanup || got[wire.CmdLogoff] != wire.StatusSuccess {
		t.Fatalf("after LOGOFF: %v", got)
	}
}

// More changes than the open's buffer (fixed by its first request) or
// than a request's OutputBufferLength: STATUS_NOTIFY_ENUM_DIR, no data.
func TestChangeNotifyOverflow(t *testing.T) {
	ts := startServer(t, nil)
	n := newNotifyClient(t, ts, Dialect302)
	names := wire.FileNotifyChangeFileName | wire.FileNotifyChangeDirName

	small := n.c.create(n.s, n.tid, "d", true)
	ih := n.pending(small, names, false, 64) // arms a 64-byte buffer
	n.c.send(n.s.signer, message(wire.Header{Command: wire.CmdCancel, Flags: wire.FlagAsyncCommand, AsyncID: ih.AsyncID, MessageID: ih.MessageID, SessionID: n.s.id}, &wire.CancelRequest{}))
	n.want(n.c.recvOne(), wire.StatusCancelled)
	big := n.c.create(n.s, n.tid, "d", true)
	n.pending(big, names, false, 4096)
	_, note := n.also(wire.CmdCreate, n.tid, createReq(`d\file0`, false))
	n.want(note, wire.StatusSuccess, notifyEntry{actionAdded, "file0"})
	for _, name := range []string{`d\file1`, `d\file2`, `d\file3`} {
		n.c.create(n.s, n.tid, name, false)
	}
	n.notify(small, names, false, 4096)
	n.want(n.c.recvOne(), wire.StatusNotifyEnumDir)
	// big holds the three changes, more than a 40-byte request takes.
	n.notify(big, names, false, 40)
	n.want(n.c.recvOne(), wire.StatusNotifyEnumDir)
}

func TestEncodeNotify(t *testing.T) {
	b, ok := encodeNotify([]csv.Change{{Action: 1, Name: "a"}, {Action: 2, Name: "bcd"}}, 100)
	want := []byte{
		16, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 'a', 0, 0, 0,
		0, 0, 0, 0, 2, 0, 0, 0, 6, 0, 0, 0, 'b', 0, 'c', 0, 'd', 0,
	}
	if !ok || !reflect.DeepEqual(b, want) {
		t.Fatalf("got %v %v", b, ok)
	}
	if _, ok := encodeNotify([]csv.Change{{Action: 1, Name: "a"}, {Action: 2, Name: "bcd"}}, len(want)-1); ok {
		t.Fatal("encoded beyond the limit")
	}
}

// The first CHANGE_NOTIFY of an open arms its watch before a request
// pipelined behind it (another frame, not waiting for the interim
// response) runs, so the change that request makes is reported.
func TestChangeNotifyPipelined(t *testing.T) {
	ts := startServer(t, nil)
	n := newNotifyClient(t, ts, Dialect302)
	for i := range 20 {
		name := fmt.Sprint("p", i)
		dir := n.c.create(n.s, n.tid, name, true)
		n.notify(dir, wire.FileNotifyChangeFileName, false, 4096)
		n.c.send(n.s.signer, message(n.c.header(wire.CmdCreate, n.s.id, n.tid), createReq(name+`\f`, false)))
		var note []byte
		for range 3 {
			m := n.c.recvOne()
			if hdrOf(t, m).Command == wire.CmdChangeNotify && status(m) != wire.StatusPending {
				note = m
			}
		}
		if note == nil {
			t.Fatal("no final CHANGE_NOTIFY response")
		}
		n.want(note, wire.StatusSuccess, notifyEntry{actionAdded, "f"})
	}
}
