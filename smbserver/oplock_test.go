package smbserver

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf16"

	"sofs.io/sofs/smbserver/wire"
)

// olClient is one raw connection with a session and a tree on "share".
type olClient struct {
	*rawConn
	s   *rawSession
	tid uint32
}

func olConnect(t *testing.T, ts *testServer, dialect uint16) *olClient {
	t.Helper()
	c := dialRaw(t, ts.addr, dialect)
	s := c.login("test", "test123")
	return &olClient{rawConn: c, s: s, tid: c.treeConnect(s, "share")}
}

// olCreate builds a CREATE for name with an oplock level, access and
// share mode (FILE_OPEN_IF).
func olCreate(name string, level uint8, access, share uint32) *wire.CreateRequest {
	return &wire.CreateRequest{
		RequestedOplockLevel: level,
		ImpersonationLevel:   2,
		DesiredAccess:        access,
		ShareAccess:          share,
		CreateDisposition:    3,
		Name:                 name,
		FileAttributes:       0x80,
	}
}

func withLease(req *wire.CreateRequest, l wire.Lease) *wire.CreateRequest {
	req.RequestedOplockLevel = wire.OplockLevelLease
	req.Contexts = append(req.Contexts, wire.CreateContext{Name: wire.CreateContextRequestLease, Data: l.Encode()})
	return req
}

// sendCreate sends a CREATE and returns its MessageId.
func (c *olClient) sendCreate(req *wire.CreateRequest) uint64 {
	h := c.header(wire.CmdCreate, c.s.id, c.tid)
	c.send(c.s.signer, message(h, req))
	return h.MessageID
}

// createOK opens and expects success.
func (c *olClient) createOK(req *wire.CreateRequest) wire.CreateResponse {
	c.t.Helper()
	c.sendCreate(req)
	resp := c.recvOne()
	expect(c.t, resp, wire.CmdCreate, wire.StatusSuccess)
	var cr wire.CreateResponse
	if err := cr.Decode(resp); err != nil {
		c.t.Fatal(err)
	}
	return cr
}

func (c *olClient) close(fid wire.FileID) {
	c.t.Helper()
	resp := c.roundTrip(c.s.signer, c.header(wire.CmdClose, c.s.id, c.tid), &wire.CloseRequest{FileID: fid})
	expect(c.t, resp, wire.CmdClose, wire.StatusSuccess)
}

// isBreak reports whether msg is an unsolicited OPLOCK_BREAK notification.
func isBreak(t testing.TB, msg []byte) bool {
	h := hdrOf(t, msg)
	return h.Command == wire.CmdOplockBreak && h.MessageID == anyID
}

func leaseOf(t testing.TB, cr wire.CreateResponse) wire.Lease {
	t.Helper()
	for _, cc := range cr.Contexts {
		if cc.Name == wire.CreateContextRequestLease {
			l, err := wire.DecodeLease(cc.Data)
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
	}
	t.Fatal("no lease context in the CREATE response")
	return wire.Lease{}
}

const (
	rw       = 0x0012019F // generic read+write as Windows maps it
	readOnly = 0x00120089
	shareAll = 7
)

func TestSharingViolation(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.RequireSigning = false })
	a := olConnect(t, ts, Dialect302)
	b := olConnect(t, ts, Dialect302)
	cr := a.createOK(olCreate("sv.txt", 0, rw, 0x1)) // FILE_SHARE_READ
	b.sendCreate(olCreate("sv.txt", 0, rw, shareAll))
	expect(t, b.recvOne(), wire.CmdCreate, wire.StatusSharingViolation)
	rd := b.createOK(olCreate("sv.txt", 0, readOnly, shareAll))
	a.close(cr.FileID)
	b.close(rd.FileID)
	w := b.createOK(olCreate("sv.txt", 0, rw, 0))
	b.close(w.FileID)
}

func TestOplockBreakAck(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.RequireSigning = false })
	a := olConnect(t, ts, Dialect302)
	b := olConnect(t, ts, Dialect302)
	cr := a.createOK(olCreate("ob.txt", wire.OplockLevelBatch, rw, shareAll))
	if cr.OplockLevel != wire.OplockLevelBatch {
		t.Fatalf("granted %#x, want batch", cr.OplockLevel)
	}
	mid := b.sendCreate(olCreate("ob.txt", wire.OplockLevelBatch, readOnly, shareAll))
	interim := b.recvOne()
	if h := expect(t, interim, wire.CmdCreate, wire.StatusPending); h.MessageID != mid || !h.IsAsync() {
		t.Fatalf("interim %+v", h)
	}
	brk := a.recvOne()
	if !isBreak(t, brk) {
		t.Fatalf("holder got %+v, want a break", hdrOf(t, brk))
	}
	var n wire.OplockBreakNotification
	if err := n.Decode(brk); err != nil || n.FileID != cr.FileID || n.OplockLevel != wire.OplockLevelII {
		t.Fatalf("break %+v %v", n, err)
	}
	ack := wire.OplockBreakAcknowledgment{OplockLevel: wire.OplockLevelII, FileID: cr.FileID}
	resp := a.roundTrip(a.s.signer, a.header(wire.CmdOplockBreak, a.s.id, a.tid), &ack)
	expect(t, resp, wire.CmdOplockBreak, wire.StatusSuccess)
	var ar wire.OplockBreakResponse
	if err := ar.Decode(resp); err != nil || ar.OplockLevel != wire.OplockLevelII {
		t.Fatalf("ack response %+v %v", ar, err)
	}
	final := b.recvOne()
	expect(t, final, wire.CmdCreate, wire.StatusSuccess)
	var cr2 wire.CreateResponse
	cr2.Decode(final)
	if cr2.OplockLevel != wire.OplockLevelII {
		t.Fatalf("second open granted %#x, want level II", cr2.OplockLevel)
	}
	// A second acknowledgment has nothing to acknowledge.
	resp = a.roundTrip(a.s.signer, a.header(wire.CmdOplockBreak, a.s.id, a.tid), &ack)
	expect(t, resp, wire.CmdOplockBreak, wire.StatusInvalidOplockProtocol)

	// A write through a breaks every level II to none, a's own included
	// (ahead of the WRITE response); no ack expected.
	wr := wire.WriteRequest{FileID: cr.FileID, Data: []byte("x")}
	a.send(a.s.signer, message(a.header(wire.CmdWrite, a.s.id, a.tid), &wr))
	if self := a.recvOne(); !isBreak(t, self) {
		t.Fatalf("writer got %+v, want its own break first", hdrOf(t, self))
	}
	expect(t, a.recvOne(), wire.CmdWrite, wire.StatusSuccess)
	brk = b.recvOne()
	if !isBreak(t, brk) {
		t.Fatalf("level II holder got %+v, want a break", hdrOf(t, brk))
	}
	n.Decode(brk)
	if n.OplockLevel != wire.OplockLevelNone || n.FileID != cr2.FileID {
		t.Fatalf("write break %+v", n)
	}
}

func TestOplockBreakTimeout(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.RequireSigning = false
		c.OplockBreakTimeout = 200 * time.Millisecond
	})
	a := olConnect(t, ts, Dialect302)
	b := olConnect(t, ts, Dialect302)
	cr := a.createOK(olCreate("to.txt", wire.OplockLevelExclusive, rw, shareAll))
	if cr.OplockLevel != wire.OplockLevelExclusive {
		t.Fatalf("granted %#x", cr.OplockLevel)
	}
	b.sendCreate(olCreate("to.txt", 0, readOnly, shareAll))
	expect(t, b.recvOne(), wire.CmdCreate, wire.StatusPending)
	if !isBreak(t, a.recvOne()) {
		t.Fatal("no break")
	}
	// No acknowledgment: the open completes after the timeout.
	expect(t, b.recvOne(), wire.CmdCreate, wire.StatusSuccess)
}

func TestOplockCloseReleases(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.RequireSigning = false })
	a := olConnect(t, ts, Dialect302)
	b := olConnect(t, ts, Dialect302)
	cr := a.createOK(olCreate("cl.txt", wire.OplockLevelBatch, rw, 0))
	b.sendCreate(olCreate("cl.txt", 0, readOnly, shareAll))
	expect(t, b.recvOne(), wire.CmdCreate, wire.StatusPending)
	if !isBreak(t, a.recvOne()) {
		t.Fatal("no break")
	}
	// The batch holder shares nothing; closing instead of acknowledging
	// lets the open through.
	a.close(cr.FileID)
	expect(t, b.recvOne(), wire.CmdCreate, wire.StatusSuccess)
	// Directories never get oplocks.
	d := olCreate("dir", wire.OplockLevelBatch, readOnly, shareAll)
	d.CreateOptions, d.FileAttributes = 1, 0x10
	if got := a.createOK(d).OplockLevel; got != 0 {
		t.Fatalf("directory oplock %#x", got)
	}
}

func TestLeaseBreakAck(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.RequireSigning = false })
	a := olConnect(t, ts, Dialect302)
	b := olConnect(t, ts, Dialect302)
	key := [16]byte{1, 2, 3}
	cr := a.createOK(withLease(olCreate("ls.txt", 0, rw, shareAll), wire.Lease{V2: true, LeaseKey: key, LeaseState: 7, Epoch: 1}))
	if l := leaseOf(t, cr); cr.OplockLevel != wire.OplockLevelLease || l.LeaseState != 7 || l.Epoch != 2 || l.LeaseKey != key {
		t.Fatalf("lease grant %#x %+v", cr.OplockLevel, l)
	}
	// Same key, same client: the lease is shared, no break.
	cr2 := a.createOK(withLease(olCreate("ls.txt", 0, rw, shareAll), wire.Lease{V2: true, LeaseKey: key, LeaseState: 7, Epoch: 1}))
	if l := leaseOf(t, cr2); l.LeaseState != 7 {
		t.Fatalf("shared lease %+v", l)
	}
	b.sendCreate(olCreate("ls.txt", 0, readOnly, shareAll))
	expect(t, b.recvOne(), wire.CmdCreate, wire.StatusPending)
	brk := a.recvOne()
	if !isBreak(t, brk) {
		t.Fatal("no lease break")
	}
	var n wire.LeaseBreakNotification
	if err := n.Decode(brk); err != nil || n.LeaseKey != key || n.CurrentLeaseState != 7 || n.NewLeaseState != 3 || n.Flags != wire.LeaseBreakFlagAckRequired || n.NewEpoch != 3 {
		t.Fatalf("lease break %+v %v", n, err)
	}
	bad := wire.LeaseBreakAcknowledgment{LeaseKey: key, LeaseState: 7}
	resp := a.roundTrip(a.s.signer, a.header(wire.CmdOplockBreak, a.s.id, a.tid), &bad)
	expect(t, resp, wire.CmdOplockBreak, wire.StatusRequestNotAccepted)
	ack := wire.LeaseBreakAcknowledgment{LeaseKey: key, LeaseState: 3}
	resp = a.roundTrip(a.s.signer, a.header(wire.CmdOplockBreak, a.s.id, a.tid), &ack)
	expect(t, resp, wire.CmdOplockBreak, wire.StatusSuccess)
	expect(t, b.recvOne(), wire.CmdCreate, wire.StatusSuccess)
	resp = a.roundTrip(a.s.signer, a.header(wire.CmdOplockBreak, a.s.id, a.tid), &ack)
	expect(t, resp, wire.CmdOplockBreak, wire.StatusUnsuccessful)
	a.close(cr.FileID)
	a.close(cr2.FileID)
	unknown := wire.LeaseBreakAcknowledgment{LeaseKey: key, LeaseState: 0}
	resp = a.roundTrip(a.s.signer, a.header(wire.CmdOplockBreak, a.s.id, a.tid), &unknown)
	expect(t, resp, wire.CmdOplockBreak, wire.StatusObjectNameNotFound)
}

// renameBuf is a FILE_RENAME_INFORMATION_TYPE_2 buffer ([MS-FSCC] 2.4.42).
func renameBuf(name string, replace bool) []byte {
	u := utf16.Encode([]rune(name))
	b := make([]byte, 20, 20+2*len(u))
	if replace {
		b[0] = 1
	}
	binary.LittleEndian.PutUint32(b[16:], uint32(2*len(u)))
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b
}

// A rename through a lease holder breaks the handle caching of the other
// clients' leases first and completes only once they acknowledge.
func TestRenameWaitsForHandleLeaseBreak(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.RequireSigning = false })
	a := olConnect(t, ts, Dialect302)
	b := olConnect(t, ts, Dialect302)
	k1, k2 := [16]byte{1}, [16]byte{2}
	const rhState = wire.LeaseReadCaching | wire.LeaseHandleCache
	cr := a.createOK(withLease(olCreate("src.txt", 0, rw|0x10000, shareAll), wire.Lease{LeaseKey: k1, LeaseState: rhState}))
	if l := leaseOf(t, cr); l.LeaseState != rhState {
		t.Fatalf("a's lease %+v", l)
	}
	cr2 := b.createOK(withLease(olCreate("src.txt", 0, readOnly, shareAll), wire.Lease{LeaseKey: k2, LeaseState: rhState}))
	if l := leaseOf(t, cr2); l.LeaseState != rhState {
		t.Fatalf("b's lease %+v", l)
	}
	si := wire.SetInfoRequest{InfoType: wire.InfoFile, FileInfoClass: 10, FileID: cr.FileID, Buffer: renameBuf("dst.txt", false)}
	a.send(nil, message(a.header(wire.CmdSetInfo, a.s.id, a.tid), &si))
	expect(t, a.recvOne(), wire.CmdSetInfo, wire.StatusPending)
	brk := b.recvOne()
	var n wire.LeaseBreakNotification
	if !isBreak(t, brk) || n.Decode(brk) != nil || n.LeaseKey != k2 || n.CurrentLeaseState != rhState || n.NewLeaseState != wire.LeaseReadCaching || n.Flags != wire.LeaseBreakFlagAckRequired {
		t.Fatalf("b got %+v", n)
	}
	if _, err := os.Stat(filepath.Join(ts.dir, "dst.txt")); err == nil {
		t.Fatal("renamed before the break was acknowledged")
	}
	ack := wire.LeaseBreakAcknowledgment{LeaseKey: k2, LeaseState: wire.LeaseReadCaching}
	expect(t, b.roundTrip(nil, b.header(wire.CmdOplockBreak, b.s.id, b.tid), &ack), wire.CmdOplockBreak, wire.StatusSuccess)
	expect(t, a.recvOne(), wire.CmdSetInfo, wire.StatusSuccess)
	if _, err := os.Stat(filepath.Join(ts.dir, "dst.txt")); err != nil {
		t.Fatalf("rename did not happen: %v", err)
	}
}

// Renaming into a directory that is open for DELETE is a sharing
// violation.
func TestRenameIntoDirOpenForDelete(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.RequireSigning = false })
	a := olConnect(t, ts, Dialect302)
	d := olCreate("d", 0, 0x10000|readOnly, shareAll)
	d.CreateOptions, d.FileAttributes = 1, 0x10
	dir := a.createOK(d)
	f := a.createOK(olCreate(`d\f.txt`, 0, rw|0x10000, shareAll))
	si := wire.SetInfoRequest{InfoType: wire.InfoFile, FileInfoClass: 10, FileID: f.FileID, Buffer: renameBuf(`d\g.txt`, false)}
	expect(t, a.roundTrip(nil, a.header(wire.CmdSetInfo, a.s.id, a.tid), &si), wire.CmdSetInfo, wire.StatusSharingViolation)
	a.close(dir.FileID)
	expect(t, a.roundTrip(nil, a.header(wire.CmdSetInfo, a.s.id, a.tid), &si), wire.CmdSetInfo, wire.StatusSuccess)
}
