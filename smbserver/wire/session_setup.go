package wire

// SESSION_SETUP request Flags ([MS-SMB2] 2.2.5).
const SessionFlagBinding = 0x01

// SESSION_SETUP response SessionFlags ([MS-SMB2] 2.2.6).
const (
	SessionFlagIsGuest     = 0x0001
	SessionFlagIsNull      = 0x0002
	SessionFlagEncryptData = 0x0004
)

const (
	sessionSetupRequestFixed  = 24 // StructureSize 25 less the buffer byte
	sessionSetupResponseFixed = 8  // StructureSize 9 less the buffer byte
)

// SessionSetupRequest is the SMB2 SESSION_SETUP request ([MS-SMB2] 2.2.5).
// SecurityBuffer aliases the message.
type SessionSetupRequest struct {
	Flags             uint8
	SecurityMode      uint8
	Capabilities      uint32
	Channel           uint32
	PreviousSessionID uint64
	SecurityBuffer    []byte
}

// Decode decodes a SESSION_SETUP request from msg (header included).
func (r *SessionSetupRequest) Decode(msg []byte) error {
	body, err := Body(msg, sessionSetupRequestFixed+1)
	if err != nil {
		return err
	}
	r.Flags = body[2]
	r.SecurityMode = body[3]
	r.Capabilities = le.Uint32(body[4:])
	r.Channel = le.Uint32(body[8:])
	off, n := le.Uint16(body[12:]), le.Uint16(body[14:])
	r.PreviousSessionID = le.Uint64(body[16:])
	r.SecurityBuffer, err = Region(msg, uint32(off), uint32(n), HeaderSize+sessionSetupRequestFixed)
	if err != nil {
		return wrapField("SecurityBuffer", err)
	}
	return nil
}

// AppendTo appends the request body to b (which holds the header).
func (r *SessionSetupRequest) AppendTo(b []byte) []byte {
	b = appendU16(b, sessionSetupRequestFixed+1)
	b = append(b, r.Flags, r.SecurityMode)
	b = appendU32(b, r.Capabilities)
	b = appendU32(b, r.Channel)
	b = appendU16(b, bufOffset(len(r.SecurityBuffer), HeaderSize+sessionSetupRequestFixed))
	b = appendU16(b, uint16(len(r.SecurityBuffer)))
	b = appendU64(b, r.PreviousSessionID)
	return appendBuffer(b, r.SecurityBuffer)
}

// SessionSetupResponse is the SMB2 SESSION_SETUP response ([MS-SMB2]
// 2.2.6).
type SessionSetupResponse struct {
	SessionFlags   uint16
	SecurityBuffer []byte
}

// AppendTo appends the response body to b, which holds the header.
func (r *SessionSetupResponse) AppendTo(b []byte) []byte {
	b = appendU16(b, sessionSetupResponseFixed+1)
	b = appendU16(b, r.SessionFlags)
	b = appendU16(b, bufOffset(len(r.SecurityBuffer), HeaderSize+sessionSetupResponseFixed))
	b = appendU16(b, uint16(len(r.SecurityBuffer)))
	return appendBuffer(b, r.SecurityBuffer)
}

// Decode decodes a SESSION_SETUP response from msg (header included).
func (r *SessionSetupResponse) Decode(msg []byte) error {
	body, err := Body(msg, sessionSetupResponseFixed+1)
	if err != nil {
		return err
	}
	r.SessionFlags = le.Uint16(body[2:])
	r.SecurityBuffer, err = Region(msg, uint32(le.Uint16(body[4:])), uint32(le.Uint16(body[6:])), HeaderSize+sessionSetupResponseFixed)
	if err != nil {
		return wrapField("SecurityBuffer", err)
	}
	return nil
}

// bufOffset returns the offset to write for a buffer that directly follows
// a fixed part ending at fixedEnd (relative to the header), or 0 for an
// empty buffer, as Windows does.
func bufOffset(n, fixedEnd int) uint16 {
	if n == 0 {
		return 0
	}
	return uint16(fixedEnd)
}

// appendBuffer appends a variable buffer; an empty one still occupies the
// one byte that an odd StructureSize counts ([MS-SMB2] 2.2).
func appendBuffer(b, buf []byte) []byte {
	if len(buf) == 0 {
		return append(b, 0)
	}
	return append(b, buf...)
}
