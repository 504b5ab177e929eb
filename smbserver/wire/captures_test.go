package wire

import (
	"bytes"
	"os"
	"reflect"
	"slices"
	"testing"
)

// The files in testdata/captures are single SMB2 messages (or one SMB1
// frame) sent by smbclient 4.x to Samba smbd on loopback, split out of
// their direct-TCP frames and compounds. They pin the decoders to what a
// real client sends.

func capture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/captures/" + name + ".bin")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCaptureNegotiate311(t *testing.T) {
	var r NegotiateRequest
	if err := r.Decode(capture(t, "negotiate_311")); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Dialects, []uint16{Dialect202, Dialect210, Dialect300, Dialect302, Dialect311}) {
		t.Errorf("Dialects = %#x", r.Dialects)
	}
	if r.SecurityMode != NegotiateSigningEnabled || r.Capabilities != 0x7F {
		t.Errorf("SecurityMode %#x Capabilities %#x", r.SecurityMode, r.Capabilities)
	}
	var types []uint16
	for _, c := range r.Contexts {
		types = append(types, c.Type)
	}
	if !slices.Equal(types, []uint16{ContextPreauthIntegrity, ContextEncryption, ContextSigning, ContextNetname}) {
		t.Fatalf("context types %v", types)
	}
	p, err := DecodePreauthIntegrity(r.Contexts[0].Data)
	if err != nil || !slices.Equal(p.HashAlgorithms, []uint16{HashSHA512}) || len(p.Salt) != 32 {
		t.Errorf("preauth %+v %v", p, err)
	}
	e, err := DecodeEncryptionCapabilities(r.Contexts[1].Data)
	if err != nil || !slices.Equal(e.Ciphers, []uint16{CipherAES128GCM, CipherAES128CCM, CipherAES256GCM, CipherAES256CCM}) {
		t.Errorf("ciphers %#x %v", e.Ciphers, err)
	}
	s, err := DecodeSigningCapabilities(r.Contexts[2].Data)
	if err != nil || !slices.Equal(s.SigningAlgorithms, []uint16{SigningAESGMAC, SigningAESCMAC, SigningHMACSHA256}) {
		t.Errorf("signing %#x %v", s.SigningAlgorithms, err)
	}
	if name, err := DecodeNetname(r.Contexts[3].Data); err != nil || name != "127.0.0.1" {
		t.Errorf("netname %q %v", name, err)
	}
}

func TestCaptureNegotiate202(t *testing.T) {
	// The SMB2 NEGOTIATE that follows an SMB1 multi-protocol negotiate.
	var r NegotiateRequest
	if err := r.Decode(capture(t, "negotiate_202")); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Dialects, []uint16{Dialect202}) || r.Contexts != nil {
		t.Errorf("%+v", r)
	}
}

func TestCaptureSMB1Negotiate(t *testing.T) {
	frame := capture(t, "smb1_negotiate")
	if !IsSMB1Negotiate(frame) {
		t.Fatal("not recognised")
	}
	d, err := DecodeSMB1Negotiate(frame)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"NT LANMAN 1.0", "NT LM 0.12", SMB1DialectSMB2002, SMB1DialectSMB2Wildcard}
	if !slices.Equal(d, want) {
		t.Errorf("dialects %q", d)
	}
}

func TestCaptureSessionSetup(t *testing.T) {
	var r SessionSetupRequest
	if err := r.Decode(capture(t, "session_setup_negotiate")); err != nil {
		t.Fatal(err)
	}
	// SPNEGO NegTokenInit is an [APPLICATION 0] GSS-API token (0x60).
	if len(r.SecurityBuffer) != 74 || r.SecurityBuffer[0] != 0x60 || r.SecurityMode != NegotiateSigningEnabled || r.Capabilities != GlobalCapDFS {
		t.Errorf("%+v", r)
	}
	if err := r.Decode(capture(t, "session_setup_auth")); err != nil {
		t.Fatal(err)
	}
	// NegTokenResp is context tag [1] (0xa1).
	if len(r.SecurityBuffer) != 418 || r.SecurityBuffer[0] != 0xa1 || r.PreviousSessionID != 0 {
		t.Errorf("len %d first %#x", len(r.SecurityBuffer), r.SecurityBuffer[0])
	}
}

func TestCaptureTreeConnect(t *testing.T) {
	var r TreeConnectRequest
	if err := r.Decode(capture(t, "tree_connect")); err != nil {
		t.Fatal(err)
	}
	if r.Path != `\\127.0.0.1\IPC$` || r.Flags != 0 {
		t.Errorf("%+v", r)
	}
	var d TreeDisconnectRequest
	if err := d.Decode(capture(t, "tree_disconnect")); err != nil {
		t.Fatal(err)
	}
}

func TestCaptureCreate(t *testing.T) {
	var r CreateRequest
	if err := r.Decode(capture(t, "create")); err != nil {
		t.Fatal(err)
	}
	want := CreateRequest{ImpersonationLevel: ImpersonationImpersonation, DesiredAccess: 0x0012019F,
		ShareAccess: FileShareRead | FileShareWrite, CreateDisposition: FileOverwriteIf,
		CreateOptions: FileNonDirectoryFile, Name: "x"}
	if !equalCreate(r, want) {
		t.Errorf("got %+v", r)
	}
}

func equalCreate(a, b CreateRequest) bool {
	if len(a.Contexts) != len(b.Contexts) {
		return false
	}
	for i := range a.Contexts {
		if a.Contexts[i].Name != b.Contexts[i].Name || !bytes.Equal(a.Contexts[i].Data, b.Contexts[i].Data) {
			return false
		}
	}
	a.Contexts, b.Contexts = nil, nil
	return reflect.DeepEqual(a, b)
}

func TestCaptureFileIO(t *testing.T) {
	var cl CloseRequest
	if err := cl.Decode(capture(t, "close")); err != nil || cl.FileID != (FileID{899997194, 1938312628}) {
		t.Errorf("close %+v %v", cl, err)
	}
	var r ReadRequest
	if err := r.Decode(capture(t, "read")); err != nil || r.Length != 6 || r.Offset != 0 || r.FileID != (FileID{1219376450, 1502514865}) {
		t.Errorf("read %+v %v", r, err)
	}
	var w WriteRequest
	if err := w.Decode(capture(t, "write")); err != nil || string(w.Data) != "hello\n" || w.DataOffset != WriteRequestDataOffset {
		t.Errorf("write %+v %v", w, err)
	}
	var qd QueryDirectoryRequest
	if err := qd.Decode(capture(t, "query_directory")); err != nil || qd.FileName != "*" || qd.FileInformationClass != 37 || qd.OutputBufferLength != 8<<20 {
		t.Errorf("query_directory %+v %v", qd, err)
	}
	var qi QueryInfoRequest
	if err := qi.Decode(capture(t, "query_info")); err != nil || qi.InfoType != InfoFilesystem || qi.FileInfoClass != 3 || qi.OutputBufferLength != 65535 {
		t.Errorf("query_info %+v %v", qi, err)
	}
	var si SetInfoRequest
	// FileDispositionInformation (class 13) with DeletePending = 1.
	if err := si.Decode(capture(t, "set_info")); err != nil || si.InfoType != InfoFile || si.FileInfoClass != 13 || !bytes.Equal(si.Buffer, []byte{1}) {
		t.Errorf("set_info %+v %v", si, err)
	}
}

func TestCaptureIoctl(t *testing.T) {
	var r IoctlRequest
	if err := r.Decode(capture(t, "ioctl_dfs_referral")); err != nil {
		t.Fatal(err)
	}
	if r.CtlCode != FsctlDfsGetReferrals || !r.FileID.IsRelatedPlaceholder() || r.Flags != IoctlIsFsctl || r.MaxOutputResponse != 65535 {
		t.Errorf("%+v", r)
	}
	// REQ_GET_DFS_REFERRAL: MaxReferralLevel 3, then the UTF-16 path.
	if len(r.Input) != 36 || le.Uint16(r.Input) != 3 {
		t.Errorf("input %x", r.Input)
	}
	if p, _ := DecodeUTF16(r.Input[2 : len(r.Input)-2]); p != `\127.0.0.1\share` {
		t.Errorf("path %q", p)
	}
	if err := r.Decode(capture(t, "ioctl_enum_snapshots")); err != nil || r.CtlCode != FsctlSrvEnumerateSnapshots || r.Input != nil {
		t.Errorf("%+v %v", r, err)
	}
}
