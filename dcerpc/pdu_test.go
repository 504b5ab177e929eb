package dcerpc

import (
	"encoding/binary"
	"testing"

	"sofs.io/sofs/dcerpc/ndr"
	"sofs.io/sofs/dcerpc/srvsvc"
)

// This file builds client PDUs the way smbclient (Samba's librpc) and
// Windows build them, and decodes server PDUs, for the tests.

// featuresSyntax is the bind time feature negotiation transfer syntax with
// both defined bits offered, as smbclient and Windows clients send it.
var featuresSyntax = SyntaxID{[16]byte{0x2c, 0x1c, 0xb7, 0x6c, 0x12, 0x98, 0x40, 0x45,
	0x03, 0, 0, 0, 0, 0, 0, 0}, 1, 0}

type testContext struct {
	id        uint16
	abstract  SyntaxID
	transfers []SyntaxID
}

// smbclientContexts are the presentation contexts smbclient proposes for
// srvsvc: NDR, then the feature negotiation element.
func smbclientContexts() []testContext {
	return []testContext{
		{0, srvsvcSyntax, []SyntaxID{ndrSyntax}},
		{1, srvsvcSyntax, []SyntaxID{featuresSyntax}},
	}
}

func clientHeader(ptype, flags uint8, callID uint32) *ndr.Writer {
	return newPDU(ptype, flags, callID)
}

// bindPDU builds a bind (or alter_context) PDU with max frags 5840, as
// smbclient sends.
func bindPDU(ptype uint8, callID uint32, maxRecv uint16, ctxs []testContext) []byte {
	w := clientHeader(ptype, pfcFirstFrag|pfcLastFrag, callID)
	w.Uint16(5840)
	w.Uint16(maxRecv)
	w.Uint32(0)
	w.Uint8(uint8(len(ctxs)))
	w.Uint8(0)
	w.Uint16(0)
	for _, c := range ctxs {
		w.Uint16(c.id)
		w.Uint8(uint8(len(c.transfers)))
		w.Uint8(0)
		writeSyntax(w, c.abstract)
		for _, t := range c.transfers {
			writeSyntax(w, t)
		}
	}
	return finishPDU(w)
}

func requestPDU(callID uint32, flags uint8, ctxID, opnum uint16, stub []byte) []byte {
	w := clientHeader(ptypeRequest, flags, callID)
	w.Uint32(uint32(len(stub)))
	w.Uint16(ctxID)
	w.Uint16(opnum)
	w.Raw(stub)
	return finishPDU(w)
}

// parsed is a decoded server PDU.
type parsed struct {
	h header
	// bind_ack / alter_context_resp
	maxXmit, maxRecv uint16
	assocGroup       uint32
	secAddr          string
	results          []ctxResult
	// bind_nak
	nakReason uint16
	// response / fault
	allocHint uint32
	ctxID     uint16
	stub      []byte
	status    uint32
}

func parsePDU(t *testing.T, b []byte) parsed {
	t.Helper()
	h, err := parseHeader(b)
	if err != nil {
		t.Fatalf("parse header: %v", err)
	}
	if int(h.fragLen) != len(b) {
		t.Fatalf("frag_length %d for a %d-byte message", h.fragLen, len(b))
	}
	p := parsed{h: h}
	r := ndr.NewReader(b)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("decode PDU type %d: %v", h.ptype, err)
		}
	}
	must(r.Skip(headerLen))
	switch h.ptype {
	case ptypeBindAck, ptypeAlterResp:
		p.maxXmit, err = r.Uint16()
		must(err)
		p.maxRecv, err = r.Uint16()
		must(err)
		p.assocGroup, err = r.Uint32()
		must(err)
		n, err := r.Uint16()
		must(err)
		addr, err := r.Bytes(int(n))
		must(err)
		if n > 0 {
			if addr[n-1] != 0 {
				t.Fatalf("secondary address %q not NUL-terminated", addr)
			}
			p.secAddr = string(addr[:n-1])
		}
		must(r.Align(4))
		count, err := r.Uint8()
		must(err)
		must(r.Skip(3))
		for range count {
			var res ctxResult
			res.result, err = r.Uint16()
			must(err)
			res.reason, err = r.Uint16()
			must(err)
			res.transfer, err = readSyntax(r)
			must(err)
			p.results = append(p.results, res)
		}
	case ptypeBindNak:
		p.nakReason, err = r.Uint16()
		must(err)
	case ptypeResponse, ptypeFault:
		p.allocHint, err = r.Uint32()
		must(err)
		p.ctxID, err = r.Uint16()
		must(err)
		must(r.Skip(2))
		if h.ptype == ptypeFault {
			p.status, err = r.Uint32()
			must(err)
		} else {
			p.stub = b[r.Offset():]
		}
	default:
		t.Fatalf("unexpected PDU type %d", h.ptype)
	}
	return p
}

// readAll drains every pending message.
func readAll(t *testing.T, p Pipe) [][]byte {
	t.Helper()
	var msgs [][]byte
	for range 10000 {
		data, more, err := p.Read(1 << 16)
		if err == ErrNoData {
			return msgs
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if more {
			t.Fatalf("a 64 KiB read left part of a message")
		}
		msgs = append(msgs, data)
	}
	t.Fatal("Read never ran dry")
	return nil
}

// callStub reassembles the response stub of one call from its fragments.
func callStub(t *testing.T, msgs [][]byte, callID uint32) []byte {
	t.Helper()
	var stub []byte
	for i, m := range msgs {
		p := parsePDU(t, m)
		if p.h.ptype != ptypeResponse {
			t.Fatalf("fragment %d: PDU type %d status %#x", i, p.h.ptype, p.status)
		}
		if p.h.callID != callID {
			t.Fatalf("fragment %d: call id %d", i, p.h.callID)
		}
		if first := p.h.flags&pfcFirstFrag != 0; first != (i == 0) {
			t.Fatalf("fragment %d: FIRST_FRAG %v", i, first)
		}
		if last := p.h.flags&pfcLastFrag != 0; last != (i == len(msgs)-1) {
			t.Fatalf("fragment %d: LAST_FRAG %v", i, last)
		}
		stub = append(stub, p.stub...)
	}
	return stub
}

type fakeBackend struct {
	shares []ShareInfo
	server ServerInfo
}

func (f fakeBackend) Shares() []ShareInfo { return f.shares }
func (f fakeBackend) Server() ServerInfo  { return f.server }

// sofsBackend mirrors what the server core reports: its shares, then IPC$.
func sofsBackend() fakeBackend {
	return fakeBackend{
		shares: []ShareInfo{
			{Name: "vms", Type: srvsvc.STypeDiskTree, Comment: "Hyper-V", Path: `C:\vms`},
			{Name: "sql", Type: srvsvc.STypeDiskTree, Path: `C:\sql`},
			{Name: "IPC$", Type: srvsvc.STypeIPC | srvsvc.STypeSpecial, Comment: "IPC Service"},
		},
		server: ServerInfo{Name: "SOFS", Comment: "sofs", VersionMajor: 10, Type: 0x8003},
	}
}

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
