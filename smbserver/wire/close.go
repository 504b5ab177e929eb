package wire

// CloseFlagPostQueryAttrib asks for the file's attributes in the CLOSE
// response ([MS-SMB2] 2.2.15).
const CloseFlagPostQueryAttrib uint16 = 0x0001

const (
	closeRequestSize  = 24
	closeResponseSize = 60
)

// CloseRequest is the SMB2 CLOSE request ([MS-SMB2] 2.2.15).
type CloseRequest struct {
	Flags  uint16
	FileID FileID
}

// Decode decodes a CLOSE request from msg (header included).
func (r *CloseRequest) Decode(msg []byte) error {
	body, err := Body(msg, closeRequestSize)
	if err != nil {
		return err
	}
	r.Flags = le.Uint16(body[2:])
	r.FileID = DecodeFileID(body[8:])
	return nil
}

// AppendTo appends the request body to b.
func (r *CloseRequest) AppendTo(b []byte) []byte {
	b = appendU16(b, closeRequestSize)
	b = appendU16(b, r.Flags)
	b = appendU32(b, 0)
	return r.FileID.AppendTo(b)
}

// CloseResponse is the SMB2 CLOSE response ([MS-SMB2] 2.2.16). The
// attribute fields are meaningful only with CloseFlagPostQueryAttrib and
// must be zero otherwise.
type CloseResponse struct {
	Flags          uint16
	CreationTime   uint64
	LastAccessTime uint64
	LastWriteTime  uint64
	ChangeTime     uint64
	AllocationSize uint64
	EndOfFile      uint64
	FileAttributes uint32
}

// AppendTo appends the response body to b, which holds the header.
func (r *CloseResponse) AppendTo(b []byte) []byte {
	b = appendU16(b, closeResponseSize)
	b = appendU16(b, r.Flags)
	b = appendU32(b, 0)
	b = appendU64(b, r.CreationTime)
	b = appendU64(b, r.LastAccessTime)
	b = appendU64(b, r.LastWriteTime)
	b = appendU64(b, r.ChangeTime)
	b = appendU64(b, r.AllocationSize)
	b = appendU64(b, r.EndOfFile)
	return appendU32(b, r.FileAttributes)
}

// Decode decodes a CLOSE response from msg (header included).
func (r *CloseResponse) Decode(msg []byte) error {
	body, err := Body(msg, closeResponseSize)
	if err != nil {
		return err
	}
	r.Flags = le.Uint16(body[2:])
	r.CreationTime = le.Uint64(body[8:])
	r.LastAccessTime = le.Uint64(body[16:])
	r.LastWriteTime = le.Uint64(body[24:])
	r.ChangeTime = le.Uint64(body[32:])
	r.AllocationSize = le.Uint64(body[40:])
	r.EndOfFile = le.Uint64(body[48:])
	r.FileAttributes = le.Uint32(body[56:])
	return nil
}
