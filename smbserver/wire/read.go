package wire

// Channel values of READ and WRITE ([MS-SMB2] 2.2.19).
const (
	ChannelNone             uint32 = 0x00000000
	ChannelRDMAV1           uint32 = 0x00000001
	ChannelRDMAV1Invalidate uint32 = 0x00000002
	ChannelRDMATransform    uint32 = 0x00000003
)

// READ request Flags ([MS-SMB2] 2.2.19).
const (
	ReadFlagReadUnbuffered        uint8  = 0x01
	ReadFlagRequestCompressed     uint8  = 0x02
	ReadFlagResponseRDMATransform uint32 = 0x00000001 // response Flags
)

const (
	readRequestFixed  = 48 // StructureSize 49 less the buffer byte
	readResponseFixed = 16 // StructureSize 17 less the buffer byte
	// ReadResponseDataOffset is where READ data starts, counted from the
	// header: header plus the 16 fixed bytes.
	ReadResponseDataOffset = HeaderSize + readResponseFixed
)

// ReadRequest is the SMB2 READ request ([MS-SMB2] 2.2.19).
// ReadChannelInfo aliases the message.
type ReadRequest struct {
	Padding         uint8
	Flags           uint8
	Length          uint32
	Offset          uint64
	FileID          FileID
	MinimumCount    uint32
	Channel         uint32
	RemainingBytes  uint32
	ReadChannelInfo []byte
}

// Decode decodes a READ request from msg (header included). It does not
// allocate.
func (r *ReadRequest) Decode(msg []byte) error {
	body, err := Body(msg, readRequestFixed+1)
	if err != nil {
		return err
	}
	r.Padding = body[2]
	r.Flags = body[3]
	r.Length = le.Uint32(body[4:])
	r.Offset = le.Uint64(body[8:])
	r.FileID = DecodeFileID(body[16:])
	r.MinimumCount = le.Uint32(body[32:])
	r.Channel = le.Uint32(body[36:])
	r.RemainingBytes = le.Uint32(body[40:])
	r.ReadChannelInfo, err = Region(msg, uint32(le.Uint16(body[44:])), uint32(le.Uint16(body[46:])), HeaderSize+readRequestFixed)
	if err != nil {
		return wrapField("ReadChannelInfo", err)
	}
	return nil
}

// AppendTo appends the request body to b.
func (r *ReadRequest) AppendTo(b []byte) []byte {
	b = appendU16(b, readRequestFixed+1)
	b = append(b, r.Padding, r.Flags)
	b = appendU32(b, r.Length)
	b = appendU64(b, r.Offset)
	b = r.FileID.AppendTo(b)
	b = appendU32(b, r.MinimumCount)
	b = appendU32(b, r.Channel)
	b = appendU32(b, r.RemainingBytes)
	b = appendU16(b, bufOffset(len(r.ReadChannelInfo), HeaderSize+readRequestFixed))
	b = appendU16(b, uint16(len(r.ReadChannelInfo)))
	return appendBuffer(b, r.ReadChannelInfo)
}

// ReadResponse is the SMB2 READ response ([MS-SMB2] 2.2.20). Data is used
// by AppendTo and Decode; the server's hot path uses AppendFixedTo and
// sends the data it read in place.
type ReadResponse struct {
	DataLength    uint32
	DataRemaining uint32
	Flags         uint32
	Data          []byte
}

// AppendFixedTo appends the 16 fixed bytes of the response with DataOffset
// 0x50 (ReadResponseDataOffset) and DataLength dataLen; the caller places
// the data right after them. It does not allocate when b has room.
func (r *ReadResponse) AppendFixedTo(b []byte, dataLen uint32) []byte {
	b = appendU16(b, readResponseFixed+1)
	b = append(b, ReadResponseDataOffset, 0)
	b = appendU32(b, dataLen)
	b = appendU32(b, r.DataRemaining)
	return appendU32(b, r.Flags)
}

// AppendTo appends the fixed part and Data.
func (r *ReadResponse) AppendTo(b []byte) []byte {
	b = r.AppendFixedTo(b, uint32(len(r.Data)))
	return append(b, r.Data...)
}

// Decode decodes a READ response from msg (header included); Data aliases
// msg.
func (r *ReadResponse) Decode(msg []byte) error {
	body, err := Body(msg, readResponseFixed+1)
	if err != nil {
		return err
	}
	r.DataLength = le.Uint32(body[4:])
	r.DataRemaining = le.Uint32(body[8:])
	r.Flags = le.Uint32(body[12:])
	r.Data, err = Region(msg, uint32(body[2]), r.DataLength, HeaderSize+readResponseFixed)
	if err != nil {
		return wrapField("Data", err)
	}
	return nil
}
