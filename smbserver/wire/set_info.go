package wire

const (
	setInfoRequestFixed = 32 // StructureSize 33 less the buffer byte
	setInfoResponseSize = 2
)

// SetInfoRequest is the SMB2 SET_INFO request ([MS-SMB2] 2.2.39). Buffer
// aliases the message.
type SetInfoRequest struct {
	InfoType              uint8
	FileInfoClass         uint8
	Buffer                []byte
	AdditionalInformation uint32
	FileID                FileID
}

// Decode decodes a SET_INFO request from msg (header included).
func (r *SetInfoRequest) Decode(msg []byte) error {
	body, err := Body(msg, setInfoRequestFixed+1)
	if err != nil {
		return err
	}
	r.InfoType = body[2]
	r.FileInfoClass = body[3]
	n := le.Uint32(body[4:])
	off := le.Uint16(body[8:])
	r.AdditionalInformation = le.Uint32(body[12:])
	r.FileID = DecodeFileID(body[16:])
	r.Buffer, err = Region(msg, uint32(off), n, HeaderSize+setInfoRequestFixed)
	if err != nil {
		return wrapField("Buffer", err)
	}
	return nil
}

// AppendTo appends the request body to b.
func (r *SetInfoRequest) AppendTo(b []byte) []byte {
	b = appendU16(b, setInfoRequestFixed+1)
	b = append(b, r.InfoType, r.FileInfoClass)
	b = appendU32(b, uint32(len(r.Buffer)))
	b = appendU16(b, bufOffset(len(r.Buffer), HeaderSize+setInfoRequestFixed))
	b = appendU16(b, 0)
	b = appendU32(b, r.AdditionalInformation)
	b = r.FileID.AppendTo(b)
	return appendBuffer(b, r.Buffer)
}

// SetInfoResponse is the SMB2 SET_INFO response ([MS-SMB2] 2.2.40).
type SetInfoResponse struct{}

// AppendTo appends the 2-byte response body to b.
func (r *SetInfoResponse) AppendTo(b []byte) []byte { return appendU16(b, setInfoResponseSize) }

// Decode checks a SET_INFO response in msg (header included).
func (r *SetInfoResponse) Decode(msg []byte) error {
	_, err := Body(msg, setInfoResponseSize)
	return err
}
