package wire

// TreeDisconnectRequest is the SMB2 TREE_DISCONNECT request ([MS-SMB2]
// 2.2.11).
type TreeDisconnectRequest struct{}

// Decode checks a TREE_DISCONNECT request in msg (header included).
func (r *TreeDisconnectRequest) Decode(msg []byte) error { return decodeSimple(msg) }

// AppendTo appends the request body to b.
func (r *TreeDisconnectRequest) AppendTo(b []byte) []byte { return appendSimple(b) }

// TreeDisconnectResponse is the SMB2 TREE_DISCONNECT response ([MS-SMB2]
// 2.2.12).
type TreeDisconnectResponse struct{}

// AppendTo appends the response body to b.
func (r *TreeDisconnectResponse) AppendTo(b []byte) []byte { return appendSimple(b) }

// Decode checks a TREE_DISCONNECT response in msg (header included).
func (r *TreeDisconnectResponse) Decode(msg []byte) error { return decodeSimple(msg) }
