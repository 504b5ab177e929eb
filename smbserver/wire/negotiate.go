package wire

import "fmt"

// Dialect revisions ([MS-SMB2] 2.2.3). DialectWildcard is the answer to an
// SMB1 multi-protocol negotiate that offered "SMB 2.???" ([MS-SMB2]
// 3.3.5.3.1).
const (
	Dialect202      uint16 = 0x0202
	Dialect210      uint16 = 0x0210
	Dialect300      uint16 = 0x0300
	Dialect302      uint16 = 0x0302
	Dialect311      uint16 = 0x0311
	DialectWildcard uint16 = 0x02FF
)

// SecurityMode bits of NEGOTIATE and SESSION_SETUP ([MS-SMB2] 2.2.3,
// 2.2.5). They are untyped because the field is 16 bits in NEGOTIATE and
// 8 bits in SESSION_SETUP.
const (
	NegotiateSigningEnabled  = 0x0001
	NegotiateSigningRequired = 0x0002
)

// Global capabilities ([MS-SMB2] 2.2.3, 2.2.4).
const (
	GlobalCapDFS               = 0x00000001
	GlobalCapLeasing           = 0x00000002
	GlobalCapLargeMTU          = 0x00000004
	GlobalCapMultiChannel      = 0x00000008
	GlobalCapPersistentHandles = 0x00000010
	GlobalCapDirectoryLeasing  = 0x00000020
	GlobalCapEncryption        = 0x00000040
	GlobalCapNotifications     = 0x00000080
)

// Negotiate context types ([MS-SMB2] 2.2.3.1).
const (
	ContextPreauthIntegrity uint16 = 0x0001
	ContextEncryption       uint16 = 0x0002
	ContextCompression      uint16 = 0x0003
	ContextNetname          uint16 = 0x0005
	ContextTransport        uint16 = 0x0006
	ContextRDMATransform    uint16 = 0x0007
	ContextSigning          uint16 = 0x0008
)

// HashSHA512 is the only preauth integrity hash ([MS-SMB2] 2.2.3.1.1).
const HashSHA512 uint16 = 0x0001

// Encryption ciphers ([MS-SMB2] 2.2.3.1.2).
const (
	CipherAES128CCM uint16 = 0x0001
	CipherAES128GCM uint16 = 0x0002
	CipherAES256CCM uint16 = 0x0003
	CipherAES256GCM uint16 = 0x0004
)

// Signing algorithms ([MS-SMB2] 2.2.3.1.7).
const (
	SigningHMACSHA256 uint16 = 0x0000
	SigningAESCMAC    uint16 = 0x0001
	SigningAESGMAC    uint16 = 0x0002
)

// Transport capability flags ([MS-SMB2] 2.2.3.1.5).
const TransportAcceptTransportLevelSecurity uint32 = 0x00000001

const (
	negotiateRequestFixed  = 36 // [MS-SMB2] 2.2.3 StructureSize
	negotiateResponseFixed = 64 // [MS-SMB2] 2.2.4 StructureSize 65 less the buffer byte
	negotiateContextHeader = 8  // ContextType, DataLength, Reserved
)

// NegotiateRequest is the SMB2 NEGOTIATE request ([MS-SMB2] 2.2.3).
// Contexts are decoded only when Dialects contains 3.1.1; otherwise the
// eight bytes after ClientGUID are ClientStartTime and are ignored.
type NegotiateRequest struct {
	SecurityMode uint16
	Capabilities uint32
	ClientGUID   [16]byte
	Dialects     []uint16
	Contexts     []NegotiateContext
}

// NegotiateContext is one entry of a NegotiateContextList ([MS-SMB2]
// 2.2.3.1). Data aliases the message it was decoded from.
type NegotiateContext struct {
	Type uint16
	Data []byte
}

// Decode decodes a NEGOTIATE request from msg (header included).
func (r *NegotiateRequest) Decode(msg []byte) error {
	body, err := Body(msg, negotiateRequestFixed)
	if err != nil {
		return err
	}
	count := int(le.Uint16(body[2:]))
	r.SecurityMode = le.Uint16(body[4:])
	r.Capabilities = le.Uint32(body[8:])
	copy(r.ClientGUID[:], body[12:28])
	ctxOff := le.Uint32(body[28:])
	ctxCount := int(le.Uint16(body[32:]))
	dl, err := Region(msg, HeaderSize+negotiateRequestFixed, uint32(count)*2, HeaderSize+negotiateRequestFixed)
	if err != nil {
		return wrapField("Dialects", err)
	}
	r.Dialects = make([]uint16, count)
	for i := range r.Dialects {
		r.Dialects[i] = le.Uint16(dl[2*i:])
	}
	r.Contexts = nil
	has311 := false
	for _, d := range r.Dialects {
		if d == Dialect311 {
			has311 = true
		}
	}
	if !has311 || ctxCount == 0 {
		return nil
	}
	minOff := HeaderSize + negotiateRequestFixed + 2*count
	if int(ctxOff) < minOff || int(ctxOff) > len(msg) {
		return malformed("NegotiateContextOffset %d outside [%d,%d]", ctxOff, minOff, len(msg))
	}
	if ctxOff%8 != 0 {
		return malformed("NegotiateContextOffset %d not 8-byte aligned", ctxOff)
	}
	r.Contexts, err = DecodeNegotiateContexts(msg[ctxOff:], ctxCount)
	return err
}

// DecodeNegotiateContexts decodes count contexts from b, which starts at
// an 8-byte aligned offset from the header; each following context starts
// at the next 8-byte boundary ([MS-SMB2] 2.2.3.1). The count is checked
// against the bytes present before anything is allocated.
func DecodeNegotiateContexts(b []byte, count int) ([]NegotiateContext, error) {
	if count < 0 || count*negotiateContextHeader > len(b) {
		return nil, malformed("%d negotiate contexts cannot fit in %d bytes", count, len(b))
	}
	out := make([]NegotiateContext, 0, count)
	off := 0
	for i := range count {
		if i > 0 {
			off = (off + 7) &^ 7
		}
		if off+negotiateContextHeader > len(b) {
			return nil, malformed("negotiate context %d header past end", i)
		}
		typ := le.Uint16(b[off:])
		n := int(le.Uint16(b[off+2:]))
		start := off + negotiateContextHeader
		if start+n > len(b) {
			return nil, malformed("negotiate context %d data [%d,+%d) past end %d", i, start, n, len(b))
		}
		out = append(out, NegotiateContext{Type: typ, Data: b[start : start+n : start+n]})
		off = start + n
	}
	return out, nil
}

// AppendNegotiateContexts appends cs to b, padding before each context so
// that it starts 8-byte aligned relative to b[0] (the header) as
// [MS-SMB2] 2.2.3.1 and 2.2.4 require.
func AppendNegotiateContexts(b []byte, cs []NegotiateContext) []byte {
	for _, c := range cs {
		b = Pad8(b)
		b = appendU16(b, c.Type)
		b = appendU16(b, uint16(len(c.Data)))
		b = appendU32(b, 0)
		b = append(b, c.Data...)
	}
	return b
}

// AppendTo appends the request body to b (which holds the header). It is
// used by tests and by clients of the package.
func (r *NegotiateRequest) AppendTo(b []byte) []byte {
	base := len(b) - HeaderSize
	b = appendU16(b, negotiateRequestFixed)
	b = appendU16(b, uint16(len(r.Dialects)))
	b = appendU16(b, r.SecurityMode)
	b = appendU16(b, 0)
	b = appendU32(b, r.Capabilities)
	b = append(b, r.ClientGUID[:]...)
	ctxField := len(b)
	b = appendU64(b, 0)
	for _, d := range r.Dialects {
		b = appendU16(b, d)
	}
	if len(r.Contexts) > 0 {
		b = pad8From(b, base)
		le.PutUint32(b[ctxField:], uint32(len(b)-base))
		le.PutUint16(b[ctxField+4:], uint16(len(r.Contexts)))
		b = appendNegotiateContextsFrom(b, base, r.Contexts)
	}
	return b
}

// NegotiateResponse is the SMB2 NEGOTIATE response ([MS-SMB2] 2.2.4).
// SystemTime and ServerStartTime are FILETIMEs. Contexts are written only
// when DialectRevision is 3.1.1.
type NegotiateResponse struct {
	SecurityMode    uint16
	DialectRevision uint16
	ServerGUID      [16]byte
	Capabilities    uint32
	MaxTransactSize uint32
	MaxReadSize     uint32
	MaxWriteSize    uint32
	SystemTime      uint64
	ServerStartTime uint64
	SecurityBuffer  []byte
	Contexts        []NegotiateContext
}

// AppendTo appends the response body to b, which holds the header.
func (r *NegotiateResponse) AppendTo(b []byte) []byte {
	base := len(b) - HeaderSize
	with311 := r.DialectRevision == Dialect311 && len(r.Contexts) > 0
	b = appendU16(b, negotiateResponseFixed+1)
	b = appendU16(b, r.SecurityMode)
	b = appendU16(b, r.DialectRevision)
	if with311 {
		b = appendU16(b, uint16(len(r.Contexts)))
	} else {
		b = appendU16(b, 0)
	}
	b = append(b, r.ServerGUID[:]...)
	b = appendU32(b, r.Capabilities)
	b = appendU32(b, r.MaxTransactSize)
	b = appendU32(b, r.MaxReadSize)
	b = appendU32(b, r.MaxWriteSize)
	b = appendU64(b, r.SystemTime)
	b = appendU64(b, r.ServerStartTime)
	secOff := 0
	if len(r.SecurityBuffer) > 0 {
		secOff = HeaderSize + negotiateResponseFixed
	}
	b = appendU16(b, uint16(secOff))
	b = appendU16(b, uint16(len(r.SecurityBuffer)))
	ctxField := len(b)
	b = appendU32(b, 0)
	b = append(b, r.SecurityBuffer...)
	if with311 {
		b = pad8From(b, base)
		le.PutUint32(b[ctxField:], uint32(len(b)-base))
		b = appendNegotiateContextsFrom(b, base, r.Contexts)
	}
	if len(b)-base == HeaderSize+negotiateResponseFixed {
		// StructureSize 65 promises one byte of Buffer.
		b = append(b, 0)
	}
	return b
}

// Decode decodes a NEGOTIATE response from msg (header included).
func (r *NegotiateResponse) Decode(msg []byte) error {
	body, err := Body(msg, negotiateResponseFixed+1)
	if err != nil {
		return err
	}
	r.SecurityMode = le.Uint16(body[2:])
	r.DialectRevision = le.Uint16(body[4:])
	ctxCount := int(le.Uint16(body[6:]))
	copy(r.ServerGUID[:], body[8:24])
	r.Capabilities = le.Uint32(body[24:])
	r.MaxTransactSize = le.Uint32(body[28:])
	r.MaxReadSize = le.Uint32(body[32:])
	r.MaxWriteSize = le.Uint32(body[36:])
	r.SystemTime = le.Uint64(body[40:])
	r.ServerStartTime = le.Uint64(body[48:])
	minOff := HeaderSize + negotiateResponseFixed
	r.SecurityBuffer, err = Region(msg, uint32(le.Uint16(body[56:])), uint32(le.Uint16(body[58:])), minOff)
	if err != nil {
		return wrapField("SecurityBuffer", err)
	}
	r.Contexts = nil
	if r.DialectRevision != Dialect311 || ctxCount == 0 {
		return nil
	}
	ctxOff := int(le.Uint32(body[60:]))
	if ctxOff < minOff || ctxOff > len(msg) || ctxOff%8 != 0 {
		return malformed("NegotiateContextOffset %d invalid", ctxOff)
	}
	r.Contexts, err = DecodeNegotiateContexts(msg[ctxOff:], ctxCount)
	return err
}

// pad8From pads b so that len(b)-base is a multiple of 8; base is the index
// of the header in b, so alignment is relative to the header.
func pad8From(b []byte, base int) []byte {
	for (len(b)-base)%8 != 0 {
		b = append(b, 0)
	}
	return b
}

func appendNegotiateContextsFrom(b []byte, base int, cs []NegotiateContext) []byte {
	for _, c := range cs {
		b = pad8From(b, base)
		b = appendU16(b, c.Type)
		b = appendU16(b, uint16(len(c.Data)))
		b = appendU32(b, 0)
		b = append(b, c.Data...)
	}
	return b
}

// wrapField names the field whose region failed to decode.
func wrapField(field string, err error) error {
	return fmt.Errorf("%s: %w", field, err)
}
