package wire

import (
	"bytes"
	"testing"
)

// Byte-exact checks of response layouts against [MS-SMB2] section 2.

func TestErrorResponseOneByteQuirk(t *testing.T) {
	// [MS-SMB2] 2.2.2: StructureSize 9, ByteCount 0, and still one byte.
	got := (&ErrorResponse{}).AppendTo(nil)
	want := []byte{9, 0, 0, 0, 0, 0, 0, 0, 0}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x want %x", got, want)
	}
	got = (&ErrorResponse{ErrorData: []byte{0xAA, 0xBB, 0xCC, 0xDD}}).AppendTo(nil)
	want = []byte{9, 0, 0, 0, 4, 0, 0, 0, 0xAA, 0xBB, 0xCC, 0xDD}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x want %x", got, want)
	}
}

func TestErrorContexts(t *testing.T) {
	b := AppendErrorContexts(nil, []ErrorContext{{ErrorID: ErrorIDDefault, Data: []byte{1, 2, 3}}, {ErrorID: ErrorIDShareRedirect, Data: nil}})
	want := []byte{3, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53, 0x52, 0x64, 0x72}
	if !bytes.Equal(b, want) {
		t.Fatalf("got %x", b)
	}
}

func TestReadResponseFixedLayout(t *testing.T) {
	b := (&ReadResponse{DataRemaining: 9}).AppendFixedTo(hdr(CmdRead), 0x1234)
	body := b[HeaderSize:]
	want := []byte{17, 0, 0x50, 0, 0x34, 0x12, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0}
	if !bytes.Equal(body, want) {
		t.Fatalf("got %x want %x", body, want)
	}
}

func TestWriteResponseLayout(t *testing.T) {
	body := (&WriteResponse{Count: 5}).AppendTo(nil)
	want := []byte{17, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if !bytes.Equal(body, want) {
		t.Fatalf("got %x", body)
	}
}

func TestNegotiateResponseLayout(t *testing.T) {
	r := NegotiateResponse{DialectRevision: Dialect311, SecurityBuffer: []byte{1, 2, 3},
		Contexts: []NegotiateContext{{ContextPreauthIntegrity, []byte{1, 0, 0, 0, 1, 0}}, {ContextSigning, []byte{1, 0, 1, 0}}}}
	msg := r.AppendTo(hdr(CmdNegotiate))
	body := msg[HeaderSize:]
	if le.Uint16(body) != 65 || le.Uint16(body[6:]) != 2 {
		t.Fatalf("StructureSize/ContextCount %x", body[:8])
	}
	if le.Uint16(body[56:]) != 128 || le.Uint16(body[58:]) != 3 {
		t.Errorf("SecurityBuffer offset/length %d/%d", le.Uint16(body[56:]), le.Uint16(body[58:]))
	}
	// Buffer ends at 131; the first context starts at 136, the second at
	// 136+8+6 = 150 rounded up to 152.
	if off := le.Uint32(body[60:]); off != 136 {
		t.Fatalf("NegotiateContextOffset %d", off)
	}
	if msg[136] != 1 || msg[152] != 8 || len(msg) != 152+8+4 {
		t.Errorf("context placement: % x", msg[128:])
	}
	// 2.0.2 responses carry no contexts even if some are set.
	r.DialectRevision = Dialect202
	msg = r.AppendTo(hdr(CmdNegotiate))
	if le.Uint16(msg[HeaderSize+6:]) != 0 || le.Uint32(msg[HeaderSize+60:]) != 0 || len(msg) != 131 {
		t.Errorf("2.0.2 response with contexts: %d bytes", len(msg))
	}
}

func TestCreateResponseContextLayout(t *testing.T) {
	r := CreateResponse{FileID: fid, Contexts: []CreateContext{
		{Name: CreateContextMaximalAccess, Data: EncodeMaximalAccessResponse(StatusSuccess, FileAllAccess)},
		{Name: CreateContextQueryOnDiskID, Data: QueryOnDiskID{DiskFileID: guid}.Encode()},
	}}
	msg := r.AppendTo(hdr(CmdCreate))
	body := msg[HeaderSize:]
	if off, n := le.Uint32(body[80:]), le.Uint32(body[84:]); off != 152 || int(off+n) != len(msg) {
		t.Fatalf("CreateContexts offset %d length %d, message %d", off, n, len(msg))
	}
	c := msg[152:]
	// First context: 16-byte header, "MxAc" at 16, data at 24, 8 bytes; Next 32.
	if le.Uint32(c) != 32 || le.Uint16(c[4:]) != 16 || le.Uint16(c[6:]) != 4 || le.Uint16(c[10:]) != 24 || le.Uint32(c[12:]) != 8 {
		t.Errorf("MxAc header % x", c[:16])
	}
	if string(c[16:20]) != "MxAc" || le.Uint32(c[28:]) != FileAllAccess {
		t.Errorf("MxAc body % x", c[16:32])
	}
	c = c[32:]
	if le.Uint32(c) != 0 || string(c[16:20]) != "QFid" || le.Uint32(c[12:]) != 32 || !bytes.Equal(c[24:40], guid[:]) || len(c) != 56 {
		t.Errorf("QFid context % x", c)
	}
}

func TestIoctlResponseLayout(t *testing.T) {
	out := ValidateNegotiateInfoResponse{Capabilities: 0x44, Guid: guid, SecurityMode: 1, Dialect: Dialect302}.Encode()
	msg := (&IoctlResponse{CtlCode: FsctlValidateNegotiateInfo, FileID: RelatedPlaceholder(), Output: out}).AppendTo(hdr(CmdIoctl))
	body := msg[HeaderSize:]
	if le.Uint16(body) != 49 || le.Uint32(body[24:]) != 112 || le.Uint32(body[28:]) != 0 || le.Uint32(body[32:]) != 112 || le.Uint32(body[36:]) != 24 {
		t.Fatalf("IOCTL response fields % x", body[:48])
	}
	v, err := DecodeValidateNegotiateInfoResponse(msg[112:])
	if err != nil || v.Dialect != Dialect302 || v.Guid != guid || v.Capabilities != 0x44 {
		t.Errorf("%+v %v", v, err)
	}
}

func TestSimpleBodies(t *testing.T) {
	for _, c := range []codec{&LogoffResponse{}, &TreeDisconnectResponse{}, &EchoResponse{}, &FlushResponse{}, &LockResponse{}} {
		if got := c.AppendTo(nil); !bytes.Equal(got, []byte{4, 0, 0, 0}) {
			t.Errorf("%T: %x", c, got)
		}
	}
	if got := (&SetInfoResponse{}).AppendTo(nil); !bytes.Equal(got, []byte{2, 0}) {
		t.Errorf("SET_INFO response %x", got)
	}
}

func TestFileIDPlaceholder(t *testing.T) {
	p := RelatedPlaceholder()
	if !p.IsRelatedPlaceholder() || fid.IsRelatedPlaceholder() || (FileID{Persistent: ^uint64(0)}).IsRelatedPlaceholder() {
		t.Fatal("placeholder detection wrong")
	}
	b := p.AppendTo(nil)
	if !bytes.Equal(b, bytes.Repeat([]byte{0xFF}, 16)) || DecodeFileID(b) != p {
		t.Fatalf("%x", b)
	}
	if got := DecodeFileID(fid.AppendTo(nil)); got != fid {
		t.Fatalf("%+v", got)
	}
}

func TestTreeConnectExtensionLayout(t *testing.T) {
	// [MS-SMB2] 2.2.9.1: with EXTENSION_PRESENT, PathName follows the
	// 16-byte extension header, so PathOffset is 64+8+16.
	msg := (&TreeConnectRequest{Flags: TreeConnectFlagExtensionPresent, Path: `\\s\x`}).AppendTo(hdr(CmdTreeConnect))
	if le.Uint16(msg[HeaderSize+4:]) != 88 {
		t.Fatalf("PathOffset %d", le.Uint16(msg[HeaderSize+4:]))
	}
	// A path that starts inside the extension header is rejected.
	le.PutUint16(msg[HeaderSize+4:], 72)
	var r TreeConnectRequest
	if err := r.Decode(msg); err == nil {
		t.Fatal("path overlapping the extension accepted")
	}
}

func TestNegotiateContextHelpers(t *testing.T) {
	c, err := DecodeCompressionCapabilities([]byte{2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 2, 0})
	if err != nil || c.Flags != 1 || len(c.CompressionAlgorithms) != 2 || c.CompressionAlgorithms[1] != 2 {
		t.Errorf("compression %+v %v", c, err)
	}
	r, err := DecodeRDMATransformCapabilities([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 0})
	if err != nil || len(r.TransformIDs) != 1 || r.TransformIDs[0] != 1 {
		t.Errorf("rdma %+v %v", r, err)
	}
	tc, err := DecodeTransportCapabilities(EncodeTransportCapabilities(TransportCapabilities{Flags: TransportAcceptTransportLevelSecurity}))
	if err != nil || tc.Flags != 1 {
		t.Errorf("transport %+v %v", tc, err)
	}
	if n, err := DecodeNetname([]byte{'h', 0, 'i', 0, 0, 0}); err != nil || n != "hi" {
		t.Errorf("netname %q %v", n, err)
	}
}

func TestCreateContextHelpers(t *testing.T) {
	l := Lease{LeaseKey: guid, LeaseState: LeaseReadCaching | LeaseHandleCache, LeaseFlags: LeaseFlagParentKeySet, V2: true, ParentLeaseKey: guid, Epoch: 9}
	if got, err := DecodeLease(l.Encode()); err != nil || got != l {
		t.Errorf("lease v2 %+v %v", got, err)
	}
	l1 := Lease{LeaseKey: guid, LeaseState: LeaseWriteCache}
	if enc := l1.Encode(); len(enc) != 32 {
		t.Errorf("lease v1 is %d bytes", len(enc))
	} else if got, _ := DecodeLease(enc); got != l1 {
		t.Errorf("lease v1 %+v", got)
	}
	q := DurableHandleRequestV2{Timeout: 60000, Flags: DurableHandleFlagPersistent, CreateGUID: guid}
	if got, err := DecodeDurableHandleRequestV2(q.Encode()); err != nil || got != q {
		t.Errorf("DH2Q %+v %v", got, err)
	}
	c := DurableHandleReconnectV2{FileID: fid, CreateGUID: guid, Flags: DurableHandleFlagPersistent}
	if got, err := DecodeDurableHandleReconnectV2(c.Encode()); err != nil || got != c {
		t.Errorf("DH2C %+v %v", got, err)
	}
	rv2 := DurableHandleResponseV2{Timeout: 1, Flags: 2}
	if got, err := DecodeDurableHandleResponseV2(rv2.Encode()); err != nil || got != rv2 {
		t.Errorf("DH2Q response %+v %v", got, err)
	}
	if got, err := DecodeDurableHandleReconnect(fid.AppendTo(nil)); err != nil || got != fid {
		t.Errorf("DHnC %+v %v", got, err)
	}
	if DecodeDurableHandleRequest(make([]byte, 16)) != nil || DecodeDurableHandleRequest(make([]byte, 8)) == nil || len(EncodeDurableHandleResponse()) != 8 {
		t.Error("DHnQ sizes")
	}
	if ts, ok, err := DecodeMaximalAccessRequest(nil); ts != 0 || ok || err != nil {
		t.Error("MxAc without timestamp")
	}
	if ts, ok, err := DecodeMaximalAccessRequest([]byte{1, 0, 0, 0, 0, 0, 0, 0}); ts != 1 || !ok || err != nil {
		t.Error("MxAc with timestamp")
	}
	if _, _, err := DecodeMaximalAccessRequest([]byte{1}); err == nil {
		t.Error("MxAc of 1 byte accepted")
	}
	if st, acc, err := DecodeMaximalAccessResponse(EncodeMaximalAccessResponse(StatusAccessDenied, 5)); st != StatusAccessDenied || acc != 5 || err != nil {
		t.Error("MxAc response")
	}
	if v, err := DecodeAllocationSize([]byte{0, 0x10, 0, 0, 0, 0, 0, 0}); v != 4096 || err != nil {
		t.Error("AlSi")
	}
	if v, err := DecodeTimewarp([]byte{1, 0, 0, 0, 0, 0, 0, 0}); v != 1 || err != nil {
		t.Error("TWrp")
	}
	if ContextName(CreateContextMaximalAccess) != "MxAc" || ContextName(CreateContextAppInstanceID)[:4] != "45bc" {
		t.Error("ContextName")
	}
}

func TestOplockBreakKind(t *testing.T) {
	k, err := OplockBreakRequestKind(encode(CmdOplockBreak, &OplockBreak{FileID: fid}))
	if err != nil || k != OplockBreakAck {
		t.Errorf("oplock ack: %v %v", k, err)
	}
	k, err = OplockBreakRequestKind(encode(CmdOplockBreak, &LeaseBreakAckMsg{LeaseKey: guid}))
	if err != nil || k != LeaseBreakAck {
		t.Errorf("lease ack: %v %v", k, err)
	}
	if _, err := OplockBreakRequestKind(encode(CmdOplockBreak, &LeaseBreakNotification{})); err == nil {
		t.Error("a notification is not an acknowledgment")
	}
}

func TestUTF16(t *testing.T) {
	for _, s := range []string{"", "share", `dir\файл`, "emoji 😀"} {
		if got, err := DecodeUTF16(EncodeUTF16(s)); err != nil || got != s {
			t.Errorf("%q -> %q %v", s, got, err)
		}
	}
	if _, err := DecodeUTF16([]byte{'a'}); err == nil {
		t.Error("odd length accepted")
	}
}
