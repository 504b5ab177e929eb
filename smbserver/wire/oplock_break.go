package wire

// Lease break notification Flags ([MS-SMB2] 2.2.23.2).
const LeaseBreakFlagAckRequired uint32 = 0x00000001

const (
	oplockBreakSize = 24 // [MS-SMB2] 2.2.23.1, 2.2.24.1, 2.2.25.1
	leaseBreakSize  = 44 // [MS-SMB2] 2.2.23.2 notification
	leaseAckSize    = 36 // [MS-SMB2] 2.2.24.2, 2.2.25.2
)

// OplockBreakKind tells an oplock break acknowledgment from a lease break
// acknowledgment; both arrive as command OPLOCK_BREAK and differ only in
// StructureSize ([MS-SMB2] 3.3.5.22).
type OplockBreakKind int

// Kinds of OPLOCK_BREAK requests.
const (
	OplockBreakAck OplockBreakKind = iota + 1
	LeaseBreakAck
)

// OplockBreakRequestKind inspects the StructureSize of an OPLOCK_BREAK
// request in msg and returns which acknowledgment it is.
func OplockBreakRequestKind(msg []byte) (OplockBreakKind, error) {
	if len(msg) < HeaderSize+2 {
		return 0, malformed("OPLOCK_BREAK of %d bytes has no body", len(msg))
	}
	switch le.Uint16(msg[HeaderSize:]) {
	case oplockBreakSize:
		return OplockBreakAck, nil
	case leaseAckSize:
		return LeaseBreakAck, nil
	}
	return 0, malformed("OPLOCK_BREAK StructureSize %d", le.Uint16(msg[HeaderSize:]))
}

// OplockBreak is the oplock break notification, acknowledgment and
// response, which share one layout ([MS-SMB2] 2.2.23.1, 2.2.24.1,
// 2.2.25.1).
type OplockBreak struct {
	OplockLevel uint8
	FileID      FileID
}

// Decode decodes an oplock break message from msg (header included).
func (r *OplockBreak) Decode(msg []byte) error {
	body, err := Body(msg, oplockBreakSize)
	if err != nil {
		return err
	}
	r.OplockLevel = body[2]
	r.FileID = DecodeFileID(body[8:])
	return nil
}

// AppendTo appends the body to b.
func (r *OplockBreak) AppendTo(b []byte) []byte {
	b = appendU16(b, oplockBreakSize)
	b = append(b, r.OplockLevel, 0)
	b = appendU32(b, 0)
	return r.FileID.AppendTo(b)
}

// Names of the three oplock break messages, for readability at call sites.
type (
	OplockBreakNotification   = OplockBreak
	OplockBreakAcknowledgment = OplockBreak
	OplockBreakResponse       = OplockBreak
	LeaseBreakAcknowledgment  = LeaseBreakAckMsg
	LeaseBreakResponse        = LeaseBreakAckMsg
)

// LeaseBreakNotification is sent by the server to break a lease ([MS-SMB2]
// 2.2.23.2).
type LeaseBreakNotification struct {
	NewEpoch          uint16
	Flags             uint32
	LeaseKey          [16]byte
	CurrentLeaseState uint32
	NewLeaseState     uint32
	BreakReason       uint32
	AccessMaskHint    uint32
	ShareMaskHint     uint32
}

// AppendTo appends the notification body to b.
func (r *LeaseBreakNotification) AppendTo(b []byte) []byte {
	b = appendU16(b, leaseBreakSize)
	b = appendU16(b, r.NewEpoch)
	b = appendU32(b, r.Flags)
	b = append(b, r.LeaseKey[:]...)
	b = appendU32(b, r.CurrentLeaseState)
	b = appendU32(b, r.NewLeaseState)
	b = appendU32(b, r.BreakReason)
	b = appendU32(b, r.AccessMaskHint)
	return appendU32(b, r.ShareMaskHint)
}

// Decode decodes a lease break notification from msg (header included).
func (r *LeaseBreakNotification) Decode(msg []byte) error {
	body, err := Body(msg, leaseBreakSize)
	if err != nil {
		return err
	}
	r.NewEpoch = le.Uint16(body[2:])
	r.Flags = le.Uint32(body[4:])
	copy(r.LeaseKey[:], body[8:24])
	r.CurrentLeaseState = le.Uint32(body[24:])
	r.NewLeaseState = le.Uint32(body[28:])
	r.BreakReason = le.Uint32(body[32:])
	r.AccessMaskHint = le.Uint32(body[36:])
	r.ShareMaskHint = le.Uint32(body[40:])
	return nil
}

// LeaseBreakAckMsg is the lease break acknowledgment and response, which
// share one layout ([MS-SMB2] 2.2.24.2, 2.2.25.2).
type LeaseBreakAckMsg struct {
	Flags         uint32
	LeaseKey      [16]byte
	LeaseState    uint32
	LeaseDuration uint64
}

// Decode decodes a lease break acknowledgment or response from msg.
func (r *LeaseBreakAckMsg) Decode(msg []byte) error {
	body, err := Body(msg, leaseAckSize)
	if err != nil {
		return err
	}
	r.Flags = le.Uint32(body[4:])
	copy(r.LeaseKey[:], body[8:24])
	r.LeaseState = le.Uint32(body[24:])
	r.LeaseDuration = le.Uint64(body[28:])
	return nil
}

// AppendTo appends the body to b.
func (r *LeaseBreakAckMsg) AppendTo(b []byte) []byte {
	b = appendU16(b, leaseAckSize)
	b = appendU16(b, 0)
	b = appendU32(b, r.Flags)
	b = append(b, r.LeaseKey[:]...)
	b = appendU32(b, r.LeaseState)
	return appendU64(b, r.LeaseDuration)
}
