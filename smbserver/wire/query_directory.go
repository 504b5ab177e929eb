package wire

// QUERY_DIRECTORY request Flags ([MS-SMB2] 2.2.33).
const (
	QueryDirRestartScans   uint8 = 0x01
	QueryDirReturnSingle   uint8 = 0x02
	QueryDirIndexSpecified uint8 = 0x04
	QueryDirReopen         uint8 = 0x10
)

const (
	queryDirectoryRequestFixed = 32 // StructureSize 33 less the buffer byte
	// outputResponseFixed is the fixed part shared by the QUERY_DIRECTORY,
	// CHANGE_NOTIFY and QUERY_INFO responses: StructureSize 9,
	// OutputBufferOffset (2), OutputBufferLength (4).
	outputResponseFixed = 8
)

// QueryDirectoryRequest is the SMB2 QUERY_DIRECTORY request ([MS-SMB2]
// 2.2.33). FileName is the search pattern.
type QueryDirectoryRequest struct {
	FileInformationClass uint8
	Flags                uint8
	FileIndex            uint32
	FileID               FileID
	FileName             string
	OutputBufferLength   uint32
}

// Decode decodes a QUERY_DIRECTORY request from msg (header included).
func (r *QueryDirectoryRequest) Decode(msg []byte) error {
	body, err := Body(msg, queryDirectoryRequestFixed+1)
	if err != nil {
		return err
	}
	r.FileInformationClass = body[2]
	r.Flags = body[3]
	r.FileIndex = le.Uint32(body[4:])
	r.FileID = DecodeFileID(body[8:])
	name, err := Region(msg, uint32(le.Uint16(body[24:])), uint32(le.Uint16(body[26:])), HeaderSize+queryDirectoryRequestFixed)
	if err != nil {
		return wrapField("FileName", err)
	}
	r.OutputBufferLength = le.Uint32(body[28:])
	r.FileName, err = decodeUTF16(name)
	return wrapFieldErr("FileName", err)
}

// AppendTo appends the request body to b.
func (r *QueryDirectoryRequest) AppendTo(b []byte) []byte {
	n := utf16Len(r.FileName)
	b = appendU16(b, queryDirectoryRequestFixed+1)
	b = append(b, r.FileInformationClass, r.Flags)
	b = appendU32(b, r.FileIndex)
	b = r.FileID.AppendTo(b)
	b = appendU16(b, bufOffset(n, HeaderSize+queryDirectoryRequestFixed))
	b = appendU16(b, uint16(n))
	b = appendU32(b, r.OutputBufferLength)
	if n == 0 {
		return append(b, 0)
	}
	return appendUTF16(b, r.FileName)
}

// QueryDirectoryResponse is the SMB2 QUERY_DIRECTORY response ([MS-SMB2]
// 2.2.34).
type QueryDirectoryResponse struct {
	Buffer []byte
}

// AppendTo appends the response body to b, which holds the header.
func (r *QueryDirectoryResponse) AppendTo(b []byte) []byte { return appendOutput(b, r.Buffer) }

// Decode decodes a QUERY_DIRECTORY response from msg (header included).
func (r *QueryDirectoryResponse) Decode(msg []byte) (err error) {
	r.Buffer, err = decodeOutput(msg)
	return err
}

// appendOutput encodes the response shape shared by QUERY_DIRECTORY,
// CHANGE_NOTIFY and QUERY_INFO ([MS-SMB2] 2.2.34, 2.2.36, 2.2.38).
func appendOutput(b, buf []byte) []byte {
	b = appendU16(b, outputResponseFixed+1)
	b = appendU16(b, uint16(HeaderSize+outputResponseFixed))
	b = appendU32(b, uint32(len(buf)))
	return appendBuffer(b, buf)
}

func decodeOutput(msg []byte) ([]byte, error) {
	body, err := Body(msg, outputResponseFixed+1)
	if err != nil {
		return nil, err
	}
	buf, err := Region(msg, uint32(le.Uint16(body[2:])), le.Uint32(body[4:]), HeaderSize+outputResponseFixed)
	if err != nil {
		return nil, wrapField("OutputBuffer", err)
	}
	return buf, nil
}
