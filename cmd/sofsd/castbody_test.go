package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/namespace"
	"sofs.io/sofs/smbserver"
	"sofs.io/sofs/smbserver/secdesc"
	"sofs.io/sofs/smbserver/wire"
)

// castSelf is the receiving node's name in these tests.
const castSelf = "node-a"

// castQuery is the query whose answers decodeCopySource checks.
var castQuery = smbserver.CopySourceQuery{ResumeKey: make([]byte, wire.ResumeKeySize), Ranges: []smbserver.CopyRange{{Off: 0, Len: 10}, {Off: 10, Len: 10}, {Off: 1 << 40, Len: 1}}}

// castDecoder is one cast body decoder, with the invariants everything
// it accepts must satisfy (checked here independently of the decoder).
type castDecoder struct {
	name   string
	decode func([]byte) (any, error)
	check  func(any) error
}

func fail(format string) error { return errors.New(format) }

var castDecoders = []castDecoder{
	{"pull", func(b []byte) (any, error) { return decodePullCall(b, castSelf) }, func(v any) error {
		c := v.(pullCall)
		if c.ID == 0 || checkNodeName(c.From) != nil || c.From == castSelf {
			return fail("accepted a pull with no id, a bad node or this node")
		}
		return nil
	}},
	{"yield", func(b []byte) (any, error) { return decodeYieldCall(b, castSelf) }, func(v any) error {
		c := v.(yieldCall)
		if c.ID == 0 || checkNodeName(c.To) != nil || c.To == castSelf {
			return fail("accepted a yield with no id, a bad node or this node")
		}
		return nil
	}},
	{"has-handle", func(b []byte) (any, error) {
		id, err := decodeHasHandle(b)
		return yieldCall{ID: id}, err // the message, for the round trip
	}, func(v any) error {
		if v.(yieldCall).ID == 0 {
			return fail("accepted handle id 0")
		}
		return nil
	}},
	{"expire", func(b []byte) (any, error) { return decodeExpireCall(b) }, func(v any) error {
		c := v.(expireCall)
		if c.ID == 0 || len(c.User) > maxCastUser || !utf8.ValidString(c.User) {
			return fail("accepted session 0 or a bad user")
		}
		if _, err := secdesc.ParseSID(c.SID); c.SID != "" && err != nil {
			return fail("accepted a malformed SID")
		}
		return nil
	}},
	{"app-instance", func(b []byte) (any, error) { return decodeAppInstanceCast(b) }, func(v any) error {
		m := v.(appInstanceCast)
		if m.App == ([16]byte{}) || namespace.ValidateShareName(m.Share) != nil || len(m.Path) > maxCastPath || !utf8.ValidString(m.Path) {
			return fail("accepted no app instance, a bad share or path")
		}
		return nil
	}},
	{"copy-query", func(b []byte) (any, error) { return decodeCopySourceQuery(b) }, func(v any) error {
		q := v.(smbserver.CopySourceQuery)
		rk, tk := len(q.ResumeKey) == wire.ResumeKeySize, len(q.Token) == wire.OffloadTokenSize
		if rk == tk || (rk && len(q.Token) != 0) || (tk && len(q.ResumeKey) != 0) || len(q.Ranges) > smbserver.MaxCopyRanges {
			return fail("accepted a query without exactly one key, or too many ranges")
		}
		return nil
	}},
	{"copy-source", func(b []byte) (any, error) { return decodeCopySource(b, castQuery) }, func(v any) error {
		cs := v.(smbserver.CopySource)
		if cs.Conflict < -1 || cs.Conflict >= len(castQuery.Ranges) || cs.Off < 0 || cs.N < 0 || cs.EndOfFile < 0 {
			return fail("accepted a conflict index out of range or a negative size")
		}
		if cs.Found && (namespace.ValidateShareName(cs.Share) != nil || len(cs.Path) > maxCastPath) {
			return fail("accepted a source with a bad share or path")
		}
		return nil
	}},
	{"lease-ack", func(b []byte) (any, error) { return decodeLeaseAck(b) }, func(any) error { return nil }},
	{"lease-ack-reply", func(b []byte) (any, error) { return decodeLeaseAckReply(b) }, func(v any) error {
		if r := v.(leaseAckReply); !r.Found && r.Status != 0 {
			return fail("accepted a status for a lease not found")
		}
		return nil
	}},
	{"client-since", func(b []byte) (any, error) { return decodeClientSince(b) }, func(any) error { return nil }},
	{"client-since-reply", func(b []byte) (any, error) { return decodeClientSinceReply(b) }, func(v any) error {
		if r := v.(clientSinceReply); r.Found && r.Since.IsZero() {
			return fail("accepted a connection with no start time")
		}
		return nil
	}},
	{"lease-break", func(b []byte) (any, error) { return decodeLeaseBreakCast(b) }, func(v any) error {
		m := v.(leaseBreakCast)
		if len(m.Body) != len((&wire.LeaseBreakNotification{}).AppendTo(nil)) || m.Body[0] != 44 || m.Body[1] != 0 {
			return fail("accepted a body that is not a lease break notification")
		}
		return nil
	}},
	{"open-files", func(b []byte) (any, error) { return decodeOpenFiles(b) }, func(v any) error {
		for _, f := range v.([]adminapi.OpenFileInfo) {
			if f.Node == "" {
				return fail("accepted an open naming no node")
			}
		}
		return nil
	}},
}

// castSeeds are valid bodies of every cast, as their senders encode
// them.
func castSeeds(t testing.TB) [][]byte {
	var app, client, key [16]byte
	app[0], client[1], key[2] = 1, 2, 3
	brk := (&wire.LeaseBreakNotification{NewEpoch: 2, Flags: 1, LeaseKey: key, CurrentLeaseState: 7, NewLeaseState: 1}).AppendTo(nil)
	vals := []any{
		pullCall{ID: 0x1122334455667788, From: "node-b"},
		yieldCall{ID: 42, To: "node-b.example.com"},
		yieldCall{ID: 42},
		expireCall{ID: 0x9000000000000001, User: `EXAMPLE\alice`},
		appInstanceCast{Share: "vms", Path: `dir\disk.vhdx`, App: app},
		castQuery,
		smbserver.CopySourceQuery{Token: make([]byte, wire.OffloadTokenSize)},
		smbserver.CopySource{Found: true, Share: "vms", Path: "a/b.vhdx", Access: 0x12019f, Conflict: 1, Off: 4096, N: 1 << 20, EndOfFile: 1 << 30, LastWrite: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)},
		smbserver.CopySource{Conflict: -1},
		smbserver.LeaseAck{Client: client, Key: key, State: 1},
		leaseAckReply{Found: true, Status: 0xc0000022},
		client,
		clientSinceReply{Found: true, Since: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		leaseBreakCast{Client: client, Body: brk},
		[]adminapi.OpenFileInfo{{FileID: "00ff", Node: "6b29fc40-ca47-1067-b31d-00dd010662da", SessionID: 7, Share: "vms", Path: `a\b`, User: "alice", Access: 1, Durable: true}},
		true,
		expireCall{ID: 7, User: "alice", SID: "S-1-5-21-1-2-3-1105"},
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

// FuzzCastBodies feeds every input to every cast body decoder: none
// panics; what one accepts satisfies its invariants, and re-encoding it
// gives a body that decodes to the same encoding again.
func FuzzCastBodies(f *testing.F) {
	for _, b := range castSeeds(f) {
		f.Add(b)
	}
	f.Add([]byte(`null`))
	f.Add([]byte(`{"id":1,"from":"node-a"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, d := range castDecoders {
			v, err := d.decode(b)
			if err != nil {
				if !errors.Is(err, errCastBody) {
					t.Fatalf("%s: refusal %v is not errCastBody", d.name, err)
				}
				continue
			}
			if err := d.check(v); err != nil {
				t.Fatalf("%s: %v: %+v", d.name, err, v)
			}
			enc, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%s: re-encode %+v: %v", d.name, v, err)
			}
			v2, err := d.decode(enc)
			if err != nil {
				t.Fatalf("%s: own encoding %s refused: %v", d.name, enc, err)
			}
			enc2, _ := json.Marshal(v2)
			if !bytes.Equal(enc, enc2) {
				t.Fatalf("%s: does not round-trip: %s then %s", d.name, enc, enc2)
			}
		}
	})
}

// TestCastBodiesSeedsAccepted: every sender's encoding is accepted by its
// decoder (the fuzz seeds are real messages, not refusals).
func TestCastBodiesSeedsAccepted(t *testing.T) {
	seeds := castSeeds(t)
	want := map[string]int{"pull": 0, "yield": 1, "has-handle": 2, "expire": 3, "app-instance": 4, "copy-query": 5,
		"copy-source": 7, "lease-ack": 9, "lease-ack-reply": 10, "client-since": 11, "client-since-reply": 12,
		"lease-break": 13, "open-files": 14}
	if _, err := decodeExpireCall(seeds[len(seeds)-1]); err != nil {
		t.Errorf("expire refused a call with a SID %s: %v", seeds[len(seeds)-1], err)
	}
	for _, d := range castDecoders {
		i, ok := want[d.name]
		if !ok {
			t.Fatalf("no seed for %s", d.name)
		}
		if _, err := d.decode(seeds[i]); err != nil {
			t.Errorf("%s refused its sender's encoding %s: %v", d.name, seeds[i], err)
		}
	}
}

// TestCastBodiesRefused lists values a handler must not act on.
func TestCastBodiesRefused(t *testing.T) {
	many := smbserver.CopySourceQuery{ResumeKey: make([]byte, wire.ResumeKeySize), Ranges: make([]smbserver.CopyRange, smbserver.MaxCopyRanges+1)}
	manyJSON, _ := json.Marshal(many)
	for _, c := range []struct {
		decoder, body string
	}{
		{"pull", `{"id":0,"from":"node-b"}`},
		{"pull", `{"id":1,"from":""}`},
		{"pull", `{"id":1,"from":"node-a"}`},
		{"pull", `{"id":1,"from":"../etc"}`},
		{"pull", `{"id":-1,"from":"node-b"}`},
		{"pull", `[1]`},
		{"yield", `{"id":5}`},
		{"yield", `{"id":5,"to":"node-a"}`},
		{"yield", `{"id":5,"to":"` + strings.Repeat("x", 254) + `"}`},
		{"has-handle", `{"id":0}`},
		{"has-handle", `null`},
		{"expire", `{"id":0,"user":"alice"}`},
		{"expire", `{"id":1,"user":"alice","sid":"alice"}`},
		{"expire", `{"id":1,"user":"alice","sid":"S-1-5-x"}`},
		{"expire", `{"id":1,"user":"` + strings.Repeat("u", maxCastUser+1) + `"}`},
		{"app-instance", `{"share":"vms","path":"a","app":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}`},
		{"app-instance", `{"share":"","path":"a","app":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}`},
		{"app-instance", `{"share":"a/b","path":"a","app":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}`},
		{"app-instance", `{"share":"vms","path":"a","app":[1,0,0]}`},
		{"app-instance", `{"share":"vms","path":"a","APP":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,9]}`},
		{"lease-ack", `{"client":[1,2],"key":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"state":1}`},
		{"client-since", `[1,2,3]`},
		{"copy-query", `{}`},
		{"copy-query", `{"resume_key":"AAAA"}`},
		{"copy-query", string(manyJSON)},
		{"copy-source", `{"found":true,"share":"vms","path":"a","conflict":3}`},
		{"copy-source", `{"found":true,"share":"vms","path":"a","conflict":-2}`},
		{"copy-source", `{"found":true,"share":"vms","path":"a","conflict":-1,"n":-5}`},
		{"copy-source", `{"found":true,"share":"","path":"a","conflict":-1}`},
		{"lease-ack-reply", `{"found":false,"status":3221225506}`},
		{"client-since-reply", `{"found":true}`},
		{"lease-break", `{"client":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"body":"AAAA"}`},
		{"open-files", `[{"fileId":"1"}]`},
	} {
		var d *castDecoder
		for i := range castDecoders {
			if castDecoders[i].name == c.decoder {
				d = &castDecoders[i]
			}
		}
		if _, err := d.decode([]byte(c.body)); !errors.Is(err, errCastBody) {
			t.Errorf("%s accepted %s (%v)", c.decoder, c.body, err)
		}
	}
}

// FuzzDecodeNodeInfo: DATA/node.json, damaged, is refused or gives a
// node whose id is a GUID, and round-trips.
func FuzzDecodeNodeInfo(f *testing.F) {
	good, _ := json.MarshalIndent(nodeInfo{ID: "6b29fc40-ca47-1067-b31d-00dd010662da", Name: "node-a", Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, "", "  ")
	f.Add(good)
	f.Add([]byte(`{"id":"6b29fc40ca471067b31d00dd010662da"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := decodeNodeInfo(b)
		if err != nil {
			return
		}
		var g namespace.GUID
		if g.UnmarshalText([]byte(n.ID)) != nil {
			t.Fatalf("accepted id %q", n.ID)
		}
		enc, err := json.Marshal(n)
		if err != nil {
			// A time.Time outside years 0..9999 decodes but does not
			// encode: loadOrCreateNode then fails to write, not panics.
			return
		}
		n2, err := decodeNodeInfo(enc)
		if err != nil || n2.ID != n.ID || n2.Name != n.Name || !n2.Created.Equal(n.Created) {
			t.Fatalf("does not round-trip: %+v -> %s -> %+v (%v)", n, enc, n2, err)
		}
	})
}
