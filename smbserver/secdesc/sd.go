package secdesc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// SECURITY_DESCRIPTOR Control bits ([MS-DTYP] 2.4.6).
const (
	OwnerDefaulted             uint16 = 0x0001
	GroupDefaulted             uint16 = 0x0002
	DACLPresent                uint16 = 0x0004
	DACLDefaulted              uint16 = 0x0008
	SACLPresent                uint16 = 0x0010
	SACLDefaulted              uint16 = 0x0020
	DACLTrusted                uint16 = 0x0040
	ServerSecurity             uint16 = 0x0080
	DACLAutoInheritReq         uint16 = 0x0100
	SACLAutoInheritReq         uint16 = 0x0200
	DACLAutoInherited          uint16 = 0x0400
	SACLAutoInherited          uint16 = 0x0800
	DACLProtected              uint16 = 0x1000
	SACLProtected              uint16 = 0x2000
	RMControlValid             uint16 = 0x4000
	SelfRelative               uint16 = 0x8000
	daclControl                       = DACLPresent | DACLDefaulted | DACLAutoInheritReq | DACLAutoInherited | DACLProtected
	saclControl                       = SACLPresent | SACLDefaulted | SACLAutoInheritReq | SACLAutoInherited | SACLProtected
	headerSize                        = 20
	securityDescriptorRevision        = 1
)

// SECURITY_INFORMATION bits ([MS-DTYP] 2.4.7) selecting descriptor parts.
const (
	OwnerSecurityInformation     uint32 = 0x00000001
	GroupSecurityInformation     uint32 = 0x00000002
	DACLSecurityInformation      uint32 = 0x00000004
	SACLSecurityInformation      uint32 = 0x00000008
	LabelSecurityInformation     uint32 = 0x00000010
	AttributeSecurityInformation uint32 = 0x00000020
	ScopeSecurityInformation     uint32 = 0x00000040
	BackupSecurityInformation    uint32 = 0x00010000
)

// SecurityDescriptor is a decoded descriptor. Owner and Group are zero
// when absent. DACL and SACL are meaningful only when Control has
// DACLPresent or SACLPresent; a present but nil ACL is a NULL ACL.
type SecurityDescriptor struct {
	Control uint16
	Owner   SID
	Group   SID
	SACL    *ACL
	DACL    *ACL
}

// Decode parses a self-relative SECURITY_DESCRIPTOR ([MS-DTYP] 2.4.6).
// Offsets are relative to the start of b and must point past the header
// and inside b; every part is bounds-checked. Input longer than MaxSize
// is refused before anything is read.
func Decode(b []byte) (*SecurityDescriptor, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: descriptor of %d bytes exceeds %d", ErrMalformed, len(b), MaxSize)
	}
	if len(b) < headerSize {
		return nil, fmt.Errorf("%w: descriptor shorter than its header", ErrMalformed)
	}
	if b[0] != securityDescriptorRevision {
		return nil, fmt.Errorf("%w: descriptor revision %d", ErrMalformed, b[0])
	}
	sd := &SecurityDescriptor{Control: binary.LittleEndian.Uint16(b[2:]) | SelfRelative}
	part := func(i int) (int, error) {
		off := int(binary.LittleEndian.Uint32(b[4+4*i:]))
		if off != 0 && (off < headerSize || off >= len(b)) {
			return 0, fmt.Errorf("%w: offset %d outside descriptor", ErrMalformed, off)
		}
		return off, nil
	}
	offOwner, err := part(0)
	if err != nil {
		return nil, err
	}
	offGroup, err := part(1)
	if err != nil {
		return nil, err
	}
	offSACL, err := part(2)
	if err != nil {
		return nil, err
	}
	offDACL, err := part(3)
	if err != nil {
		return nil, err
	}
	if offOwner != 0 {
		if sd.Owner, _, err = DecodeSID(b[offOwner:]); err != nil {
			return nil, fmt.Errorf("owner: %w", err)
		}
	}
	if offGroup != 0 {
		if sd.Group, _, err = DecodeSID(b[offGroup:]); err != nil {
			return nil, fmt.Errorf("group: %w", err)
		}
	}
	if sd.Control&SACLPresent != 0 && offSACL != 0 {
		if sd.SACL, err = decodeACL(b[offSACL:]); err != nil {
			return nil, fmt.Errorf("sacl: %w", err)
		}
	}
	if sd.Control&DACLPresent != 0 && offDACL != 0 {
		if sd.DACL, err = decodeACL(b[offDACL:]); err != nil {
			return nil, fmt.Errorf("dacl: %w", err)
		}
	}
	return sd, nil
}

// Encode returns the canonical self-relative form: header, owner, group,
// SACL, DACL, each present part once, nothing between them.
func (sd *SecurityDescriptor) Encode() []byte {
	n := headerSize
	if !sd.Owner.IsZero() {
		n += sd.Owner.Size()
	}
	if !sd.Group.IsZero() {
		n += sd.Group.Size()
	}
	if sd.Control&SACLPresent != 0 && sd.SACL != nil {
		n += sd.SACL.Size()
	}
	if sd.Control&DACLPresent != 0 && sd.DACL != nil {
		n += sd.DACL.Size()
	}
	b := make([]byte, headerSize, n)
	b[0] = securityDescriptorRevision
	binary.LittleEndian.PutUint16(b[2:], sd.Control|SelfRelative)
	if !sd.Owner.IsZero() {
		binary.LittleEndian.PutUint32(b[4:], uint32(len(b)))
		b = sd.Owner.Append(b)
	}
	if !sd.Group.IsZero() {
		binary.LittleEndian.PutUint32(b[8:], uint32(len(b)))
		b = sd.Group.Append(b)
	}
	if sd.Control&SACLPresent != 0 && sd.SACL != nil {
		binary.LittleEndian.PutUint32(b[12:], uint32(len(b)))
		b = sd.SACL.appendTo(b)
	}
	if sd.Control&DACLPresent != 0 && sd.DACL != nil {
		binary.LittleEndian.PutUint32(b[16:], uint32(len(b)))
		b = sd.DACL.appendTo(b)
	}
	return b
}

// Clone returns a deep copy of sd.
func (sd *SecurityDescriptor) Clone() *SecurityDescriptor {
	c := *sd
	c.DACL = sd.DACL.clone()
	c.SACL = sd.SACL.clone()
	return &c
}

// Select returns the parts of sd named by info (SECURITY_INFORMATION), as
// a QUERY_INFO answer carries them ([MS-SMB2] 3.3.5.20.3): control bits
// of parts not asked for are cleared too.
func (sd *SecurityDescriptor) Select(info uint32) *SecurityDescriptor {
	out := &SecurityDescriptor{Control: SelfRelative}
	if info&OwnerSecurityInformation != 0 {
		out.Owner = sd.Owner
		out.Control |= sd.Control & OwnerDefaulted
	}
	if info&GroupSecurityInformation != 0 {
		out.Group = sd.Group
		out.Control |= sd.Control & GroupDefaulted
	}
	if info&DACLSecurityInformation != 0 {
		out.Control |= sd.Control & daclControl
		out.DACL = sd.DACL.clone()
	}
	if info&SACLSecurityInformation != 0 {
		out.Control |= sd.Control & saclControl
		out.SACL = sd.SACL.clone()
	}
	return out
}

// Merge applies the parts of upd named by info to sd, as SET_INFO does
// ([MS-DTYP] 2.5.3.4 SetSecurityInfo, simplified: the client's parts
// replace the stored ones). The control bits of a replaced part come from
// upd, except that AUTO_INHERIT_REQ is never stored and AUTO_INHERITED is
// kept only when the caller sets both (what Windows does, as
// smbtorture's smb2.acls.INHERITFLAGS records).
func (sd *SecurityDescriptor) Merge(upd *SecurityDescriptor, info uint32) {
	if info&OwnerSecurityInformation != 0 && !upd.Owner.IsZero() {
		sd.Owner = upd.Owner
		sd.Control = sd.Control&^OwnerDefaulted | upd.Control&OwnerDefaulted
	}
	if info&GroupSecurityInformation != 0 && !upd.Group.IsZero() {
		sd.Group = upd.Group
		sd.Control = sd.Control&^GroupDefaulted | upd.Control&GroupDefaulted
	}
	if info&DACLSecurityInformation != 0 {
		c := upd.Control & daclControl &^ (DACLAutoInheritReq | DACLAutoInherited)
		if upd.Control&(DACLAutoInheritReq|DACLAutoInherited) == DACLAutoInheritReq|DACLAutoInherited {
			c |= DACLAutoInherited
		}
		// A DACL that is not present is a NULL DACL: setting the DACL
		// always leaves one present ([MS-DTYP] 2.4.6, SE_DACL_PRESENT;
		// smbtorture's smb2.create.nulldacl).
		sd.Control = sd.Control&^daclControl | c | DACLPresent
		sd.DACL = nil
		if upd.Control&DACLPresent != 0 {
			sd.DACL = upd.DACL.clone()
		}
	}
	if info&SACLSecurityInformation != 0 {
		c := upd.Control & saclControl &^ (SACLAutoInheritReq | SACLAutoInherited)
		if upd.Control&(SACLAutoInheritReq|SACLAutoInherited) == SACLAutoInheritReq|SACLAutoInherited {
			c |= SACLAutoInherited
		}
		sd.Control = sd.Control&^saclControl | c
		sd.SACL = upd.SACL.clone()
	}
}

// String formats sd in an SDDL-like notation for logs and tests:
// O:owner G:group D:flags(ace)(ace) S:flags(ace). SIDs are printed in
// S-1-... form and masks in hex, so no alias table is needed.
func (sd *SecurityDescriptor) String() string {
	var b strings.Builder
	if !sd.Owner.IsZero() {
		b.WriteString("O:" + sd.Owner.String())
	}
	if !sd.Group.IsZero() {
		b.WriteString("G:" + sd.Group.String())
	}
	writeACL := func(tag string, present bool, l *ACL, prot, ai uint16) {
		if !present {
			return
		}
		b.WriteString(tag)
		if sd.Control&prot != 0 {
			b.WriteString("P")
		}
		if sd.Control&ai != 0 {
			b.WriteString("AI")
		}
		if l == nil {
			b.WriteString("NO_ACCESS_CONTROL")
			return
		}
		for _, a := range l.ACEs {
			fmt.Fprintf(&b, "(%s;%s;0x%08x;%s)", aceTypeString(a.Type), aceFlagsString(a.Flags), a.Mask, a.SID)
		}
	}
	writeACL("D:", sd.Control&DACLPresent != 0, sd.DACL, DACLProtected, DACLAutoInherited)
	writeACL("S:", sd.Control&SACLPresent != 0, sd.SACL, SACLProtected, SACLAutoInherited)
	return b.String()
}

func aceTypeString(t uint8) string {
	switch t {
	case AccessAllowed:
		return "A"
	case AccessDenied:
		return "D"
	case SystemAudit:
		return "AU"
	case SystemAlarm:
		return "AL"
	case SystemMandatoryLabel:
		return "ML"
	}
	return fmt.Sprintf("0x%02x", t)
}

func aceFlagsString(f uint8) string {
	var b strings.Builder
	for _, x := range []struct {
		bit uint8
		s   string
	}{{ObjectInherit, "OI"}, {ContainerInherit, "CI"}, {NoPropagateInherit, "NP"}, {InheritOnly, "IO"}, {Inherited, "ID"}, {SuccessfulAccess, "SA"}, {FailedAccess, "FA"}} {
		if f&x.bit != 0 {
			b.WriteString(x.s)
		}
	}
	return b.String()
}

// ErrTooLarge is returned by Valid for a descriptor whose ACL would not
// fit the 16-bit AclSize (inheritance can grow an ACL: one parent ACE may
// become two).
var ErrTooLarge = errors.New("secdesc: ACL larger than 64 KiB")

// Valid reports whether sd can be encoded faithfully.
func (sd *SecurityDescriptor) Valid() error {
	for _, l := range []*ACL{sd.DACL, sd.SACL} {
		if l != nil && (l.Size() > maxACLSize || len(l.ACEs) > 0xFFFF) {
			return ErrTooLarge
		}
	}
	return nil
}
