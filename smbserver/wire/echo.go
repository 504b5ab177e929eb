package wire

// EchoRequest is the SMB2 ECHO request ([MS-SMB2] 2.2.28).
type EchoRequest struct{}

// Decode checks an ECHO request in msg (header included).
func (r *EchoRequest) Decode(msg []byte) error { return decodeSimple(msg) }

// AppendTo appends the request body to b.
func (r *EchoRequest) AppendTo(b []byte) []byte { return appendSimple(b) }

// EchoResponse is the SMB2 ECHO response ([MS-SMB2] 2.2.29).
type EchoResponse struct{}

// AppendTo appends the response body to b.
func (r *EchoResponse) AppendTo(b []byte) []byte { return appendSimple(b) }

// Decode checks an ECHO response in msg (header included).
func (r *EchoResponse) Decode(msg []byte) error { return decodeSimple(msg) }
