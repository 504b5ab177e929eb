package witness

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"sofs.io/sofs/dcerpc/ndr"
	"sofs.io/sofs/namespace"
)

func registerExStub(version uint32, net, share, ip, client *string, flags, timeout uint32) []byte {
	w := ndr.NewWriter()
	w.Uint32(version)
	for _, s := range []*string{net, share, ip, client} {
		w.Pointer(s != nil)
		if s != nil {
			w.String(*s)
		}
	}
	w.Uint32(flags)
	w.Uint32(timeout)
	return w.Bytes()
}

func TestUnmarshalRegisterEx(t *testing.T) {
	n, ip, cl := "sofs", "127.0.0.1", "client"
	q, err := UnmarshalRegister(registerExStub(VersionV2, &n, nil, &ip, &cl, 1, 30), true)
	if err != nil {
		t.Fatal(err)
	}
	want := RegisterRequest{Version: VersionV2, NetName: n, IPAddress: ip, Client: cl, HasNetName: true,
		HasIPAddress: true, HasClient: true, Flags: 1, KeepAlive: 30}
	if q != want {
		t.Fatalf("got %+v, want %+v", q, want)
	}
	if _, err := UnmarshalRegister(registerExStub(VersionV2, &n, nil, &ip, &cl, 1, 30)[:30], true); err == nil {
		t.Fatal("truncated stub accepted")
	}
}

// TestNotifyLayout checks RESP_ASYNC_NOTIFY against [MS-SWN] 2.2.2.4 and
// 2.2.2.1: Length counts the message buffer, whose RESOURCE_CHANGE starts
// with its own length (8 + the NUL-terminated UTF-16 name).
func TestNotifyLayout(t *testing.T) {
	b := MarshalNotifyResponse(&Notification{Type: NotifyResourceChange, Resource: "10.0.0.1", State: ResourceUnavailable}, 0)
	le := binary.LittleEndian.Uint32
	msgLen := 8 + 2*9
	if le(b[4:]) != NotifyResourceChange || le(b[8:]) != uint32(msgLen) || le(b[12:]) != 1 || le(b[20:]) != uint32(msgLen) {
		t.Fatalf("header %x", b[:24])
	}
	msg := b[24 : 24+msgLen]
	if le(msg) != uint32(msgLen) || le(msg[4:]) != ResourceUnavailable || !bytes.Equal(msg[8:10], []byte{'1', 0}) {
		t.Fatalf("message %x", msg)
	}
	b = MarshalNotifyResponse(&Notification{Type: NotifyClientMove, Addresses: []Address{{IP: net.IPv4(10, 0, 0, 2), Online: true}}}, 0)
	msg = b[24:]
	if le(msg) != 36 || le(msg[8:]) != 1 || le(msg[12:]) != ipAddrV4|ipAddrOnline || !bytes.Equal(msg[16:20], []byte{10, 0, 0, 2}) {
		t.Fatalf("move message %x", msg)
	}
}

func TestPlacementFewestClients(t *testing.T) {
	node := func(id string, live, draining bool) namespace.NodeStatus {
		return namespace.NodeStatus{Live: live, NodeRecord: namespace.NodeRecord{ID: id, Draining: draining, SMBAddresses: []string{"10.0.0.1:445"}}}
	}
	nodes := []namespace.NodeStatus{node("a", true, true), node("b", true, false), node("c", true, false), node("d", false, false)}
	regs := []namespace.WitnessRegistration{{NodeID: "b"}, {NodeID: "b"}, {NodeID: "c"}}
	if got, ok := Placement(nodes, regs, "a"); !ok || got != "c" {
		t.Fatalf("placement %q %v, want c (fewest clients; a drains, d is down)", got, ok)
	}
	if got, _ := Placement(nodes, nil, "a"); got != "b" {
		t.Fatalf("tie broken to %q, want b", got)
	}
	if _, ok := Placement(nodes[:1], nil, "a"); ok {
		t.Fatal("placement found a node where none qualifies")
	}
}

func FuzzDecoders(f *testing.F) {
	n, ip, cl := "sofs", "127.0.0.1", "client"
	f.Add(registerExStub(VersionV2, &n, &n, &ip, &cl, 0, 0))
	f.Add(registerExStub(VersionV1, &n, nil, nil, &cl, 0, 0))
	f.Add(make([]byte, 20))
	f.Fuzz(func(t *testing.T, b []byte) {
		UnmarshalRegister(b, true)
		UnmarshalRegister(b, false)
		UnmarshalHandle(b)
	})
}

func TestRebalanceNewestMove(t *testing.T) {
	node := func(id string, live bool) namespace.NodeStatus {
		return namespace.NodeStatus{Live: live, NodeRecord: namespace.NodeRecord{ID: id, SMBAddresses: []string{"10.0.0.1:445"}}}
	}
	at := func(s int) time.Time { return time.Unix(int64(s), 0) }
	regs := []namespace.WitnessRegistration{
		{ID: "old", NodeID: "a", Since: at(1)},
		{ID: "mid", NodeID: "a", Since: at(2)},
		{ID: "new", NodeID: "a", Since: at(3)},
		{ID: "b1", NodeID: "b", Since: at(1)},
	}
	nodes := []namespace.NodeStatus{node("a", true), node("b", true), node("c", true), node("d", false)}
	// a has 3, c has 0: the difference 3 moves one client, the newest, to
	// c (the live node with the fewest; d is down).
	for _, r := range regs {
		to, ok := Rebalance(nodes, regs, r)
		if want := r.ID == "new"; ok != want || ok && to != "c" {
			t.Errorf("%s: Rebalance = %q, %v", r.ID, to, ok)
		}
	}
	// A pinned newest registration stays; the next newest goes instead.
	regs[2].Pinned = true
	if _, ok := Rebalance(nodes, regs, regs[2]); ok {
		t.Error("pinned registration moved")
	}
	if to, ok := Rebalance(nodes, regs, regs[1]); !ok || to != "c" {
		t.Errorf("mid: %q %v", to, ok)
	}
	// A difference of one is balanced enough.
	if _, ok := Rebalance(nodes[:2], []namespace.WitnessRegistration{regs[0], regs[1], regs[3]}, regs[1]); ok {
		t.Error("moved with a difference of one")
	}
}
