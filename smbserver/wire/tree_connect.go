package wire

// TREE_CONNECT request Flags, 3.1.1 only ([MS-SMB2] 2.2.9).
const (
	TreeConnectFlagClusterReconnect = 0x0001
	TreeConnectFlagRedirectToOwner  = 0x0002
	TreeConnectFlagExtensionPresent = 0x0004
)

// ShareType values ([MS-SMB2] 2.2.10).
const (
	ShareTypeDisk  uint8 = 0x01
	ShareTypePipe  uint8 = 0x02
	ShareTypePrint uint8 = 0x03
)

// ShareFlags values ([MS-SMB2] 2.2.10).
const (
	ShareFlagManualCaching          uint32 = 0x00000000
	ShareFlagAutoCaching            uint32 = 0x00000010
	ShareFlagVDOCaching             uint32 = 0x00000020
	ShareFlagNoCaching              uint32 = 0x00000030
	ShareFlagDFS                    uint32 = 0x00000001
	ShareFlagDFSRoot                uint32 = 0x00000002
	ShareFlagRestrictExclusiveOpens uint32 = 0x00000100
	ShareFlagForceSharedDelete      uint32 = 0x00000200
	ShareFlagAllowNamespaceCaching  uint32 = 0x00000400
	ShareFlagAccessBasedDirEnum     uint32 = 0x00000800
	ShareFlagForceLevelIIOplock     uint32 = 0x00001000
	ShareFlagEnableHashV1           uint32 = 0x00002000
	ShareFlagEnableHashV2           uint32 = 0x00004000
	ShareFlagEncryptData            uint32 = 0x00008000
	ShareFlagIdentityRemoting       uint32 = 0x00040000
	ShareFlagCompressData           uint32 = 0x00100000
	ShareFlagIsolatedTransport      uint32 = 0x00200000
)

// Share Capabilities values ([MS-SMB2] 2.2.10).
const (
	ShareCapDFS                    uint32 = 0x00000008
	ShareCapContinuousAvailability uint32 = 0x00000010
	ShareCapScaleout               uint32 = 0x00000020
	ShareCapCluster                uint32 = 0x00000040
	ShareCapAsymmetric             uint32 = 0x00000080
	ShareCapRedirectToOwner        uint32 = 0x00000100
)

// Access mask bits used in MaximalAccess and DesiredAccess ([MS-SMB2]
// 2.2.13.1.1, [MS-DTYP] 2.4.3).
const (
	FileReadData         uint32 = 0x00000001
	FileWriteData        uint32 = 0x00000002
	FileAppendData       uint32 = 0x00000004
	FileReadEA           uint32 = 0x00000008
	FileWriteEA          uint32 = 0x00000010
	FileExecute          uint32 = 0x00000020
	FileDeleteChild      uint32 = 0x00000040
	FileReadAttributes   uint32 = 0x00000080
	FileWriteAttributes  uint32 = 0x00000100
	AccessDelete         uint32 = 0x00010000
	AccessReadControl    uint32 = 0x00020000
	AccessWriteDAC       uint32 = 0x00040000
	AccessWriteOwner     uint32 = 0x00080000
	AccessSynchronize    uint32 = 0x00100000
	AccessSystemSecurity uint32 = 0x01000000
	MaximumAllowed       uint32 = 0x02000000
	GenericAll           uint32 = 0x10000000
	GenericExecute       uint32 = 0x20000000
	GenericWrite         uint32 = 0x40000000
	GenericRead          uint32 = 0x80000000
	// FileAllAccess is every specific and standard right a file can grant.
	FileAllAccess uint32 = 0x001F01FF
)

const (
	treeConnectRequestFixed  = 8  // StructureSize 9 less the buffer byte
	treeConnectExtensionSize = 16 // [MS-SMB2] 2.2.9.1 before PathName
	treeConnectResponseSize  = 16
)

// TreeConnectContext is one SMB2_TREE_CONNECT_CONTEXT ([MS-SMB2] 2.2.9.2);
// it has the same layout as a negotiate context.
type TreeConnectContext = NegotiateContext

// TreeConnectRequest is the SMB2 TREE_CONNECT request ([MS-SMB2] 2.2.9).
// With TreeConnectFlagExtensionPresent (3.1.1) the Buffer begins with the
// request extension of 2.2.9.1 and PathOffset/PathLength locate PathName
// inside it; Contexts holds its tree connect contexts.
type TreeConnectRequest struct {
	Flags    uint16
	Path     string
	Contexts []TreeConnectContext
}

// Decode decodes a TREE_CONNECT request from msg (header included).
func (r *TreeConnectRequest) Decode(msg []byte) error {
	body, err := Body(msg, treeConnectRequestFixed+1)
	if err != nil {
		return err
	}
	r.Flags = le.Uint16(body[2:])
	pathOff, pathLen := le.Uint16(body[4:]), le.Uint16(body[6:])
	minOff := HeaderSize + treeConnectRequestFixed
	r.Contexts = nil
	if r.Flags&TreeConnectFlagExtensionPresent != 0 {
		if len(body) < treeConnectRequestFixed+treeConnectExtensionSize {
			return malformed("TREE_CONNECT extension truncated")
		}
		ext := body[treeConnectRequestFixed:]
		ctxOff := int(le.Uint32(ext))
		ctxCount := int(le.Uint16(ext[4:]))
		minOff += treeConnectExtensionSize
		if ctxCount > 0 {
			// TreeConnectContextOffset counts from the start of the
			// TREE_CONNECT request, i.e. from the end of the header.
			if ctxOff < minOff-HeaderSize || ctxOff > len(body) {
				return malformed("TreeConnectContextOffset %d invalid", ctxOff)
			}
			if r.Contexts, err = DecodeNegotiateContexts(body[ctxOff:], ctxCount); err != nil {
				return wrapField("TreeConnectContexts", err)
			}
		}
	}
	p, err := Region(msg, uint32(pathOff), uint32(pathLen), minOff)
	if err != nil {
		return wrapField("Path", err)
	}
	r.Path, err = decodeUTF16(p)
	return wrapFieldErr("Path", err)
}

// AppendTo appends the request body to b. With
// TreeConnectFlagExtensionPresent set it writes the 2.2.9.1 extension:
// PathName right after the 16-byte extension header, then the contexts at
// the next 8-byte boundary.
func (r *TreeConnectRequest) AppendTo(b []byte) []byte {
	base := len(b) - HeaderSize
	n := utf16Len(r.Path)
	ext := r.Flags&TreeConnectFlagExtensionPresent != 0
	b = appendU16(b, treeConnectRequestFixed+1)
	b = appendU16(b, r.Flags)
	pathOff := bufOffset(n, HeaderSize+treeConnectRequestFixed)
	if ext {
		pathOff = HeaderSize + treeConnectRequestFixed + treeConnectExtensionSize
	}
	b = appendU16(b, pathOff)
	b = appendU16(b, uint16(n))
	if !ext {
		if n == 0 {
			return append(b, 0)
		}
		return appendUTF16(b, r.Path)
	}
	extField := len(b)
	b = append(b, make([]byte, treeConnectExtensionSize)...)
	b = appendUTF16(b, r.Path)
	if len(r.Contexts) > 0 {
		b = pad8From(b, base)
		le.PutUint32(b[extField:], uint32(len(b)-base-HeaderSize))
		le.PutUint16(b[extField+4:], uint16(len(r.Contexts)))
		b = appendNegotiateContextsFrom(b, base, r.Contexts)
	}
	return b
}

// TreeConnectResponse is the SMB2 TREE_CONNECT response ([MS-SMB2] 2.2.10).
type TreeConnectResponse struct {
	ShareType     uint8
	ShareFlags    uint32
	Capabilities  uint32
	MaximalAccess uint32
}

// AppendTo appends the response body to b, which holds the header.
func (r *TreeConnectResponse) AppendTo(b []byte) []byte {
	b = appendU16(b, treeConnectResponseSize)
	b = append(b, r.ShareType, 0)
	b = appendU32(b, r.ShareFlags)
	b = appendU32(b, r.Capabilities)
	return appendU32(b, r.MaximalAccess)
}

// Decode decodes a TREE_CONNECT response from msg (header included).
func (r *TreeConnectResponse) Decode(msg []byte) error {
	body, err := Body(msg, treeConnectResponseSize)
	if err != nil {
		return err
	}
	r.ShareType = body[2]
	r.ShareFlags = le.Uint32(body[4:])
	r.Capabilities = le.Uint32(body[8:])
	r.MaximalAccess = le.Uint32(body[12:])
	return nil
}

// wrapFieldErr is wrapField that passes a nil error through.
func wrapFieldErr(field string, err error) error {
	if err == nil {
		return nil
	}
	return wrapField(field, err)
}
