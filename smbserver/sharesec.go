package smbserver

import (
	"fmt"
	"strings"

	"sofs.io/sofs/smbserver/secdesc"
)

// SharePermission is one entry of a share's permissions, the share-level
// access list Windows manages with Grant-SmbShareAccess and
// Block-SmbShareAccess. It applies on top of the files' own descriptors:
// an open gets what both allow ([MS-SMB2] 3.3.5.7: the tree connect's
// MaximalAccess is the share's; 3.3.5.9: CREATE checks both).
type SharePermission struct {
	// Account is "Everyone", "Authenticated Users", "Users", "Guests",
	// "Administrators", a SID in S-1-... form, a sofs user name, or a
	// domain account's name (then SID says who it is).
	Account string
	// SID, when set, is the account's SID (resolved from a domain name
	// when the permission was saved) and wins over Account.
	SID string
	// Access is "read", "change" or "full" (case-insensitive).
	Access string
	// Deny refuses the rights instead of granting them; deny entries
	// are evaluated first, as Windows orders them.
	Deny bool
}

// Share rights as Windows grants them ([MS-SRVS] share permissions):
// Read is FILE_GENERIC_READ|FILE_GENERIC_EXECUTE, Change adds writing and
// deleting, Full adds WRITE_DAC, WRITE_OWNER and DELETE_CHILD.
const (
	shareRightRead   uint32 = 0x001200A9
	shareRightChange uint32 = 0x001301BF
	shareRightFull   uint32 = 0x001F01FF
)

// ShareAccessMask returns the access mask of a share right name.
func ShareAccessMask(access string) (uint32, error) {
	switch strings.ToLower(access) {
	case "read":
		return shareRightRead, nil
	case "change":
		return shareRightChange, nil
	case "full":
		return shareRightFull, nil
	}
	return 0, fmt.Errorf("share access %q: want read, change or full", access)
}

// accountSID resolves a SharePermission account; ok is false for a name
// that is neither well known, nor a SID, nor a valid user name.
func (s *Server) accountSID(account string) (secdesc.SID, bool) {
	switch strings.ToLower(strings.TrimSpace(account)) {
	case "everyone":
		return secdesc.Everyone, true
	case "authenticated users":
		return secdesc.AuthenticatedUsers, true
	case "users":
		return secdesc.Users, true
	case "guests":
		return secdesc.Guests, true
	case "administrators":
		return secdesc.Administrators, true
	case "":
		return secdesc.SID{}, false
	}
	if strings.HasPrefix(strings.ToUpper(account), "S-1-") {
		sid, err := secdesc.ParseSID(account)
		return sid, err == nil
	}
	return UserSID(s.cfg.ServerGUID, account), true
}

// permissionSID is p's SID: the stored one, else its account's.
func (s *Server) permissionSID(p SharePermission) (secdesc.SID, bool) {
	if p.SID != "" {
		sid, err := secdesc.ParseSID(p.SID)
		return sid, err == nil
	}
	if strings.ContainsAny(p.Account, `\@`) {
		// A domain name that was never resolved names nobody; it must
		// not fall through to a local user's SID.
		return secdesc.SID{}, false
	}
	return s.accountSID(p.Account)
}

// shareAccess is the share-level maximal access of tok on sh: everything
// without permissions, else what the permissions grant tok (a deny entry
// wins over an allow). Entries that do not resolve are skipped (an
// unknown allow grants nothing; an unknown deny denies nobody):
// namespace validation keeps them out.
func (s *Server) shareAccess(sh Share, tok *secdesc.Token) uint32 {
	if len(sh.Permissions) == 0 {
		return shareRightFull
	}
	acl := &secdesc.ACL{Revision: secdesc.ACLRevision}
	for _, deny := range []bool{true, false} {
		for _, p := range sh.Permissions {
			if p.Deny != deny {
				continue
			}
			mask, err := ShareAccessMask(p.Access)
			sid, ok := s.permissionSID(p)
			if err != nil || !ok {
				continue
			}
			typ := secdesc.AccessAllowed
			if deny {
				typ = secdesc.AccessDenied
			}
			acl.ACEs = append(acl.ACEs, secdesc.ACE{Type: typ, Mask: mask, SID: sid})
		}
	}
	sd := &secdesc.SecurityDescriptor{Control: secdesc.SelfRelative | secdesc.DACLPresent, DACL: acl}
	return secdesc.MaximalAccess(sd, tok, secdesc.FileMapping)
}
