package csv

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// dirLeaseFixture is a volume whose directory "d" holds an RH lease with
// key dlKey, and the breaks the volume delivered.
type dirLeaseFixture struct {
	t      *testing.T
	v      *Volume
	ids    atomic.Uint64
	dir    *Handle
	mu     sync.Mutex
	breaks []Break
}

var (
	dlKey   = LeaseKey{Client: [16]byte{0xC1}, Key: [16]byte{0xD1}}
	dlOther = [16]byte{0xEE}
)

func newDirLeaseFixture(t *testing.T, state uint32) *dirLeaseFixture {
	f := &dirLeaseFixture{t: t}
	f.v, _ = newVolume(t, Options{ParentBreaks: func(bs []Break) {
		f.mu.Lock()
		f.breaks = append(f.breaks, bs...)
		f.mu.Unlock()
	}})
	mk, _ := open(t, f.v, OpenRequest{Path: `d`, Disposition: Create, Directory: true})
	closeH(t, mk)
	mk, _ = open(t, f.v, OpenRequest{Path: `d\sub`, Disposition: Create, Directory: true})
	closeH(t, mk)
	mk, _ = open(t, f.v, OpenRequest{Path: `e`, Disposition: Create, Directory: true})
	closeH(t, mk)
	for _, p := range []string{`d\old`, `d\victim`, `d\sub\deep`} {
		h, _ := open(t, f.v, OpenRequest{Path: p, Disposition: Create, Write: true})
		closeH(t, h)
	}
	f.dir = f.open(OpenRequest{Path: `d`, Disposition: Open, Directory: true},
		&LeaseRequest{Key: dlKey, State: state, Version: 2, AllowDirectory: true})
	if g := f.dir.Grant(); g.Lease == nil || g.Lease.State != state {
		t.Fatalf("directory lease %+v, want state %#x", g.Lease, state)
	}
	f.take() // creating the fixture's files broke nothing yet, but start clean
	return f
}

// open opens with an entry (share all) and the given lease.
func (f *dirLeaseFixture) open(req OpenRequest, l *LeaseRequest) *Handle {
	f.t.Helper()
	req.Entry = &OpenEntry{ID: f.ids.Add(1), Access: 0x0012019F, ShareAccess: ShareRead | ShareWrite | ShareDelete, Lease: l}
	h, _ := open(f.t, f.v, req)
	return h
}

// child is a lease request whose ParentLeaseKey is parent (none if nil).
func child(k byte, parent *[16]byte) *LeaseRequest {
	l := &LeaseRequest{Key: LeaseKey{Client: [16]byte{0xC1}, Key: [16]byte{k}}, State: CacheRead, Version: 2}
	if parent != nil {
		l.ParentKey, l.HasParent = *parent, true
	}
	return l
}

func (f *dirLeaseFixture) take() []Break {
	f.mu.Lock()
	defer f.mu.Unlock()
	bs := f.breaks
	f.breaks = nil
	return bs
}

// wantBreak checks that exactly one break of the directory lease to none
// was delivered (none when want is false). Delivery is synchronous: the
// change that starts a break delivers it before it returns.
func (f *dirLeaseFixture) wantBreak(what string, want bool) {
	f.t.Helper()
	bs := f.take()
	if !want {
		if len(bs) != 0 {
			f.t.Fatalf("%s: unexpected breaks %+v", what, bs)
		}
		return
	}
	if len(bs) != 1 || bs[0].Key != dlKey || bs[0].To != CacheNone || !bs[0].IsLease {
		f.t.Fatalf("%s: breaks %+v, want one of the directory lease to none", what, bs)
	}
	// Acknowledge and take the lease back for the next step.
	ctx := context.Background()
	if bs[0].AckRequired {
		if _, err := f.dir.AckLease(ctx, dlKey, CacheNone); err != nil {
			f.t.Fatalf("%s: ack: %v", what, err)
		}
	}
	h := f.open(OpenRequest{Path: `d`, Disposition: Open, Directory: true},
		&LeaseRequest{Key: dlKey, State: bs[0].From, Version: 2, AllowDirectory: true})
	if g := h.Grant(); g.Lease == nil || g.Lease.State != bs[0].From {
		f.t.Fatalf("%s: rearm got %+v", what, g.Lease)
	}
	closeH(f.t, h)
}

func TestDirectoryLeaseParentBreaks(t *testing.T) {
	dk := dlKey.Key
	other := dlOther
	f := newDirLeaseFixture(t, CacheRead|CacheHandle)

	// Creating a child breaks, unless the creator names the lease.
	h := f.open(OpenRequest{Path: `d\new1`, Disposition: Create, Write: true}, child(1, nil))
	f.wantBreak("create without a parent key", true)
	closeH(t, h)
	f.wantBreak("close of an unwritten file", false)
	h = f.open(OpenRequest{Path: `d\new2`, Disposition: Create, Write: true}, child(2, &dk))
	f.wantBreak("create with the directory's key", false)
	closeH(t, h)
	h = f.open(OpenRequest{Path: `d\new3`, Disposition: Create}, child(3, &other))
	f.wantBreak("create with another key", true)
	closeH(t, h)
	h = f.open(OpenRequest{Path: `d\newdir`, Disposition: Create, Directory: true}, nil)
	f.wantBreak("mkdir without a lease", true)
	closeH(t, h)

	// Opening an existing child changes nothing; overwriting it does.
	h = f.open(OpenRequest{Path: `d\old`, Disposition: Open}, child(4, nil))
	f.wantBreak("open of an existing child", false)
	closeH(t, h)
	h = f.open(OpenRequest{Path: `d\old`, Disposition: OverwriteIf, Write: true}, child(4, nil))
	f.wantBreak("overwrite", true)

	// Metadata set through the child's handle.
	if err := h.SetBasicInfo(context.Background(), time.Time{}, time.Time{}, time.Now(), time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	f.wantBreak("basic info", true)
	if err := h.SetBasicInfo(context.Background(), time.Time{}, time.Time{}, time.Time{}, time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	f.wantBreak("basic info that sets nothing", false)
	if err := h.SetEndOfFile(context.Background(), 10); err != nil {
		t.Fatal(err)
	}
	f.wantBreak("end of file", true)
	if err := h.SetAllocationSize(context.Background(), 1<<20); err != nil {
		t.Fatal(err)
	}
	f.wantBreak("allocation", true)

	// A write breaks nothing until the handle closes.
	if _, err := h.WriteAt([]byte("data"), 0); err != nil {
		t.Fatal(err)
	}
	f.wantBreak("write", false)
	closeH(t, h)
	f.wantBreak("close after a write", true)

	// The same through a handle naming the directory's lease: nothing.
	h = f.open(OpenRequest{Path: `d\old`, Disposition: Open, Write: true}, child(5, &dk))
	h.SetBasicInfo(context.Background(), time.Time{}, time.Time{}, time.Now(), time.Time{}, 0)
	h.SetEndOfFile(context.Background(), 3)
	h.WriteAt([]byte("x"), 0)
	closeH(t, h)
	f.wantBreak("changes through an open with the directory's key", false)

	// Changes below a subdirectory are not changes of d's children.
	h = f.open(OpenRequest{Path: `d\sub\deep`, Disposition: Open, Write: true}, nil)
	h.SetEndOfFile(context.Background(), 1)
	closeH(t, h)
	f.wantBreak("change of a grandchild", false)
	// Nor is a change to d itself (its parent, the root, holds no lease).
	if err := f.dir.SetBasicInfo(context.Background(), time.Time{}, time.Time{}, time.Now(), time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	f.wantBreak("basic info of the directory itself", false)

	// Renames: within d with its key, out of d, into d.
	h = f.open(OpenRequest{Path: `d\old`, Disposition: Open}, child(6, &dk))
	if err := h.Rename(context.Background(), `d\renamed`, false); err != nil {
		t.Fatal(err)
	}
	f.wantBreak("rename within with the directory's key", false)
	if err := h.Rename(context.Background(), `d\renamed2`, false); err != nil {
		t.Fatal(err)
	}
	f.wantBreak("rename within with the directory's key, again", false)
	closeH(t, h)
	h = f.open(OpenRequest{Path: `d\renamed2`, Disposition: Open}, child(7, nil))
	if err := h.Rename(context.Background(), `e\moved`, false); err != nil {
		t.Fatal(err)
	}
	f.wantBreak("rename out of d", true)
	if err := h.Rename(context.Background(), `d\back`, false); err != nil {
		t.Fatal(err)
	}
	f.wantBreak("rename into d", true)
	closeH(t, h)

	// A removal breaks when it takes effect, at the last close.
	h = f.open(OpenRequest{Path: `d\victim`, Disposition: Open}, child(8, nil))
	if err := h.SetDeletePending(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	f.wantBreak("delete pending set", false)
	closeH(t, h)
	f.wantBreak("removal", true)
}

// TestDirectoryLeaseRemovalKey: the removal spares the lease named by the
// open that set delete pending only when the last closer names it too
// (Samba's smb2.dirlease.unlink_* cases).
func TestDirectoryLeaseRemovalKey(t *testing.T) {
	dk := dlKey.Key
	other := dlOther
	for _, c := range []struct {
		name         string
		setter, last *[16]byte
		setterCloses bool // the setter closes first (else last)
		want         bool
	}{
		{"same key set and close", &dk, &dk, false, false},
		{"setter closes first, other closes last", &dk, &other, true, true},
		{"setter has the key, the closer none", &dk, nil, true, true},
		{"setter closes last with the key", &dk, &other, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newDirLeaseFixture(t, CacheRead|CacheHandle)
			setter := f.open(OpenRequest{Path: `d\victim`, Disposition: Open}, child(1, c.setter))
			closer := f.open(OpenRequest{Path: `d\victim`, Disposition: Open}, child(2, c.last))
			if err := setter.SetDeletePending(context.Background(), true); err != nil {
				t.Fatal(err)
			}
			first, second := closer, setter
			if c.setterCloses {
				first, second = setter, closer
			}
			closeH(t, first)
			f.wantBreak("first close", false)
			closeH(t, second)
			f.wantBreak("last close", c.want)
		})
	}
}

// TestDirectoryLeaseReadOnlyBreak: an R lease breaks to none at once,
// without an acknowledgment.
func TestDirectoryLeaseReadOnlyBreak(t *testing.T) {
	f := newDirLeaseFixture(t, CacheRead)
	h := f.open(OpenRequest{Path: `d\new`, Disposition: Create}, nil)
	closeH(t, h)
	bs := f.take()
	if len(bs) != 1 || bs[0].AckRequired || bs[0].From != CacheRead || bs[0].To != CacheNone {
		t.Fatalf("breaks %+v", bs)
	}
	if g, err := f.dir.CurrentLease(context.Background(), dlKey); err != nil || g.State != CacheNone || g.Breaking {
		t.Fatalf("lease after the break: %+v %v", g, err)
	}
}

// TestNoDirectoryLeaseNoParentLookup: with no directory lease anywhere
// the table's hint stays clear, which is what lets a change to a file skip
// looking up its parent, and nothing is delivered.
func TestNoDirectoryLeaseNoParentLookup(t *testing.T) {
	var calls atomic.Int32
	v, _ := newVolume(t, Options{ParentBreaks: func([]Break) { calls.Add(1) }})
	h, _ := open(t, v, OpenRequest{Path: "f", Disposition: Create, Write: true})
	h.SetEndOfFile(context.Background(), 5)
	h.WriteAt([]byte("x"), 0)
	closeH(t, h)
	if tb := v.objects.(DirectoryLeaseHint); tb.MayHoldDirectoryLeases() {
		t.Fatal("hint set without directory leases")
	}
	if calls.Load() != 0 {
		t.Fatalf("%d deliveries without directory leases", calls.Load())
	}
}
