package smbserver

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"sofs.io/sofs/smbserver/wire"
)

// A frame the reader runs itself (an idle connection, a short request)
// that then waits synchronously for a break the same client must
// acknowledge has to give the reader role away, or the acknowledgment is
// never read and the request hangs until the break timeout. A SET_INFO
// rename that is not the last request of its compound cannot go async
// ([MS-SMB2] 3.3.5.2.7), so it waits synchronously for the break of the
// client's other lease on the file.
func TestInlineFrameWaitingForOwnBreakAck(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.RequireSigning = false
		// Far beyond the raw client's 5 s receive deadline: only an
		// acknowledgment that got read completes the rename in time.
		c.OplockBreakTimeout = time.Minute
	})
	a := olConnect(t, ts, Dialect302)
	k1, k2 := [16]byte{1}, [16]byte{2}
	cr := a.createOK(withLease(olCreate("own.txt", 0, rw|accessDelete, shareAll), wire.Lease{LeaseKey: k1, LeaseState: rhLease}))
	cr2 := a.createOK(withLease(olCreate("own.txt", 0, readOnly, shareAll), wire.Lease{LeaseKey: k2, LeaseState: rhLease}))
	if l := leaseOf(t, cr2); l.LeaseState != rhLease {
		t.Fatalf("second lease %+v", l)
	}

	si := wire.SetInfoRequest{InfoType: wire.InfoFile, FileInfoClass: 10, FileID: cr.FileID, Buffer: renameBuf("moved.txt", false)}
	rename := message(a.header(wire.CmdSetInfo, a.s.id, a.tid), &si)
	a.send(nil, rename, message(a.header(wire.CmdEcho, a.s.id, a.tid), &wire.EchoRequest{}))

	var n wire.LeaseBreakNotification
	if brk := a.recvOne(); !isBreak(t, brk) || n.Decode(brk) != nil || n.LeaseKey != k2 || n.NewLeaseState != wire.LeaseReadCaching {
		t.Fatalf("want the break of the second lease, got %+v", n)
	}
	ack := wire.LeaseBreakAcknowledgment{LeaseKey: k2, LeaseState: wire.LeaseReadCaching}
	a.send(nil, message(a.header(wire.CmdOplockBreak, a.s.id, a.tid), &ack))

	// The acknowledgment's response and the compound's come back in
	// either order.
	var sawAck, sawChain bool
	for range 2 {
		msgs := a.recvFrame()
		switch hdrOf(t, msgs[0]).Command {
		case wire.CmdOplockBreak:
			expect(t, msgs[0], wire.CmdOplockBreak, wire.StatusSuccess)
			sawAck = true
		case wire.CmdSetInfo:
			if len(msgs) != 2 {
				t.Fatalf("compound answered with %d responses", len(msgs))
			}
			expect(t, msgs[0], wire.CmdSetInfo, wire.StatusSuccess)
			expect(t, msgs[1], wire.CmdEcho, wire.StatusSuccess)
			sawChain = true
		default:
			t.Fatalf("unexpected %v", hdrOf(t, msgs[0]).Command)
		}
	}
	if !sawAck || !sawChain {
		t.Fatalf("ack answered %v, compound answered %v", sawAck, sawChain)
	}
	if _, err := os.Stat(filepath.Join(ts.dir, "moved.txt")); err != nil {
		t.Fatalf("rename did not happen: %v", err)
	}
}
