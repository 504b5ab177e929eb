package smbserver

import (
	"errors"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/secdesc"
	"sofs.io/sofs/smbserver/wire"
)

// SecurityInformation bits ([MS-DTYP] 2.4.7).
const (
	secOwner = secdesc.OwnerSecurityInformation
	secGroup = secdesc.GroupSecurityInformation
	secDACL  = secdesc.DACLSecurityInformation
	secSACL  = secdesc.SACLSecurityInformation
	secLabel = secdesc.LabelSecurityInformation
)

// statusInvalidACL is STATUS_INVALID_ACL ([MS-ERREF] 2.3.1): the ACL
// structure is not valid (here: inheritance would make it too large).
const statusInvalidACL wire.Status = 0xC0000077

// statusInvalidOwner is STATUS_INVALID_OWNER ([MS-ERREF] 2.3.1): the SID
// may not be assigned as the owner of an object.
const statusInvalidOwner wire.Status = 0xC000005A

// openSD returns the effective descriptor of o's object (stored, or the
// default objectSD computes). Pipes report a fixed descriptor that lets
// Everyone use them, which is what their handling enforces.
func (c *conn) openSD(o *open) (*secdesc.SecurityDescriptor, wire.Status) {
	if o.handle == nil {
		return &secdesc.SecurityDescriptor{
			Control: secdesc.SelfRelative | secdesc.DACLPresent,
			Owner:   secdesc.LocalSystem,
			Group:   secdesc.LocalSystem,
			DACL: &secdesc.ACL{Revision: secdesc.ACLRevision, ACEs: []secdesc.ACE{
				{Type: secdesc.AccessAllowed, Mask: fileAllAccess, SID: secdesc.Everyone},
			}},
		}, wire.StatusSuccess
	}
	raw, _, err := o.handle.SecurityDescriptor()
	if err != nil {
		return nil, c.mapErr(err)
	}
	return objectSD(o.tree.share, o.name, o.isDir, raw), wire.StatusSuccess
}

// querySecurity answers QUERY_INFO for SMB2_0_INFO_SECURITY ([MS-SMB2]
// 3.3.5.20.3): the parts addl selects, each needing its right on the open
// (READ_CONTROL for owner, group, DACL and label; ACCESS_SYSTEM_SECURITY
// for the SACL, [MS-DTYP] 2.4.7).
func (c *conn) querySecurity(o *open, addl uint32) ([]byte, wire.Status) {
	if addl&secSACL != 0 && o.access&accessSystemSec == 0 {
		return nil, wire.StatusAccessDenied
	}
	if addl&(secOwner|secGroup|secDACL|secLabel) != 0 && o.access&readControl == 0 {
		return nil, wire.StatusAccessDenied
	}
	sd, st := c.openSD(o)
	if st != wire.StatusSuccess {
		return nil, st
	}
	return sd.Select(addl).Encode(), wire.StatusSuccess
}

// setSecurity handles SET_INFO for SMB2_0_INFO_SECURITY ([MS-SMB2]
// 3.3.5.21.3, [MS-FSA] 2.1.5.16): owner and group need WRITE_OWNER, the
// DACL WRITE_DAC, the SACL ACCESS_SYSTEM_SECURITY. The new owner must be a
// SID of the caller's token or the current owner (no SeRestorePrivilege or
// SeTakeOwnershipPrivilege is modelled), else STATUS_INVALID_OWNER.
// Generic rights in the new ACEs are mapped, as NTFS stores them.
func (c *conn) setSecurity(o *open, addl uint32, buf []byte) wire.Status {
	if o.handle == nil {
		return wire.StatusNotSupported
	}
	if o.tree.share.ReadOnly {
		return wire.StatusAccessDenied
	}
	if addl&(secOwner|secGroup|secLabel) != 0 && o.access&writeOwner == 0 {
		return wire.StatusAccessDenied
	}
	if addl&secDACL != 0 && o.access&writeDAC == 0 {
		return wire.StatusAccessDenied
	}
	if addl&secSACL != 0 && o.access&accessSystemSec == 0 {
		return wire.StatusAccessDenied
	}
	upd, err := secdesc.Decode(buf)
	if err != nil {
		return wire.StatusInvalidSecurityDescr
	}
	sd, st := c.openSD(o)
	if st != wire.StatusSuccess {
		return st
	}
	if addl&secOwner != 0 && !upd.Owner.IsZero() && upd.Owner != sd.Owner {
		// The new owner must be one of the caller's own SIDs. Windows
		// also requires SE_GROUP_OWNER on a group; sofs, like Samba,
		// accepts any SID of the token (smbtorture's
		// smb2.acls.SDFLAGSVSCHOWN hands a file to Everyone and back).
		if !c.srv.tokenFor(o.sess).Has(upd.Owner) {
			return statusInvalidOwner
		}
	}
	if upd.DACL != nil {
		upd.DACL = secdesc.MapACL(upd.DACL, secdesc.FileMapping)
	}
	sd.Merge(upd, addl&(secOwner|secGroup|secDACL|secSACL))
	if err := o.handle.SetSecurityDescriptor(sd.Encode()); err != nil {
		if errors.Is(err, csv.ErrSecurityUnsupported) {
			return wire.StatusNotSupported
		}
		return c.mapErr(err)
	}
	return wire.StatusSuccess
}
