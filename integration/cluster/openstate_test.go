package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/integration/harness"
	"sofs.io/sofs/integration/smbtest"
	"sofs.io/sofs/namespace"
	"sofs.io/sofs/smbserver/wire"
)

// One Windows file server's answers, with the clients on different nodes
// of a three-node cluster over one shared directory (issue 15's list):
// share modes, byte-range locks, lease breaks and delete pending hold
// across nodes.

const (
	accessDelete         = 0x00010000
	fileDeleteOnClose    = 0x00001000
	shareNone            = 0
	dispositionOpenIf    = 3
	dispositionOpen      = 1
	fileAttributeNormal  = 0x80
	leaseBreakNotifySize = 44 // StructureSize of a lease break notification
)

type client struct {
	c   *smbtest.Conn
	tid uint32
}

// connect logs on to n and connects share "data".
func (c *tc) connect(ctx context.Context, n *harness.ClusterNode) *client {
	c.t.Helper()
	var guid [16]byte
	rand.Read(guid[:])
	return c.connectAs(ctx, n, guid)
}

// connectAs is connect with the client's ClientGuid: one client's
// connections to several nodes share it.
func (c *tc) connectAs(ctx context.Context, n *harness.ClusterNode, guid [16]byte) *client {
	c.t.Helper()
	deadline := time.Now().Add(smbTimeout)
	for {
		conn, err := smbtest.Dial(ctx, n.SMBHostPort(), guid)
		if err == nil {
			if err = conn.Login(ctx, user, password); err == nil {
				var tid uint32
				if tid, err = conn.TreeConnect(ctx, "data"); err == nil {
					c.t.Cleanup(func() { conn.Close() })
					return &client{c: conn, tid: tid}
				}
			}
			conn.Close()
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("connect to %s: %v", n.Name, err)
		}
		time.Sleep(pollEvery) // the share may not have reached n yet; the loop checks success
	}
}

func openReq(name string, access, share uint32) *wire.CreateRequest {
	return &wire.CreateRequest{ImpersonationLevel: 2, DesiredAccess: access, ShareAccess: share,
		CreateDisposition: dispositionOpenIf, FileAttributes: fileAttributeNormal, Name: name}
}

func (cl *client) create(ctx context.Context, req *wire.CreateRequest) (wire.CreateResponse, wire.Status, error) {
	resp, err := cl.c.Call(ctx, wire.CmdCreate, cl.tid, req, 0)
	if err != nil {
		return wire.CreateResponse{}, 0, err
	}
	if resp.Status() != wire.StatusSuccess {
		return wire.CreateResponse{}, resp.Status(), nil
	}
	var cr wire.CreateResponse
	return cr, wire.StatusSuccess, cr.Decode(resp.Msg)
}

func (cl *client) mustCreate(t *testing.T, ctx context.Context, req *wire.CreateRequest) wire.FileID {
	t.Helper()
	cr, st, err := cl.create(ctx, req)
	if err != nil || st != wire.StatusSuccess {
		t.Fatalf("create %q: %v %v", req.Name, st, err)
	}
	return cr.FileID
}

func (cl *client) lock(ctx context.Context, fid wire.FileID, off, length uint64, flags uint32) (*smbtest.Pending, error) {
	return cl.c.Send(ctx, wire.CmdLock, cl.tid, &wire.LockRequest{FileID: fid, Locks: []wire.LockElement{{Offset: off, Length: length, Flags: flags}}}, 0)
}

func status(t *testing.T, ctx context.Context, p *smbtest.Pending, err error) wire.Status {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return r.Status()
}

// threeNodeShare starts three nodes with embedded etcd and the share.
func threeNodeShare(t *testing.T) (*tc, []*harness.ClusterNode) {
	c := newCluster(t)
	n1 := c.add("n1", "127.0.0.1", false)
	n2 := c.add("n2", "127.0.0.2", false)
	n3 := c.add("n3", "127.0.0.3", false)
	ic := harness.InitialCluster(n1, n2, n3)
	for _, n := range c.nodes {
		n.Args = []string{"--etcd-initial-cluster", ic}
	}
	c.start(n1, n2, n3)
	for _, n := range []*harness.ClusterNode{n1, n2, n3} {
		c.waitState(n1, n.Name, "up", upWithin)
	}
	c.createShareAndUser(n1)
	return c, []*harness.ClusterNode{n1, n2, n3}
}

func TestOpenStateAcrossNodes(t *testing.T) {
	c, nodes := threeNodeShare(t)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	a, b, d := c.connect(ctx, n1), c.connect(ctx, n2), c.connect(ctx, n3)

	t.Run("ShareModes", func(t *testing.T) {
		fid := a.mustCreate(t, ctx, openReq("sharemode.txt", smbtest.AccessReadWrite, shareNone))
		for _, cl := range []*client{b, d} {
			if _, st, err := cl.create(ctx, openReq("sharemode.txt", smbtest.AccessReadWrite, smbtest.ShareAll)); err != nil || st != wire.StatusSharingViolation {
				t.Fatalf("open through another node of a file open share-none: %v %v, want STATUS_SHARING_VIOLATION", st, err)
			}
		}
		if err := a.c.CloseFile(ctx, a.tid, fid); err != nil {
			t.Fatal(err)
		}
		fid = b.mustCreate(t, ctx, openReq("sharemode.txt", smbtest.AccessReadWrite, smbtest.ShareAll))
		b.c.CloseFile(ctx, b.tid, fid)
	})

	t.Run("ByteRangeLocks", func(t *testing.T) {
		fa := a.mustCreate(t, ctx, openReq("locks.bin", smbtest.AccessReadWrite, smbtest.ShareAll))
		fb := b.mustCreate(t, ctx, openReq("locks.bin", smbtest.AccessReadWrite, smbtest.ShareAll))
		p, err := a.lock(ctx, fa, 0, 10, wire.LockFlagExclusiveLock|wire.LockFlagFailImmediately)
		if st := status(t, ctx, p, err); st != wire.StatusSuccess {
			t.Fatalf("lock on n1: %v", st)
		}
		w, err := b.c.Call(ctx, wire.CmdWrite, b.tid, &wire.WriteRequest{FileID: fb, Offset: 5, Data: []byte("x")}, 0)
		if err != nil || w.Status() != wire.StatusFileLockConflict {
			t.Fatalf("write on n2 under n1's exclusive lock: %v %v, want STATUS_FILE_LOCK_CONFLICT", w.Status(), err)
		}
		p, err = b.lock(ctx, fb, 5, 1, wire.LockFlagExclusiveLock|wire.LockFlagFailImmediately)
		if st := status(t, ctx, p, err); st != wire.StatusLockNotGranted {
			t.Fatalf("conflicting lock on n2: %v, want STATUS_LOCK_NOT_GRANTED", st)
		}
		// A blocking lock on n2 waits until n1 unlocks.
		blocked, err := b.lock(ctx, fb, 5, 1, wire.LockFlagExclusiveLock)
		if err != nil {
			t.Fatal(err)
		}
		p, err = a.lock(ctx, fa, 0, 10, wire.LockFlagUnlock)
		if st := status(t, ctx, p, err); st != wire.StatusSuccess {
			t.Fatalf("unlock on n1: %v", st)
		}
		if st := status(t, ctx, blocked, nil); st != wire.StatusSuccess {
			t.Fatalf("blocking lock on n2 after n1's unlock: %v", st)
		}
		w, err = a.c.Call(ctx, wire.CmdWrite, a.tid, &wire.WriteRequest{FileID: fa, Offset: 5, Data: []byte("y")}, 0)
		if err != nil || w.Status() != wire.StatusFileLockConflict {
			t.Fatalf("write on n1 under n2's lock: %v %v", w.Status(), err)
		}
		a.c.CloseFile(ctx, a.tid, fa)
		b.c.CloseFile(ctx, b.tid, fb)
	})

	t.Run("LeaseBreak", func(t *testing.T) {
		var key [16]byte
		rand.Read(key[:])
		req := openReq("lease.txt", smbtest.AccessReadWrite, smbtest.ShareAll)
		req.RequestedOplockLevel = wire.OplockLevelLease
		req.Contexts = []wire.CreateContext{{Name: wire.CreateContextRequestLease, Data: wire.Lease{V2: true, LeaseKey: key, LeaseState: smbtest.LeaseRWH}.Encode()}}
		fa := a.mustCreate(t, ctx, req)
		// n2's open needs n1's client to give up write caching first.
		pending, err := b.c.Send(ctx, wire.CmdCreate, b.tid, openReq("lease.txt", smbtest.AccessReadWrite, smbtest.ShareAll), 0)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case brk := <-a.c.Breaks():
			if len(brk.Msg) < wire.HeaderSize+leaseBreakNotifySize {
				t.Fatalf("break on n1's connection is %d bytes", len(brk.Msg))
			}
		case <-ctx.Done():
			t.Fatal("n1's client got no lease break for an open through n2")
		}
		// Closing the cached handle answers the break.
		if err := a.c.CloseFile(ctx, a.tid, fa); err != nil {
			t.Fatal(err)
		}
		if st := status(t, ctx, pending, nil); st != wire.StatusSuccess {
			t.Fatalf("n2's open after the holder closed: %v", st)
		}
	})

	t.Run("ChangeNotify", func(t *testing.T) {
		dir := openReq("watched", 0x00100001, smbtest.ShareAll) // FILE_LIST_DIRECTORY | SYNCHRONIZE
		dir.CreateOptions = 0x1                                 // FILE_DIRECTORY_FILE
		dir.FileAttributes = 0x10
		fd := a.mustCreate(t, ctx, dir)
		watch, err := a.c.Send(ctx, wire.CmdChangeNotify, a.tid, &wire.ChangeNotifyRequest{
			FileID: fd, OutputBufferLength: 4096, CompletionFilter: wire.FileNotifyChangeFileName}, 0)
		if err != nil {
			t.Fatal(err)
		}
		// Wait for the interim response, so the watch is armed before
		// the change is made.
		select {
		case <-watch.Interim():
		case <-ctx.Done():
			t.Fatal("CHANGE_NOTIFY never went async")
		}
		fb := b.mustCreate(t, ctx, openReq(`watched\made-on-n2.txt`, smbtest.AccessReadWrite, smbtest.ShareAll))
		b.c.CloseFile(ctx, b.tid, fb)
		wctx, wcancel := context.WithTimeout(ctx, smbTimeout)
		defer wcancel()
		r, err := watch.Wait(wctx)
		if err != nil {
			t.Fatalf("the watch on n1 saw no change made through n2: %v", err)
		}
		if r.Status() != wire.StatusSuccess || !bytes.Contains(r.Msg, utf16le("made-on-n2.txt")) {
			t.Fatalf("CHANGE_NOTIFY on n1: %v, %d bytes without the new name", r.Status(), len(r.Msg))
		}
		a.c.CloseFile(ctx, a.tid, fd)
	})

	t.Run("ChangeNotifyFixedFilter", func(t *testing.T) {
		// smbtorture smb2.notify.mask-change across nodes: the first
		// CHANGE_NOTIFY on an open fixes its completion filter and
		// WATCH_TREE ([MS-FSA] 2.1.5.10: later requests on the open use
		// the existing watch), so later requests asking for more still
		// get only attribute changes, and each queued request gets the
		// next one. The changes are made through n2: it must forward
		// what a watch on n1 asked for, whatever n2 itself watches.
		dir := openReq("maskwatch", 0x00100001, smbtest.ShareAll) // FILE_LIST_DIRECTORY | SYNCHRONIZE
		dir.CreateOptions = 0x1                                   // FILE_DIRECTORY_FILE
		dir.FileAttributes = 0x10
		fd := a.mustCreate(t, ctx, dir)
		defer a.c.CloseFile(ctx, a.tid, fd)
		notify := func(filter uint32, flags uint16) *smbtest.Pending {
			t.Helper()
			p, err := a.c.Send(ctx, wire.CmdChangeNotify, a.tid, &wire.ChangeNotifyRequest{
				Flags: flags, FileID: fd, OutputBufferLength: 1000, CompletionFilter: filter}, 0)
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-p.Interim():
			case <-ctx.Done():
				t.Fatal("CHANGE_NOTIFY never went async")
			}
			return p
		}
		// made creates name through n2, renames it to renamed and closes
		// it: the name changes fall under FILE_NOTIFY_CHANGE_FILE_NAME
		// only, the close of a renamed file is an attribute change.
		made := func(name, renamed string) {
			t.Helper()
			req := openReq(`maskwatch\`+name, smbtest.AccessReadWrite|accessDelete, smbtest.ShareAll)
			fb := b.mustCreate(t, ctx, req)
			if st := b.rename(t, ctx, fb, `maskwatch\`+renamed); st != wire.StatusSuccess {
				t.Fatalf("rename on n2: %v", st)
			}
			if err := b.c.CloseFile(ctx, b.tid, fb); err != nil {
				t.Fatal(err)
			}
		}
		first := notify(wire.FileNotifyChangeAttributes, wire.WatchTree)
		setHidden := b.mustCreate(t, ctx, openReq(`maskwatch\attr.txt`, smbtest.AccessReadWrite, smbtest.ShareAll))
		// FileBasicInformation: times unchanged, FILE_ATTRIBUTE_HIDDEN.
		basic := make([]byte, 40)
		binary.LittleEndian.PutUint32(basic[32:], 0x2)
		r, err := b.c.Call(ctx, wire.CmdSetInfo, b.tid, &wire.SetInfoRequest{InfoType: 1, FileInfoClass: 4, Buffer: basic, FileID: setHidden}, 0)
		if err != nil || r.Status() != wire.StatusSuccess {
			t.Fatalf("set attributes on n2: %v %v", r.Status(), err)
		}
		b.c.CloseFile(ctx, b.tid, setHidden)
		wantNotify(t, ctx, first, "the attribute change made through n2", notifyEntry{3, "attr.txt"})

		// The mask asked for now includes name changes: ignored.
		wider := wire.FileNotifyChangeFileName | wire.FileNotifyChangeDirName | wire.FileNotifyChangeAttributes | wire.FileNotifyChangeCreation
		second := notify(wider, wire.WatchTree)
		third := notify(wider, 0)
		made("sub.txt", "sub-r.txt")
		wantNotify(t, ctx, second, "the second request, after a create, rename and close through n2", notifyEntry{3, "sub-r.txt"})
		made("two.txt", "two-r.txt")
		wantNotify(t, ctx, third, "the third request, queued behind the second", notifyEntry{3, "two-r.txt"})
	})

	t.Run("ChangeNotifyDeletePending", func(t *testing.T) {
		// smbtorture smb2.notify.rmdir3: delete pending set through n2
		// on a directory watched through n1 completes the watch with
		// STATUS_DELETE_PENDING, whatever its filter.
		dir := openReq("rmwatch", 0x001F01FF, smbtest.ShareAll) // FILE_ALL_ACCESS
		dir.CreateOptions = 0x1                                 // FILE_DIRECTORY_FILE
		dir.FileAttributes = 0x10
		fd := a.mustCreate(t, ctx, dir)
		defer a.c.CloseFile(ctx, a.tid, fd)
		watch, err := a.c.Send(ctx, wire.CmdChangeNotify, a.tid, &wire.ChangeNotifyRequest{
			FileID: fd, OutputBufferLength: 1000, CompletionFilter: wire.FileNotifyChangeFileName | wire.FileNotifyChangeDirName}, 0)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-watch.Interim():
		case <-ctx.Done():
			t.Fatal("CHANGE_NOTIFY never went async")
		}
		fb := b.mustCreate(t, ctx, dir)
		// FileDispositionInformation: DeletePending.
		r, err := b.c.Call(ctx, wire.CmdSetInfo, b.tid, &wire.SetInfoRequest{InfoType: 1, FileInfoClass: 13, Buffer: []byte{1}, FileID: fb}, 0)
		if err != nil || r.Status() != wire.StatusSuccess {
			t.Fatalf("set delete pending on n2: %v %v", r.Status(), err)
		}
		b.c.CloseFile(ctx, b.tid, fb)
		wctx, wcancel := context.WithTimeout(ctx, smbTimeout)
		defer wcancel()
		r, err = watch.Wait(wctx)
		if err != nil {
			t.Fatalf("the watch on n1 never completed once n2 set delete pending: %v", err)
		}
		if r.Status() != wire.StatusDeletePending {
			t.Fatalf("CHANGE_NOTIFY on n1 after n2 set delete pending: %v, want STATUS_DELETE_PENDING", r.Status())
		}
	})

	t.Run("RenameAndStreamChecks", func(t *testing.T) {
		mkdir := openReq("rdir", 0x00100001, smbtest.ShareAll)
		mkdir.CreateOptions, mkdir.FileAttributes = 0x1, 0x10
		a.c.CloseFile(ctx, a.tid, a.mustCreate(t, ctx, mkdir))
		child := b.mustCreate(t, ctx, openReq(`rdir\child.txt`, smbtest.AccessReadWrite, smbtest.ShareAll))
		dir := openReq("rdir", 0x00110080, smbtest.ShareAll) // DELETE | SYNCHRONIZE | READ_ATTRIBUTES
		dir.CreateOptions = 0x1
		fd := a.mustCreate(t, ctx, dir)
		if st := a.rename(t, ctx, fd, "rdir2"); st != wire.StatusAccessDenied {
			t.Fatalf("rename on n1 of a directory with a child open on n2: %v, want STATUS_ACCESS_DENIED", st)
		}
		b.c.CloseFile(ctx, b.tid, child)
		if st := a.rename(t, ctx, fd, "rdir2"); st != wire.StatusSuccess {
			t.Fatalf("rename once the child is closed: %v", st)
		}
		a.c.CloseFile(ctx, a.tid, fd)

		a.c.CloseFile(ctx, a.tid, a.mustCreate(t, ctx, openReq("sfile.txt", smbtest.AccessReadWrite, smbtest.ShareAll)))
		stream := b.mustCreate(t, ctx, openReq("sfile.txt:s1", smbtest.AccessReadWrite, smbtest.ShareAll))
		ff := a.mustCreate(t, ctx, openReq("sfile.txt", 0x00110080, smbtest.ShareAll))
		if st := a.rename(t, ctx, ff, "sfile2.txt"); st != wire.StatusAccessDenied {
			t.Fatalf("rename on n1 of a file with a stream open on n2: %v, want STATUS_ACCESS_DENIED", st)
		}
		a.c.CloseFile(ctx, a.tid, ff)
		b.c.CloseFile(ctx, b.tid, stream)
		noDelete := b.mustCreate(t, ctx, openReq("sfile.txt:s2", smbtest.AccessReadWrite, 0x3))
		if _, st, err := a.create(ctx, openReq("sfile.txt", 0x00110080, smbtest.ShareAll)); err != nil || st != wire.StatusSharingViolation {
			t.Fatalf("open for DELETE on n1 of a file whose stream n2 holds without FILE_SHARE_DELETE: %v %v, want STATUS_SHARING_VIOLATION", st, err)
		}
		b.c.CloseFile(ctx, b.tid, noDelete)
	})

	t.Run("OpenFilesOfEveryNode", func(t *testing.T) {
		fa := a.mustCreate(t, ctx, openReq("listed-n1.txt", smbtest.AccessReadWrite, smbtest.ShareAll))
		fb := b.mustCreate(t, ctx, openReq("listed-n2.txt", smbtest.AccessReadWrite, smbtest.ShareAll))
		defer a.c.CloseFile(ctx, a.tid, fa)
		defer b.c.CloseFile(ctx, b.tid, fb)
		states, err := c.nodeStates(n1)
		if err != nil {
			t.Fatal(err)
		}
		var ol adminapi.OpenFileList
		if err := json.Unmarshal(c.mustCtl(n3, "openfile", "list"), &ol); err != nil {
			t.Fatal(err)
		}
		onNode := map[string]string{}
		for _, f := range ol.OpenFiles {
			onNode[f.Path] = f.Node
		}
		if onNode["listed-n1.txt"] != states["n1"].ID || onNode["listed-n2.txt"] != states["n2"].ID {
			t.Fatalf("open files listed through n3: %+v, want listed-n1.txt on n1 (%s) and listed-n2.txt on n2 (%s)", onNode, states["n1"].ID, states["n2"].ID)
		}
	})

	t.Run("AppInstanceId", func(t *testing.T) {
		// A clustered VM moves from host A (reaching n1) to host B
		// (reaching n2): B's open with the same AppInstanceId closes
		// A's durable open wherever it is, without a break.
		var app [16]byte
		rand.Read(app[:])
		vmOpen := func() *wire.CreateRequest {
			var cg, lk [16]byte
			rand.Read(cg[:])
			rand.Read(lk[:])
			req := openReq("vm.vhdx", smbtest.AccessReadWrite, shareNone)
			req.RequestedOplockLevel = wire.OplockLevelLease
			appCtx := append([]byte{20, 0, 0, 0}, app[:]...)
			req.Contexts = []wire.CreateContext{
				{Name: wire.CreateContextDurableHandleV2, Data: wire.DurableHandleRequestV2{CreateGUID: cg}.Encode()},
				{Name: wire.CreateContextRequestLease, Data: wire.Lease{V2: true, LeaseKey: lk, LeaseState: smbtest.LeaseRWH}.Encode()},
				{Name: wire.CreateContextAppInstanceID, Data: appCtx},
			}
			return req
		}
		fa := a.mustCreate(t, ctx, vmOpen())
		fb := b.mustCreate(t, ctx, vmOpen())
		w, err := a.c.Call(ctx, wire.CmdWrite, a.tid, &wire.WriteRequest{FileID: fa, Data: []byte("stale host")}, 0)
		if err != nil || w.Status() != wire.StatusFileClosed {
			t.Fatalf("write through the old instance's handle on n1: %v %v, want STATUS_FILE_CLOSED", w.Status(), err)
		}
		b.c.CloseFile(ctx, b.tid, fb)
	})

	// Twelve clients, four per node, increment one counter under an
	// exclusive byte-range lock, and then under a share-mode-exclusive
	// open: a lost update anywhere shows in the total.
	const perNode, rounds = 4, 500
	var clients []*client
	for _, n := range nodes {
		for range perNode {
			clients = append(clients, c.connect(ctx, n))
		}
	}
	t.Run("LockedCounter", func(t *testing.T) {
		counter(t, ctx, clients, "counter-lock.bin", rounds, true)
	})
	t.Run("ShareModeCounter", func(t *testing.T) {
		counter(t, ctx, clients, "counter-share.bin", rounds, false)
	})

	t.Run("DeletePending", func(t *testing.T) {
		doc := openReq("doomed.txt", smbtest.AccessReadWrite|accessDelete, smbtest.ShareAll)
		doc.CreateOptions = fileDeleteOnClose
		fa := a.mustCreate(t, ctx, doc)
		fb := b.mustCreate(t, ctx, openReq("doomed.txt", smbtest.AccessReadWrite, smbtest.ShareAll))
		if err := a.c.CloseFile(ctx, a.tid, fa); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(c.csv, "doomed.txt")); err != nil {
			t.Fatalf("delete-on-close removed a file still open through n2: %v", err)
		}
		o := openReq("doomed.txt", smbtest.AccessReadWrite, smbtest.ShareAll)
		o.CreateDisposition = dispositionOpen
		if _, st, err := d.create(ctx, o); err != nil || st != wire.StatusDeletePending {
			t.Fatalf("open through n3 of a delete-pending file: %v %v, want STATUS_DELETE_PENDING", st, err)
		}
		if err := b.c.CloseFile(ctx, b.tid, fb); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(c.csv, "doomed.txt")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the last close (through n2) did not remove the delete-pending file: %v", err)
		}
	})
}

// counter runs rounds increments of an 8-byte counter in file name per
// client, all clients at once, and checks the total. With locks, each
// client keeps one open and takes a blocking exclusive lock around its
// read-modify-write; without, each round opens the file with no sharing
// (retrying while another client has it) and closes it.
func counter(t *testing.T, ctx context.Context, clients []*client, name string, rounds int, locks bool) {
	t.Helper()
	fid := clients[0].mustCreate(t, ctx, openReq(name, smbtest.AccessReadWrite, smbtest.ShareAll))
	clients[0].c.CloseFile(ctx, clients[0].tid, fid)
	errs := make(chan error, len(clients))
	for _, cl := range clients {
		go func() { errs <- cl.increment(ctx, name, rounds, locks) }()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	fid = clients[0].mustCreate(t, ctx, openReq(name, smbtest.AccessReadWrite, smbtest.ShareAll))
	defer clients[0].c.CloseFile(ctx, clients[0].tid, fid)
	got, err := clients[0].readCounter(ctx, fid)
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(len(clients) * rounds); got != want {
		t.Fatalf("counter %s = %d after %d clients x %d rounds, want %d: updates were lost", name, got, len(clients), rounds, want)
	}
}

// maxShareRetries bounds the reopen attempts of one round of the
// share-mode counter (each attempt is one CREATE round trip).
const maxShareRetries = 100000

func (cl *client) increment(ctx context.Context, name string, rounds int, locks bool) error {
	var fid wire.FileID
	if locks {
		cr, st, err := cl.create(ctx, openReq(name, smbtest.AccessReadWrite, smbtest.ShareAll))
		if err != nil || st != wire.StatusSuccess {
			return fmt.Errorf("open %s: %v %v", name, st, err)
		}
		fid = cr.FileID
		defer cl.c.CloseFile(ctx, cl.tid, fid)
	}
	for i := range rounds {
		if locks {
			p, err := cl.lock(ctx, fid, 0, 8, wire.LockFlagExclusiveLock)
			if err != nil {
				return err
			}
			r, err := p.Wait(ctx)
			if err != nil || r.Status() != wire.StatusSuccess {
				return fmt.Errorf("round %d: lock: %v %v", i, r.Status(), err)
			}
		} else {
			for attempt := 0; ; attempt++ {
				cr, st, err := cl.create(ctx, openReq(name, smbtest.AccessReadWrite, shareNone))
				if err != nil {
					return err
				}
				if st == wire.StatusSuccess {
					fid = cr.FileID
					break
				}
				if st != wire.StatusSharingViolation || attempt >= maxShareRetries {
					return fmt.Errorf("round %d: exclusive open: %v after %d attempts", i, st, attempt)
				}
			}
		}
		v, err := cl.readCounter(ctx, fid)
		if err != nil {
			return fmt.Errorf("round %d: %w", i, err)
		}
		var buf [8]byte
		binary.LittleEndian.PutUint64(buf[:], v+1)
		w, err := cl.c.Call(ctx, wire.CmdWrite, cl.tid, &wire.WriteRequest{FileID: fid, Data: buf[:]}, 0)
		if err != nil || w.Status() != wire.StatusSuccess {
			return fmt.Errorf("round %d: write: %v %v", i, w.Status(), err)
		}
		if locks {
			p, err := cl.lock(ctx, fid, 0, 8, wire.LockFlagUnlock)
			if err != nil {
				return err
			}
			if r, err := p.Wait(ctx); err != nil || r.Status() != wire.StatusSuccess {
				return fmt.Errorf("round %d: unlock: %v %v", i, r.Status(), err)
			}
		} else if err := cl.c.CloseFile(ctx, cl.tid, fid); err != nil {
			return fmt.Errorf("round %d: %w", i, err)
		}
	}
	return nil
}

func (cl *client) readCounter(ctx context.Context, fid wire.FileID) (uint64, error) {
	r, err := cl.c.Call(ctx, wire.CmdRead, cl.tid, &wire.ReadRequest{FileID: fid, Length: 8}, 0)
	if err != nil {
		return 0, err
	}
	if r.Status() == wire.StatusEndOfFile {
		return 0, nil
	}
	if r.Status() != wire.StatusSuccess {
		return 0, fmt.Errorf("read counter: %v", r.Status())
	}
	var rr wire.ReadResponse
	if err := rr.Decode(r.Msg); err != nil {
		return 0, err
	}
	if len(rr.Data) != 8 {
		return 0, fmt.Errorf("read counter: %d bytes", len(rr.Data))
	}
	return binary.LittleEndian.Uint64(rr.Data), nil
}

// coordinatorNode returns the node that coordinates the open state now,
// read from etcd through n.
func coordinatorNode(t *testing.T, n *harness.ClusterNode, nodes []*harness.ClusterNode) *harness.ClusterNode {
	t.Helper()
	etcdTLS, err := n.EtcdTLS()
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{n.ClientURL()}, TLS: etcdTLS, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, namespace.Prefix+"openstate/coordinator")
	if err != nil || len(resp.Kvs) == 0 {
		t.Fatalf("no coordinator key: %v", err)
	}
	slot := string(resp.Kvs[0].Value)
	recs, err := cli.Get(ctx, namespace.Prefix+"nodes/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range recs.Kvs {
		var r namespace.NodeRecord
		if json.Unmarshal(kv.Value, &r) == nil && fmt.Sprint(r.Slot) == slot {
			for _, node := range nodes {
				if node.Name == r.Name {
					return node
				}
			}
		}
	}
	t.Fatalf("coordinator slot %s belongs to no live node", slot)
	return nil
}

// untilOpen retries an exclusive open of name through cl until it
// succeeds, and returns how long that took.
func untilOpen(t *testing.T, ctx context.Context, cl *client, name string) (wire.FileID, time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		cr, st, err := cl.create(ctx, openReq(name, smbtest.AccessReadWrite, shareNone))
		if err == nil && st == wire.StatusSuccess {
			return cr.FileID, time.Since(start)
		}
		if err != nil || st != wire.StatusSharingViolation {
			t.Fatalf("open %s: %v %v", name, st, err)
		}
		if ctx.Err() != nil {
			t.Fatalf("%s still held %s after the node holding it was killed", name, time.Since(start))
		}
		time.Sleep(50 * time.Millisecond) // retry interval; the loop checks the open
	}
}

// A node killed while it holds opens and locks: the survivors' opens keep
// their share modes (also when the killed node coordinated the open
// state), and the killed node's opens and locks are released once the
// cluster knows it is gone (its 5 s etcd lease).
func TestOpenStateSurvivesNodeLoss(t *testing.T) {
	c, nodes := threeNodeShare(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, what := range []string{"coordinator", "member"} {
		live := nodes
		coord := coordinatorNode(t, live[0], live)
		var victim, keeper, observer *harness.ClusterNode
		for _, n := range live {
			switch {
			case what == "coordinator" && n == coord, what == "member" && victim == nil && n != coord:
				victim = n
			case keeper == nil:
				keeper = n
			default:
				observer = n
			}
		}
		if observer == nil {
			observer = keeper
		}
		v, k, o := c.connect(ctx, victim), c.connect(ctx, keeper), c.connect(ctx, observer)
		lost, kept := what+"-lost.bin", what+"-kept.bin"
		fv := v.mustCreate(t, ctx, openReq(lost, smbtest.AccessReadWrite, shareNone))
		p, err := v.lock(ctx, fv, 0, 1, wire.LockFlagExclusiveLock|wire.LockFlagFailImmediately)
		if st := status(t, ctx, p, err); st != wire.StatusSuccess {
			t.Fatalf("lock on %s: %v", victim.Name, st)
		}
		k.mustCreate(t, ctx, openReq(kept, smbtest.AccessReadWrite, shareNone))

		victim.Kill()
		fid, took := untilOpen(t, ctx, o, lost)
		t.Logf("%s: %s's exclusive open released %s after kill -9", what, victim.Name, took.Round(time.Millisecond))
		// The bound: the node's lease plus 2 s once etcd expires the
		// lease. When the killed node also led etcd, the new etcd leader
		// first renews every lease for a full TTL (etcd's rule, so that a
		// leader change never expires a live node), hence twice the TTL.
		if limit := 2*namespace.DefaultLeaseTTL + 2*time.Second; took > limit {
			t.Errorf("%s: the killed node's open was released after %s, more than %s", what, took, limit)
		}
		p, err = o.lock(ctx, fid, 0, 1, wire.LockFlagExclusiveLock|wire.LockFlagFailImmediately)
		if st := status(t, ctx, p, err); st != wire.StatusSuccess {
			t.Fatalf("%s: the killed node's lock was not released: %v", what, st)
		}
		if _, st, err := o.create(ctx, openReq(kept, smbtest.AccessReadWrite, smbtest.ShareAll)); err != nil || st != wire.StatusSharingViolation {
			t.Fatalf("%s: %s's open (a survivor) after the loss of %s: %v %v, want STATUS_SHARING_VIOLATION", what, keeper.Name, victim.Name, st, err)
		}
		// Back to three nodes (two would lose etcd's quorum with the
		// next kill).
		c.start(victim)
		c.waitState(keeper, victim.Name, "up", upWithin)
	}
}

// notifyEntry is one FILE_NOTIFY_INFORMATION entry ([MS-FSCC] 2.7.1).
type notifyEntry struct {
	action uint32
	name   string
}

// wantNotify waits for the CHANGE_NOTIFY p and checks that it succeeded
// with exactly the entries want.
func wantNotify(t *testing.T, ctx context.Context, p *smbtest.Pending, what string, want ...notifyEntry) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, smbTimeout)
	defer cancel()
	r, err := p.Wait(wctx)
	if err != nil {
		t.Fatalf("CHANGE_NOTIFY on n1 never completed with %s: %v", what, err)
	}
	var resp wire.ChangeNotifyResponse
	if r.Status() != wire.StatusSuccess || resp.Decode(r.Msg) != nil {
		t.Fatalf("CHANGE_NOTIFY on n1 after %s: %v", what, r.Status())
	}
	var got []notifyEntry
	for b := resp.Buffer; len(b) >= 12; {
		next := binary.LittleEndian.Uint32(b)
		n := binary.LittleEndian.Uint32(b[8:])
		if 12+int(n) > len(b) {
			t.Fatalf("CHANGE_NOTIFY on n1: entry of %d name bytes in %d", n, len(b))
		}
		var name []rune
		for i := 12; i+1 < 12+int(n); i += 2 {
			name = append(name, rune(binary.LittleEndian.Uint16(b[i:])))
		}
		got = append(got, notifyEntry{binary.LittleEndian.Uint32(b[4:]), string(name)})
		if next == 0 || int(next) > len(b) {
			break
		}
		b = b[next:]
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("CHANGE_NOTIFY on n1 after %s: %v, want %v (action 3 is FILE_ACTION_MODIFIED)", what, got, want)
	}
}

func utf16le(s string) []byte {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r), byte(r>>8))
	}
	return b
}

// rename renames the open fid to name with SET_INFO
// FileRenameInformation ([MS-FSCC] 2.4.42.2, the SMB2 layout).
func (cl *client) rename(t *testing.T, ctx context.Context, fid wire.FileID, name string) wire.Status {
	t.Helper()
	n := utf16le(name)
	buf := make([]byte, 20, 20+len(n))
	binary.LittleEndian.PutUint32(buf[16:], uint32(len(n)))
	buf = append(buf, n...)
	r, err := cl.c.Call(ctx, wire.CmdSetInfo, cl.tid, &wire.SetInfoRequest{InfoType: 1, FileInfoClass: 10, Buffer: buf, FileID: fid}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return r.Status()
}
