package wire

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fuzzDecoders maps the first fuzz byte to a request decoder. Each entry
// also names a command so that seeds from captures land on their decoder.
var fuzzDecoders = []struct {
	cmd   Command
	fresh func() codec
}{
	{CmdNegotiate, func() codec { return &NegotiateRequest{} }},
	{CmdSessionSetup, func() codec { return &SessionSetupRequest{} }},
	{CmdLogoff, func() codec { return &LogoffRequest{} }},
	{CmdTreeConnect, func() codec { return &TreeConnectRequest{} }},
	{CmdTreeDisconnect, func() codec { return &TreeDisconnectRequest{} }},
	{CmdCreate, func() codec { return &CreateRequest{} }},
	{CmdClose, func() codec { return &CloseRequest{} }},
	{CmdFlush, func() codec { return &FlushRequest{} }},
	{CmdRead, func() codec { return &ReadRequest{} }},
	{CmdWrite, func() codec { return &WriteRequest{} }},
	{CmdLock, func() codec { return &LockRequest{} }},
	{CmdIoctl, func() codec { return &IoctlRequest{} }},
	{CmdCancel, func() codec { return &CancelRequest{} }},
	{CmdEcho, func() codec { return &EchoRequest{} }},
	{CmdQueryDirectory, func() codec { return &QueryDirectoryRequest{} }},
	{CmdChangeNotify, func() codec { return &ChangeNotifyRequest{} }},
	{CmdQueryInfo, func() codec { return &QueryInfoRequest{} }},
	{CmdSetInfo, func() codec { return &SetInfoRequest{} }},
	{CmdOplockBreak, func() codec { return &OplockBreak{} }},
	{CmdOplockBreak, func() codec { return &LeaseBreakAckMsg{} }},
	// Selectors past the command decoders reach the helpers that decode
	// nested structures of untrusted bytes (see fuzzHelpers).
}

const (
	selSMB1 = iota + 64
	selNegContexts
	selCreateContexts
	selContextHelpers
	selWriteFixed
	selHeader
)

// FuzzDecode feeds every request decoder. The first byte selects the
// decoder (byte mod the table size for commands, the sel constants for
// helpers), the rest is the message. Properties: no panic; a decoded
// request re-encodes to bytes that decode to the same value
// (decode→encode→decode stability).
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		sel, msg := data[0], data[1:]
		if int(sel) >= 64 {
			fuzzHelpers(t, sel, msg)
			return
		}
		d := fuzzDecoders[int(sel)%len(fuzzDecoders)]
		v := d.fresh()
		if err := v.Decode(msg); err != nil {
			return
		}
		if w, ok := v.(*WriteRequest); ok {
			w.DataOffset = WriteRequestDataOffset // the encoder always uses 0x70
		}
		enc := v.AppendTo(hdr(d.cmd))
		v2 := d.fresh()
		if err := v2.Decode(enc); err != nil {
			t.Fatalf("%T: re-encoded message does not decode: %v\n%x", v, err, enc)
		}
		if !reflect.DeepEqual(normalize(v), normalize(v2)) {
			t.Fatalf("%T unstable:\n%+v\n%+v", v, v, v2)
		}
	})
}

// normalize maps empty slices to nil so that equality means "same
// content"; the decoders alias msg and may return empty non-nil slices.
func normalize(v codec) codec {
	rv := reflect.ValueOf(v).Elem()
	for i := range rv.NumField() {
		f := rv.Field(i)
		if f.Kind() == reflect.Slice && f.Len() == 0 && f.CanSet() {
			f.Set(reflect.Zero(f.Type()))
		}
	}
	return v
}

func fuzzHelpers(t *testing.T, sel byte, msg []byte) {
	switch sel {
	case selSMB1:
		_, _ = DecodeSMB1Negotiate(msg)
	case selNegContexts:
		if len(msg) < 1 {
			return
		}
		cs, err := DecodeNegotiateContexts(msg[1:], int(msg[0]))
		if err != nil {
			return
		}
		enc := AppendNegotiateContexts(nil, cs)
		cs2, err := DecodeNegotiateContexts(enc, len(cs))
		if err != nil || len(cs2) != len(cs) {
			t.Fatalf("negotiate contexts unstable: %v", err)
		}
		for i := range cs {
			if cs[i].Type != cs2[i].Type || !bytes.Equal(cs[i].Data, cs2[i].Data) {
				t.Fatalf("negotiate context %d differs", i)
			}
		}
	case selCreateContexts:
		cs, err := DecodeCreateContexts(msg)
		if err != nil {
			return
		}
		cs2, err := DecodeCreateContexts(AppendCreateContexts(nil, cs))
		if err != nil || len(cs2) != len(cs) {
			t.Fatalf("create contexts unstable: %v", err)
		}
		for i := range cs {
			if cs[i].Name != cs2[i].Name || !bytes.Equal(cs[i].Data, cs2[i].Data) {
				t.Fatalf("create context %d differs", i)
			}
		}
	case selContextHelpers:
		_, _ = DecodePreauthIntegrity(msg)
		_, _ = DecodeEncryptionCapabilities(msg)
		_, _ = DecodeSigningCapabilities(msg)
		_, _ = DecodeCompressionCapabilities(msg)
		_, _ = DecodeNetname(msg)
		_, _ = DecodeTransportCapabilities(msg)
		_, _ = DecodeRDMATransformCapabilities(msg)
		_, _ = DecodeValidateNegotiateInfoRequest(msg)
		_, _, _ = DecodeMaximalAccessRequest(msg)
		_, _ = DecodeLease(msg)
		_, _ = DecodeDurableHandleRequestV2(msg)
		_, _ = DecodeDurableHandleReconnectV2(msg)
		_, _ = DecodeDurableHandleReconnect(msg)
		_, _ = DecodeAllocationSize(msg)
		_, _ = DecodeTimewarp(msg)
		_, _ = DecodeQueryOnDiskID(msg)
		_, _ = OplockBreakRequestKind(msg)
	case selWriteFixed:
		var w WriteRequest
		cut := len(msg) / 2
		off, n, err := w.DecodeFixed(msg[:cut], len(msg))
		if err == nil && n > 0 && (off < WriteRequestDataOffset || off+n > len(msg)) {
			t.Fatalf("DecodeFixed accepted data [%d,+%d) in %d bytes", off, n, len(msg))
		}
	case selHeader:
		_, _ = DecodeHeader(msg)
	}
}

// fuzzSeeds builds the corpus: every capture under its decoder's selector,
// every round-trip request encoding, and the helper inputs.
func fuzzSeeds(f *testing.F) [][]byte {
	sel := func(cmd Command) byte {
		for i, d := range fuzzDecoders {
			if d.cmd == cmd {
				return byte(i)
			}
		}
		return 0
	}
	var seeds [][]byte
	files, _ := filepath.Glob("testdata/captures/*.bin")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if strings.HasPrefix(filepath.Base(p), "smb1") {
			seeds = append(seeds, append([]byte{selSMB1}, b...))
			continue
		}
		h, err := DecodeHeader(b)
		if err != nil {
			f.Fatal(p, err)
		}
		seeds = append(seeds, append([]byte{sel(h.Command)}, b...))
		seeds = append(seeds, append([]byte{selHeader}, b...))
	}
	for i, d := range fuzzDecoders {
		for _, tc := range roundTrips() {
			if reflect.TypeOf(tc.in) == reflect.TypeOf(d.fresh()) {
				seeds = append(seeds, append([]byte{byte(i)}, encode(d.cmd, tc.in)...))
			}
		}
	}
	cc := AppendCreateContexts(nil, []CreateContext{{Name: "MxAc"}, {Name: "RqLs", Data: Lease{V2: true}.Encode()}, {Name: CreateContextAppInstanceID, Data: make([]byte, 20)}})
	seeds = append(seeds, append([]byte{selCreateContexts}, cc...))
	nc := AppendNegotiateContexts(nil, []NegotiateContext{{1, []byte{1, 0, 2, 0, 1, 0, 9, 9}}, {2, []byte{1, 0, 2, 0}}})
	seeds = append(seeds, append([]byte{selNegContexts, 2}, nc...))
	seeds = append(seeds, append([]byte{selContextHelpers}, Lease{V2: true, Epoch: 1}.Encode()...))
	seeds = append(seeds, append([]byte{selWriteFixed}, encode(CmdWrite, &WriteRequest{Data: make([]byte, 64)})...))
	return seeds
}
