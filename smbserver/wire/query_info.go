package wire

// InfoType values of QUERY_INFO and SET_INFO ([MS-SMB2] 2.2.37).
const (
	InfoFile       uint8 = 0x01
	InfoFilesystem uint8 = 0x02
	InfoSecurity   uint8 = 0x03
	InfoQuota      uint8 = 0x04
)

// AdditionalInformation bits for security queries ([MS-SMB2] 2.2.37).
const (
	OwnerSecurityInformation     uint32 = 0x00000001
	GroupSecurityInformation     uint32 = 0x00000002
	DACLSecurityInformation      uint32 = 0x00000004
	SACLSecurityInformation      uint32 = 0x00000008
	LabelSecurityInformation     uint32 = 0x00000010
	AttributeSecurityInformation uint32 = 0x00000020
	ScopeSecurityInformation     uint32 = 0x00000040
	BackupSecurityInformation    uint32 = 0x00010000
)

// QUERY_INFO Flags for FileFullEaInformation ([MS-SMB2] 2.2.37).
const (
	SLRestartScan       uint32 = 0x00000001
	SLReturnSingleEntry uint32 = 0x00000002
	SLIndexSpecified    uint32 = 0x00000004
)

const queryInfoRequestFixed = 40 // StructureSize 41 less the buffer byte

// QueryInfoRequest is the SMB2 QUERY_INFO request ([MS-SMB2] 2.2.37).
// InputBuffer aliases the message (used for quota and EA queries).
type QueryInfoRequest struct {
	InfoType              uint8
	FileInfoClass         uint8
	OutputBufferLength    uint32
	InputBuffer           []byte
	AdditionalInformation uint32
	Flags                 uint32
	FileID                FileID
}

// Decode decodes a QUERY_INFO request from msg (header included).
func (r *QueryInfoRequest) Decode(msg []byte) error {
	body, err := Body(msg, queryInfoRequestFixed+1)
	if err != nil {
		return err
	}
	r.InfoType = body[2]
	r.FileInfoClass = body[3]
	r.OutputBufferLength = le.Uint32(body[4:])
	inOff := le.Uint16(body[8:])
	inLen := le.Uint32(body[12:])
	r.AdditionalInformation = le.Uint32(body[16:])
	r.Flags = le.Uint32(body[20:])
	r.FileID = DecodeFileID(body[24:])
	r.InputBuffer, err = Region(msg, uint32(inOff), inLen, HeaderSize+queryInfoRequestFixed)
	if err != nil {
		return wrapField("InputBuffer", err)
	}
	return nil
}

// AppendTo appends the request body to b.
func (r *QueryInfoRequest) AppendTo(b []byte) []byte {
	b = appendU16(b, queryInfoRequestFixed+1)
	b = append(b, r.InfoType, r.FileInfoClass)
	b = appendU32(b, r.OutputBufferLength)
	b = appendU16(b, bufOffset(len(r.InputBuffer), HeaderSize+queryInfoRequestFixed))
	b = appendU16(b, 0)
	b = appendU32(b, uint32(len(r.InputBuffer)))
	b = appendU32(b, r.AdditionalInformation)
	b = appendU32(b, r.Flags)
	b = r.FileID.AppendTo(b)
	return appendBuffer(b, r.InputBuffer)
}

// QueryInfoResponse is the SMB2 QUERY_INFO response ([MS-SMB2] 2.2.38).
type QueryInfoResponse struct {
	Buffer []byte
}

// AppendTo appends the response body to b, which holds the header.
func (r *QueryInfoResponse) AppendTo(b []byte) []byte { return appendOutput(b, r.Buffer) }

// Decode decodes a QUERY_INFO response from msg (header included).
func (r *QueryInfoResponse) Decode(msg []byte) (err error) {
	r.Buffer, err = decodeOutput(msg)
	return err
}
