package wire

// CancelRequest is the SMB2 CANCEL request ([MS-SMB2] 2.2.30). It has no
// response; the cancelled request's MessageId or AsyncId is in the header.
type CancelRequest struct{}

// Decode checks a CANCEL request in msg (header included).
func (r *CancelRequest) Decode(msg []byte) error { return decodeSimple(msg) }

// AppendTo appends the request body to b.
func (r *CancelRequest) AppendTo(b []byte) []byte { return appendSimple(b) }
