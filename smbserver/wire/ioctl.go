package wire

// IoctlIsFsctl marks an FSCTL (as opposed to an IOCTL) in the IOCTL
// request Flags ([MS-SMB2] 2.2.31).
const IoctlIsFsctl uint32 = 0x00000001

// FSCTL and IOCTL codes the server recognises ([MS-SMB2] 2.2.31,
// [MS-FSCC] 2.3).
const (
	FsctlDfsGetReferrals           uint32 = 0x00060194
	FsctlDfsGetReferralsEx         uint32 = 0x000601B0
	FsctlPipePeek                  uint32 = 0x0011400C
	FsctlPipeWait                  uint32 = 0x00110018
	FsctlPipeTransceive            uint32 = 0x0011C017
	FsctlSrvCopychunk              uint32 = 0x001440F2
	FsctlSrvCopychunkWrite         uint32 = 0x001480F2
	FsctlSrvEnumerateSnapshots     uint32 = 0x00144064
	FsctlSrvRequestResumeKey       uint32 = 0x00140078
	FsctlSrvReadHash               uint32 = 0x001441BB
	FsctlLmrRequestResiliency      uint32 = 0x001401D4
	FsctlQueryNetworkInterfaceInfo uint32 = 0x001401FC
	FsctlValidateNegotiateInfo     uint32 = 0x00140204
	FsctlSetReparsePoint           uint32 = 0x000900A4
	FsctlGetReparsePoint           uint32 = 0x000900A8
	FsctlDeleteReparsePoint        uint32 = 0x000900AC
	FsctlCreateOrGetObjectID       uint32 = 0x000900C0
	FsctlSetSparse                 uint32 = 0x000900C4
	FsctlSetZeroData               uint32 = 0x000980C8
	FsctlQueryAllocatedRanges      uint32 = 0x000940CF
	FsctlGetCompression            uint32 = 0x0009003C
	FsctlSetCompression            uint32 = 0x0009C040
	FsctlFileLevelTrim             uint32 = 0x00098208
	FsctlGetIntegrityInformation   uint32 = 0x0009027C
	FsctlSetIntegrityInformation   uint32 = 0x0009C280
	FsctlOffloadRead               uint32 = 0x00094264
	FsctlOffloadWrite              uint32 = 0x00098268
	FsctlDuplicateExtentsToFile    uint32 = 0x00098344
	FsctlQueryFileRegions          uint32 = 0x00090284
	FsctlSVHDXSyncTunnelRequest    uint32 = 0x00090304
	FsctlSVHDXAsyncTunnelRequest   uint32 = 0x00090364
	FsctlStorageQoSControl         uint32 = 0x00090350
)

const (
	ioctlRequestFixed  = 56 // StructureSize 57 less the buffer byte
	ioctlResponseFixed = 48 // StructureSize 49 less the buffer byte
)

// IoctlRequest is the SMB2 IOCTL request ([MS-SMB2] 2.2.31). Input and
// Output alias the message (Output is rarely sent; FSCTL_SRV_READ_HASH
// has none either, but the spec allows it).
type IoctlRequest struct {
	CtlCode           uint32
	FileID            FileID
	Input             []byte
	Output            []byte
	MaxInputResponse  uint32
	MaxOutputResponse uint32
	Flags             uint32
}

// Decode decodes an IOCTL request from msg (header included).
func (r *IoctlRequest) Decode(msg []byte) error {
	body, err := Body(msg, ioctlRequestFixed+1)
	if err != nil {
		return err
	}
	r.CtlCode = le.Uint32(body[4:])
	r.FileID = DecodeFileID(body[8:])
	minOff := HeaderSize + ioctlRequestFixed
	if r.Input, err = Region(msg, le.Uint32(body[24:]), le.Uint32(body[28:]), minOff); err != nil {
		return wrapField("Input", err)
	}
	r.MaxInputResponse = le.Uint32(body[32:])
	if r.Output, err = Region(msg, le.Uint32(body[36:]), le.Uint32(body[40:]), minOff); err != nil {
		return wrapField("Output", err)
	}
	r.MaxOutputResponse = le.Uint32(body[44:])
	r.Flags = le.Uint32(body[48:])
	return nil
}

// AppendTo appends the request body to b.
func (r *IoctlRequest) AppendTo(b []byte) []byte {
	inOff := HeaderSize + ioctlRequestFixed
	outOff := inOff + len(r.Input)
	b = appendU16(b, ioctlRequestFixed+1)
	b = appendU16(b, 0)
	b = appendU32(b, r.CtlCode)
	b = r.FileID.AppendTo(b)
	b = appendU32(b, uint32(inOff))
	b = appendU32(b, uint32(len(r.Input)))
	b = appendU32(b, r.MaxInputResponse)
	b = appendU32(b, uint32(outOff))
	b = appendU32(b, uint32(len(r.Output)))
	b = appendU32(b, r.MaxOutputResponse)
	b = appendU32(b, r.Flags)
	b = appendU32(b, 0)
	if len(r.Input)+len(r.Output) == 0 {
		return append(b, 0)
	}
	b = append(b, r.Input...)
	return append(b, r.Output...)
}

// IoctlResponse is the SMB2 IOCTL response ([MS-SMB2] 2.2.32). The server
// echoes no input, so InputCount is 0 and both offsets point at the
// Buffer, as Windows does.
type IoctlResponse struct {
	CtlCode uint32
	FileID  FileID
	Flags   uint32
	Output  []byte
}

// AppendTo appends the response body to b, which holds the header.
func (r *IoctlResponse) AppendTo(b []byte) []byte {
	off := uint32(HeaderSize + ioctlResponseFixed)
	b = appendU16(b, ioctlResponseFixed+1)
	b = appendU16(b, 0)
	b = appendU32(b, r.CtlCode)
	b = r.FileID.AppendTo(b)
	b = appendU32(b, off)
	b = appendU32(b, 0)
	b = appendU32(b, off)
	b = appendU32(b, uint32(len(r.Output)))
	b = appendU32(b, r.Flags)
	b = appendU32(b, 0)
	return appendBuffer(b, r.Output)
}

// Decode decodes an IOCTL response from msg (header included); input
// echoed by a server is ignored.
func (r *IoctlResponse) Decode(msg []byte) error {
	body, err := Body(msg, ioctlResponseFixed+1)
	if err != nil {
		return err
	}
	r.CtlCode = le.Uint32(body[4:])
	r.FileID = DecodeFileID(body[8:])
	minOff := HeaderSize + ioctlResponseFixed
	if _, err = Region(msg, le.Uint32(body[24:]), le.Uint32(body[28:]), minOff); err != nil {
		return wrapField("Input", err)
	}
	if r.Output, err = Region(msg, le.Uint32(body[32:]), le.Uint32(body[36:]), minOff); err != nil {
		return wrapField("Output", err)
	}
	r.Flags = le.Uint32(body[40:])
	return nil
}

// ValidateNegotiateInfoRequest is the FSCTL_VALIDATE_NEGOTIATE_INFO input
// ([MS-SMB2] 2.2.31.4).
type ValidateNegotiateInfoRequest struct {
	Capabilities uint32
	Guid         [16]byte
	SecurityMode uint16
	Dialects     []uint16
}

const validateNegotiateFixed = 24

// DecodeValidateNegotiateInfoRequest decodes the IOCTL input of
// FSCTL_VALIDATE_NEGOTIATE_INFO; DialectCount is checked against the
// input length before the dialects are allocated.
func DecodeValidateNegotiateInfoRequest(in []byte) (ValidateNegotiateInfoRequest, error) {
	var v ValidateNegotiateInfoRequest
	if len(in) < validateNegotiateFixed {
		return v, malformed("VALIDATE_NEGOTIATE_INFO of %d bytes", len(in))
	}
	v.Capabilities = le.Uint32(in)
	copy(v.Guid[:], in[4:20])
	v.SecurityMode = le.Uint16(in[20:])
	n := int(le.Uint16(in[22:]))
	if validateNegotiateFixed+2*n > len(in) {
		return v, malformed("VALIDATE_NEGOTIATE_INFO: %d dialects exceed %d bytes", n, len(in))
	}
	v.Dialects = decodeU16s(in[validateNegotiateFixed:], n)
	return v, nil
}

// Encode returns the IOCTL input bytes of v.
func (v ValidateNegotiateInfoRequest) Encode() []byte {
	b := make([]byte, 0, validateNegotiateFixed+2*len(v.Dialects))
	b = appendU32(b, v.Capabilities)
	b = append(b, v.Guid[:]...)
	b = appendU16(b, v.SecurityMode)
	return appendCountedU16s(b, v.Dialects)
}

// ValidateNegotiateInfoResponse is the FSCTL_VALIDATE_NEGOTIATE_INFO
// output ([MS-SMB2] 2.2.32.6).
type ValidateNegotiateInfoResponse struct {
	Capabilities uint32
	Guid         [16]byte
	SecurityMode uint16
	Dialect      uint16
}

// Encode returns the 24-byte IOCTL output of v.
func (v ValidateNegotiateInfoResponse) Encode() []byte {
	b := make([]byte, 0, 24)
	b = appendU32(b, v.Capabilities)
	b = append(b, v.Guid[:]...)
	b = appendU16(b, v.SecurityMode)
	return appendU16(b, v.Dialect)
}

// DecodeValidateNegotiateInfoResponse decodes the IOCTL output.
func DecodeValidateNegotiateInfoResponse(out []byte) (ValidateNegotiateInfoResponse, error) {
	var v ValidateNegotiateInfoResponse
	if len(out) < 24 {
		return v, malformed("VALIDATE_NEGOTIATE_INFO response of %d bytes", len(out))
	}
	v.Capabilities = le.Uint32(out)
	copy(v.Guid[:], out[4:20])
	v.SecurityMode = le.Uint16(out[20:])
	v.Dialect = le.Uint16(out[22:])
	return v, nil
}
