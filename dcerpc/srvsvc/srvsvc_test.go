package srvsvc

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// fakeBackend is an in-memory Backend.
type fakeBackend struct {
	shares []ShareInfo
	server ServerInfo
}

func (f fakeBackend) Shares() []ShareInfo { return f.shares }
func (f fakeBackend) Server() ServerInfo  { return f.server }

func testBackend() fakeBackend {
	return fakeBackend{
		shares: []ShareInfo{
			{Name: "vms", Type: STypeDiskTree, Comment: "Hyper-V", Path: `C:\vms`},
			{Name: "sql", Type: STypeDiskTree, Comment: "", Path: `C:\sql`},
			{Name: "IPC$", Type: STypeIPC | STypeSpecial, Comment: "IPC Service"},
		},
		server: ServerInfo{Name: "SOFS", Comment: "scale-out", VersionMajor: 10, VersionMinor: 0, Type: 0x8003},
	}
}

// TestShareEnumLevel1Golden checks the exact NDR layout of a level 1
// response: pointers with referent ids from 0x00020000 stepping by 4, the
// array's scalars before the deferred strings, and 4-byte alignment after
// the odd-length netname.
func TestShareEnumLevel1Golden(t *testing.T) {
	resp := ShareEnumResponse{
		Info:            ShareEnumStruct{Level: 1, HasContainer: true, Shares: []ShareInfo{{Name: "IPC$", Type: 0x80000003, Comment: "IPC Service"}}},
		TotalEntries:    1,
		HasResumeHandle: true,
	}
	want := []byte{
		1, 0, 0, 0, // Level
		1, 0, 0, 0, // union discriminant
		0x00, 0x00, 0x02, 0x00, // -> SHARE_INFO_1_CONTAINER
		1, 0, 0, 0, // EntriesRead
		0x04, 0x00, 0x02, 0x00, // -> Buffer
		1, 0, 0, 0, // conformance
		0x08, 0x00, 0x02, 0x00, // shi1_netname
		0x03, 0x00, 0x00, 0x80, // shi1_type STYPE_IPC|STYPE_SPECIAL
		0x0c, 0x00, 0x02, 0x00, // shi1_remark
		5, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0,
		'I', 0, 'P', 0, 'C', 0, '$', 0, 0, 0, 0, 0, // + 2 bytes padding
		12, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0, 0,
		'I', 0, 'P', 0, 'C', 0, ' ', 0, 'S', 0, 'e', 0, 'r', 0, 'v', 0, 'i', 0, 'c', 0, 'e', 0, 0, 0,
		1, 0, 0, 0, // TotalEntries
		0x10, 0x00, 0x02, 0x00, 0, 0, 0, 0, // ResumeHandle
		0, 0, 0, 0, // status
	}
	got := resp.Marshal()
	if !bytes.Equal(got, want) {
		t.Fatalf("marshal\n got %x\nwant %x", got, want)
	}
	back, err := UnmarshalShareEnumResponse(got)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, &resp) {
		t.Fatalf("round trip: %+v", back)
	}
}

// smbclientEnumRequest is NetrShareEnum as smbclient -L sends it: server
// name, level 1 with an empty container, no size limit, resume handle 0.
func smbclientEnumRequest(level uint32) []byte {
	q := ShareEnumRequest{
		ServerName: `\\127.0.0.1`, HasServerName: true,
		Info:                   ShareEnumStruct{Level: level, HasContainer: true},
		PreferredMaximumLength: 0xFFFFFFFF,
		HasResumeHandle:        true,
	}
	return q.Marshal()
}

func TestShareEnumLevels(t *testing.T) {
	b := testBackend()
	for _, level := range []uint32{0, 1, 2, 501, 502} {
		out, err := Call(b, OpNetrShareEnum, smbclientEnumRequest(level))
		if err != nil {
			t.Fatalf("level %d: %v", level, err)
		}
		resp, err := UnmarshalShareEnumResponse(out)
		if err != nil {
			t.Fatalf("level %d: decode: %v", level, err)
		}
		if resp.Status != StatusOK || resp.TotalEntries != 3 || resp.Info.Level != level || len(resp.Info.Shares) != 3 {
			t.Fatalf("level %d: %+v", level, resp)
		}
		for i, s := range resp.Info.Shares {
			want := b.shares[i]
			switch level {
			case 0:
				want = ShareInfo{Name: want.Name}
			case 1, 501:
				want.Path = ""
			}
			if s != want {
				t.Errorf("level %d share %d = %+v, want %+v", level, i, s, want)
			}
		}
	}
}

func TestShareEnumAdminLevelsDenied(t *testing.T) {
	out, err := Call(testBackend(), OpNetrShareEnum, smbclientEnumRequest(503))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := UnmarshalShareEnumResponse(out)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != StatusAccessDenied || len(resp.Info.Shares) != 0 {
		t.Fatalf("%+v", resp)
	}
	if _, err := Call(testBackend(), OpNetrShareEnum, smbclientEnumRequest(7)); !errors.Is(err, ErrInvalidTag) {
		t.Fatalf("level 7: err = %v", err)
	}
}

// TestShareEnumResume pages through many shares with a small
// PreferedMaximumLength and checks every share is seen exactly once.
func TestShareEnumResume(t *testing.T) {
	var b fakeBackend
	for i := range 50 {
		b.shares = append(b.shares, ShareInfo{Name: fmt.Sprintf("share%02d", i), Comment: "c"})
	}
	var seen []string
	resume := uint32(0)
	for round := 0; round < 100; round++ {
		q := ShareEnumRequest{Info: ShareEnumStruct{Level: 1, HasContainer: true}, PreferredMaximumLength: 300, ResumeHandle: resume, HasResumeHandle: true}
		out, err := Call(b, OpNetrShareEnum, q.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		resp, err := UnmarshalShareEnumResponse(out)
		if err != nil {
			t.Fatal(err)
		}
		if resp.TotalEntries != uint32(50-len(seen)) {
			t.Fatalf("TotalEntries %d with %d seen", resp.TotalEntries, len(seen))
		}
		if len(resp.Info.Shares) == 0 || len(resp.Info.Shares) == 50 {
			t.Fatalf("page of %d entries ignores the size limit", len(resp.Info.Shares))
		}
		for _, s := range resp.Info.Shares {
			seen = append(seen, s.Name)
		}
		if resp.Status == StatusOK {
			break
		}
		if resp.Status != StatusMoreData || resp.ResumeHandle != uint32(len(seen)) {
			t.Fatalf("status %d resume %d after %d", resp.Status, resp.ResumeHandle, len(seen))
		}
		resume = resp.ResumeHandle
	}
	if len(seen) != 50 || seen[0] != "share00" || seen[49] != "share49" {
		t.Fatalf("saw %d shares: %v", len(seen), seen)
	}
}

func TestShareGetInfo(t *testing.T) {
	b := testBackend()
	call := func(name string, level uint32) (*ShareGetInfoResponse, error) {
		q := ShareGetInfoRequest{ServerName: `\\SOFS`, HasServerName: true, NetName: name, Level: level}
		out, err := Call(b, OpNetrShareGetInfo, q.Marshal())
		if err != nil {
			return nil, err
		}
		return UnmarshalShareGetInfoResponse(out)
	}
	for _, level := range []uint32{0, 1, 2, 501, 502, 1005} {
		resp, err := call("VMS", level) // case-insensitive match
		if err != nil {
			t.Fatalf("level %d: %v", level, err)
		}
		if resp.Status != StatusOK || resp.Info == nil || resp.Level != level {
			t.Fatalf("level %d: %+v", level, resp)
		}
		want := map[uint32]ShareInfo{
			0:    {Name: "vms"},
			1:    {Name: "vms", Comment: "Hyper-V"},
			2:    {Name: "vms", Comment: "Hyper-V", Path: `C:\vms`},
			502:  {Name: "vms", Comment: "Hyper-V", Path: `C:\vms`},
			501:  {Name: "vms", Comment: "Hyper-V"},
			1005: {},
		}[level]
		if *resp.Info != want {
			t.Errorf("level %d: %+v, want %+v", level, *resp.Info, want)
		}
	}
	resp, err := call("nosuch", 1)
	if err != nil || resp.Status != StatusNetNameNotFound || resp.Info != nil {
		t.Fatalf("unknown share: %+v, %v", resp, err)
	}
	resp, err = call("vms", 1004)
	if err != nil || resp.Status != StatusInvalidLevel || resp.Info != nil {
		t.Fatalf("level 1004: %+v, %v", resp, err)
	}
	if _, err := call("vms", 3); !errors.Is(err, ErrInvalidTag) {
		t.Fatalf("level 3: %v", err)
	}
}

func TestServerGetInfo(t *testing.T) {
	b := testBackend()
	for _, level := range []uint32{100, 101, 102} {
		q := ServerGetInfoRequest{ServerName: `\\SOFS`, HasServerName: true, Level: level}
		out, err := Call(b, OpNetrServerGetInfo, q.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		resp, err := UnmarshalServerGetInfoResponse(out)
		if err != nil {
			t.Fatalf("level %d: %v", level, err)
		}
		want := b.server
		if level == 100 {
			want = ServerInfo{Name: "SOFS"}
		}
		if resp.Status != StatusOK || resp.Info == nil || *resp.Info != want {
			t.Fatalf("level %d: %+v", level, resp)
		}
	}
	q := ServerGetInfoRequest{Level: 103}
	out, err := Call(b, OpNetrServerGetInfo, q.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := UnmarshalServerGetInfoResponse(out)
	if err != nil || resp.Status != StatusInvalidLevel || resp.Info != nil {
		t.Fatalf("level 103: %+v, %v", resp, err)
	}
}

func TestCallErrors(t *testing.T) {
	b := testBackend()
	if _, err := Call(b, 14, nil); !errors.Is(err, ErrUnknownOpnum) {
		t.Fatalf("opnum 14: %v", err)
	}
	req := smbclientEnumRequest(1)
	for _, n := range []int{0, 3, 10, len(req) - 1} {
		if _, err := Call(b, OpNetrShareEnum, req[:n]); !errors.Is(err, ErrBadStub) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	// A discriminant that disagrees with the level is bad NDR.
	q := ShareEnumRequest{Info: ShareEnumStruct{Level: 1}, PreferredMaximumLength: 1}
	bad := q.Marshal()
	bad[8] = 2 // union tag, after the NULL ServerName and Level
	if _, err := Call(b, OpNetrShareEnum, bad); !errors.Is(err, ErrBadStub) {
		t.Fatalf("tag mismatch: %v", err)
	}
}

func FuzzShareEnumRequest(f *testing.F) {
	for _, l := range []uint32{0, 1, 2, 501, 502} {
		f.Add(smbclientEnumRequest(l))
	}
	filled := ShareEnumRequest{Info: ShareEnumStruct{Level: 2, HasContainer: true, Shares: testBackend().shares}}
	f.Add(filled.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := UnmarshalShareEnumRequest(b)
		if err != nil {
			return
		}
		// Accepted input re-encodes to something that decodes the same.
		q2, err := UnmarshalShareEnumRequest(q.Marshal())
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if q2.Info.Level != q.Info.Level || len(q2.Info.Shares) != len(q.Info.Shares) || q2.ResumeHandle != q.ResumeHandle {
			t.Fatalf("unstable: %+v vs %+v", q, q2)
		}
		if _, err := Call(testBackend(), OpNetrShareEnum, b); err != nil {
			t.Fatalf("decoded request fails in Call: %v", err)
		}
	})
}

func FuzzShareGetInfoRequest(f *testing.F) {
	for _, l := range []uint32{0, 1, 2, 501, 1005, 502} {
		q := ShareGetInfoRequest{ServerName: `\\x`, HasServerName: true, NetName: "vms", Level: l}
		f.Add(q.Marshal())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := UnmarshalShareGetInfoRequest(b)
		_, callErr := Call(testBackend(), OpNetrShareGetInfo, b)
		if err != nil {
			if callErr == nil {
				t.Fatal("Call accepted a stub the decoder rejects")
			}
			return
		}
		q2, err := UnmarshalShareGetInfoRequest(q.Marshal())
		if err != nil || *q2 != *q {
			t.Fatalf("unstable: %+v vs %+v (%v)", q, q2, err)
		}
	})
}

func FuzzServerGetInfoRequest(f *testing.F) {
	for _, l := range []uint32{100, 101, 102, 103} {
		q := ServerGetInfoRequest{ServerName: `\\x`, HasServerName: true, Level: l}
		f.Add(q.Marshal())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := UnmarshalServerGetInfoRequest(b)
		_, callErr := Call(testBackend(), OpNetrServerGetInfo, b)
		if (err == nil) != (callErr == nil) {
			t.Fatalf("decode err %v, call err %v", err, callErr)
		}
		if err != nil {
			return
		}
		q2, err := UnmarshalServerGetInfoRequest(q.Marshal())
		if err != nil || *q2 != *q {
			t.Fatalf("unstable: %+v vs %+v (%v)", q, q2, err)
		}
	})
}

// FuzzResponses feeds arbitrary bytes to the response decoders, which tests
// and tools use on bytes from other servers.
func FuzzResponses(f *testing.F) {
	b := testBackend()
	for _, l := range []uint32{0, 1, 2, 501} {
		out, _ := Call(b, OpNetrShareEnum, smbclientEnumRequest(l))
		f.Add(out)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := UnmarshalShareEnumResponse(b); err == nil {
			if _, err := UnmarshalShareEnumResponse(p.Marshal()); err != nil {
				t.Fatalf("re-decode: %v", err)
			}
		}
		_, _ = UnmarshalShareGetInfoResponse(b)
		_, _ = UnmarshalServerGetInfoResponse(b)
	})
}
