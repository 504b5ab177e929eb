package wire

import "fmt"

// Create context names ([MS-SMB2] 2.2.13.2). Tags are four ASCII bytes;
// the GUID-named contexts use the 16 GUID bytes as sent on the wire.
const (
	CreateContextEABuffer           = "ExtA"
	CreateContextSDBuffer           = "SecD"
	CreateContextDurableHandle      = "DHnQ"
	CreateContextDurableReconnect   = "DHnC"
	CreateContextAllocationSize     = "AlSi"
	CreateContextMaximalAccess      = "MxAc"
	CreateContextTimewarp           = "TWrp"
	CreateContextQueryOnDiskID      = "QFid"
	CreateContextRequestLease       = "RqLs"
	CreateContextDurableHandleV2    = "DH2Q"
	CreateContextDurableReconnectV2 = "DH2C"
	CreateContextAAPL               = "AAPL" // Apple extensions; ignored
	CreateContextAppInstanceID      = "\x45\xBC\xA6\x6A\xEF\xA7\xF7\x4A\x90\x08\xFA\x46\x2E\x14\x4D\x74"
	CreateContextAppInstanceVersion = "\xB9\x82\xD0\xB7\x3B\x56\x07\x4F\xA0\x7B\x52\x4A\x81\x16\xA0\x10"
	createContextHeader             = 16 // Next, NameOffset, NameLength, Reserved, DataOffset, DataLength
)

// CreateContext is one SMB2_CREATE_CONTEXT ([MS-SMB2] 2.2.13.2). Data
// aliases the message it was decoded from.
type CreateContext struct {
	Name string
	Data []byte
}

// DecodeCreateContexts decodes a create context chain. chain is exactly
// the CreateContextsOffset/CreateContextsLength region; every context,
// name and data must lie inside it, each Next must be 8-byte aligned and
// move forward, and a context's name and data must lie inside that
// context (before the next one) and after its 16-byte header. The number
// of contexts is bounded by len(chain)/16, so a hostile chain cannot make
// the decoder allocate more than the message size justifies.
func DecodeCreateContexts(chain []byte) ([]CreateContext, error) {
	if len(chain) == 0 {
		return nil, nil
	}
	var out []CreateContext
	off := 0
	for i := 0; ; i++ {
		if off+createContextHeader > len(chain) {
			return nil, malformed("create context %d header at %d past chain end %d", i, off, len(chain))
		}
		c := chain[off:]
		next := int(le.Uint32(c))
		end := len(c)
		if next != 0 {
			if next%8 != 0 || next < createContextHeader || next > len(c) {
				return nil, malformed("create context %d Next %d invalid", i, next)
			}
			end = next
		}
		nameOff, nameLen := int(le.Uint16(c[4:])), int(le.Uint16(c[6:]))
		dataOff, dataLen := int(le.Uint16(c[10:])), int(le.Uint32(c[12:]))
		if nameLen == 0 || nameOff < createContextHeader || nameOff+nameLen > end {
			return nil, malformed("create context %d name [%d,+%d) outside [16,%d)", i, nameOff, nameLen, end)
		}
		var data []byte
		if dataLen > 0 {
			if dataOff < nameOff+nameLen || dataOff+dataLen > end {
				return nil, malformed("create context %d data [%d,+%d) outside [%d,%d)", i, dataOff, dataLen, nameOff+nameLen, end)
			}
			data = c[dataOff : dataOff+dataLen : dataOff+dataLen]
		}
		out = append(out, CreateContext{Name: string(c[nameOff : nameOff+nameLen]), Data: data})
		if next == 0 {
			return out, nil
		}
		off += next
	}
}

// AppendCreateContexts appends cs as a create context chain to b. b must
// be 8-byte aligned relative to the header already; each context's name
// starts at 16 and its data at the next 8-byte boundary after the name,
// as Windows lays them out.
func AppendCreateContexts(b []byte, cs []CreateContext) []byte {
	for i, c := range cs {
		start := len(b)
		b = appendU32(b, 0) // Next, patched below
		b = appendU16(b, createContextHeader)
		b = appendU16(b, uint16(len(c.Name)))
		b = appendU16(b, 0)
		dataOff := 0
		if len(c.Data) > 0 {
			dataOff = (createContextHeader + len(c.Name) + 7) &^ 7
		}
		b = appendU16(b, uint16(dataOff))
		b = appendU32(b, uint32(len(c.Data)))
		b = append(b, c.Name...)
		if len(c.Data) > 0 {
			for len(b)-start < dataOff {
				b = append(b, 0)
			}
			b = append(b, c.Data...)
		}
		if i < len(cs)-1 {
			for (len(b)-start)%8 != 0 {
				b = append(b, 0)
			}
			le.PutUint32(b[start:], uint32(len(b)-start))
		}
	}
	return b
}

// DecodeMaximalAccessRequest decodes the MxAc request Data ([MS-SMB2]
// 2.2.13.2.5): empty, or an 8-byte FILETIME Timestamp.
func DecodeMaximalAccessRequest(d []byte) (timestamp uint64, present bool, err error) {
	switch len(d) {
	case 0:
		return 0, false, nil
	case 8:
		return le.Uint64(d), true, nil
	}
	return 0, false, malformed("MxAc request of %d bytes", len(d))
}

// EncodeMaximalAccessResponse encodes the MxAc response Data ([MS-SMB2]
// 2.2.14.2.5).
func EncodeMaximalAccessResponse(queryStatus Status, maximalAccess uint32) []byte {
	b := make([]byte, 0, 8)
	b = appendU32(b, uint32(queryStatus))
	return appendU32(b, maximalAccess)
}

// DecodeMaximalAccessResponse decodes MxAc response Data.
func DecodeMaximalAccessResponse(d []byte) (queryStatus Status, maximalAccess uint32, err error) {
	if len(d) < 8 {
		return 0, 0, malformed("MxAc response of %d bytes", len(d))
	}
	return Status(le.Uint32(d)), le.Uint32(d[4:]), nil
}

// QueryOnDiskID is the QFid response Data ([MS-SMB2] 2.2.14.2.9).
type QueryOnDiskID struct {
	DiskFileID [16]byte
	VolumeID   [16]byte
}

// Encode returns the 32-byte QFid response Data.
func (q QueryOnDiskID) Encode() []byte {
	b := make([]byte, 0, 32)
	b = append(b, q.DiskFileID[:]...)
	return append(b, q.VolumeID[:]...)
}

// DecodeQueryOnDiskID decodes QFid response Data.
func DecodeQueryOnDiskID(d []byte) (QueryOnDiskID, error) {
	var q QueryOnDiskID
	if len(d) < 32 {
		return q, malformed("QFid of %d bytes", len(d))
	}
	copy(q.DiskFileID[:], d[:16])
	copy(q.VolumeID[:], d[16:32])
	return q, nil
}

// DecodeAllocationSize decodes AlSi request Data ([MS-SMB2] 2.2.13.2.6).
func DecodeAllocationSize(d []byte) (uint64, error) {
	if len(d) != 8 {
		return 0, malformed("AlSi of %d bytes", len(d))
	}
	return le.Uint64(d), nil
}

// DecodeTimewarp decodes TWrp request Data ([MS-SMB2] 2.2.13.2.7): the
// FILETIME of the snapshot to open.
func DecodeTimewarp(d []byte) (uint64, error) {
	if len(d) != 8 {
		return 0, malformed("TWrp of %d bytes", len(d))
	}
	return le.Uint64(d), nil
}

// DecodeDurableHandleRequest checks DHnQ request Data ([MS-SMB2]
// 2.2.13.2.3): 16 reserved bytes.
func DecodeDurableHandleRequest(d []byte) error {
	if len(d) != 16 {
		return malformed("DHnQ of %d bytes", len(d))
	}
	return nil
}

// EncodeDurableHandleResponse returns DHnQ response Data ([MS-SMB2]
// 2.2.14.2.3): 8 reserved bytes.
func EncodeDurableHandleResponse() []byte { return make([]byte, 8) }

// DecodeDurableHandleReconnect decodes DHnC request Data ([MS-SMB2]
// 2.2.13.2.4): the FileId of the open to reclaim.
func DecodeDurableHandleReconnect(d []byte) (FileID, error) {
	if len(d) != FileIDSize {
		return FileID{}, malformed("DHnC of %d bytes", len(d))
	}
	return DecodeFileID(d), nil
}

// Durable handle v2 flags ([MS-SMB2] 2.2.13.2.11).
const DurableHandleFlagPersistent uint32 = 0x00000002

// DurableHandleRequestV2 is DH2Q request Data ([MS-SMB2] 2.2.13.2.11).
type DurableHandleRequestV2 struct {
	Timeout    uint32
	Flags      uint32
	CreateGUID [16]byte
}

// DecodeDurableHandleRequestV2 decodes DH2Q request Data.
func DecodeDurableHandleRequestV2(d []byte) (DurableHandleRequestV2, error) {
	var q DurableHandleRequestV2
	if len(d) != 32 {
		return q, malformed("DH2Q of %d bytes", len(d))
	}
	q.Timeout = le.Uint32(d)
	q.Flags = le.Uint32(d[4:])
	copy(q.CreateGUID[:], d[16:32])
	return q, nil
}

// Encode returns the 32-byte DH2Q request Data.
func (q DurableHandleRequestV2) Encode() []byte {
	b := make([]byte, 0, 32)
	b = appendU32(b, q.Timeout)
	b = appendU32(b, q.Flags)
	b = appendU64(b, 0)
	return append(b, q.CreateGUID[:]...)
}

// DurableHandleResponseV2 is DH2Q response Data ([MS-SMB2] 2.2.14.2.12).
type DurableHandleResponseV2 struct {
	Timeout uint32
	Flags   uint32
}

// Encode returns the 8-byte DH2Q response Data.
func (r DurableHandleResponseV2) Encode() []byte {
	return appendU32(appendU32(make([]byte, 0, 8), r.Timeout), r.Flags)
}

// DecodeDurableHandleResponseV2 decodes DH2Q response Data.
func DecodeDurableHandleResponseV2(d []byte) (DurableHandleResponseV2, error) {
	if len(d) != 8 {
		return DurableHandleResponseV2{}, malformed("DH2Q response of %d bytes", len(d))
	}
	return DurableHandleResponseV2{Timeout: le.Uint32(d), Flags: le.Uint32(d[4:])}, nil
}

// DurableHandleReconnectV2 is DH2C request Data ([MS-SMB2] 2.2.13.2.12).
type DurableHandleReconnectV2 struct {
	FileID     FileID
	CreateGUID [16]byte
	Flags      uint32
}

// DecodeDurableHandleReconnectV2 decodes DH2C request Data.
func DecodeDurableHandleReconnectV2(d []byte) (DurableHandleReconnectV2, error) {
	var q DurableHandleReconnectV2
	if len(d) != 36 {
		return q, malformed("DH2C of %d bytes", len(d))
	}
	q.FileID = DecodeFileID(d)
	copy(q.CreateGUID[:], d[16:32])
	q.Flags = le.Uint32(d[32:])
	return q, nil
}

// Encode returns the 36-byte DH2C request Data.
func (q DurableHandleReconnectV2) Encode() []byte {
	b := q.FileID.AppendTo(make([]byte, 0, 36))
	b = append(b, q.CreateGUID[:]...)
	return appendU32(b, q.Flags)
}

// Lease states and flags ([MS-SMB2] 2.2.13.2.8, 2.2.13.2.10).
const (
	LeaseNone        uint32 = 0x00
	LeaseReadCaching uint32 = 0x01
	LeaseHandleCache uint32 = 0x02
	LeaseWriteCache  uint32 = 0x04

	LeaseFlagBreakInProgress uint32 = 0x00000002
	LeaseFlagParentKeySet    uint32 = 0x00000004
	leaseV1Size                     = 32
	leaseV2Size                     = 52
)

// Lease is the RqLs create context in both directions ([MS-SMB2]
// 2.2.13.2.8 v1, 2.2.13.2.10 v2; responses 2.2.14.2.10/11). V2 is true
// for the 52-byte form that carries ParentLeaseKey and Epoch.
type Lease struct {
	V2             bool
	LeaseKey       [16]byte
	LeaseState     uint32
	LeaseFlags     uint32
	LeaseDuration  uint64
	ParentLeaseKey [16]byte
	Epoch          uint16
}

// DecodeLease decodes RqLs Data of either version, chosen by its length.
func DecodeLease(d []byte) (Lease, error) {
	var l Lease
	switch len(d) {
	case leaseV1Size:
	case leaseV2Size:
		l.V2 = true
		copy(l.ParentLeaseKey[:], d[32:48])
		l.Epoch = le.Uint16(d[48:])
	default:
		return l, malformed("RqLs of %d bytes", len(d))
	}
	copy(l.LeaseKey[:], d[:16])
	l.LeaseState = le.Uint32(d[16:])
	l.LeaseFlags = le.Uint32(d[20:])
	l.LeaseDuration = le.Uint64(d[24:])
	return l, nil
}

// Encode returns the RqLs Data, 32 bytes for v1 and 52 for v2.
func (l Lease) Encode() []byte {
	b := make([]byte, 0, leaseV2Size)
	b = append(b, l.LeaseKey[:]...)
	b = appendU32(b, l.LeaseState)
	b = appendU32(b, l.LeaseFlags)
	b = appendU64(b, l.LeaseDuration)
	if !l.V2 {
		return b
	}
	b = append(b, l.ParentLeaseKey[:]...)
	b = appendU16(b, l.Epoch)
	return appendU16(b, 0)
}

// ContextName returns a printable form of a create context name for logs.
func ContextName(name string) string {
	if len(name) == 4 {
		return name
	}
	return fmt.Sprintf("%x", name)
}
