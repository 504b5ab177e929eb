package secdesc

// Create computes the descriptor of a new object ([MS-DTYP] 2.5.3.4.1
// CreateSecurityDescriptor) from its parent's descriptor (nil at a root
// without one), the descriptor the creator supplied (nil when none: the
// SMB2 SecD create context, [MS-SMB2] 2.2.13.2), whether the object is a
// container, and the creator's token.
//
// Owner and group come from the creator's descriptor when it has them,
// else from the token. A DACL the creator supplies (and does not mark
// defaulted) is used as given, generic rights mapped, with its
// PROTECTED and AUTO_INHERITED bits: NTFS does not merge the parent's
// ACEs into an explicit DACL on create (smbtorture's smb2.create.aclfile
// reads back exactly the DACL it sent, INHERITED_ACE flags included).
// Otherwise the parent's inheritable ACEs make the DACL, and
// when there are none the token's default applies: full control for the
// owner and for SYSTEM, which is what Windows gives (and what smbtorture's
// smb2.acls.INHERITANCE expects). SACLs follow the same rules, with no
// default. Inherited ACEs carry INHERITED_ACE, and the new descriptor
// DACL_AUTO_INHERITED, only when the parent is auto-inherited
// ([MS-DTYP] 2.5.3.4.1: AutoInheritFlags come from the parent).
func Create(parent, creator *SecurityDescriptor, isDir bool, tok *Token, m GenericMapping) *SecurityDescriptor {
	sd := &SecurityDescriptor{Control: SelfRelative, Owner: tok.User, Group: tok.PrimaryGroup}
	if creator != nil {
		if !creator.Owner.IsZero() {
			sd.Owner = creator.Owner
		}
		if !creator.Group.IsZero() {
			sd.Group = creator.Group
		}
	}
	var pd, ps *ACL
	var daclAI, saclAI bool
	if parent != nil {
		if parent.Control&DACLPresent != 0 {
			pd = parent.DACL
		}
		if parent.Control&SACLPresent != 0 {
			ps = parent.SACL
		}
		daclAI = parent.Control&DACLAutoInherited != 0
		saclAI = parent.Control&SACLAutoInherited != 0
	}

	// DACL.
	if creator != nil && creator.Control&DACLPresent != 0 && creator.Control&DACLDefaulted == 0 {
		sd.Control |= DACLPresent | creator.Control&(DACLProtected|DACLAutoInherited)
		if creator.DACL != nil {
			sd.DACL = MapACL(creator.DACL, m)
		}
	} else {
		sd.Control |= DACLPresent
		inh := inheritACEs(pd, isDir, sd.Owner, sd.Group, daclAI, m)
		if len(inh) == 0 {
			inh = []ACE{
				{Type: AccessAllowed, Mask: m.All, SID: sd.Owner},
				{Type: AccessAllowed, Mask: m.All, SID: LocalSystem},
			}
		} else if daclAI {
			sd.Control |= DACLAutoInherited
		}
		sd.DACL = &ACL{Revision: ACLRevision, ACEs: inh}
	}

	// SACL.
	if creator != nil && creator.Control&SACLPresent != 0 && creator.Control&SACLDefaulted == 0 {
		sd.Control |= SACLPresent | creator.Control&(SACLProtected|SACLAutoInherited)
		if creator.SACL != nil {
			sd.SACL = MapACL(creator.SACL, m)
		}
	} else if inh := inheritACEs(ps, isDir, sd.Owner, sd.Group, saclAI, m); len(inh) > 0 {
		sd.Control |= SACLPresent
		if saclAI {
			sd.Control |= SACLAutoInherited
		}
		sd.SACL = &ACL{Revision: ACLRevision, ACEs: inh}
	}
	return sd
}

// inheritACEs returns the ACEs a new object inherits from its parent's
// ACL ([MS-DTYP] 2.5.3.4.2 ComputeInheritedACLfromParent):
//
//   - a file takes every OBJECT_INHERIT ACE as an effective ACE;
//   - a directory takes every CONTAINER_INHERIT ACE: with
//     NO_PROPAGATE_INHERIT as an effective ACE only; otherwise as an
//     ACE that is both effective and inheritable, split in two (an
//     effective ACE with CREATOR OWNER/GROUP replaced and generic rights
//     mapped, plus an inherit-only copy) when the SID or the mask would
//     change;
//   - a directory takes an OBJECT_INHERIT-only ACE (no NO_PROPAGATE) as an
//     inherit-only ACE, to pass on to files below.
func inheritACEs(l *ACL, isDir bool, owner, group SID, autoInherit bool, m GenericMapping) []ACE {
	if l == nil {
		return nil
	}
	var out []ACE
	mark := func(a ACE) ACE {
		if autoInherit {
			a.Flags |= Inherited
		} else {
			a.Flags &^= Inherited
		}
		return a
	}
	effective := func(a ACE) ACE {
		a.Flags &^= inheritFlags
		a.Mask = m.Map(a.Mask)
		switch a.SID {
		case CreatorOwner:
			a.SID = owner
		case CreatorGroup:
			a.SID = group
		}
		return mark(a)
	}
	for _, a := range l.ACEs {
		if !hasSID(a.Type) {
			continue
		}
		switch {
		case !isDir:
			if a.Flags&ObjectInherit != 0 {
				out = append(out, effective(a))
			}
		case a.Flags&ContainerInherit != 0:
			if a.Flags&NoPropagateInherit != 0 {
				out = append(out, effective(a))
				continue
			}
			if a.SID == CreatorOwner || a.SID == CreatorGroup || a.Mask&genericBits != 0 {
				out = append(out, effective(a))
				c := a
				c.Flags |= InheritOnly
				out = append(out, mark(c))
				continue
			}
			c := a
			c.Flags &^= InheritOnly
			out = append(out, mark(c))
		case a.Flags&ObjectInherit != 0 && a.Flags&NoPropagateInherit == 0:
			c := a
			c.Flags |= InheritOnly
			out = append(out, mark(c))
		}
	}
	return out
}

// MapACL returns a copy of l with the generic rights of every ACE that
// applies to the object mapped through m, as an object manager stores an
// ACL a client sets; inherit-only ACEs keep their generic rights for the
// children that will inherit them.
func MapACL(l *ACL, m GenericMapping) *ACL {
	out := &ACL{Revision: l.Revision, ACEs: make([]ACE, 0, len(l.ACEs))}
	for _, a := range l.ACEs {
		if a.Flags&InheritOnly == 0 {
			a.Mask = m.Map(a.Mask)
		}
		out.ACEs = append(out.ACEs, a)
	}
	return out
}
