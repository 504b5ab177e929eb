package wire

// LockElement Flags ([MS-SMB2] 2.2.26.1).
const (
	LockFlagSharedLock      uint32 = 0x00000001
	LockFlagExclusiveLock   uint32 = 0x00000002
	LockFlagUnlock          uint32 = 0x00000004
	LockFlagFailImmediately uint32 = 0x00000010
)

const (
	lockRequestFixed  = 24 // StructureSize 48 counts one 24-byte element
	lockElementSize   = 24
	lockRequestStruct = lockRequestFixed + lockElementSize
)

// LockElement is one SMB2_LOCK_ELEMENT ([MS-SMB2] 2.2.26.1).
type LockElement struct {
	Offset uint64
	Length uint64
	Flags  uint32
}

// LockRequest is the SMB2 LOCK request ([MS-SMB2] 2.2.26).
// LockSequenceNumber is the low 4 bits and LockSequenceIndex the high 28
// bits of the same 32-bit field (used for lock replay in 2.1 and 3.x).
type LockRequest struct {
	LockSequenceNumber uint8
	LockSequenceIndex  uint32
	FileID             FileID
	Locks              []LockElement
}

// Decode decodes a LOCK request from msg (header included). LockCount
// must be at least 1 and is checked against the bytes present before the
// elements are allocated ([MS-SMB2] 3.3.5.14).
func (r *LockRequest) Decode(msg []byte) error {
	body, err := Body(msg, lockRequestStruct)
	if err != nil {
		return err
	}
	count := int(le.Uint16(body[2:]))
	seq := le.Uint32(body[4:])
	r.LockSequenceNumber = uint8(seq & 0xF)
	r.LockSequenceIndex = seq >> 4
	r.FileID = DecodeFileID(body[8:])
	if count == 0 {
		return malformed("LockCount 0")
	}
	if lockRequestFixed+count*lockElementSize > len(body) {
		return malformed("LockCount %d needs %d bytes, body has %d", count, lockRequestFixed+count*lockElementSize, len(body))
	}
	r.Locks = make([]LockElement, count)
	for i := range r.Locks {
		e := body[lockRequestFixed+i*lockElementSize:]
		r.Locks[i] = LockElement{Offset: le.Uint64(e), Length: le.Uint64(e[8:]), Flags: le.Uint32(e[16:])}
	}
	return nil
}

// AppendTo appends the request body to b.
func (r *LockRequest) AppendTo(b []byte) []byte {
	b = appendU16(b, lockRequestStruct)
	b = appendU16(b, uint16(len(r.Locks)))
	b = appendU32(b, uint32(r.LockSequenceNumber&0xF)|r.LockSequenceIndex<<4)
	b = r.FileID.AppendTo(b)
	for _, l := range r.Locks {
		b = appendU64(b, l.Offset)
		b = appendU64(b, l.Length)
		b = appendU32(b, l.Flags)
		b = appendU32(b, 0)
	}
	return b
}

// LockResponse is the SMB2 LOCK response ([MS-SMB2] 2.2.27).
type LockResponse struct{}

// AppendTo appends the response body to b.
func (r *LockResponse) AppendTo(b []byte) []byte { return appendSimple(b) }

// Decode checks a LOCK response in msg (header included).
func (r *LockResponse) Decode(msg []byte) error { return decodeSimple(msg) }
