package wire

import (
	"bytes"
	"errors"
	"testing"
)

// patch returns a copy of msg with v written little-endian at body offset
// off (relative to the end of the header).
func patch16(msg []byte, off int, v uint16) []byte {
	m := bytes.Clone(msg)
	le.PutUint16(m[HeaderSize+off:], v)
	return m
}

func patch32(msg []byte, off int, v uint32) []byte {
	m := bytes.Clone(msg)
	le.PutUint32(m[HeaderSize+off:], v)
	return m
}

func TestRejections(t *testing.T) {
	neg := encode(CmdNegotiate, &NegotiateRequest{Dialects: []uint16{Dialect311}, Contexts: []NegotiateContext{{ContextPreauthIntegrity, []byte{1, 0, 0, 0, 1, 0}}}})
	ss := encode(CmdSessionSetup, &SessionSetupRequest{SecurityBuffer: []byte("abc")})
	tc := encode(CmdTreeConnect, &TreeConnectRequest{Path: `\\a\b`})
	cr := encode(CmdCreate, &CreateRequest{Name: "f", Contexts: []CreateContext{{Name: "MxAc"}, {Name: "AlSi", Data: make([]byte, 8)}}})
	rd := encode(CmdRead, &ReadRequest{Length: 1, ReadChannelInfo: []byte{1}})
	wr := encode(CmdWrite, &WriteRequest{Data: []byte("data")})
	lk := encode(CmdLock, &LockRequest{Locks: []LockElement{{Length: 1, Flags: LockFlagSharedLock}}})
	io := encode(CmdIoctl, &IoctlRequest{Input: []byte{1, 2, 3}})
	qd := encode(CmdQueryDirectory, &QueryDirectoryRequest{FileName: "*"})
	qi := encode(CmdQueryInfo, &QueryInfoRequest{InputBuffer: []byte{1}})
	si := encode(CmdSetInfo, &SetInfoRequest{Buffer: []byte{1}})
	ccOff := int(le.Uint32(cr[HeaderSize+48:])) // start of the create context chain

	cases := []struct {
		name string
		dec  codec
		msg  []byte
	}{
		{"negotiate huge DialectCount", &NegotiateRequest{}, patch16(neg, 2, 0xFFFF)},
		{"negotiate context offset into dialects", &NegotiateRequest{}, patch32(neg, 28, HeaderSize+36)},
		{"negotiate context offset unaligned", &NegotiateRequest{}, patch32(neg, 28, le.Uint32(neg[HeaderSize+28:])+2)},
		{"negotiate context offset past end", &NegotiateRequest{}, patch32(neg, 28, 0xFFFFFFF8)},
		{"negotiate huge context count", &NegotiateRequest{}, patch16(neg, 32, 0xFFFF)},
		{"negotiate context data past end", &NegotiateRequest{}, func() []byte {
			m := bytes.Clone(neg)
			le.PutUint16(m[le.Uint32(neg[HeaderSize+28:])+2:], 200)
			return m
		}()},
		{"session setup buffer in header", &SessionSetupRequest{}, patch16(ss, 12, 10)},
		{"session setup buffer in fixed part", &SessionSetupRequest{}, patch16(ss, 12, HeaderSize+20)},
		{"session setup length past end", &SessionSetupRequest{}, patch16(ss, 14, 0xFFFF)},
		{"tree connect path offset 0", &TreeConnectRequest{}, patch16(tc, 4, 0)},
		{"tree connect odd path length", &TreeConnectRequest{}, patch16(tc, 6, 3)},
		{"tree connect path past end", &TreeConnectRequest{}, patch16(tc, 6, 0x100)},
		{"tree connect extension truncated", &TreeConnectRequest{}, patch16(tc, 2, TreeConnectFlagExtensionPresent)},
		{"create name offset 0", &CreateRequest{}, patch16(cr, 44, 0)},
		{"create name past end", &CreateRequest{}, patch16(cr, 46, 0xFFFE)},
		{"create contexts offset into fixed part", &CreateRequest{}, patch32(cr, 48, HeaderSize+8)},
		{"create contexts length past end", &CreateRequest{}, patch32(cr, 52, 0xFFFFFFFF)},
		{"create contexts offset huge", &CreateRequest{}, patch32(cr, 48, 0xFFFFFFF0)},
		{"create context Next unaligned", &CreateRequest{}, patch32(cr, ccOff-HeaderSize, 20)},
		{"create context Next past chain", &CreateRequest{}, patch32(cr, ccOff-HeaderSize, 0x1000)},
		{"create context Next too small", &CreateRequest{}, patch32(cr, ccOff-HeaderSize, 8)},
		{"create context name in its header", &CreateRequest{}, patch16(cr, ccOff-HeaderSize+4, 8)},
		{"create context empty name", &CreateRequest{}, patch16(cr, ccOff-HeaderSize+6, 0)},
		{"create context name beyond Next", &CreateRequest{}, patch16(cr, ccOff-HeaderSize+6, 40)},
		{"create context data overlapping name", &CreateRequest{}, patch16(cr, ccOff-HeaderSize+24+10, 18)},
		{"create context data past chain", &CreateRequest{}, patch32(cr, ccOff-HeaderSize+24+12, 0x7FFFFFFF)},
		{"create contexts chain cut short", &CreateRequest{}, patch32(cr, 52, le.Uint32(cr[HeaderSize+52:])-8)},
		{"read channel info in fixed part", &ReadRequest{}, patch16(rd, 44, HeaderSize)},
		{"read channel info past end", &ReadRequest{}, patch16(rd, 46, 100)},
		{"write data offset into header", &WriteRequest{}, patch16(wr, 2, 0)},
		{"write data offset into fixed part", &WriteRequest{}, patch16(wr, 2, HeaderSize+40)},
		{"write length past end", &WriteRequest{}, patch32(wr, 4, 5)},
		{"write length huge", &WriteRequest{}, patch32(wr, 4, 0xFFFFFFFF)},
		{"write channel info past end", &WriteRequest{}, func() []byte { m := patch16(wr, 40, WriteRequestDataOffset); return patch16(m, 42, 64) }()},
		{"lock count 0", &LockRequest{}, patch16(lk, 2, 0)},
		{"lock count beyond elements", &LockRequest{}, patch16(lk, 2, 2)},
		{"lock count huge", &LockRequest{}, patch16(lk, 2, 0xFFFF)},
		{"ioctl input in fixed part", &IoctlRequest{}, patch32(io, 24, HeaderSize+4)},
		{"ioctl input past end", &IoctlRequest{}, patch32(io, 28, 0xFFFFFFFF)},
		{"ioctl output offset wraps", &IoctlRequest{}, func() []byte { m := patch32(io, 36, 0xFFFFFFFF); return patch32(m, 40, 2) }()},
		{"query directory name offset 0", &QueryDirectoryRequest{}, patch16(qd, 24, 0)},
		{"query directory name past end", &QueryDirectoryRequest{}, patch16(qd, 26, 4)},
		{"query info input in header", &QueryInfoRequest{}, patch16(qi, 8, 1)},
		{"query info input past end", &QueryInfoRequest{}, patch32(qi, 12, 2)},
		{"set info buffer offset 0", &SetInfoRequest{}, patch16(si, 8, 0)},
		{"set info buffer past end", &SetInfoRequest{}, patch32(si, 4, 0x80000000)},
	}
	for _, c := range cases {
		if err := c.dec.Decode(c.msg); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", c.name, err)
		}
	}
}

// TestEmptyBufferAnyOffset checks the documented leniency: a zero-length
// buffer may carry any offset, including 0, as some clients send.
func TestEmptyBufferAnyOffset(t *testing.T) {
	ss := encode(CmdSessionSetup, &SessionSetupRequest{})
	var r SessionSetupRequest
	if err := r.Decode(patch16(ss, 12, 0)); err != nil || r.SecurityBuffer != nil {
		t.Fatalf("%v %v", err, r.SecurityBuffer)
	}
	qi := encode(CmdQueryInfo, &QueryInfoRequest{})
	var q QueryInfoRequest
	if err := q.Decode(patch16(qi, 8, 0xFFFF)); err != nil {
		t.Fatal(err)
	}
}

func TestSMB1Rejections(t *testing.T) {
	good := capture(t, "smb1_negotiate")
	bad := map[string][]byte{
		"short":           good[:20],
		"not negotiate":   func() []byte { m := bytes.Clone(good); m[4] = 0x73; return m }(),
		"smb2 id":         func() []byte { m := bytes.Clone(good); m[0] = 0xFE; return m }(),
		"bytecount huge":  func() []byte { m := bytes.Clone(good); le.PutUint16(m[33:], 0xFFFF); return m }(),
		"no terminator":   good[:len(good)-1],
		"bad format byte": func() []byte { m := bytes.Clone(good); m[35] = 0x03; return m }(),
	}
	for name, m := range bad {
		if name == "no terminator" {
			// Shorten ByteCount too, so only the terminator is missing.
			m = bytes.Clone(m)
			le.PutUint16(m[33:], le.Uint16(m[33:])-1)
		}
		if _, err := DecodeSMB1Negotiate(m); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestContextHelperRejections(t *testing.T) {
	for name, err := range map[string]error{
		"preauth short":      func() error { _, e := DecodePreauthIntegrity([]byte{1, 0}); return e }(),
		"preauth huge count": func() error { _, e := DecodePreauthIntegrity([]byte{0xFF, 0xFF, 0, 0}); return e }(),
		"preauth huge salt":  func() error { _, e := DecodePreauthIntegrity([]byte{1, 0, 0xFF, 0xFF, 1, 0}); return e }(),
		"ciphers huge count": func() error { _, e := DecodeEncryptionCapabilities([]byte{0xFF, 0xFF, 1, 0}); return e }(),
		"signing empty":      func() error { _, e := DecodeSigningCapabilities(nil); return e }(),
		"compression short":  func() error { _, e := DecodeCompressionCapabilities([]byte{1, 0, 0, 0, 0, 0, 0, 0}); return e }(),
		"rdma short":         func() error { _, e := DecodeRDMATransformCapabilities([]byte{1, 0}); return e }(),
		"transport short":    func() error { _, e := DecodeTransportCapabilities([]byte{1}); return e }(),
		"netname odd":        func() error { _, e := DecodeNetname([]byte{'a'}); return e }(),
		"vni short":          func() error { _, e := DecodeValidateNegotiateInfoRequest(make([]byte, 23)); return e }(),
		"vni huge count": func() error {
			b := make([]byte, 26)
			b[22], b[23] = 0xFF, 0xFF
			_, e := DecodeValidateNegotiateInfoRequest(b)
			return e
		}(),
		"lease odd size": func() error { _, e := DecodeLease(make([]byte, 40)); return e }(),
		"DH2Q short":     func() error { _, e := DecodeDurableHandleRequestV2(make([]byte, 31)); return e }(),
		"DH2C short":     func() error { _, e := DecodeDurableHandleReconnectV2(make([]byte, 35)); return e }(),
		"QFid short":     func() error { _, e := DecodeQueryOnDiskID(make([]byte, 31)); return e }(),
		"AlSi short":     func() error { _, e := DecodeAllocationSize(make([]byte, 4)); return e }(),
	} {
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestWriteDecodeFixed(t *testing.T) {
	msg := encode(CmdWrite, &WriteRequest{Offset: 5, FileID: fid, Data: []byte("0123456789")})
	var w WriteRequest
	off, n, err := w.DecodeFixed(msg[:WriteRequestDataOffset], len(msg))
	if err != nil || off != WriteRequestDataOffset || n != 10 || w.Offset != 5 || w.FileID != fid || w.Data != nil {
		t.Fatalf("off %d n %d %+v %v", off, n, w, err)
	}
	if _, _, err := w.DecodeFixed(msg[:WriteRequestDataOffset], len(msg)-1); !errors.Is(err, ErrMalformed) {
		t.Errorf("data past announced message end accepted: %v", err)
	}
	if _, _, err := w.DecodeFixed(msg[:WriteRequestDataOffset-1], len(msg)); !errors.Is(err, ErrMalformed) {
		t.Errorf("short prefix accepted: %v", err)
	}
	if _, _, err := w.DecodeFixed(msg, 10); !errors.Is(err, ErrMalformed) {
		t.Errorf("msgLen below prefix accepted: %v", err)
	}
}
