package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// codec is implemented by every request and response type.
type codec interface {
	Decode(msg []byte) error
	AppendTo(b []byte) []byte
}

func hdr(cmd Command) []byte {
	h := Header{Command: cmd, MessageID: 7, SessionID: 0x1122, TreeID: 3}
	return h.AppendTo(make([]byte, 0, 512))
}

func encode(cmd Command, c codec) []byte { return c.AppendTo(hdr(cmd)) }

var guid = [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
var fid = FileID{Persistent: 0x0102030405060708, Volatile: 0x1112131415161718}

// roundTrips lists a populated value of every type with both directions;
// fresh returns an empty value of the same type to decode into.
func roundTrips() []struct {
	cmd   Command
	in    codec
	fresh func() codec
} {
	type rt = struct {
		cmd   Command
		in    codec
		fresh func() codec
	}
	return []rt{
		{CmdNegotiate, &NegotiateRequest{SecurityMode: 1, Capabilities: 0x7F, ClientGUID: guid, Dialects: []uint16{Dialect202, Dialect311},
			Contexts: []NegotiateContext{{ContextPreauthIntegrity, EncodePreauthIntegrity(PreauthIntegrity{[]uint16{HashSHA512}, bytes.Repeat([]byte{9}, 32)})}, {ContextSigning, []byte{1, 0, 2, 0}}, {ContextNetname, []byte{'a', 0, 'b', 0, 'c', 0}}}},
			func() codec { return &NegotiateRequest{} }},
		{CmdNegotiate, &NegotiateResponse{SecurityMode: 3, DialectRevision: Dialect311, ServerGUID: guid, Capabilities: 0x44, MaxTransactSize: 1 << 20, MaxReadSize: 1 << 20, MaxWriteSize: 1 << 20,
			SystemTime: 1 << 60, ServerStartTime: 5, SecurityBuffer: []byte{0x60, 1, 2},
			Contexts: []NegotiateContext{{ContextPreauthIntegrity, []byte{1, 0, 1, 0, 1, 0, 7}}, {ContextEncryption, []byte{1, 0, 2, 0}}}},
			func() codec { return &NegotiateResponse{} }},
		{CmdNegotiate, &NegotiateResponse{DialectRevision: Dialect202, SecurityBuffer: []byte{1}}, func() codec { return &NegotiateResponse{} }},
		{CmdSessionSetup, &SessionSetupRequest{Flags: SessionFlagBinding, SecurityMode: 2, Capabilities: 1, Channel: 0, PreviousSessionID: 99, SecurityBuffer: []byte("token")},
			func() codec { return &SessionSetupRequest{} }},
		{CmdSessionSetup, &SessionSetupResponse{SessionFlags: SessionFlagIsGuest, SecurityBuffer: []byte("blob")}, func() codec { return &SessionSetupResponse{} }},
		{CmdSessionSetup, &SessionSetupResponse{SessionFlags: SessionFlagEncryptData}, func() codec { return &SessionSetupResponse{} }},
		{CmdLogoff, &LogoffRequest{}, func() codec { return &LogoffRequest{} }},
		{CmdLogoff, &LogoffResponse{}, func() codec { return &LogoffResponse{} }},
		{CmdTreeConnect, &TreeConnectRequest{Path: `\\srv\share`}, func() codec { return &TreeConnectRequest{} }},
		{CmdTreeConnect, &TreeConnectRequest{Flags: TreeConnectFlagExtensionPresent, Path: `\\srv\vms`, Contexts: []TreeConnectContext{{Type: 1, Data: []byte{1, 2, 3}}}},
			func() codec { return &TreeConnectRequest{} }},
		{CmdTreeConnect, &TreeConnectResponse{ShareType: ShareTypeDisk, ShareFlags: ShareFlagEncryptData, Capabilities: ShareCapContinuousAvailability | ShareCapScaleout, MaximalAccess: FileAllAccess},
			func() codec { return &TreeConnectResponse{} }},
		{CmdTreeDisconnect, &TreeDisconnectRequest{}, func() codec { return &TreeDisconnectRequest{} }},
		{CmdTreeDisconnect, &TreeDisconnectResponse{}, func() codec { return &TreeDisconnectResponse{} }},
		{CmdEcho, &EchoRequest{}, func() codec { return &EchoRequest{} }},
		{CmdEcho, &EchoResponse{}, func() codec { return &EchoResponse{} }},
		{CmdCancel, &CancelRequest{}, func() codec { return &CancelRequest{} }},
		{CmdCreate, &ErrorResponse{ErrorData: []byte{1, 2, 3, 4}}, func() codec { return &ErrorResponse{} }},
		{CmdCreate, &ErrorResponse{}, func() codec { return &ErrorResponse{} }},
		{CmdCreate, &CreateRequest{RequestedOplockLevel: OplockLevelLease, ImpersonationLevel: 2, SmbCreateFlags: 0, DesiredAccess: GenericRead, FileAttributes: 0x80,
			ShareAccess: 7, CreateDisposition: FileOpenIf, CreateOptions: FileNonDirectoryFile, Name: `dir\файл.txt`,
			Contexts: []CreateContext{{Name: CreateContextMaximalAccess}, {Name: CreateContextRequestLease, Data: Lease{V2: true, LeaseState: 7, Epoch: 3}.Encode()}, {Name: CreateContextAppInstanceID, Data: make([]byte, 20)}}},
			func() codec { return &CreateRequest{} }},
		{CmdCreate, &CreateRequest{Name: ""}, func() codec { return &CreateRequest{} }},
		{CmdCreate, &CreateResponse{OplockLevel: OplockLevelBatch, Flags: 0, CreateAction: FileCreated, CreationTime: 1, LastAccessTime: 2, LastWriteTime: 3, ChangeTime: 4,
			AllocationSize: 4096, EndOfFile: 10, FileAttributes: 0x20, FileID: fid,
			Contexts: []CreateContext{{Name: CreateContextMaximalAccess, Data: EncodeMaximalAccessResponse(0, FileAllAccess)}, {Name: CreateContextQueryOnDiskID, Data: make([]byte, 32)}}},
			func() codec { return &CreateResponse{} }},
		{CmdClose, &CloseRequest{Flags: CloseFlagPostQueryAttrib, FileID: fid}, func() codec { return &CloseRequest{} }},
		{CmdClose, &CloseResponse{Flags: CloseFlagPostQueryAttrib, CreationTime: 1, LastAccessTime: 2, LastWriteTime: 3, ChangeTime: 4, AllocationSize: 5, EndOfFile: 6, FileAttributes: 7},
			func() codec { return &CloseResponse{} }},
		{CmdFlush, &FlushRequest{FileID: fid}, func() codec { return &FlushRequest{} }},
		{CmdFlush, &FlushResponse{}, func() codec { return &FlushResponse{} }},
		{CmdRead, &ReadRequest{Padding: 0x50, Flags: ReadFlagReadUnbuffered, Length: 1 << 20, Offset: 1 << 40, FileID: fid, MinimumCount: 1, Channel: ChannelRDMAV1, RemainingBytes: 3, ReadChannelInfo: []byte{1, 2, 3, 4}},
			func() codec { return &ReadRequest{} }},
		{CmdRead, &ReadResponse{DataLength: 5, DataRemaining: 0, Data: []byte("hello")}, func() codec { return &ReadResponse{} }},
		{CmdWrite, &WriteRequest{DataOffset: WriteRequestDataOffset, Offset: 77, FileID: fid, Flags: WriteFlagWriteThrough, Data: []byte("payload"), WriteChannelInfo: []byte{9, 9}},
			func() codec { return &WriteRequest{} }},
		{CmdWrite, &WriteResponse{Count: 7, Remaining: 1}, func() codec { return &WriteResponse{} }},
		{CmdLock, &LockRequest{LockSequenceNumber: 5, LockSequenceIndex: 64, FileID: fid, Locks: []LockElement{{0, 10, LockFlagExclusiveLock}, {20, 5, LockFlagUnlock}}},
			func() codec { return &LockRequest{} }},
		{CmdLock, &LockResponse{}, func() codec { return &LockResponse{} }},
		{CmdIoctl, &IoctlRequest{CtlCode: FsctlValidateNegotiateInfo, FileID: RelatedPlaceholder(), Input: []byte{1, 2}, Output: []byte{3}, MaxInputResponse: 0, MaxOutputResponse: 24, Flags: IoctlIsFsctl},
			func() codec { return &IoctlRequest{} }},
		{CmdIoctl, &IoctlResponse{CtlCode: FsctlPipeTransceive, FileID: fid, Output: []byte("out")}, func() codec { return &IoctlResponse{} }},
		{CmdQueryDirectory, &QueryDirectoryRequest{FileInformationClass: 37, Flags: QueryDirRestartScans, FileIndex: 0, FileID: fid, FileName: "*.txt", OutputBufferLength: 65536},
			func() codec { return &QueryDirectoryRequest{} }},
		{CmdQueryDirectory, &QueryDirectoryResponse{Buffer: []byte("entries")}, func() codec { return &QueryDirectoryResponse{} }},
		{CmdChangeNotify, &ChangeNotifyRequest{Flags: WatchTree, OutputBufferLength: 4096, FileID: fid, CompletionFilter: FileNotifyChangeFileName | FileNotifyChangeDirName},
			func() codec { return &ChangeNotifyRequest{} }},
		{CmdChangeNotify, &ChangeNotifyResponse{Buffer: []byte{1, 2, 3}}, func() codec { return &ChangeNotifyResponse{} }},
		{CmdQueryInfo, &QueryInfoRequest{InfoType: InfoSecurity, FileInfoClass: 0, OutputBufferLength: 4096, InputBuffer: []byte{5, 6}, AdditionalInformation: OwnerSecurityInformation | DACLSecurityInformation, Flags: SLRestartScan, FileID: fid},
			func() codec { return &QueryInfoRequest{} }},
		{CmdQueryInfo, &QueryInfoResponse{Buffer: []byte("info")}, func() codec { return &QueryInfoResponse{} }},
		{CmdSetInfo, &SetInfoRequest{InfoType: InfoFile, FileInfoClass: 20, Buffer: []byte{0, 1, 0, 0, 0, 0, 0, 0}, AdditionalInformation: 0, FileID: fid},
			func() codec { return &SetInfoRequest{} }},
		{CmdSetInfo, &SetInfoResponse{}, func() codec { return &SetInfoResponse{} }},
		{CmdOplockBreak, &OplockBreak{OplockLevel: OplockLevelII, FileID: fid}, func() codec { return &OplockBreak{} }},
		{CmdOplockBreak, &LeaseBreakNotification{NewEpoch: 2, Flags: LeaseBreakFlagAckRequired, LeaseKey: guid, CurrentLeaseState: 7, NewLeaseState: 1, BreakReason: 0, AccessMaskHint: 1, ShareMaskHint: 2},
			func() codec { return &LeaseBreakNotification{} }},
		{CmdOplockBreak, &LeaseBreakAckMsg{Flags: 0, LeaseKey: guid, LeaseState: LeaseReadCaching, LeaseDuration: 0}, func() codec { return &LeaseBreakAckMsg{} }},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range roundTrips() {
		msg := encode(tc.cmd, tc.in)
		out := tc.fresh()
		if err := out.Decode(msg); err != nil {
			t.Errorf("%T: decode of own encoding: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(tc.in, out) {
			t.Errorf("%T round trip:\n got %+v\nwant %+v", tc.in, out, tc.in)
		}
		// The encoding must also be stable: decode→encode gives the same bytes.
		if again := encode(tc.cmd, out); !bytes.Equal(again, msg) {
			t.Errorf("%T: re-encoding differs:\n%x\n%x", tc.in, again, msg)
		}
	}
}

// TestStructureSizeRejected flips the StructureSize of every encoded
// message and truncates it into the fixed part: both must fail with
// ErrMalformed and never panic.
func TestStructureSizeRejected(t *testing.T) {
	for _, tc := range roundTrips() {
		msg := encode(tc.cmd, tc.in)
		bad := bytes.Clone(msg)
		bad[HeaderSize]++
		if err := tc.fresh().Decode(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%T: StructureSize+1 gave %v", tc.in, err)
		}
		fixed := int(le.Uint16(msg[HeaderSize:]) &^ 1)
		if fixed > 2 {
			if err := tc.fresh().Decode(msg[:HeaderSize+fixed-1]); !errors.Is(err, ErrMalformed) {
				t.Errorf("%T: truncated fixed part gave %v", tc.in, err)
			}
		}
		if err := tc.fresh().Decode(msg[:HeaderSize]); !errors.Is(err, ErrMalformed) {
			t.Errorf("%T: header only gave %v", tc.in, err)
		}
	}
}
