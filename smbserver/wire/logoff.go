package wire

// LogoffRequest is the SMB2 LOGOFF request ([MS-SMB2] 2.2.7).
type LogoffRequest struct{}

// Decode checks a LOGOFF request in msg (header included).
func (r *LogoffRequest) Decode(msg []byte) error { return decodeSimple(msg) }

// AppendTo appends the request body to b.
func (r *LogoffRequest) AppendTo(b []byte) []byte { return appendSimple(b) }

// LogoffResponse is the SMB2 LOGOFF response ([MS-SMB2] 2.2.8).
type LogoffResponse struct{}

// AppendTo appends the response body to b.
func (r *LogoffResponse) AppendTo(b []byte) []byte { return appendSimple(b) }

// Decode checks a LOGOFF response in msg (header included).
func (r *LogoffResponse) Decode(msg []byte) error { return decodeSimple(msg) }
