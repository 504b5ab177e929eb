package dcerpc

import (
	"bytes"
	"encoding/hex"
	"testing"

	"sofs.io/sofs/dcerpc/srvsvc"
)

// PDUs recorded from Samba 4 clients talking to samba-ref.sh (strace of the
// client's socket writes; SMB3 signing leaves payloads in the clear).
const (
	// recSmbclientBind is smbclient -L's bind: max frags 4280, one context
	// (srvsvc v3.0 over NDR 2.0), no feature negotiation.
	recSmbclientBind = "05000b03100000004800000001000000b810b810000000000100000000000100" +
		"c84f324b7016d30112785a47bf6ee18803000000045d888aeb1cc9119fe808002b10486002000000"
	// recSmbclientEnum is smbclient -L's NetrShareEnum: server "127.0.0.1",
	// level 1, empty container, MAX_PREFERRED_LENGTH, resume handle 0.
	recSmbclientEnum = "05000003100000005c000000020000004400000000000f00000002000a000000" +
		"000000000a0000003100320037002e0030002e0030002e003100000001000000" +
		"01000000040002000000000000000000ffffffff0800020000000000"
	// recRpcclientSrvinfo is rpcclient srvinfo: NetrServerGetInfo level 101.
	recRpcclientSrvinfo = "050000031000000044000000020000002c00000000001500000002000c000000" +
		"000000000c0000005c005c003100320037002e0030002e0030002e003100000065000000"
	// recRpcclientGetInfo is rpcclient netsharegetinfo share: level 502.
	recRpcclientGetInfo = "050000031000000058000000040000004000000000001000000002000a000000" +
		"000000000a0000003100320037002e0030002e0030002e003100000006000000" +
		"0000000006000000730068006100720065000000f6010000"
	// recRpcclientEnum2 is rpcclient netshareenumall 2: NULL resume handle.
	recRpcclientEnum2 = "050000031000000058000000060000004000000000000f00000002000a000000" +
		"000000000a0000003100320037002e0030002e0030002e003100000002000000" +
		"02000000040002000000000000000000ffffffff00000000"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recordedCall replays bind then request on a fresh pipe and returns the
// response stub.
func recordedCall(t *testing.T, b SrvsvcBackend, req string) []byte {
	t.Helper()
	p := newTestPipe(t, b)
	out, _, err := p.Transact(unhex(t, recSmbclientBind), 4280)
	if err != nil {
		t.Fatal(err)
	}
	ack := parsePDU(t, out)
	if ack.h.ptype != ptypeBindAck || len(ack.results) != 1 || ack.results[0].result != resultAcceptance || ack.maxXmit != 4280 {
		t.Fatalf("bind_ack %+v", ack)
	}
	reqB := unhex(t, req)
	out, more, err := p.Transact(reqB, 4280)
	if err != nil || more {
		t.Fatalf("more=%v err=%v", more, err)
	}
	return callStub(t, [][]byte{out}, le32(reqB[12:]))
}

func TestRecordedSmbclientList(t *testing.T) {
	resp, err := srvsvc.UnmarshalShareEnumResponse(recordedCall(t, sofsBackend(), recSmbclientEnum))
	if err != nil {
		t.Fatal(err)
	}
	want := []ShareInfo{
		{Name: "vms", Comment: "Hyper-V"},
		{Name: "sql"},
		{Name: "IPC$", Type: 0x80000003, Comment: "IPC Service"},
	}
	if resp.Status != 0 || resp.Info.Level != 1 || len(resp.Info.Shares) != len(want) || !resp.HasResumeHandle {
		t.Fatalf("%+v", resp)
	}
	for i := range want {
		if resp.Info.Shares[i] != want[i] {
			t.Errorf("share %d = %+v, want %+v", i, resp.Info.Shares[i], want[i])
		}
	}
	// The request encoder reproduces smbclient's stub byte for byte.
	q := srvsvc.ShareEnumRequest{
		ServerName: "127.0.0.1", HasServerName: true,
		Info:                   srvsvc.ShareEnumStruct{Level: 1, HasContainer: true},
		PreferredMaximumLength: 0xFFFFFFFF, HasResumeHandle: true,
	}
	if got, want := q.Marshal(), unhex(t, recSmbclientEnum)[24:]; !bytes.Equal(got, want) {
		t.Fatalf("request stub\n got %x\nwant %x", got, want)
	}
}

func TestRecordedRpcclient(t *testing.T) {
	si, err := srvsvc.UnmarshalServerGetInfoResponse(recordedCall(t, sofsBackend(), recRpcclientSrvinfo))
	if err != nil || si.Level != 101 || si.Info == nil || si.Info.Name != "SOFS" || si.Info.VersionMajor != 10 || si.Info.Type != 0x8003 {
		t.Fatalf("srvinfo: %+v %v", si, err)
	}
	// rpcclient asks for level 502; the share comes back without a
	// security descriptor.
	gi, err := srvsvc.UnmarshalShareGetInfoResponse(recordedCall(t, sofsBackend(), recRpcclientGetInfo))
	if err != nil || gi.Status != srvsvc.StatusNetNameNotFound || gi.Info != nil {
		t.Fatalf("netsharegetinfo share (absent): %+v %v", gi, err)
	}
	withShare := sofsBackend()
	withShare.shares = append(withShare.shares, ShareInfo{Name: "Share", Comment: "c", Path: `C:\share`})
	gi, err = srvsvc.UnmarshalShareGetInfoResponse(recordedCall(t, withShare, recRpcclientGetInfo))
	if err != nil || gi.Status != 0 || gi.Level != 502 || gi.Info == nil || *gi.Info != withShare.shares[3] {
		t.Fatalf("netsharegetinfo share: %+v %v", gi, err)
	}
	en, err := srvsvc.UnmarshalShareEnumResponse(recordedCall(t, sofsBackend(), recRpcclientEnum2))
	if err != nil || en.HasResumeHandle || len(en.Info.Shares) != 3 || en.Info.Shares[0].Path != `C:\vms` {
		t.Fatalf("netshareenumall 2: %+v %v", en, err)
	}
}
