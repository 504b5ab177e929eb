package secdesc

import (
	"encoding/binary"
	"fmt"
)

// ACE types ([MS-DTYP] 2.4.4.1).
const (
	AccessAllowed         uint8 = 0x00
	AccessDenied          uint8 = 0x01
	SystemAudit           uint8 = 0x02
	SystemAlarm           uint8 = 0x03
	AccessAllowedCallback uint8 = 0x09
	AccessDeniedCallback  uint8 = 0x0A
	SystemMandatoryLabel  uint8 = 0x11
	SystemResourceAttr    uint8 = 0x12
	SystemScopedPolicyID  uint8 = 0x13
)

// ACE flags ([MS-DTYP] 2.4.4.1).
const (
	ObjectInherit      uint8 = 0x01
	ContainerInherit   uint8 = 0x02
	NoPropagateInherit uint8 = 0x04
	InheritOnly        uint8 = 0x08
	Inherited          uint8 = 0x10
	SuccessfulAccess   uint8 = 0x40
	FailedAccess       uint8 = 0x80

	inheritFlags = ObjectInherit | ContainerInherit | NoPropagateInherit | InheritOnly
)

// ACL revisions ([MS-DTYP] 2.4.5).
const (
	ACLRevision   uint8 = 2
	ACLRevisionDS uint8 = 4
)

// Limits of the decoder. An ACL's AclSize is 16 bits, so no ACL exceeds
// 64 KiB; a descriptor holds at most two ACLs and two SIDs.
const (
	maxACLSize = 0xFFFF
	// MaxSize bounds a whole self-relative descriptor: header, two
	// maximal SIDs and two maximal ACLs.
	MaxSize       = 20 + 2*68 + 2*maxACLSize
	aceHeaderSize = 4
	aclHeaderSize = 8
)

// ACE is one access control entry. Types whose body is an access mask and
// a SID (allowed, denied, audit, alarm, label, callback, resource
// attribute, scoped policy) are parsed into Mask, SID and Extra (bytes
// after the SID, such as callback application data); object ACEs keep
// their body in Extra with Mask set and never match in an access check.
type ACE struct {
	Type  uint8
	Flags uint8
	Mask  uint32
	SID   SID
	// Extra holds the bytes following the SID (or the whole body after
	// the mask for object ACEs), kept so that encoding round-trips.
	Extra []byte
}

// hasSID reports whether the ACE type's body is a mask followed by a SID
// ([MS-DTYP] 2.4.4.2 to 2.4.4.17; the object ACEs 0x05-0x08, 0x0B, 0x0C,
// 0x0F and 0x10 insert flags and GUIDs first).
func hasSID(t uint8) bool {
	switch t {
	case 0x05, 0x06, 0x07, 0x08, 0x0B, 0x0C, 0x0F, 0x10:
		return false
	}
	return t <= SystemScopedPolicyID
}

// Size is the encoded length of a.
func (a ACE) Size() int {
	n := aceHeaderSize + 4 + len(a.Extra)
	if hasSID(a.Type) {
		n += a.SID.Size()
	}
	return n
}

func (a ACE) appendTo(b []byte) []byte {
	size := a.Size()
	b = append(b, a.Type, a.Flags, byte(size), byte(size>>8))
	b = binary.LittleEndian.AppendUint32(b, a.Mask)
	if hasSID(a.Type) {
		b = a.SID.Append(b)
	}
	return append(b, a.Extra...)
}

func decodeACE(b []byte) (ACE, int, error) {
	if len(b) < aceHeaderSize+4 {
		return ACE{}, 0, fmt.Errorf("%w: ACE truncated", ErrMalformed)
	}
	size := int(binary.LittleEndian.Uint16(b[2:]))
	if size < aceHeaderSize+4 || size > len(b) {
		return ACE{}, 0, fmt.Errorf("%w: ACE size %d", ErrMalformed, size)
	}
	a := ACE{Type: b[0], Flags: b[1], Mask: binary.LittleEndian.Uint32(b[4:])}
	if a.Type > SystemScopedPolicyID {
		return ACE{}, 0, fmt.Errorf("%w: ACE type %#x", ErrMalformed, a.Type)
	}
	body := b[aceHeaderSize+4 : size]
	if hasSID(a.Type) {
		sid, n, err := DecodeSID(body)
		if err != nil {
			return ACE{}, 0, err
		}
		a.SID = sid
		body = body[n:]
	}
	if len(body) > 0 {
		a.Extra = append([]byte(nil), body...)
	}
	return a, size, nil
}

// ACL is an access control list. A nil *ACL in a descriptor whose control
// marks it present is a NULL ACL (for a DACL: no protection at all).
type ACL struct {
	Revision uint8
	ACEs     []ACE
}

// Size is the encoded length of l.
func (l *ACL) Size() int {
	n := aclHeaderSize
	for _, a := range l.ACEs {
		n += a.Size()
	}
	return n
}

func (l *ACL) appendTo(b []byte) []byte {
	rev := l.Revision
	if rev == 0 {
		rev = ACLRevision
	}
	size := l.Size()
	b = append(b, rev, 0, byte(size), byte(size>>8), byte(len(l.ACEs)), byte(len(l.ACEs)>>8), 0, 0)
	for _, a := range l.ACEs {
		b = a.appendTo(b)
	}
	return b
}

// decodeACL parses an ACL at the start of b ([MS-DTYP] 2.4.5): AclSize
// must fit, and AceCount ACEs must fit inside AclSize.
func decodeACL(b []byte) (*ACL, error) {
	if len(b) < aclHeaderSize {
		return nil, fmt.Errorf("%w: ACL truncated", ErrMalformed)
	}
	rev := b[0]
	if rev != ACLRevision && rev != ACLRevisionDS {
		return nil, fmt.Errorf("%w: ACL revision %d", ErrMalformed, rev)
	}
	size := int(binary.LittleEndian.Uint16(b[2:]))
	count := int(binary.LittleEndian.Uint16(b[4:]))
	if size < aclHeaderSize || size > len(b) {
		return nil, fmt.Errorf("%w: ACL size %d", ErrMalformed, size)
	}
	// Every ACE is at least 8 bytes, so a count beyond that is a lie
	// and must not size an allocation.
	if count > (size-aclHeaderSize)/(aceHeaderSize+4) {
		return nil, fmt.Errorf("%w: ACL claims %d ACEs in %d bytes", ErrMalformed, count, size)
	}
	l := &ACL{Revision: rev, ACEs: make([]ACE, 0, count)}
	off := aclHeaderSize
	for range count {
		a, n, err := decodeACE(b[off:size])
		if err != nil {
			return nil, err
		}
		l.ACEs = append(l.ACEs, a)
		off += n
	}
	return l, nil
}

// clone returns a deep copy of l (nil stays nil).
func (l *ACL) clone() *ACL {
	if l == nil {
		return nil
	}
	c := &ACL{Revision: l.Revision, ACEs: make([]ACE, len(l.ACEs))}
	copy(c.ACEs, l.ACEs)
	return c
}
