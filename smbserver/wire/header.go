package wire

// HeaderSize is the size of the SMB2 packet header ([MS-SMB2] 2.2.1).
const HeaderSize = 64

// ProtocolID is the first four bytes of every SMB2 header: 0xFE 'S' 'M' 'B'.
const ProtocolID uint32 = 0x424D53FE

// Command is an SMB2 command code ([MS-SMB2] 2.2.1.2).
type Command uint16

// SMB2 command codes.
const (
	CmdNegotiate      Command = 0x0000
	CmdSessionSetup   Command = 0x0001
	CmdLogoff         Command = 0x0002
	CmdTreeConnect    Command = 0x0003
	CmdTreeDisconnect Command = 0x0004
	CmdCreate         Command = 0x0005
	CmdClose          Command = 0x0006
	CmdFlush          Command = 0x0007
	CmdRead           Command = 0x0008
	CmdWrite          Command = 0x0009
	CmdLock           Command = 0x000A
	CmdIoctl          Command = 0x000B
	CmdCancel         Command = 0x000C
	CmdEcho           Command = 0x000D
	CmdQueryDirectory Command = 0x000E
	CmdChangeNotify   Command = 0x000F
	CmdQueryInfo      Command = 0x0010
	CmdSetInfo        Command = 0x0011
	CmdOplockBreak    Command = 0x0012
	// NumCommands bounds the command table.
	NumCommands = 0x0013
)

var commandNames = [NumCommands]string{
	"NEGOTIATE", "SESSION_SETUP", "LOGOFF", "TREE_CONNECT", "TREE_DISCONNECT",
	"CREATE", "CLOSE", "FLUSH", "READ", "WRITE", "LOCK", "IOCTL", "CANCEL",
	"ECHO", "QUERY_DIRECTORY", "CHANGE_NOTIFY", "QUERY_INFO", "SET_INFO",
	"OPLOCK_BREAK",
}

func (c Command) String() string {
	if int(c) < len(commandNames) {
		return commandNames[c]
	}
	return "UNKNOWN"
}

// HeaderFlags are the Flags field of the SMB2 header.
type HeaderFlags uint32

// Header flags ([MS-SMB2] 2.2.1.2).
const (
	FlagServerToRedir   HeaderFlags = 0x00000001
	FlagAsyncCommand    HeaderFlags = 0x00000002
	FlagRelatedOps      HeaderFlags = 0x00000004
	FlagSigned          HeaderFlags = 0x00000008
	FlagPriorityMask    HeaderFlags = 0x00000070
	FlagDFSOperations   HeaderFlags = 0x10000000
	FlagReplayOperation HeaderFlags = 0x20000000
)

// Header is the 64-byte SMB2 header, sync or async form ([MS-SMB2] 2.2.1.1,
// 2.2.1.2). For requests in dialect 3.x, Status carries ChannelSequence in
// its low 16 bits.
type Header struct {
	CreditCharge uint16
	Status       uint32
	Command      Command
	Credits      uint16 // CreditRequest in requests, CreditResponse in responses
	Flags        HeaderFlags
	NextCommand  uint32
	MessageID    uint64
	AsyncID      uint64 // valid when Flags has FlagAsyncCommand
	TreeID       uint32 // valid when Flags lacks FlagAsyncCommand
	SessionID    uint64
	Signature    [16]byte
}

// Offsets of header fields that the pipeline patches in place (or, for
// OffCommand, peeks at before decoding).
const (
	OffStatus      = 8
	OffCommand     = 12
	OffCredits     = 14
	OffFlags       = 16
	OffNextCommand = 20
	OffMessageID   = 24
	OffSessionID   = 40
	OffSignature   = 48
)

// ChannelSequence returns the ChannelSequence of a 3.x request.
func (h *Header) ChannelSequence() uint16 { return uint16(h.Status) }

// IsAsync reports whether the header is the async form.
func (h *Header) IsAsync() bool { return h.Flags&FlagAsyncCommand != 0 }

// DecodeHeader decodes the SMB2 header at the start of b.
func DecodeHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, malformed("header needs %d bytes, have %d", HeaderSize, len(b))
	}
	if le.Uint32(b) != ProtocolID {
		return h, malformed("bad protocol id %#x", le.Uint32(b))
	}
	if le.Uint16(b[4:]) != HeaderSize {
		return h, malformed("header StructureSize %d", le.Uint16(b[4:]))
	}
	h.CreditCharge = le.Uint16(b[6:])
	h.Status = le.Uint32(b[8:])
	h.Command = Command(le.Uint16(b[12:]))
	h.Credits = le.Uint16(b[14:])
	h.Flags = HeaderFlags(le.Uint32(b[16:]))
	h.NextCommand = le.Uint32(b[20:])
	h.MessageID = le.Uint64(b[24:])
	if h.Flags&FlagAsyncCommand != 0 {
		h.AsyncID = le.Uint64(b[32:])
	} else {
		h.TreeID = le.Uint32(b[36:])
	}
	h.SessionID = le.Uint64(b[40:])
	copy(h.Signature[:], b[48:64])
	return h, nil
}

// AppendTo appends the 64-byte encoding of h to b.
func (h *Header) AppendTo(b []byte) []byte {
	b = appendU32(b, ProtocolID)
	b = appendU16(b, HeaderSize)
	b = appendU16(b, h.CreditCharge)
	b = appendU32(b, h.Status)
	b = appendU16(b, uint16(h.Command))
	b = appendU16(b, h.Credits)
	b = appendU32(b, uint32(h.Flags))
	b = appendU32(b, h.NextCommand)
	b = appendU64(b, h.MessageID)
	if h.Flags&FlagAsyncCommand != 0 {
		b = appendU64(b, h.AsyncID)
	} else {
		b = appendU32(b, 0) // Reserved (ProcessId)
		b = appendU32(b, h.TreeID)
	}
	b = appendU64(b, h.SessionID)
	return append(b, h.Signature[:]...)
}
