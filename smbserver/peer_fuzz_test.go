package smbserver

import (
	"context"
	"testing"
)

// FuzzPeerRequests feeds what another node of a cluster sends to this
// server's cast handlers (copy-source queries, forwarded lease break
// acknowledgments and notifications): whatever the bytes, nothing panics
// and a key this server did not issue names nothing.
func FuzzPeerRequests(f *testing.F) {
	f.Add(make([]byte, 24), make([]byte, 512), uint64(0), uint64(4096), make([]byte, 16), uint32(3), make([]byte, 44))
	f.Add([]byte{1}, []byte{}, uint64(1<<63), uint64(1<<63), []byte{}, uint32(0xffffffff), []byte{44, 0})
	// One server for every input: the handlers hold no state an input
	// could leave behind for the next one to trip on.
	c, done := fuzzConn(f, &syncBuffer{})
	f.Cleanup(done)
	s := c.srv
	f.Fuzz(func(t *testing.T, resume, token []byte, off, n uint64, key []byte, state uint32, body []byte) {
		cs := s.ResolveCopySource(CopySourceQuery{ResumeKey: resume, Token: token, Ranges: []CopyRange{{Off: off, Len: n}}})
		if cs.Found {
			t.Fatalf("a key this server never issued was found: %+v", cs)
		}
		var a LeaseAck
		copy(a.Key[:], key)
		a.State = state
		if _, found := s.AckLease(context.Background(), a); found {
			t.Fatal("an acknowledgment of a lease with no open here was applied")
		}
		if s.HoldsLease(a.Client, a.Key) {
			t.Fatal("a lease with no open here is held")
		}
		if s.SendLeaseBreak(a.Client, body) {
			t.Fatal("a lease break was sent for a client with no connection here")
		}
		if _, ok := s.ClientSince(a.Client); ok {
			t.Fatal("a client with no connection here has one")
		}
	})
}
