package openstate

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleRecord() HandleRecord {
	return HandleRecord{
		Persistent: 0x1234, CreateGUID: [16]byte{1, 2, 3}, ClientGUID: [16]byte{4, 5}, AppInstance: [16]byte{6},
		Share: "vms", Path: `dir\disk.vhdx`, User: "test", UserSID: "S-1-5-21-1-2-3-1105", Access: 0x12019f, ShareAccess: 7, Options: 0x40,
		HasLease: true, LeaseKey: [16]byte{9, 9}, LeaseState: CacheRead | CacheHandle | CacheWrite,
		LeaseVersion: 2, LeaseEpoch: 3, LeaseParent: [16]byte{7}, HasLeaseParent: true,
		Timeout: 120 * time.Second, Owner: "node-a", Disconnected: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC),
		V2: true, IsPersistent: true,
		Locks:  []LockRange{{Offset: 0, Length: 10, Exclusive: true}, {Offset: 1 << 63, Length: 0}},
		OpenID: 3<<48 | 17, LockOwner: 3<<48 | 18, Epoch: 4, LockSeqs: []LockSequence{{Index: 1, Seq: 3}, {Index: 64, Seq: 15}}, ChannelSequence: 9,
	}
}

func TestHandleRecordRoundTrip(t *testing.T) {
	for _, r := range []HandleRecord{sampleRecord(), {Persistent: 1, Share: "s", Owner: "n"}, {Persistent: 2, Share: "s", Owner: "n", UserSID: "S-1-0x123456789ABC-5"}} {
		b, err := EncodeHandleRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeHandleRecord(b)
		if err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, r)
		}
	}
}

func TestHandleRecordRejects(t *testing.T) {
	good, err := EncodeHandleRecord(sampleRecord())
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]string{
		"empty":          "",
		"not json":       "{",
		"array":          "[]",
		"no version":     strings.Replace(string(good), `"v":1,`, "", 1),
		"version 2":      strings.Replace(string(good), `"v":1`, `"v":2`, 1),
		"unknown field":  strings.Replace(string(good), `"v":1`, `"v":1,"x":1`, 1),
		"zero fid":       strings.Replace(string(good), `"fid":4660`, `"fid":0`, 1),
		"short guid":     strings.Replace(string(good), `"create_guid":"01`, `"create_guid":"`, 1),
		"bad hex":        strings.Replace(string(good), `"create_guid":"01`, `"create_guid":"zz`, 1),
		"owner slash":    strings.Replace(string(good), `"owner":"node-a"`, `"owner":"a/b"`, 1),
		"no owner":       strings.Replace(string(good), `"owner":"node-a"`, `"owner":""`, 1),
		"no share":       strings.Replace(string(good), `"share":"vms"`, `"share":""`, 1),
		"negative time":  strings.Replace(string(good), `"timeout_ms":120000`, `"timeout_ms":-1`, 1),
		"huge time":      strings.Replace(string(good), `"timeout_ms":120000`, `"timeout_ms":9223372036854775807`, 1),
		"lease version":  strings.Replace(string(good), `"lease_version":2`, `"lease_version":3`, 1),
		"lease state":    strings.Replace(string(good), `"lease_state":7`, `"lease_state":8`, 1),
		"wrapping lock":  strings.Replace(string(good), `"off":0,"len":10`, `"off":18446744073709551615,"len":2`, 1),
		"oplock":         strings.Replace(string(good), `"oplock":0`, `"oplock":2`, 1),
		"trailing":       string(good) + "{}",
		"lease fields":   strings.Replace(string(good), `"has_lease":true,`, "", 1),
		"persistent v1":  strings.Replace(string(good), `"v2":true,`, "", 1),
		"too big":        `{"v":1,"path":"` + strings.Repeat("a", MaxHandleRecordSize) + `"}`,
		"SID junk":       strings.Replace(string(good), `"user_sid":"S-1-5-21-1-2-3-1105"`, `"user_sid":"alice"`, 1),
		"SID empty part": strings.Replace(string(good), `"user_sid":"S-1-5-21-1-2-3-1105"`, `"user_sid":"S-1-5--1"`, 1),
		"SID letters":    strings.Replace(string(good), `"user_sid":"S-1-5-21-1-2-3-1105"`, `"user_sid":"S-1-5-21-x"`, 1),
		"too many locks": `{"v":1,"locks":[` + strings.Repeat(`{"off":1,"len":1},`, maxRecordLocks) + `{"off":1,"len":1}]}`,
	} {
		if in == string(good) {
			t.Fatalf("%s: the test's replacement did not apply", name)
		}
		if _, err := DecodeHandleRecord([]byte(in)); !errors.Is(err, ErrBadHandleRecord) {
			t.Errorf("%s: %v, want ErrBadHandleRecord", name, err)
		}
	}
	bad := sampleRecord()
	bad.Owner = ""
	if _, err := EncodeHandleRecord(bad); !errors.Is(err, ErrBadHandleRecord) {
		t.Errorf("encode without owner: %v", err)
	}
}

// FuzzDecodeHandleRecord checks that the decoder never panics, and that
// whatever it accepts encodes and decodes to the same record.
func FuzzDecodeHandleRecord(f *testing.F) {
	good, err := EncodeHandleRecord(sampleRecord())
	if err != nil {
		f.Fatal(err)
	}
	min, _ := EncodeHandleRecord(HandleRecord{Persistent: 1, Share: "s", Owner: "n"})
	f.Add(good)
	f.Add(min)
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":1,"fid":1,"share":"s","owner":"n","locks":[{"off":1,"len":0}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeHandleRecord(b)
		if err != nil {
			if !errors.Is(err, ErrBadHandleRecord) {
				t.Fatalf("error %v does not wrap ErrBadHandleRecord", err)
			}
			return
		}
		enc, err := EncodeHandleRecord(r)
		if err != nil {
			t.Fatalf("accepted record does not encode: %v", err)
		}
		again, err := DecodeHandleRecord(enc)
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("unstable: %+v / %+v (%v)", r, again, err)
		}
	})
}
