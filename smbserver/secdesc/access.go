package secdesc

// Access mask bits used by the access check ([MS-DTYP] 2.4.3).
const (
	Delete               uint32 = 0x00010000
	ReadControl          uint32 = 0x00020000
	WriteDAC             uint32 = 0x00040000
	WriteOwner           uint32 = 0x00080000
	Synchronize          uint32 = 0x00100000
	AccessSystemSecurity uint32 = 0x01000000
	MaximumAllowed       uint32 = 0x02000000
	GenericAll           uint32 = 0x10000000
	GenericExecute       uint32 = 0x20000000
	GenericWrite         uint32 = 0x40000000
	GenericRead          uint32 = 0x80000000

	genericBits = GenericAll | GenericExecute | GenericWrite | GenericRead
)

// GenericMapping maps the four generic rights to an object's specific and
// standard rights ([MS-DTYP] 2.4.3, GENERIC_MAPPING).
type GenericMapping struct {
	Read, Write, Execute, All uint32
}

// FileMapping is the mapping of NTFS files and directories
// (FILE_GENERIC_READ, FILE_GENERIC_WRITE, FILE_GENERIC_EXECUTE,
// FILE_ALL_ACCESS).
var FileMapping = GenericMapping{
	Read:    0x00120089,
	Write:   0x00120116,
	Execute: 0x001200A0,
	All:     0x001F01FF,
}

// Map replaces the generic bits of mask by the rights they stand for.
func (m GenericMapping) Map(mask uint32) uint32 {
	out := mask &^ genericBits
	if mask&GenericRead != 0 {
		out |= m.Read
	}
	if mask&GenericWrite != 0 {
		out |= m.Write
	}
	if mask&GenericExecute != 0 {
		out |= m.Execute
	}
	if mask&GenericAll != 0 {
		out |= m.All
	}
	return out
}

// Token is the security context of a session: the SIDs an access check
// matches ACEs against ([MS-DTYP] 2.5.2, simplified: no privileges, no
// restricted SIDs, no claims).
type Token struct {
	User SID
	// PrimaryGroup becomes the group of objects the token creates.
	PrimaryGroup SID
	// Groups are the other SIDs the token holds (Everyone, Authenticated
	// Users, local groups).
	Groups []SID
}

// Has reports whether s is the token's user or one of its groups.
func (t *Token) Has(s SID) bool {
	if s == t.User || s == t.PrimaryGroup {
		return !s.IsZero()
	}
	for _, g := range t.Groups {
		if g == s {
			return true
		}
	}
	return false
}

// MaximalAccess returns every right sd grants tok: the access check of
// [MS-DTYP] 2.5.3.2 run with MAXIMUM_ALLOWED. A missing or NULL DACL grants
// everything in m.All. The owner holds READ_CONTROL and WRITE_DAC unless
// an OWNER RIGHTS (S-1-3-4) ACE says otherwise; those two cannot be denied
// to the owner by a later deny ACE, as the spec grants them first.
// Inherit-only ACEs do not apply to the object itself. Conditional
// (callback) allow ACEs are never applied and conditional deny ACEs
// always are: sofs evaluates no claims, and this errs on the safe side.
func MaximalAccess(sd *SecurityDescriptor, tok *Token, m GenericMapping) uint32 {
	if sd.Control&DACLPresent == 0 || sd.DACL == nil {
		return m.All
	}
	isOwner := !sd.Owner.IsZero() && tok.Has(sd.Owner)
	ownerRights := false
	for _, a := range sd.DACL.ACEs {
		if a.Flags&InheritOnly == 0 && hasSID(a.Type) && a.SID == OwnerRights {
			ownerRights = true
			break
		}
	}
	var allowed, denied uint32
	if isOwner && !ownerRights {
		allowed = ReadControl | WriteDAC
	}
	for _, a := range sd.DACL.ACEs {
		if a.Flags&InheritOnly != 0 || !hasSID(a.Type) {
			continue
		}
		match := tok.Has(a.SID) || (a.SID == OwnerRights && isOwner)
		if !match {
			continue
		}
		mask := m.Map(a.Mask)
		switch a.Type {
		case AccessAllowed:
			allowed |= mask &^ denied
		case AccessDenied, AccessDeniedCallback:
			denied |= mask &^ allowed
		}
	}
	return allowed & (m.All | AccessSystemSecurity)
}

// Check runs the access check for desired (already generic-mapped or
// not; MAXIMUM_ALLOWED honoured) against the rights in max, as computed by
// MaximalAccess. It returns the granted access and whether every
// requested right is granted.
func Check(max, desired uint32, m GenericMapping) (granted uint32, ok bool) {
	want := m.Map(desired) &^ MaximumAllowed
	if want&^max != 0 {
		return 0, false
	}
	if desired&MaximumAllowed != 0 {
		return max | want, true
	}
	return want, true
}
