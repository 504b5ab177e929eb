package wire

// Oplock levels ([MS-SMB2] 2.2.13).
const (
	OplockLevelNone      uint8 = 0x00
	OplockLevelII        uint8 = 0x01
	OplockLevelExclusive uint8 = 0x08
	OplockLevelBatch     uint8 = 0x09
	OplockLevelLease     uint8 = 0xFF
)

// ImpersonationLevel values ([MS-SMB2] 2.2.13).
const (
	ImpersonationAnonymous      uint32 = 0
	ImpersonationIdentification uint32 = 1
	ImpersonationImpersonation  uint32 = 2
	ImpersonationDelegate       uint32 = 3
)

// ShareAccess bits ([MS-SMB2] 2.2.13).
const (
	FileShareRead   uint32 = 0x01
	FileShareWrite  uint32 = 0x02
	FileShareDelete uint32 = 0x04
)

// CreateDisposition values ([MS-SMB2] 2.2.13).
const (
	FileSupersede   uint32 = 0
	FileOpen        uint32 = 1
	FileCreate      uint32 = 2
	FileOpenIf      uint32 = 3
	FileOverwrite   uint32 = 4
	FileOverwriteIf uint32 = 5
)

// CreateOptions bits ([MS-SMB2] 2.2.13).
const (
	FileDirectoryFile           uint32 = 0x00000001
	FileWriteThrough            uint32 = 0x00000002
	FileSequentialOnly          uint32 = 0x00000004
	FileNoIntermediateBuffering uint32 = 0x00000008
	FileSynchronousIOAlert      uint32 = 0x00000010
	FileSynchronousIONonalert   uint32 = 0x00000020
	FileNonDirectoryFile        uint32 = 0x00000040
	FileCompleteIfOplocked      uint32 = 0x00000100
	FileNoEAKnowledge           uint32 = 0x00000200
	FileRandomAccess            uint32 = 0x00000800
	FileDeleteOnClose           uint32 = 0x00001000
	FileOpenByFileID            uint32 = 0x00002000
	FileOpenForBackupIntent     uint32 = 0x00004000
	FileNoCompression           uint32 = 0x00008000
	FileOpenRemoteInstance      uint32 = 0x00000400
	FileOpenRequiringOplock     uint32 = 0x00010000
	FileDisallowExclusive       uint32 = 0x00020000
	FileReserveOpfilter         uint32 = 0x00100000
	FileOpenReparsePoint        uint32 = 0x00200000
	FileOpenNoRecall            uint32 = 0x00400000
	FileOpenForFreeSpaceQuery   uint32 = 0x00800000
)

// CreateAction values ([MS-SMB2] 2.2.14).
const (
	FileSuperseded  uint32 = 0
	FileOpened      uint32 = 1
	FileCreated     uint32 = 2
	FileOverwritten uint32 = 3
)

// CREATE response Flags ([MS-SMB2] 2.2.14).
const CreateFlagReparsePoint uint8 = 0x01

const (
	createRequestFixed  = 56 // StructureSize 57 less the buffer byte
	createResponseFixed = 88 // StructureSize 89 less the buffer byte
)

// CreateRequest is the SMB2 CREATE request ([MS-SMB2] 2.2.13). Name is
// the path relative to the share, decoded from UTF-16. Contexts alias the
// message.
type CreateRequest struct {
	SecurityFlags        uint8
	RequestedOplockLevel uint8
	ImpersonationLevel   uint32
	SmbCreateFlags       uint64
	DesiredAccess        uint32
	FileAttributes       uint32
	ShareAccess          uint32
	CreateDisposition    uint32
	CreateOptions        uint32
	Name                 string
	Contexts             []CreateContext
}

// Decode decodes a CREATE request from msg (header included).
func (r *CreateRequest) Decode(msg []byte) error {
	body, err := Body(msg, createRequestFixed+1)
	if err != nil {
		return err
	}
	r.SecurityFlags = body[2]
	r.RequestedOplockLevel = body[3]
	r.ImpersonationLevel = le.Uint32(body[4:])
	r.SmbCreateFlags = le.Uint64(body[8:])
	r.DesiredAccess = le.Uint32(body[24:])
	r.FileAttributes = le.Uint32(body[28:])
	r.ShareAccess = le.Uint32(body[32:])
	r.CreateDisposition = le.Uint32(body[36:])
	r.CreateOptions = le.Uint32(body[40:])
	nameOff, nameLen := le.Uint16(body[44:]), le.Uint16(body[46:])
	ctxOff, ctxLen := le.Uint32(body[48:]), le.Uint32(body[52:])
	minOff := HeaderSize + createRequestFixed
	name, err := Region(msg, uint32(nameOff), uint32(nameLen), minOff)
	if err != nil {
		return wrapField("Name", err)
	}
	if r.Name, err = decodeUTF16(name); err != nil {
		return wrapField("Name", err)
	}
	chain, err := Region(msg, ctxOff, ctxLen, minOff)
	if err != nil {
		return wrapField("CreateContexts", err)
	}
	r.Contexts, err = DecodeCreateContexts(chain)
	return err
}

// AppendTo appends the request body to b (which holds the header).
func (r *CreateRequest) AppendTo(b []byte) []byte {
	base := len(b) - HeaderSize
	n := utf16Len(r.Name)
	b = appendU16(b, createRequestFixed+1)
	b = append(b, r.SecurityFlags, r.RequestedOplockLevel)
	b = appendU32(b, r.ImpersonationLevel)
	b = appendU64(b, r.SmbCreateFlags)
	b = appendU64(b, 0)
	b = appendU32(b, r.DesiredAccess)
	b = appendU32(b, r.FileAttributes)
	b = appendU32(b, r.ShareAccess)
	b = appendU32(b, r.CreateDisposition)
	b = appendU32(b, r.CreateOptions)
	b = appendU16(b, uint16(HeaderSize+createRequestFixed)) // Windows sets it even for an empty name
	b = appendU16(b, uint16(n))
	ctxField := len(b)
	b = appendU64(b, 0)
	b = appendUTF16(b, r.Name)
	if len(r.Contexts) > 0 {
		b = pad8From(b, base)
		start := len(b)
		b = AppendCreateContexts(b, r.Contexts)
		le.PutUint32(b[ctxField:], uint32(start-base))
		le.PutUint32(b[ctxField+4:], uint32(len(b)-start))
	} else if n == 0 {
		b = append(b, 0)
	}
	return b
}

// CreateResponse is the SMB2 CREATE response ([MS-SMB2] 2.2.14). Times are
// FILETIMEs.
type CreateResponse struct {
	OplockLevel    uint8
	Flags          uint8
	CreateAction   uint32
	CreationTime   uint64
	LastAccessTime uint64
	LastWriteTime  uint64
	ChangeTime     uint64
	AllocationSize uint64
	EndOfFile      uint64
	FileAttributes uint32
	FileID         FileID
	Contexts       []CreateContext
}

// AppendTo appends the response body to b, which holds the header.
func (r *CreateResponse) AppendTo(b []byte) []byte {
	base := len(b) - HeaderSize
	b = appendU16(b, createResponseFixed+1)
	b = append(b, r.OplockLevel, r.Flags)
	b = appendU32(b, r.CreateAction)
	b = appendU64(b, r.CreationTime)
	b = appendU64(b, r.LastAccessTime)
	b = appendU64(b, r.LastWriteTime)
	b = appendU64(b, r.ChangeTime)
	b = appendU64(b, r.AllocationSize)
	b = appendU64(b, r.EndOfFile)
	b = appendU32(b, r.FileAttributes)
	b = appendU32(b, 0)
	b = r.FileID.AppendTo(b)
	ctxField := len(b)
	b = appendU64(b, 0)
	if len(r.Contexts) == 0 {
		return append(b, 0)
	}
	b = pad8From(b, base) // 152 is already aligned; kept for safety
	start := len(b)
	b = AppendCreateContexts(b, r.Contexts)
	le.PutUint32(b[ctxField:], uint32(start-base))
	le.PutUint32(b[ctxField+4:], uint32(len(b)-start))
	return b
}

// Decode decodes a CREATE response from msg (header included).
func (r *CreateResponse) Decode(msg []byte) error {
	body, err := Body(msg, createResponseFixed+1)
	if err != nil {
		return err
	}
	r.OplockLevel = body[2]
	r.Flags = body[3]
	r.CreateAction = le.Uint32(body[4:])
	r.CreationTime = le.Uint64(body[8:])
	r.LastAccessTime = le.Uint64(body[16:])
	r.LastWriteTime = le.Uint64(body[24:])
	r.ChangeTime = le.Uint64(body[32:])
	r.AllocationSize = le.Uint64(body[40:])
	r.EndOfFile = le.Uint64(body[48:])
	r.FileAttributes = le.Uint32(body[56:])
	r.FileID = DecodeFileID(body[64:])
	chain, err := Region(msg, le.Uint32(body[80:]), le.Uint32(body[84:]), HeaderSize+createResponseFixed)
	if err != nil {
		return wrapField("CreateContexts", err)
	}
	r.Contexts, err = DecodeCreateContexts(chain)
	return err
}
