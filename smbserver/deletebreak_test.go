package smbserver

import (
	"testing"

	"sofs.io/sofs/smbserver/wire"
)

const rhLease = wire.LeaseReadCaching | wire.LeaseHandleCache

// expectHandleBreak reads a lease break RH -> R (acknowledgment required)
// of key from c and acknowledges it.
func expectHandleBreak(t *testing.T, c *olClient, key [16]byte) {
	t.Helper()
	brk := c.recvOne()
	var n wire.LeaseBreakNotification
	if !isBreak(t, brk) || n.Decode(brk) != nil || n.LeaseKey != key || n.CurrentLeaseState != rhLease || n.NewLeaseState != wire.LeaseReadCaching || n.Flags != wire.LeaseBreakFlagAckRequired {
		t.Fatalf("want a break RH -> R of %x, got %+v", key[:1], n)
	}
	ack := wire.LeaseBreakAcknowledgment{LeaseKey: key, LeaseState: wire.LeaseReadCaching}
	expect(t, c.roundTrip(nil, c.header(wire.CmdOplockBreak, c.s.id, c.tid), &ack), wire.CmdOplockBreak, wire.StatusSuccess)
}

// TestDeleteBreaksHandleLeases: making a file delete pending breaks the
// handle caching of the other clients' leases and waits for them, as
// Windows does ([MS-FSA] 2.1.5.14.3; smbtorture smb2.lease.unlink): an
// open with FILE_DELETE_ON_CLOSE by a client without a lease, and a
// FileDispositionInformation through an open with a lease of its own
// (which keeps its H).
func TestDeleteBreaksHandleLeases(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.RequireSigning = false })
	a := olConnect(t, ts, Dialect302)
	b := olConnect(t, ts, Dialect302)
	k1, k2 := [16]byte{1}, [16]byte{2}
	cr := a.createOK(withLease(olCreate("del.txt", 0, readOnly, shareAll), wire.Lease{LeaseKey: k1, LeaseState: rhLease}))
	if l := leaseOf(t, cr); l.LeaseState != rhLease {
		t.Fatalf("a's lease %+v", l)
	}

	// Unlink: DELETE access with FILE_DELETE_ON_CLOSE, no lease.
	unlink := olCreate("del.txt", 0, 0x00010000, shareAll)
	unlink.CreateDisposition = 1
	unlink.CreateOptions = optDeleteOnClose
	b.sendCreate(unlink)
	expect(t, b.recvOne(), wire.CmdCreate, wire.StatusPending)
	expectHandleBreak(t, a, k1)
	resp := b.recvOne()
	expect(t, resp, wire.CmdCreate, wire.StatusSuccess)
	var ur wire.CreateResponse
	if err := ur.Decode(resp); err != nil {
		t.Fatal(err)
	}
	b.close(ur.FileID)
	a.close(cr.FileID)

	// Disposition through a leased open: only the other lease breaks.
	cr = a.createOK(withLease(olCreate("del2.txt", 0, readOnly, shareAll), wire.Lease{LeaseKey: k1, LeaseState: rhLease}))
	cr2 := b.createOK(withLease(olCreate("del2.txt", 0, rw|0x00010000, shareAll), wire.Lease{LeaseKey: k2, LeaseState: rhLease}))
	if l := leaseOf(t, cr2); l.LeaseState != rhLease {
		t.Fatalf("b's lease %+v", l)
	}
	si := wire.SetInfoRequest{InfoType: wire.InfoFile, FileInfoClass: 13, FileID: cr2.FileID, Buffer: []byte{1}}
	b.send(nil, message(b.header(wire.CmdSetInfo, b.s.id, b.tid), &si))
	expect(t, b.recvOne(), wire.CmdSetInfo, wire.StatusPending)
	expectHandleBreak(t, a, k1)
	// The response follows the acknowledgment, with no break of b's own
	// lease before it.
	expect(t, b.recvOne(), wire.CmdSetInfo, wire.StatusSuccess)
	// Once the acknowledged lease holds no H, a second disposition
	// breaks nothing and completes at once.
	expect(t, b.roundTrip(nil, b.header(wire.CmdSetInfo, b.s.id, b.tid), &si), wire.CmdSetInfo, wire.StatusSuccess)
}
