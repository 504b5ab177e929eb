package cluster

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"sofs.io/sofs/integration/smbtest"
	"sofs.io/sofs/smbserver/wire"
)

// A lease belongs to a client (ClientGuid), not to a connection: one
// client with connections on two nodes gets the lease's breaks on its
// oldest connection, as from one Windows server, and may acknowledge them
// through either, whichever node holds the lease's open.

const leaseRH = 0x3 // SMB2_LEASE_READ_CACHING | SMB2_LEASE_HANDLE_CACHING

func TestLeaseOfOneClientOnTwoNodes(t *testing.T) {
	c, nodes := threeNodeShare(t)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var guid [16]byte
	rand.Read(guid[:])
	// x is the client's oldest connection (n1); its lease's open is made
	// through y (n2); another client on n3 contends.
	x := c.connectAs(ctx, n1, guid)
	y := c.connectAs(ctx, n2, guid)
	z := c.connect(ctx, n3)

	var key [16]byte
	rand.Read(key[:])
	req := openReq("one-client-two-nodes.txt", smbtest.AccessReadWrite, smbtest.ShareAll)
	req.RequestedOplockLevel = wire.OplockLevelLease
	req.Contexts = []wire.CreateContext{{Name: wire.CreateContextRequestLease, Data: wire.Lease{V2: true, LeaseKey: key, LeaseState: smbtest.LeaseRWH}.Encode()}}
	fy := y.mustCreate(t, ctx, req)

	pending, err := z.c.Send(ctx, wire.CmdCreate, z.tid, openReq("one-client-two-nodes.txt", smbtest.AccessReadWrite, smbtest.ShareAll), 0)
	if err != nil {
		t.Fatal(err)
	}
	var n wire.LeaseBreakNotification
	select {
	case brk := <-x.c.Breaks():
		if err := n.Decode(brk.Msg); err != nil {
			t.Fatalf("break on the oldest connection: %v", err)
		}
	case brk := <-y.c.Breaks():
		t.Fatalf("the lease break came on the client's newer connection (n2, the open's node), %d bytes; want its oldest (n1)", len(brk.Msg))
	case <-ctx.Done():
		t.Fatal("no lease break for the client's RWH lease")
	}
	if n.LeaseKey != key || n.CurrentLeaseState != smbtest.LeaseRWH || n.NewLeaseState != leaseRH || n.Flags&wire.LeaseBreakFlagAckRequired == 0 {
		t.Fatalf("lease break %+v, want RWH to RH of the client's key, acknowledgment required", n)
	}

	ack := func(cl *client, k [16]byte, state uint32) wire.Status {
		t.Helper()
		r, err := cl.c.Call(ctx, wire.CmdOplockBreak, cl.tid, &wire.LeaseBreakAcknowledgment{LeaseKey: k, LeaseState: state}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return r.Status()
	}
	// n1 holds no open of the lease: the acknowledgment goes to n2.
	if st := ack(x, key, leaseRH); st != wire.StatusSuccess {
		t.Fatalf("acknowledgment through n1 of a lease whose open is on n2: %v, want STATUS_SUCCESS", st)
	}
	if st := status(t, ctx, pending, nil); st != wire.StatusSuccess {
		t.Fatalf("n3's open after the acknowledgment: %v", st)
	}
	// As on one server: a second acknowledgment finds the lease no
	// longer breaking, an unknown key finds no lease.
	if st := ack(x, key, leaseRH); st != wire.StatusUnsuccessful {
		t.Fatalf("second acknowledgment: %v, want STATUS_UNSUCCESSFUL", st)
	}
	var unknown [16]byte
	rand.Read(unknown[:])
	if st := ack(x, unknown, leaseRH); st != wire.StatusObjectNameNotFound {
		t.Fatalf("acknowledgment of a key no node holds: %v, want STATUS_OBJECT_NAME_NOT_FOUND", st)
	}
	select {
	case brk := <-y.c.Breaks():
		t.Fatalf("the break was also sent on the client's newer connection (%d bytes)", len(brk.Msg))
	default:
	}
	y.c.CloseFile(ctx, y.tid, fy)
}
