package dcerpc

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"sofs.io/sofs/dcerpc/srvsvc"
)

func newTestPipe(t *testing.T, b SrvsvcBackend) Pipe {
	t.Helper()
	p, ok := NewPipe("srvsvc", b)
	if !ok {
		t.Fatal("srvsvc pipe not found")
	}
	t.Cleanup(p.Close)
	return p
}

// bind performs smbclient's bind and checks the bind_ack.
func bind(t *testing.T, p Pipe, maxRecv uint16) parsed {
	t.Helper()
	out, more, err := p.Transact(bindPDU(ptypeBind, 1, maxRecv, smbclientContexts()), 4280)
	if err != nil || more {
		t.Fatalf("bind: more=%v err=%v", more, err)
	}
	return parsePDU(t, out)
}

func TestBindSmbclient(t *testing.T) {
	p := newTestPipe(t, sofsBackend())
	ack := bind(t, p, 5840)
	if ack.h.ptype != ptypeBindAck || ack.h.callID != 1 || ack.h.flags != pfcFirstFrag|pfcLastFrag {
		t.Fatalf("header %+v", ack.h)
	}
	if ack.maxXmit != 4280 || ack.maxRecv != 4280 || ack.assocGroup == 0 {
		t.Fatalf("frags %d/%d assoc %#x", ack.maxXmit, ack.maxRecv, ack.assocGroup)
	}
	if ack.secAddr != `\PIPE\srvsvc` {
		t.Fatalf("secondary address %q", ack.secAddr)
	}
	want := []ctxResult{
		{result: resultAcceptance, transfer: ndrSyntax},
		// [MS-RPCE] 3.3.1.5.3: negotiate_ack, supported bits in reason.
		{result: resultNegotiateAck, reason: featuresSupported},
	}
	if fmt.Sprint(ack.results) != fmt.Sprint(want) {
		t.Fatalf("results %+v, want %+v", ack.results, want)
	}
}

func TestBindWindowsContexts(t *testing.T) {
	p := newTestPipe(t, sofsBackend())
	unknownIf := SyntaxID{[16]byte{1, 2, 3}, 1, 0}
	ctxs := []testContext{
		{0, srvsvcSyntax, []SyntaxID{ndrSyntax}},
		{1, srvsvcSyntax, []SyntaxID{ndr64Syntax}},
		{2, srvsvcSyntax, []SyntaxID{featuresSyntax}},
		{3, unknownIf, []SyntaxID{ndrSyntax}},
		{4, SyntaxID{srvsvcSyntax.UUID, 2, 0}, []SyntaxID{ndrSyntax}}, // wrong version
		{5, srvsvcSyntax, nil},
	}
	out, _, err := p.Transact(bindPDU(ptypeBind, 7, 4280, ctxs), 4280)
	if err != nil {
		t.Fatal(err)
	}
	ack := parsePDU(t, out)
	want := []ctxResult{
		{result: resultAcceptance, transfer: ndrSyntax},
		{result: resultProviderRejection, reason: reasonTransferSyntaxes},
		{result: resultNegotiateAck, reason: featuresSupported},
		{result: resultProviderRejection, reason: reasonAbstractSyntax},
		{result: resultProviderRejection, reason: reasonAbstractSyntax},
		{result: resultProviderRejection, reason: reasonTransferSyntaxes},
	}
	if fmt.Sprint(ack.results) != fmt.Sprint(want) {
		t.Fatalf("results\n got %+v\nwant %+v", ack.results, want)
	}
	// Only context 0 may carry calls.
	msgs := callPipe(t, p, 8, 1, srvsvc.OpNetrServerGetInfo, serverInfoStub(101))
	if f := parsePDU(t, msgs[0]); f.h.ptype != ptypeFault || f.status != faultUnknownIf || f.h.flags&pfcDidNotExecute == 0 {
		t.Fatalf("call on rejected context: %+v", f)
	}
}

func TestBindNak(t *testing.T) {
	p := newTestPipe(t, sofsBackend())
	// A bind with an auth verifier: sofs has no RPC-level auth.
	b := bindPDU(ptypeBind, 1, 4280, smbclientContexts())
	b = append(b, 10, 2, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4) // sec_trailer + 4 bytes of token
	b[8], b[10] = byte(len(b)), 4
	out, _, err := p.Transact(b, 4280)
	if err != nil {
		t.Fatal(err)
	}
	if nak := parsePDU(t, out); nak.h.ptype != ptypeBindNak || nak.nakReason != nakAuthTypeNotRecognized {
		t.Fatalf("auth bind: %+v", nak)
	}
	// A plain bind works afterwards; a second bind is refused.
	bind(t, p, 4280)
	out, _, err = p.Transact(bindPDU(ptypeBind, 2, 4280, smbclientContexts()), 4280)
	if err != nil {
		t.Fatal(err)
	}
	if nak := parsePDU(t, out); nak.h.ptype != ptypeBindNak || nak.h.callID != 2 {
		t.Fatalf("second bind: %+v", nak)
	}
}

func TestAlterContext(t *testing.T) {
	p := newTestPipe(t, sofsBackend())
	out, _, err := p.Transact(bindPDU(ptypeAlterContext, 1, 4280, smbclientContexts()), 4280)
	if err != nil {
		t.Fatal(err)
	}
	if f := parsePDU(t, out); f.h.ptype != ptypeFault || f.status != faultProtoError {
		t.Fatalf("alter before bind: %+v", f)
	}
	bind(t, p, 4280)
	out, _, err = p.Transact(bindPDU(ptypeAlterContext, 2, 4280, []testContext{{9, srvsvcSyntax, []SyntaxID{ndr64Syntax, ndrSyntax}}}), 4280)
	if err != nil {
		t.Fatal(err)
	}
	resp := parsePDU(t, out)
	if resp.h.ptype != ptypeAlterResp || resp.secAddr != "" || len(resp.results) != 1 || resp.results[0].result != resultAcceptance || resp.results[0].transfer != ndrSyntax {
		t.Fatalf("alter_context_resp: %+v", resp)
	}
	msgs := callPipe(t, p, 3, 9, srvsvc.OpNetrServerGetInfo, serverInfoStub(100))
	if f := parsePDU(t, msgs[0]); f.h.ptype != ptypeResponse || f.ctxID != 9 {
		t.Fatalf("call on altered context: %+v", f)
	}
}

func enumStub(level uint32) []byte {
	q := srvsvc.ShareEnumRequest{
		ServerName: `\\127.0.0.1`, HasServerName: true,
		Info:                   srvsvc.ShareEnumStruct{Level: level, HasContainer: true},
		PreferredMaximumLength: 0xFFFFFFFF, HasResumeHandle: true,
	}
	return q.Marshal()
}

func serverInfoStub(level uint32) []byte {
	q := srvsvc.ServerGetInfoRequest{ServerName: `\\SOFS`, HasServerName: true, Level: level}
	return q.Marshal()
}

// callPipe writes one unfragmented request and returns every message.
func callPipe(t *testing.T, p Pipe, callID uint32, ctxID, opnum uint16, stub []byte) [][]byte {
	t.Helper()
	if err := p.Write(requestPDU(callID, pfcFirstFrag|pfcLastFrag, ctxID, opnum, stub)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return readAll(t, p)
}

// TestShareEnumIPC is smbclient -L: bind, NetrShareEnum level 1 through
// FSCTL_PIPE_TRANSCEIVE, and IPC$ listed as STYPE_IPC|STYPE_SPECIAL.
func TestShareEnumIPC(t *testing.T) {
	p := newTestPipe(t, sofsBackend())
	bind(t, p, 5840)
	out, more, err := p.Transact(requestPDU(2, pfcFirstFrag|pfcLastFrag, 0, srvsvc.OpNetrShareEnum, enumStub(1)), 4280)
	if err != nil || more {
		t.Fatalf("more=%v err=%v", more, err)
	}
	stub := callStub(t, [][]byte{out}, 2)
	resp, err := srvsvc.UnmarshalShareEnumResponse(stub)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 0 || resp.TotalEntries != 3 || len(resp.Info.Shares) != 3 {
		t.Fatalf("%+v", resp)
	}
	ipc := resp.Info.Shares[2]
	if ipc.Name != "IPC$" || ipc.Type != 0x80000003 || ipc.Comment != "IPC Service" {
		t.Fatalf("IPC$ entry %+v", ipc)
	}
	if resp.Info.Shares[0].Name != "vms" || resp.Info.Shares[0].Comment != "Hyper-V" {
		t.Fatalf("first share %+v", resp.Info.Shares[0])
	}
	if _, _, err := p.Read(4280); !errors.Is(err, ErrNoData) {
		t.Fatalf("pipe not empty after the call: %v", err)
	}
}

// TestFragmentedRequest sends one call in three fragments split inside a
// string, as a client with a small max_xmit_frag would.
func TestFragmentedRequest(t *testing.T) {
	p := newTestPipe(t, sofsBackend())
	bind(t, p, 4280)
	stub := enumStub(2)
	parts := [][]byte{stub[:8], stub[8:19], stub[19:]}
	flags := []uint8{pfcFirstFrag, 0, pfcLastFrag}
	for i := range parts {
		if err := p.Write(requestPDU(5, flags[i], 0, srvsvc.OpNetrShareEnum, parts[i])); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			if _, _, err := p.Read(100); !errors.Is(err, ErrNoData) {
				t.Fatalf("answer before LAST_FRAG: %v", err)
			}
		}
	}
	resp, err := srvsvc.UnmarshalShareEnumResponse(callStub(t, readAll(t, p), 5))
	if err != nil || len(resp.Info.Shares) != 3 || resp.Info.Shares[0].Path != `C:\vms` {
		t.Fatalf("%+v %v", resp, err)
	}
	// A middle fragment with no call in progress is a protocol error.
	msgs := callPipeFlags(t, p, 6, 0, srvsvc.OpNetrShareEnum, stub, pfcLastFrag)
	if f := parsePDU(t, msgs[0]); f.h.ptype != ptypeFault || f.status != faultProtoError {
		t.Fatalf("orphan fragment: %+v", f)
	}
}

func callPipeFlags(t *testing.T, p Pipe, callID uint32, ctxID, opnum uint16, stub []byte, flags uint8) [][]byte {
	t.Helper()
	if err := p.Write(requestPDU(callID, flags, ctxID, opnum, stub)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return readAll(t, p)
}

// TestResponseFragmentation lists 300 shares to a client that can receive
// only 1432-byte fragments.
func TestResponseFragmentation(t *testing.T) {
	var b fakeBackend
	for i := range 300 {
		b.shares = append(b.shares, ShareInfo{Name: fmt.Sprintf("share-%03d", i), Comment: "a comment long enough to matter"})
	}
	p := newTestPipe(t, b)
	if ack := bind(t, p, 1432); ack.maxXmit != 1432 {
		t.Fatalf("max_xmit_frag %d", ack.maxXmit)
	}
	msgs := callPipe(t, p, 2, 0, srvsvc.OpNetrShareEnum, enumStub(1))
	if len(msgs) < 10 {
		t.Fatalf("%d fragments", len(msgs))
	}
	remaining := 0
	for i, m := range msgs {
		if len(m) > 1432 {
			t.Fatalf("fragment %d is %d bytes", i, len(m))
		}
		f := parsePDU(t, m)
		if i < len(msgs)-1 && len(f.stub)%8 != 0 {
			t.Fatalf("fragment %d stub %d bytes, not a multiple of 8", i, len(f.stub))
		}
		if i > 0 && int(f.allocHint) != remaining {
			t.Fatalf("fragment %d alloc_hint %d, want %d", i, f.allocHint, remaining)
		}
		remaining = int(f.allocHint) - len(f.stub)
	}
	resp, err := srvsvc.UnmarshalShareEnumResponse(callStub(t, msgs, 2))
	if err != nil || len(resp.Info.Shares) != 300 || resp.Info.Shares[299].Name != "share-299" {
		t.Fatalf("%v", err)
	}
}

// TestPartialReads reads one response message in small pieces, as SMB2
// READs smaller than the message do (STATUS_BUFFER_OVERFLOW).
func TestPartialReads(t *testing.T) {
	p := newTestPipe(t, sofsBackend())
	bind(t, p, 4280)
	if err := p.Write(requestPDU(2, pfcFirstFrag|pfcLastFrag, 0, srvsvc.OpNetrShareEnum, enumStub(1))); err != nil {
		t.Fatal(err)
	}
	var msg []byte
	for range 1000 {
		data, more, err := p.Read(16)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 16 {
			t.Fatalf("read %d bytes with max 16", len(data))
		}
		msg = append(msg, data...)
		if !more {
			break
		}
	}
	resp, err := srvsvc.UnmarshalShareEnumResponse(callStub(t, [][]byte{msg}, 2))
	if err != nil || len(resp.Info.Shares) != 3 {
		t.Fatalf("%+v %v", resp, err)
	}
}

// TestStreamSplitting writes a bind byte by byte, then two PDUs in one
// write: responses appear only for complete PDUs, one message each.
func TestStreamSplitting(t *testing.T) {
	p := newTestPipe(t, sofsBackend())
	b := bindPDU(ptypeBind, 1, 4280, smbclientContexts())
	for i := range b {
		if err := p.Write(b[i : i+1]); err != nil {
			t.Fatal(err)
		}
		_, _, err := p.Read(4280)
		if i < len(b)-1 && !errors.Is(err, ErrNoData) {
			t.Fatalf("answer after %d of %d bytes: %v", i+1, len(b), err)
		}
		if i == len(b)-1 && err != nil {
			t.Fatalf("no bind_ack: %v", err)
		}
	}
	two := append(requestPDU(2, pfcFirstFrag|pfcLastFrag, 0, srvsvc.OpNetrServerGetInfo, serverInfoStub(100)),
		requestPDU(3, pfcFirstFrag|pfcLastFrag, 0, srvsvc.OpNetrServerGetInfo, serverInfoStub(101))...)
	if err := p.Write(two); err != nil {
		t.Fatal(err)
	}
	msgs := readAll(t, p)
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	for i, m := range msgs {
		resp, err := srvsvc.UnmarshalServerGetInfoResponse(callStub(t, [][]byte{m}, uint32(2+i)))
		if err != nil || resp.Info == nil || resp.Info.Name != "SOFS" {
			t.Fatalf("message %d: %+v %v", i, resp, err)
		}
	}
}

func TestFaults(t *testing.T) {
	p := newTestPipe(t, sofsBackend())
	msgs := callPipe(t, p, 1, 0, srvsvc.OpNetrShareEnum, enumStub(1))
	if f := parsePDU(t, msgs[0]); f.h.ptype != ptypeFault || f.status != faultProtoError {
		t.Fatalf("request before bind: %+v", f)
	}
	bind(t, p, 4280)
	cases := []struct {
		name   string
		opnum  uint16
		stub   []byte
		status uint32
	}{
		{"unknown opnum", 14, enumStub(1), faultOpRangeError},
		{"opnum past the table", 200, nil, faultOpRangeError},
		{"truncated stub", srvsvc.OpNetrShareEnum, enumStub(1)[:20], faultNDR},
		{"invalid union tag", srvsvc.OpNetrShareEnum, enumStub(9), faultInvalidTag},
		{"empty stub", srvsvc.OpNetrShareGetInfo, nil, faultNDR},
	}
	for i, c := range cases {
		msgs := callPipe(t, p, uint32(10+i), 0, c.opnum, c.stub)
		if len(msgs) != 1 {
			t.Fatalf("%s: %d messages", c.name, len(msgs))
		}
		f := parsePDU(t, msgs[0])
		if f.h.ptype != ptypeFault || f.status != c.status || f.h.callID != uint32(10+i) || f.h.flags&pfcDidNotExecute == 0 || len(msgs[0]) != 32 {
			t.Errorf("%s: %+v", c.name, f)
		}
	}
	// Faults do not break the pipe.
	msgs = callPipe(t, p, 20, 0, srvsvc.OpNetrServerGetInfo, serverInfoStub(101))
	if f := parsePDU(t, msgs[0]); f.h.ptype != ptypeResponse {
		t.Fatalf("after faults: %+v", f)
	}
	// A request with an auth verifier is refused.
	req := requestPDU(21, pfcFirstFrag|pfcLastFrag, 0, srvsvc.OpNetrServerGetInfo, serverInfoStub(101))
	req = append(req, make([]byte, 8+16)...)
	req[8], req[10] = byte(len(req)), 16
	if err := p.Write(req); err != nil {
		t.Fatal(err)
	}
	if f := parsePDU(t, readAll(t, p)[0]); f.h.ptype != ptypeFault || f.status != faultAccessDenied {
		t.Fatalf("request with auth: %+v", f)
	}
}

func TestMalformedBreaksPipe(t *testing.T) {
	good := bindPDU(ptypeBind, 1, 4280, smbclientContexts())
	mutate := map[string]func([]byte) []byte{
		"version 4":        func(b []byte) []byte { b[0] = 4; return b },
		"big endian":       func(b []byte) []byte { b[4] = 0x00; return b },
		"frag_length < 16": func(b []byte) []byte { b[8], b[9] = 8, 0; return b },
		"auth > frag":      func(b []byte) []byte { b[10], b[11] = 0xff, 0xff; return b },
		"server PDU type":  func(b []byte) []byte { b[2] = ptypeResponse; return b },
		"truncated contexts": func(b []byte) []byte {
			b = b[:40]
			b[8] = 40
			return b
		},
	}
	for name, m := range mutate {
		p := newTestPipe(t, sofsBackend())
		if err := p.Write(m(bytes.Clone(good))); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Write err = %v", name, err)
			continue
		}
		if err := p.Write(good); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: pipe usable after a framing error: %v", name, err)
		}
		if _, _, err := p.Read(100); err == nil || errors.Is(err, ErrNoData) {
			t.Errorf("%s: Read err = %v", name, err)
		}
	}
}

func TestBacklogBounded(t *testing.T) {
	var b fakeBackend
	for i := range 200 {
		b.shares = append(b.shares, ShareInfo{Name: fmt.Sprintf("share-%03d", i), Comment: "comment"})
	}
	p := newTestPipe(t, b)
	bind(t, p, 4280)
	req := requestPDU(2, pfcFirstFrag|pfcLastFrag, 0, srvsvc.OpNetrShareEnum, enumStub(1))
	var err error
	for i := 0; i < 10000 && err == nil; i++ {
		err = p.Write(req)
	}
	if !errors.Is(err, ErrBacklog) {
		t.Fatalf("unread responses never refused: %v", err)
	}
}

func TestNewPipeNames(t *testing.T) {
	for name, want := range map[string]bool{
		"srvsvc": true, "SRVSVC": true, `\PIPE\srvsvc`: true, `PIPE\SrvSvc`: true, `\srvsvc`: true,
		"wkssvc": false, "": false, `\PIPE\`: false, "srvsvc2": false, `PIPE\PIPE\srvsvc`: false,
	} {
		p, ok := NewPipe(name, sofsBackend())
		if ok != want {
			t.Errorf("NewPipe(%q) ok = %v", name, ok)
		}
		if ok {
			p.Close()
			if err := p.Write([]byte{5}); !errors.Is(err, ErrClosed) {
				t.Errorf("Write after Close: %v", err)
			}
		}
	}
}

func FuzzPipeWrite(f *testing.F) {
	bindB := bindPDU(ptypeBind, 1, 4280, smbclientContexts())
	req := requestPDU(2, pfcFirstFrag|pfcLastFrag, 0, srvsvc.OpNetrShareEnum, enumStub(1))
	gi := srvsvc.ShareGetInfoRequest{NetName: "vms", Level: 2}
	f.Add(bindB, 1000)
	f.Add(append(bytes.Clone(bindB), req...), 50)
	f.Add(append(bytes.Clone(bindB), requestPDU(3, pfcFirstFrag|pfcLastFrag, 0, srvsvc.OpNetrShareGetInfo, gi.Marshal())...), 77)
	f.Add(append(bytes.Clone(bindB), requestPDU(4, pfcFirstFrag, 0, srvsvc.OpNetrServerGetInfo, serverInfoStub(102))...), 3)
	f.Add(bindPDU(ptypeAlterContext, 1, 4280, smbclientContexts()), 16)
	for _, rec := range []string{recSmbclientEnum, recRpcclientSrvinfo, recRpcclientGetInfo, recRpcclientEnum2} {
		f.Add(append(unhex(f, recSmbclientBind), unhex(f, rec)...), 72)
	}
	f.Fuzz(func(t *testing.T, b []byte, split int) {
		p, _ := NewPipe("srvsvc", sofsBackend())
		defer p.Close()
		// Feed the bytes in two writes, to exercise reassembly across
		// writes as well as several PDUs in one write.
		if split < 0 || split > len(b) {
			split = len(b) / 2
		}
		if err := p.Write(b[:split]); err != nil {
			return
		}
		if err := p.Write(b[split:]); err != nil {
			return
		}
		for range 10000 {
			data, _, err := p.Read(4280)
			if err != nil {
				return
			}
			if _, err := parseHeader(data); err != nil && len(data) >= headerLen {
				t.Fatalf("server emitted a bad header: %v", err)
			}
		}
		t.Fatal("pipe never ran dry")
	})
}

// TestOrphanedAndCancel: orphaned abandons a call being reassembled
// ([C706] 12.6.4.8), co_cancel is ignored, and neither gets an answer.
func TestOrphanedAndCancel(t *testing.T) {
	p := newTestPipe(t, sofsBackend())
	bind(t, p, 4280)
	stub := enumStub(1)
	if err := p.Write(requestPDU(4, pfcFirstFrag, 0, srvsvc.OpNetrShareEnum, stub[:8])); err != nil {
		t.Fatal(err)
	}
	w := newPDU(ptypeOrphaned, pfcFirstFrag|pfcLastFrag, 4)
	if err := p.Write(finishPDU(w)); err != nil {
		t.Fatal(err)
	}
	w = newPDU(ptypeCoCancel, pfcFirstFrag|pfcLastFrag, 4)
	if err := p.Write(finishPDU(w)); err != nil {
		t.Fatal(err)
	}
	msgs := callPipeFlags(t, p, 4, 0, srvsvc.OpNetrShareEnum, stub[8:], pfcLastFrag)
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	if f := parsePDU(t, msgs[0]); f.h.ptype != ptypeFault || f.status != faultProtoError {
		t.Fatalf("last fragment of an orphaned call: %+v", f)
	}
}

func TestBindMinorVersion(t *testing.T) {
	p := newTestPipe(t, sofsBackend())
	b := bindPDU(ptypeBind, 1, 4280, smbclientContexts())
	b[1] = 2
	out, _, err := p.Transact(b, 4280)
	if err != nil {
		t.Fatal(err)
	}
	if nak := parsePDU(t, out); nak.h.ptype != ptypeBindNak || nak.nakReason != nakProtocolVersionNotSupported {
		t.Fatalf("bind 5.2: %+v", nak)
	}
	// 5.1 is the same format and is accepted.
	b[1] = 1
	out, _, err = p.Transact(b, 4280)
	if err != nil {
		t.Fatal(err)
	}
	if ack := parsePDU(t, out); ack.h.ptype != ptypeBindAck {
		t.Fatalf("bind 5.1: %+v", ack)
	}
}
