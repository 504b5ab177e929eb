package smbserver

import (
	"encoding/binary"

	"sofs.io/sofs/smbserver/wire"
)

// SecurityInformation bits ([MS-DTYP] 2.4.7).
const (
	secOwner = 0x00000001
	secGroup = 0x00000002
	secDACL  = 0x00000004
	secSACL  = 0x00000008
)

// Well-known SIDs in binary form ([MS-DTYP] 2.4.2).
var (
	sidEveryone       = []byte{1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}
	sidAdministrators = []byte{1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 2, 0, 0}
)

// querySecurity returns the descriptor of o. Per-file descriptors are
// stored with issue #3; until then every file reports the same honest
// descriptor: owned by Administrators, Everyone granted full control,
// which is what the share's access rules enforce.
func (c *conn) querySecurity(o *open, addl uint32) ([]byte, wire.Status) {
	if addl&secSACL != 0 && o.access&accessSystemSec == 0 {
		return nil, wire.StatusAccessDenied
	}
	if addl&(secOwner|secGroup|secDACL) != 0 && o.access&readControl == 0 {
		return nil, wire.StatusAccessDenied
	}
	return defaultSecurityDescriptor(addl, o.isDir), wire.StatusSuccess
}

// defaultSecurityDescriptor builds a self-relative SECURITY_DESCRIPTOR
// ([MS-DTYP] 2.4.6) holding the parts addl asks for.
func defaultSecurityDescriptor(addl uint32, dir bool) []byte {
	const hdr = 20
	control := uint16(0x8000) // SE_SELF_RELATIVE
	b := make([]byte, hdr, 128)
	b[0] = 1 // Revision
	var offOwner, offGroup, offDACL uint32
	if addl&secOwner != 0 {
		offOwner = uint32(len(b))
		b = append(b, sidAdministrators...)
	}
	if addl&secGroup != 0 {
		offGroup = uint32(len(b))
		b = append(b, sidAdministrators...)
	}
	if addl&secDACL != 0 {
		control |= 0x0004 // SE_DACL_PRESENT
		offDACL = uint32(len(b))
		var aceFlags byte
		if dir {
			aceFlags = 0x01 | 0x02 // OBJECT_INHERIT | CONTAINER_INHERIT
		}
		aceSize := 8 + len(sidEveryone)
		aclSize := 8 + aceSize
		acl := make([]byte, 8, aclSize)
		acl[0] = 2 // ACL_REVISION
		binary.LittleEndian.PutUint16(acl[2:], uint16(aclSize))
		binary.LittleEndian.PutUint16(acl[4:], 1) // AceCount
		ace := []byte{0 /* ACCESS_ALLOWED */, aceFlags, byte(aceSize), byte(aceSize >> 8)}
		ace = binary.LittleEndian.AppendUint32(ace, fileAllAccess)
		ace = append(ace, sidEveryone...)
		b = append(b, append(acl, ace...)...)
	}
	binary.LittleEndian.PutUint16(b[2:], control)
	binary.LittleEndian.PutUint32(b[4:], offOwner)
	binary.LittleEndian.PutUint32(b[8:], offGroup)
	binary.LittleEndian.PutUint32(b[12:], 0) // no SACL
	binary.LittleEndian.PutUint32(b[16:], offDACL)
	return b
}
