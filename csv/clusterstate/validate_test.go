package clusterstate

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/csv/openstate"
)

// requestKinds are the bodies of every method a node serves, each as a
// fresh value to decode into.
var requestKinds = []struct {
	method uint8
	fresh  func() any
}{
	{methodOp, func() any { return new(opRequest) }},
	{methodWait, func() any { return new(waitRequest) }},
	{methodLockWait, func() any { return new(lockWaitRequest) }},
	{methodPush, func() any { return new(pushRequest) }},
	{methodRejoin, func() any { return new(rejoinRequest) }},
	{methodInterest, func() any { return new(interestRequest) }},
	{methodEvents, func() any { return new(eventsRequest) }},
	{methodQuery, func() any { return new(queryRequest) }},
	{methodCast, func() any { return new(castRequest) }},
	{methodDirLeases, func() any { return new(dirLeasesRequest) }},
	{methodRecall, func() any { return new(recallRequest) }},
	{methodGiveBack, func() any { return new(giveBackRequest) }},
}

// checkRequest restates, independently of validate, what a handler may
// rely on in a body decodeBody accepted.
func checkRequest(v any) error {
	vol := func(s string) bool { return s != "" && len(s) <= maxVolKey }
	replicas := func(rs []replica) bool {
		for _, r := range rs {
			if !vol(r.Vol) || r.Epoch < 0 {
				return false
			}
			for s, k := range r.Holders {
				if s == 0 || k < 1 {
					return false
				}
			}
		}
		return true
	}
	ok := true
	switch r := v.(type) {
	case *opRequest:
		ok = r.Epoch >= 0 && vol(r.Vol) && r.Kind >= opAcquire && r.Kind <= opTransferLocks &&
			(r.Entry == nil || r.Kind == opAcquire) && len(r.Ranges) <= maxOpRanges && (r.Kind != opUnlock || len(r.Ranges) == 1)
	case *waitRequest:
		ok = r.Epoch >= 0 && vol(r.Vol)
	case *lockWaitRequest:
		ok = r.Epoch >= 0 && r.Waiter != 0
	case *pushRequest:
		ok = r.Epoch >= 0 && replicas(r.Replicas)
	case *rejoinRequest:
		ok = r.Epoch >= 0 && replicas(r.Replicas)
	case *interestRequest:
		ok = vol(r.Vol)
	case *eventsRequest:
		ok = vol(r.Vol)
	case *queryRequest:
		ok = vol(r.Vol) && r.Kind >= queryBelow && r.Kind <= queryDenyDelete
	case *castRequest:
		ok = r.Name != "" && len(r.Name) <= maxCastName
	case *dirLeasesRequest:
		ok = r.Epoch >= 0 && vol(r.Vol)
	case *recallRequest:
		ok = r.Epoch >= 0 && vol(r.Vol)
	case *giveBackRequest:
		ok = r.Epoch >= 0 && vol(r.Vol)
	}
	if !ok {
		return errors.New("accepted a body its handler must not act on")
	}
	return nil
}

// requestSeeds are real bodies of every method, as the senders encode
// them.
func requestSeeds(t testing.TB) [][]byte {
	st := openstate.FileState{Opens: 1}
	entry := &openstate.OpenEntry{ID: 0x0003000000000001, Access: 1, ShareAccess: 7}
	vals := []any{
		opRequest{Epoch: 5, Vol: "/vol", Kind: opAcquire, Obj: 9, Entry: entry, CanOwn: true},
		opRequest{Epoch: 5, Vol: "/vol", Kind: opLock, Obj: 9, Owner: 3, Ranges: []openstate.LockRange{{Offset: 0, Length: 10, Exclusive: true}}},
		opRequest{Epoch: 5, Vol: "/vol", Kind: opUnlock, Obj: 9, Owner: 3, Ranges: []openstate.LockRange{{Offset: 0, Length: 10}}},
		opRequest{Epoch: 5, Vol: "/vol", Kind: opExpireBreaks, Obj: 9, Cutoff: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		waitRequest{Epoch: 5, Vol: "/vol", Obj: 9, Gen: 2},
		lockWaitRequest{Epoch: 5, Waiter: 4},
		pushRequest{Epoch: 5, Replicas: []replica{{Vol: "/vol", Obj: 9, Epoch: 5, Version: 1, State: &st, Holders: map[uint16]int{2: 1}}}},
		rejoinRequest{Epoch: 6, Replicas: []replica{{Vol: "/vol", Obj: 9, Epoch: 5, Version: 3, Holders: map[uint16]int{1: 2}}}, Last: true},
		interestRequest{Vol: "/vol", On: true, Streams: true},
		eventsRequest{Vol: "/vol", Events: []csv.Event{{Dir: "d", Name: "f", Action: csv.ActionAdded, Filter: csv.NotifyFileName}}},
		queryRequest{Vol: "/vol", Kind: queryBelow, Disk: "a/b", Base: 1},
		castRequest{Name: "smb.pull-handle", Body: []byte(`{"id":1,"from":"n2"}`)},
		dirLeasesRequest{Epoch: 5, Vol: "/vol", Ver: 2, On: true},
		recallRequest{Epoch: 5, Vol: "/vol", Obj: 9, Dgen: 1},
		giveBackRequest{Epoch: 5, Vol: "/vol", Objs: []giveBackItem{{Obj: 9, Dgen: 1}}},
	}
	out := make([][]byte, 0, len(vals))
	for _, v := range vals {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzDecodeRequest feeds every input to the decoding of every method's
// request body (the body of a call frame, FuzzParseFrame's level): none
// panics, what decodeBody accepts satisfies what the handlers rely on,
// and its encoding is accepted again and encodes the same.
func FuzzDecodeRequest(f *testing.F) {
	for _, b := range requestSeeds(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"epoch":-1,"vol":"/vol","kind":1}`))
	f.Add([]byte(`{"epoch":1,"vol":"v","replicas":[{"vol":"v","holders":{"0":-3}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, k := range requestKinds {
			v := k.fresh()
			if err := decodeBody(b, v); err != nil {
				if !errors.Is(err, errFrame) {
					t.Fatalf("method %d: refusal %v is not errFrame", k.method, err)
				}
				continue
			}
			if err := checkRequest(v); err != nil {
				t.Fatalf("method %d: %v: %+v", k.method, err, v)
			}
			enc, err := json.Marshal(v)
			if err != nil {
				continue // a time outside years 0..9999 decodes but does not encode
			}
			v2 := k.fresh()
			if err := decodeBody(enc, v2); err != nil {
				t.Fatalf("method %d: its own encoding %s refused: %v", k.method, enc, err)
			}
			if enc2, _ := json.Marshal(v2); !bytes.Equal(enc, enc2) {
				t.Fatalf("method %d: does not round-trip: %s then %s", k.method, enc, enc2)
			}
		}
	})
}

// TestRequestSeedsAccepted: every sender's encoding passes decodeBody
// for its method.
func TestRequestSeedsAccepted(t *testing.T) {
	seeds := requestSeeds(t)
	want := []uint8{methodOp, methodOp, methodOp, methodOp, methodWait, methodLockWait, methodPush, methodRejoin,
		methodInterest, methodEvents, methodQuery, methodCast, methodDirLeases, methodRecall, methodGiveBack}
	for i, m := range want {
		for _, k := range requestKinds {
			if k.method == m {
				if err := decodeBody(seeds[i], k.fresh()); err != nil {
					t.Errorf("method %d refused its sender's body %s: %v", m, seeds[i], err)
				}
			}
		}
	}
}

// TestDamagedRequestsRefused lists bodies no handler may act on.
func TestDamagedRequestsRefused(t *testing.T) {
	for _, c := range []struct {
		v    any
		body string
	}{
		{new(opRequest), `{"epoch":1,"vol":"/vol","kind":0}`},
		{new(opRequest), `{"epoch":1,"vol":"/vol","kind":99}`},
		{new(opRequest), `{"epoch":1,"vol":"","kind":1}`},
		{new(opRequest), `{"epoch":-1,"vol":"/vol","kind":1}`},
		{new(opRequest), `{"epoch":1,"vol":"/vol","kind":2,"entry":{}}`},
		{new(opRequest), `{"epoch":1,"vol":"/vol","kind":16,"ranges":[]}`},
		{new(opRequest), `{"epoch":1,"vol":"` + strings.Repeat("v", maxVolKey+1) + `","kind":1}`},
		{new(lockWaitRequest), `{"epoch":1,"waiter":0}`},
		{new(pushRequest), `{"epoch":1,"replicas":[{"vol":"/vol","obj":1,"holders":{"2":-1}}]}`},
		{new(rejoinRequest), `{"epoch":1,"replicas":[{"vol":"/vol","obj":1,"holders":{"0":1}}]}`},
		{new(rejoinRequest), `{"epoch":1,"replicas":[{"vol":"","obj":1}]}`},
		{new(queryRequest), `{"vol":"/vol","kind":7}`},
		{new(castRequest), `{"name":""}`},
		{new(giveBackRequest), `{"epoch":1,"vol":""}`},
	} {
		if err := decodeBody([]byte(c.body), c.v); !errors.Is(err, errFrame) {
			t.Errorf("%T accepted %s (%v)", c.v, c.body, err)
		}
	}
}
