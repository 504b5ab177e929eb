package smbserver

import (
	"encoding/binary"
	"testing"

	"sofs.io/sofs/smbserver/fscc"
	"sofs.io/sofs/smbserver/wire"
)

// Directory leases on the wire ([MS-SMB2] 3.3.5.4, 3.3.5.9.11, 3.3.4.7;
// [MS-FSA] 2.1.4.12 PARENT_OBJECT): what is granted, the parent break a
// child's change sends, the ParentLeaseKey exception, and the handle
// caching of the directory itself. Break delivery is synchronous with the
// change that starts it, so "no break" is checked by a round trip on the
// holder's connection: a break would have been queued ahead of its
// answer.

const (
	optDirectory = 0x1 // FILE_DIRECTORY_FILE
	listDir      = 0x00100081
)

// dirCreate builds a CREATE of directory name (FILE_OPEN_IF) with access
// and share mode.
func dirCreate(name string, access, share uint32) *wire.CreateRequest {
	req := olCreate(name, 0, access, share)
	req.CreateOptions = optDirectory
	req.FileAttributes = 0x10
	return req
}

// leaseV2 is a v2 lease context with key k and state, and a parent key
// when parent is not nil.
func leaseV2(k [16]byte, state uint32, parent *[16]byte) wire.Lease {
	l := wire.Lease{V2: true, LeaseKey: k, LeaseState: state}
	if parent != nil {
		l.LeaseFlags = wire.LeaseFlagParentKeySet
		l.ParentLeaseKey = *parent
	}
	return l
}

// dlConnect is olConnect for a client that offers directory leasing in
// its NEGOTIATE, as Windows clients (and smbtorture) do.
func dlConnect(t *testing.T, ts *testServer, dialect uint16) *olClient {
	t.Helper()
	c := dialRawCaps(t, ts.addr, dialect, guid(), wire.GlobalCapLeasing|wire.GlobalCapDirectoryLeasing)
	s := c.login("test", "test123")
	return &olClient{rawConn: c, s: s, tid: c.treeConnect(s, "share")}
}

// noBreak checks that nothing waits on c's connection ahead of an ECHO's
// answer.
func noBreak(t *testing.T, c *olClient, what string) {
	t.Helper()
	c.send(c.s.signer, message(c.header(wire.CmdEcho, c.s.id, 0), &wire.EchoRequest{}))
	m := c.recvOne()
	if isBreak(t, m) {
		var n wire.LeaseBreakNotification
		n.Decode(m)
		t.Fatalf("%s: unexpected break %+v", what, n)
	}
	expect(t, m, wire.CmdEcho, wire.StatusSuccess)
}

// dirBreak reads the break of directory lease k to none that c must get
// and acknowledges it when asked to. It returns the notification.
func dirBreak(t *testing.T, c *olClient, k [16]byte, from uint32, epoch uint16, what string) wire.LeaseBreakNotification {
	t.Helper()
	m := c.recvOne()
	var n wire.LeaseBreakNotification
	if !isBreak(t, m) {
		t.Fatalf("%s: got %v, want a lease break", what, hdrOf(t, m).Command)
	}
	if err := n.Decode(m); err != nil {
		t.Fatal(err)
	}
	wantFlags := uint32(0)
	if from&wire.LeaseHandleCache != 0 {
		wantFlags = wire.LeaseBreakFlagAckRequired
	}
	if n.LeaseKey != k || n.CurrentLeaseState != from || n.NewLeaseState != 0 || n.Flags != wantFlags || n.NewEpoch != epoch {
		t.Fatalf("%s: break %+v, want %x from %#x to none, epoch %d, flags %#x", what, n, k[:1], from, epoch, wantFlags)
	}
	if n.Flags&wire.LeaseBreakFlagAckRequired != 0 {
		ack := wire.LeaseBreakAcknowledgment{LeaseKey: k, LeaseState: 0}
		expect(t, c.roundTrip(c.s.signer, c.header(wire.CmdOplockBreak, c.s.id, c.tid), &ack), wire.CmdOplockBreak, wire.StatusSuccess)
	}
	return n
}

// rearm takes directory lease k back to RH with a second open of the
// directory (closed at once), as a Windows client does after a break, and
// returns the new epoch.
func rearm(t *testing.T, c *olClient, dir string, k [16]byte, wantEpoch uint16) {
	t.Helper()
	cr := c.createOK(withLease(dirCreate(dir, listDir, shareAll), leaseV2(k, rhLease, nil)))
	if l := leaseOf(t, cr); l.LeaseState != rhLease || l.Epoch != wantEpoch || l.LeaseFlags != 0 {
		t.Fatalf("rearm of %s: %+v, want RH epoch %d", dir, l, wantEpoch)
	}
	c.close(cr.FileID)
}

func (c *olClient) setInfo(fid wire.FileID, class uint8, buf []byte) {
	c.t.Helper()
	si := wire.SetInfoRequest{InfoType: wire.InfoFile, FileInfoClass: class, FileID: fid, Buffer: buf}
	expect(c.t, c.roundTrip(c.s.signer, c.header(wire.CmdSetInfo, c.s.id, c.tid), &si), wire.CmdSetInfo, wire.StatusSuccess)
}

// basicWriteTime is a FILE_BASIC_INFORMATION setting only LastWriteTime.
func basicWriteTime(ft uint64) []byte {
	b := make([]byte, 40)
	binary.LittleEndian.PutUint64(b[16:], ft)
	return b
}

func TestDirectoryLeaseGrant(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.RequireSigning = false })
	a := dlConnect(t, ts, Dialect302)
	if a.serverCaps&wire.GlobalCapDirectoryLeasing == 0 {
		t.Fatalf("3.0.2 capabilities %#x lack DIRECTORY_LEASING", a.serverCaps)
	}
	kd, kp := [16]byte{0xD1}, [16]byte{0x99}
	// RWH is granted RH, with the epoch one up and the parent key echoed.
	cr := a.createOK(withLease(dirCreate("g", listDir, shareAll), leaseV2(kd, 7, &kp)))
	l := leaseOf(t, cr)
	if cr.OplockLevel != wire.OplockLevelLease || !l.V2 || l.LeaseState != rhLease || l.Epoch != 1 ||
		l.LeaseFlags != wire.LeaseFlagParentKeySet || l.ParentLeaseKey != kp {
		t.Fatalf("RWH on a directory: level %#x lease %+v", cr.OplockLevel, l)
	}
	// The same key joins the lease.
	cr2 := a.createOK(withLease(dirCreate("g", listDir, shareAll), leaseV2(kd, rhLease, nil)))
	if l := leaseOf(t, cr2); l.LeaseState != rhLease || l.Epoch != 1 {
		t.Fatalf("same key: %+v", l)
	}
	a.close(cr2.FileID)
	a.close(cr.FileID)
	// RW is granted R; a request without R gets none.
	for _, c := range []struct{ req, want uint32 }{{5, 1}, {2, 0}} {
		cr := a.createOK(withLease(dirCreate("g", listDir, shareAll), leaseV2([16]byte{byte(c.req)}, c.req, nil)))
		if l := leaseOf(t, cr); l.LeaseState != c.want {
			t.Fatalf("request %#x on a directory: %+v, want %#x", c.req, l, c.want)
		}
		a.close(cr.FileID)
	}
	// An oplock request on a directory gets none.
	cr = a.createOK(dirCreate("g", listDir, shareAll))
	a.close(cr.FileID)
	req := dirCreate("g", listDir, shareAll)
	req.RequestedOplockLevel = wire.OplockLevelBatch
	if cr := a.createOK(req); cr.OplockLevel != wire.OplockLevelNone {
		t.Fatalf("batch oplock on a directory: %#x", cr.OplockLevel)
	} else {
		a.close(cr.FileID)
	}

	// SMB 2.1: no DIRECTORY_LEASING, and a lease request on a directory
	// is answered without a lease ([MS-SMB2] 3.3.5.9.8); files still get
	// theirs.
	b := dlConnect(t, ts, Dialect210)
	if b.serverCaps&wire.GlobalCapDirectoryLeasing != 0 || b.serverCaps&wire.GlobalCapLeasing == 0 {
		t.Fatalf("2.1 capabilities %#x", b.serverCaps)
	}
	cr = b.createOK(withLease(dirCreate("g", listDir, shareAll), wire.Lease{LeaseKey: [16]byte{0x21}, LeaseState: 7}))
	if cr.OplockLevel != wire.OplockLevelNone || hasContext(cr, wire.CreateContextRequestLease) != nil {
		t.Fatalf("2.1 directory open: level %#x contexts %v", cr.OplockLevel, cr.Contexts)
	}
	b.close(cr.FileID)
	cr = b.createOK(withLease(olCreate("g.txt", 0, rw, shareAll), wire.Lease{LeaseKey: [16]byte{0x22}, LeaseState: 7}))
	if l := leaseOf(t, cr); l.LeaseState != 7 {
		t.Fatalf("2.1 file lease %+v", l)
	}
	b.close(cr.FileID)

	// A 3.x client that does not offer directory leasing gets neither
	// the capability nor a lease on a directory.
	d := olConnect(t, ts, Dialect302)
	if d.serverCaps&wire.GlobalCapDirectoryLeasing != 0 || d.serverCaps&wire.GlobalCapLeasing == 0 {
		t.Fatalf("capabilities %#x to a client without DIRECTORY_LEASING", d.serverCaps)
	}
	cr = d.createOK(withLease(dirCreate("g", listDir, shareAll), leaseV2([16]byte{0x23}, 7, nil)))
	if cr.OplockLevel != wire.OplockLevelNone || hasContext(cr, wire.CreateContextRequestLease) != nil {
		t.Fatalf("directory open without the capability: level %#x contexts %v", cr.OplockLevel, cr.Contexts)
	}
	d.close(cr.FileID)

	// Leasing off: no capability either.
	ts2 := startServer(t, func(c *Config) { c.RequireSigning = false; c.DisableOplocks = true })
	if c := dlConnect(t, ts2, Dialect302); c.serverCaps&(wire.GlobalCapDirectoryLeasing|wire.GlobalCapLeasing) != 0 {
		t.Fatalf("capabilities with oplocks disabled: %#x", c.serverCaps)
	}
}

// TestDirectoryLeaseParentBreak: another client's changes to children of
// a's leased directory break a's lease to none (acknowledged, no wait for
// the changer); changes through opens naming the directory's lease key
// as their ParentLeaseKey do not, whichever client makes them.
func TestDirectoryLeaseParentBreak(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.RequireSigning = false })
	a := dlConnect(t, ts, Dialect302)
	b := dlConnect(t, ts, Dialect302)
	kd := [16]byte{0xD1}
	epoch := uint16(0)
	cr := a.createOK(withLease(dirCreate("pd", listDir, shareAll), leaseV2(kd, rhLease, nil)))
	epoch++
	dirFID := cr.FileID

	// Create without a parent key: the CREATE completes at once (no
	// interim response) and a's lease breaks RH -> none.
	f1 := b.createOK(olCreate(`pd\f1`, 0, rw|accessDelete, shareAll))
	epoch++
	dirBreak(t, a, kd, rhLease, epoch, "create")
	epoch++
	rearm(t, a, "pd", kd, epoch)

	// Create with the directory's key as parent, by b and by a: no break.
	f2 := b.createOK(withLease(olCreate(`pd\f2`, 0, rw, shareAll), leaseV2([16]byte{0xB2}, rhLease, &kd)))
	if l := leaseOf(t, f2); l.LeaseFlags != wire.LeaseFlagParentKeySet || l.ParentLeaseKey != kd {
		t.Fatalf("child lease %+v", l)
	}
	noBreak(t, a, "create with the directory's key by another client")
	fa := a.createOK(withLease(olCreate(`pd\fa`, 0, rw, shareAll), leaseV2([16]byte{0xA2}, rhLease, &kd)))
	noBreak(t, a, "create with the directory's key by the holder")

	// Basic information through an open without the key breaks; through
	// one with it does not.
	b.setInfo(f1.FileID, fscc.FileBasicInformation, basicWriteTime(0x01D0000000000000))
	epoch++
	dirBreak(t, a, kd, rhLease, epoch, "basic info")
	epoch++
	rearm(t, a, "pd", kd, epoch)
	b.setInfo(f2.FileID, fscc.FileBasicInformation, basicWriteTime(0x01D0000000000000))
	b.setInfo(f2.FileID, fscc.FileEndOfFileInformation, make([]byte, 8))
	noBreak(t, a, "setinfo through an open with the directory's key")
	b.setInfo(f1.FileID, fscc.FileEndOfFileInformation, []byte{9, 0, 0, 0, 0, 0, 0, 0})
	epoch++
	dirBreak(t, a, kd, rhLease, epoch, "end of file")
	epoch++
	rearm(t, a, "pd", kd, epoch)

	// A write breaks at the close of the handle that wrote.
	b.write(f1.FileID, 0, []byte("hello"))
	noBreak(t, a, "write")
	b.close(f1.FileID)
	epoch++
	dirBreak(t, a, kd, rhLease, epoch, "close after a write")
	epoch++
	rearm(t, a, "pd", kd, epoch)
	b.write(f2.FileID, 0, []byte("hello"))
	b.close(f2.FileID)
	noBreak(t, a, "close after a write through an open with the directory's key")

	// Rename within the directory.
	f1 = b.createOK(olCreate(`pd\f1`, 0, rw|accessDelete, shareAll))
	noBreak(t, a, "open of an existing child")
	b.setInfo(f1.FileID, fscc.FileRenameInformation, renameBuf(`pd\f3`, false))
	epoch++
	dirBreak(t, a, kd, rhLease, epoch, "rename")
	epoch++
	rearm(t, a, "pd", kd, epoch)

	// Delete: nothing when delete pending is set, the break when the
	// last close removes the file.
	b.setInfo(f1.FileID, fscc.FileDispositionInformation, []byte{1})
	noBreak(t, a, "delete pending")
	b.close(f1.FileID)
	epoch++
	dirBreak(t, a, kd, rhLease, epoch, "removal")
	epoch++
	rearm(t, a, "pd", kd, epoch)

	a.close(fa.FileID)
	a.close(dirFID)
}

// TestDirectoryLeaseReadBreakNoAck: an R directory lease breaks to none
// without an acknowledgment, and its holder may take it back at once.
func TestDirectoryLeaseReadBreakNoAck(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.RequireSigning = false })
	a := dlConnect(t, ts, Dialect300)
	b := dlConnect(t, ts, Dialect300)
	kd := [16]byte{0xD2}
	cr := a.createOK(withLease(dirCreate("rd", listDir, shareAll), leaseV2(kd, wire.LeaseReadCaching, nil)))
	if l := leaseOf(t, cr); l.LeaseState != wire.LeaseReadCaching || l.Epoch != 1 {
		t.Fatalf("R lease %+v", l)
	}
	b.close(b.createOK(dirCreate(`rd\sub`, listDir, shareAll)).FileID)
	dirBreak(t, a, kd, wire.LeaseReadCaching, 2, "mkdir")
	cr2 := a.createOK(withLease(dirCreate("rd", listDir, shareAll), leaseV2(kd, wire.LeaseReadCaching, nil)))
	if l := leaseOf(t, cr2); l.LeaseState != wire.LeaseReadCaching || l.Epoch != 3 {
		t.Fatalf("R lease again %+v", l)
	}
	a.close(cr2.FileID)
	a.close(cr.FileID)
}

// TestDirectoryLeaseHandleBreak: the directory's own handle caching is
// broken as a file's: by an open with a conflicting share mode (which
// waits for the acknowledgment and then fails) and by an open that will
// delete the directory (which waits and then succeeds).
func TestDirectoryLeaseHandleBreak(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.RequireSigning = false })
	a := dlConnect(t, ts, Dialect302)
	b := dlConnect(t, ts, Dialect302)
	kd := [16]byte{0xD3}
	cr := a.createOK(withLease(dirCreate("hd", listDir, shareAll), leaseV2(kd, rhLease, nil)))

	b.sendCreate(dirCreate("hd", listDir, 0))
	expect(t, b.recvOne(), wire.CmdCreate, wire.StatusPending)
	m := a.recvOne()
	var n wire.LeaseBreakNotification
	if !isBreak(t, m) || n.Decode(m) != nil || n.LeaseKey != kd || n.CurrentLeaseState != rhLease ||
		n.NewLeaseState != wire.LeaseReadCaching || n.Flags != wire.LeaseBreakFlagAckRequired || n.NewEpoch != 2 {
		t.Fatalf("sharing conflict: break %+v", n)
	}
	ack := wire.LeaseBreakAcknowledgment{LeaseKey: kd, LeaseState: wire.LeaseReadCaching}
	expect(t, a.roundTrip(nil, a.header(wire.CmdOplockBreak, a.s.id, a.tid), &ack), wire.CmdOplockBreak, wire.StatusSuccess)
	expect(t, b.recvOne(), wire.CmdCreate, wire.StatusSharingViolation)
	a.close(cr.FileID)

	// An open of the (empty) directory with FILE_DELETE_ON_CLOSE breaks
	// H and completes after the acknowledgment; once a has closed, b's
	// close removes the directory.
	cr = a.createOK(withLease(dirCreate("hd", listDir, shareAll), leaseV2(kd, rhLease, nil)))
	del := dirCreate("hd", accessDelete|listDir, shareAll)
	del.CreateDisposition = 1
	del.CreateOptions |= optDeleteOnClose
	b.sendCreate(del)
	expect(t, b.recvOne(), wire.CmdCreate, wire.StatusPending)
	expectHandleBreak(t, a, kd)
	resp := b.recvOne()
	expect(t, resp, wire.CmdCreate, wire.StatusSuccess)
	var dr wire.CreateResponse
	if err := dr.Decode(resp); err != nil {
		t.Fatal(err)
	}
	a.close(cr.FileID)
	b.close(dr.FileID)
	req := dirCreate("hd", listDir, shareAll)
	req.CreateDisposition = 1
	b.sendCreate(req)
	expect(t, b.recvOne(), wire.CmdCreate, wire.StatusObjectNameNotFound)

	// A rename of the directory through an open with a lease of its own
	// breaks a's H first and completes after the acknowledgment.
	cr = a.createOK(withLease(dirCreate("rn", listDir, shareAll), leaseV2(kd, rhLease, nil)))
	mv := b.createOK(withLease(dirCreate("rn", accessDelete|listDir, shareAll), leaseV2([16]byte{0xB3}, rhLease, nil)))
	si := wire.SetInfoRequest{InfoType: wire.InfoFile, FileInfoClass: fscc.FileRenameInformation, FileID: mv.FileID, Buffer: renameBuf("rn2", false)}
	b.send(nil, message(b.header(wire.CmdSetInfo, b.s.id, b.tid), &si))
	expect(t, b.recvOne(), wire.CmdSetInfo, wire.StatusPending)
	expectHandleBreak(t, a, kd)
	expect(t, b.recvOne(), wire.CmdSetInfo, wire.StatusSuccess)
	b.close(mv.FileID)
	a.close(cr.FileID)
}

// TestDirectoryLeaseNotDurable: directories get leases but no durable
// handles ([MS-SMB2] 3.3.5.9.6: DHnQ with a lease on a directory is
// ignored; sofs keeps DH2Q to files too, so no directory handle record
// ever needs its lease restored).
func TestDirectoryLeaseNotDurable(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.RequireSigning = false })
	a := dlConnect(t, ts, Dialect302)
	cr := a.createOK(withDHnQ(withLease(dirCreate("nd", listDir, shareAll), leaseV2([16]byte{0xD4}, rhLease, nil))))
	if l := leaseOf(t, cr); l.LeaseState != rhLease || hasContext(cr, wire.CreateContextDurableHandle) != nil {
		t.Fatalf("DHnQ on a leased directory: lease %+v contexts %v", l, cr.Contexts)
	}
	a.close(cr.FileID)
	req := withLease(dirCreate("nd", listDir, shareAll), leaseV2([16]byte{0xD5}, rhLease, nil))
	req.Contexts = append(req.Contexts, wire.CreateContext{Name: wire.CreateContextDurableHandleV2,
		Data: wire.DurableHandleRequestV2{CreateGUID: guid()}.Encode()})
	cr = a.createOK(req)
	if l := leaseOf(t, cr); l.LeaseState != rhLease || hasContext(cr, wire.CreateContextDurableHandleV2) != nil {
		t.Fatalf("DH2Q on a leased directory: lease %+v contexts %v", l, cr.Contexts)
	}
	a.close(cr.FileID)
}
