package wire

const errorResponseFixed = 8 // StructureSize 9 less the ErrorData byte

// Error context ids ([MS-SMB2] 2.2.2.1).
const (
	ErrorIDDefault       uint32 = 0x00000000
	ErrorIDShareRedirect uint32 = 0x72645253
)

// ErrorResponse is the SMB2 ERROR response ([MS-SMB2] 2.2.2). In 3.1.1
// ErrorData holds ErrorContextCount error contexts (see
// AppendErrorContexts); otherwise it is command specific (for example the
// required size after STATUS_BUFFER_TOO_SMALL, or a symbolic link error).
type ErrorResponse struct {
	ErrorContextCount uint8
	ErrorData         []byte
}

// AppendTo appends the response body to b. With no ErrorData, ByteCount is
// 0 but one zero byte still follows: StructureSize 9 counts it, and
// Windows clients reject an 8-byte body ([MS-SMB2] 2.2.2).
func (r *ErrorResponse) AppendTo(b []byte) []byte {
	b = appendU16(b, errorResponseFixed+1)
	b = append(b, r.ErrorContextCount, 0)
	b = appendU32(b, uint32(len(r.ErrorData)))
	return appendBuffer(b, r.ErrorData)
}

// Decode decodes an ERROR response from msg (header included).
func (r *ErrorResponse) Decode(msg []byte) error {
	body, err := Body(msg, errorResponseFixed+1)
	if err != nil {
		return err
	}
	r.ErrorContextCount = body[2]
	n := le.Uint32(body[4:])
	r.ErrorData, err = Region(msg, HeaderSize+errorResponseFixed, n, HeaderSize+errorResponseFixed)
	if err != nil {
		return wrapField("ErrorData", err)
	}
	return nil
}

// ErrorContext is one SMB2 ERROR Context Response ([MS-SMB2] 2.2.2.1).
type ErrorContext struct {
	ErrorID uint32
	Data    []byte
}

// AppendErrorContexts appends cs to b as 3.1.1 ErrorData: each context is
// ErrorDataLength, ErrorId and its data, padded to 8 bytes.
func AppendErrorContexts(b []byte, cs []ErrorContext) []byte {
	for _, c := range cs {
		start := len(b)
		b = appendU32(b, uint32(len(c.Data)))
		b = appendU32(b, c.ErrorID)
		b = append(b, c.Data...)
		for (len(b)-start)%8 != 0 {
			b = append(b, 0)
		}
	}
	return b
}
