package wire

const flushRequestSize = 24

// FlushRequest is the SMB2 FLUSH request ([MS-SMB2] 2.2.17).
type FlushRequest struct {
	FileID FileID
}

// Decode decodes a FLUSH request from msg (header included).
func (r *FlushRequest) Decode(msg []byte) error {
	body, err := Body(msg, flushRequestSize)
	if err != nil {
		return err
	}
	r.FileID = DecodeFileID(body[8:])
	return nil
}

// AppendTo appends the request body to b.
func (r *FlushRequest) AppendTo(b []byte) []byte {
	b = appendU16(b, flushRequestSize)
	b = appendU16(b, 0)
	b = appendU32(b, 0)
	return r.FileID.AppendTo(b)
}

// FlushResponse is the SMB2 FLUSH response ([MS-SMB2] 2.2.18).
type FlushResponse struct{}

// AppendTo appends the response body to b.
func (r *FlushResponse) AppendTo(b []byte) []byte { return appendSimple(b) }

// Decode checks a FLUSH response in msg (header included).
func (r *FlushResponse) Decode(msg []byte) error { return decodeSimple(msg) }
