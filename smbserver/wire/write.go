package wire

// WRITE request Flags ([MS-SMB2] 2.2.21).
const (
	WriteFlagWriteThrough    uint32 = 0x00000001
	WriteFlagWriteUnbuffered uint32 = 0x00000002
)

const (
	writeRequestFixed  = 48 // StructureSize 49 less the buffer byte
	writeResponseFixed = 16 // StructureSize 17 less the buffer byte
	// WriteRequestDataOffset is where clients put WRITE data: right after
	// the fixed part (0x70 from the header).
	WriteRequestDataOffset = HeaderSize + writeRequestFixed
)

// WriteRequest is the SMB2 WRITE request ([MS-SMB2] 2.2.21). Data and
// WriteChannelInfo alias the message.
type WriteRequest struct {
	DataOffset       uint16
	Offset           uint64
	FileID           FileID
	Channel          uint32
	RemainingBytes   uint32
	Flags            uint32
	Data             []byte
	WriteChannelInfo []byte
}

// Decode decodes a WRITE request from msg (header included). It does not
// allocate.
func (r *WriteRequest) Decode(msg []byte) error {
	n, err := r.decodeFixed(msg, len(msg))
	if err != nil {
		return err
	}
	r.Data, err = Region(msg, uint32(r.DataOffset), n, WriteRequestDataOffset)
	if err != nil {
		return wrapField("Data", err)
	}
	return nil
}

// DecodeFixed decodes the fixed part of a WRITE request from prefix, the
// first bytes of a message of msgLen bytes, and returns where the data
// lies in the message. A receiver that reads the header and fixed part
// first can then read the payload straight into its final buffer instead
// of copying it. prefix must hold at least the header and 48 fixed bytes;
// Data is left nil and WriteChannelInfo is decoded only if it lies inside
// prefix.
func (r *WriteRequest) DecodeFixed(prefix []byte, msgLen int) (dataOff, dataLen int, err error) {
	if msgLen < len(prefix) {
		return 0, 0, malformed("message length %d shorter than prefix %d", msgLen, len(prefix))
	}
	n, err := r.decodeFixed(prefix, msgLen)
	if err != nil {
		return 0, 0, err
	}
	off := int(r.DataOffset)
	if n > 0 && (off < WriteRequestDataOffset || off+int(n) > msgLen) {
		return 0, 0, malformed("WRITE data [%d,+%d) outside [%d,%d)", off, n, WriteRequestDataOffset, msgLen)
	}
	r.Data = nil
	return off, int(n), nil
}

// decodeFixed decodes the fixed fields, checking the channel info against
// msgLen (and against msg when it lies inside it), and returns Length.
func (r *WriteRequest) decodeFixed(msg []byte, msgLen int) (uint32, error) {
	body, err := Body(msg, writeRequestFixed+1)
	if err != nil {
		return 0, err
	}
	r.DataOffset = le.Uint16(body[2:])
	length := le.Uint32(body[4:])
	r.Offset = le.Uint64(body[8:])
	r.FileID = DecodeFileID(body[16:])
	r.Channel = le.Uint32(body[32:])
	r.RemainingBytes = le.Uint32(body[36:])
	ciOff, ciLen := int(le.Uint16(body[40:])), int(le.Uint16(body[42:]))
	r.Flags = le.Uint32(body[44:])
	r.WriteChannelInfo = nil
	if ciLen > 0 {
		if ciOff < WriteRequestDataOffset || ciOff+ciLen > msgLen {
			return 0, malformed("WriteChannelInfo [%d,+%d) outside [%d,%d)", ciOff, ciLen, WriteRequestDataOffset, msgLen)
		}
		if ciOff+ciLen <= len(msg) {
			r.WriteChannelInfo = msg[ciOff : ciOff+ciLen : ciOff+ciLen]
		}
	}
	return length, nil
}

// AppendTo appends the request body and Data to b.
func (r *WriteRequest) AppendTo(b []byte) []byte {
	b = appendU16(b, writeRequestFixed+1)
	b = appendU16(b, WriteRequestDataOffset)
	b = appendU32(b, uint32(len(r.Data)))
	b = appendU64(b, r.Offset)
	b = r.FileID.AppendTo(b)
	b = appendU32(b, r.Channel)
	b = appendU32(b, r.RemainingBytes)
	ciOff := 0
	if len(r.WriteChannelInfo) > 0 {
		ciOff = WriteRequestDataOffset + len(r.Data)
	}
	b = appendU16(b, uint16(ciOff))
	b = appendU16(b, uint16(len(r.WriteChannelInfo)))
	b = appendU32(b, r.Flags)
	if len(r.Data) == 0 && len(r.WriteChannelInfo) == 0 {
		return append(b, 0)
	}
	b = append(b, r.Data...)
	return append(b, r.WriteChannelInfo...)
}

// WriteResponse is the SMB2 WRITE response ([MS-SMB2] 2.2.22).
type WriteResponse struct {
	Count     uint32
	Remaining uint32
}

// AppendTo appends the 16-byte response body to b. Windows sends no
// buffer byte here although StructureSize is 17.
func (r *WriteResponse) AppendTo(b []byte) []byte {
	b = appendU16(b, writeResponseFixed+1)
	b = appendU16(b, 0)
	b = appendU32(b, r.Count)
	b = appendU32(b, r.Remaining)
	return appendU32(b, 0) // WriteChannelInfoOffset/Length
}

// Decode decodes a WRITE response from msg (header included).
func (r *WriteResponse) Decode(msg []byte) error {
	body, err := Body(msg, writeResponseFixed+1)
	if err != nil {
		return err
	}
	r.Count = le.Uint32(body[4:])
	r.Remaining = le.Uint32(body[8:])
	return nil
}
