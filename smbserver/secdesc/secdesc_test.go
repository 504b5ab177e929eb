package secdesc

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// everyoneFull is O:BA G:BA D:(A;OICI;FA;;;WD) in self-relative form,
// laid out by hand from [MS-DTYP] 2.4.6: header, owner at 20, group at
// 36, DACL at 52 holding one ACE.
var everyoneFull = mustHex("" +
	"01000480" + "14000000" + "24000000" + "00000000" + "34000000" + // header: rev 1, SR|DP
	"010200000000000520000000" + "20020000" + // owner S-1-5-32-544
	"010200000000000520000000" + "20020000" + // group S-1-5-32-544
	"02001c0001000000" + // ACL rev 2, size 28, 1 ACE
	"00031400ff011f00" + "010100000000000100000000") // ACE allowed, OI|CI, 0x1F01FF, S-1-1-0

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestDecodeKnownVector(t *testing.T) {
	sd, err := Decode(everyoneFull)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sd.String(), "O:S-1-5-32-544G:S-1-5-32-544D:(A;OICI;0x001f01ff;S-1-1-0)"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if enc := sd.Encode(); !bytes.Equal(enc, everyoneFull) {
		t.Errorf("Encode = %x\nwant     %x", enc, everyoneFull)
	}
}

func TestSIDStringParse(t *testing.T) {
	for _, s := range []string{"S-1-1-0", "S-1-5-21-1-2-3-1000", "S-1-5-32-544", "S-1-16-8192"} {
		sid, err := ParseSID(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if sid.String() != s {
			t.Errorf("round trip %s -> %s", s, sid)
		}
		dec, n, err := DecodeSID(sid.Append(nil))
		if err != nil || n != sid.Size() || dec != sid {
			t.Errorf("binary round trip of %s: %v %d %v", s, dec, n, err)
		}
	}
	for _, bad := range []string{"", "S-1", "X-1-5", "S-2-5-1", "S-1-5-x", "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16"} {
		if _, err := ParseSID(bad); err == nil {
			t.Errorf("ParseSID(%q) accepted", bad)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	mut := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), everyoneFull...))
	}
	cases := map[string][]byte{
		"short":            everyoneFull[:19],
		"revision":         mut(func(b []byte) []byte { b[0] = 2; return b }),
		"owner past end":   mut(func(b []byte) []byte { b[4] = 0xFF; return b }),
		"owner in header":  mut(func(b []byte) []byte { b[4] = 4; return b }),
		"sid revision":     mut(func(b []byte) []byte { b[20] = 0; return b }),
		"sid count":        mut(func(b []byte) []byte { b[21] = 16; return b }),
		"sid truncated":    mut(func(b []byte) []byte { return b[:40] }),
		"acl revision":     mut(func(b []byte) []byte { b[52] = 3; return b }),
		"acl size big":     mut(func(b []byte) []byte { b[54] = 200; return b }),
		"acl count lies":   mut(func(b []byte) []byte { b[56] = 0xFF; b[57] = 0xFF; return b }),
		"ace size small":   mut(func(b []byte) []byte { b[62] = 4; return b }),
		"ace size big":     mut(func(b []byte) []byte { b[62] = 0x40; return b }),
		"ace type unknown": mut(func(b []byte) []byte { b[60] = 0x20; return b }),
		"too large":        make([]byte, MaxSize+1),
	}
	for name, b := range cases {
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestNullAndAbsentDACL(t *testing.T) {
	null := &SecurityDescriptor{Control: DACLPresent, Owner: Administrators}
	dec, err := Decode(null.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if dec.Control&DACLPresent == 0 || dec.DACL != nil {
		t.Fatalf("NULL DACL did not survive: %v", dec)
	}
	tok := &Token{User: NewSID(5, 21, 1, 2, 3, 1000)}
	if got := MaximalAccess(dec, tok, FileMapping); got != FileMapping.All {
		t.Errorf("NULL DACL grants %#x, want all", got)
	}
	empty := &SecurityDescriptor{Control: DACLPresent, Owner: Administrators, DACL: &ACL{}}
	if got := MaximalAccess(empty, tok, FileMapping); got != 0 {
		t.Errorf("empty DACL grants %#x to a non-owner, want 0", got)
	}
}

var (
	user  = NewSID(5, 21, 10, 20, 30, 1000)
	group = NewSID(5, 21, 10, 20, 30, 513)
	other = NewSID(5, 21, 10, 20, 30, 1001)
	tok   = &Token{User: user, PrimaryGroup: group, Groups: []SID{Everyone, AuthenticatedUsers}}
)

func dacl(owner SID, aces ...ACE) *SecurityDescriptor {
	return &SecurityDescriptor{Control: SelfRelative | DACLPresent, Owner: owner, DACL: &ACL{Revision: ACLRevision, ACEs: aces}}
}

func TestMaximalAccess(t *testing.T) {
	const (
		readData  = 0x1
		writeData = 0x2
		readAttr  = 0x80
	)
	cases := []struct {
		name string
		sd   *SecurityDescriptor
		want uint32
	}{
		// smb2.acls.CREATOR: a non-inheritable CREATOR OWNER ACE matches
		// nobody; the owner keeps READ_CONTROL|WRITE_DAC.
		{"creator owner is inert", dacl(user, ACE{Type: AccessAllowed, Mask: 0x1F01FF, SID: CreatorOwner}), ReadControl | WriteDAC},
		// smb2.acls.OWNER: WRITE_DATA for the owner.
		{"owner bits", dacl(user, ACE{Type: AccessAllowed, Mask: writeData, SID: user}), writeData | ReadControl | WriteDAC},
		{"not owner", dacl(other, ACE{Type: AccessAllowed, Mask: writeData, SID: user}), writeData},
		{"deny first wins", dacl(other,
			ACE{Type: AccessDenied, Mask: writeData, SID: Everyone},
			ACE{Type: AccessAllowed, Mask: 0x1F01FF, SID: user}), 0x1F01FF &^ writeData},
		{"allow first wins", dacl(other,
			ACE{Type: AccessAllowed, Mask: 0x1F01FF, SID: user},
			ACE{Type: AccessDenied, Mask: writeData, SID: Everyone}), 0x1F01FF},
		{"owner rights replace implicit", dacl(user, ACE{Type: AccessAllowed, Mask: readData, SID: OwnerRights}), readData},
		{"deny cannot take implicit owner rights", dacl(user, ACE{Type: AccessDenied, Mask: ReadControl | WriteDAC, SID: user}), ReadControl | WriteDAC},
		{"inherit only ignored", dacl(other, ACE{Type: AccessAllowed, Flags: InheritOnly | ObjectInherit, Mask: 0x1F01FF, SID: user}), 0},
		{"generic mapped", dacl(other, ACE{Type: AccessAllowed, Mask: GenericRead, SID: AuthenticatedUsers}), FileMapping.Read},
		{"other user", dacl(other, ACE{Type: AccessAllowed, Mask: 0x1F01FF, SID: other}), 0},
		{"read attributes", dacl(other, ACE{Type: AccessAllowed, Mask: readAttr, SID: group}), readAttr},
	}
	for _, c := range cases {
		if got := MaximalAccess(c.sd, tok, FileMapping); got != c.want {
			t.Errorf("%s: %#x, want %#x (%v)", c.name, got, c.want, c.sd)
		}
	}
}

func TestCheck(t *testing.T) {
	max := FileMapping.Read
	if g, ok := Check(max, GenericRead, FileMapping); !ok || g != FileMapping.Read {
		t.Errorf("GENERIC_READ: %#x %v", g, ok)
	}
	if _, ok := Check(max, GenericWrite, FileMapping); ok {
		t.Error("GENERIC_WRITE granted on read-only rights")
	}
	if g, ok := Check(max, MaximumAllowed, FileMapping); !ok || g != max {
		t.Errorf("MAXIMUM_ALLOWED: %#x %v", g, ok)
	}
	if _, ok := Check(max, MaximumAllowed|Delete, FileMapping); ok {
		t.Error("MAXIMUM_ALLOWED|DELETE granted without DELETE")
	}
}

// TestInheritance replays smb2.acls.INHERITANCE's table: a parent DACL of
// (CREATOR OWNER: WRITE_DATA, flags) plus (Everyone: all, no inheritance),
// and the flags the new file's and directory's ACEs must carry.
func TestInheritance(t *testing.T) {
	const writeData = 0x2
	const (
		OI, CI, NP, IO = ObjectInherit, ContainerInherit, NoPropagateInherit, InheritOnly
	)
	type ace struct {
		sid   SID
		flags uint8
	}
	def := []ace{{user, 0}, {LocalSystem, 0}}
	cases := []struct {
		parent uint8
		file   []ace
		dir    []ace
	}{
		{0, def, def},
		{OI, []ace{{user, 0}}, []ace{{CreatorOwner, OI | IO}}},
		{CI, def, []ace{{user, 0}, {CreatorOwner, CI | IO}}},
		{OI | CI, []ace{{user, 0}}, []ace{{user, 0}, {CreatorOwner, OI | CI | IO}}},
		{NP, def, def},
		{NP | OI, []ace{{user, 0}}, def},
		{NP | CI, def, []ace{{user, 0}}},
		{NP | CI | OI, []ace{{user, 0}}, []ace{{user, 0}}},
		{IO, def, def},
		{IO | OI, []ace{{user, 0}}, []ace{{CreatorOwner, OI | IO}}},
		{IO | CI, def, []ace{{user, 0}, {CreatorOwner, CI | IO}}},
		{IO | CI | OI, []ace{{user, 0}}, []ace{{user, 0}, {CreatorOwner, OI | CI | IO}}},
		{IO | NP, def, def},
		{IO | NP | OI, []ace{{user, 0}}, def},
		{IO | NP | CI, def, []ace{{user, 0}}},
		{IO | NP | CI | OI, []ace{{user, 0}}, []ace{{user, 0}}},
	}
	for _, c := range cases {
		parent := dacl(user,
			ACE{Type: AccessAllowed, Flags: c.parent, Mask: writeData, SID: CreatorOwner},
			ACE{Type: AccessAllowed, Mask: 0x1F01FF, SID: Everyone})
		for _, isDir := range []bool{false, true} {
			want := c.file
			if isDir {
				want = c.dir
			}
			sd := Create(parent, nil, isDir, tok, FileMapping)
			if sd.Owner != user || sd.Group != group || sd.Control != SelfRelative|DACLPresent {
				t.Errorf("parent %#x dir %v: header %v control %#x", c.parent, isDir, sd, sd.Control)
			}
			got := sd.DACL.ACEs
			if len(got) != len(want) {
				t.Errorf("parent %#x dir %v: %v, want %d ACEs", c.parent, isDir, sd, len(want))
				continue
			}
			for i, w := range want {
				if got[i].SID != w.sid || got[i].Flags != w.flags {
					t.Errorf("parent %#x dir %v: ACE %d = %v, want %v flags %#x", c.parent, isDir, i, got[i], w.sid, w.flags)
				}
			}
		}
	}
}

func TestInheritanceAutoInherited(t *testing.T) {
	parent := dacl(Administrators,
		ACE{Type: AccessAllowed, Flags: OIandCI, Mask: GenericAll, SID: CreatorOwner},
		ACE{Type: AccessAllowed, Flags: OIandCI, Mask: 0x1301BF, SID: AuthenticatedUsers})
	parent.Control |= DACLAutoInherited
	file := Create(parent, nil, false, tok, FileMapping)
	if got, want := file.String(), "O:"+user.String()+"G:"+group.String()+
		"D:AI(A;ID;0x001f01ff;"+user.String()+")(A;ID;0x001301bf;S-1-5-11)"; got != want {
		t.Errorf("file:\n got %s\nwant %s", got, want)
	}
	dir := Create(parent, nil, true, tok, FileMapping)
	if got, want := dir.String(), "O:"+user.String()+"G:"+group.String()+
		"D:AI(A;ID;0x001f01ff;"+user.String()+")(A;OICIIOID;0x10000000;S-1-3-0)(A;OICIID;0x001301bf;S-1-5-11)"; got != want {
		t.Errorf("dir:\n got %s\nwant %s", got, want)
	}
	// A creator's DACL is taken as given (generic rights mapped, flags
	// and order kept), never merged with the parent's.
	creator := dacl(SID{},
		ACE{Type: AccessAllowed, Flags: Inherited, Mask: 0x1F01FF, SID: user},
		ACE{Type: AccessAllowed, Mask: GenericRead, SID: other})
	creator.DACL.Revision = ACLRevisionDS
	creator.Control |= DACLAutoInherited | DACLProtected
	sd := Create(parent, creator, false, tok, FileMapping)
	if got, want := sd.String(), "O:"+user.String()+"G:"+group.String()+
		"D:PAI(A;ID;0x001f01ff;"+user.String()+")(A;;0x00120089;"+other.String()+")"; got != want || sd.DACL.Revision != ACLRevisionDS {
		t.Errorf("explicit:\n got %s\nwant %s (revision %d)", got, want, sd.DACL.Revision)
	}
}

const OIandCI = ObjectInherit | ContainerInherit

func TestSelectMerge(t *testing.T) {
	sd := Create(nil, nil, false, tok, FileMapping)
	only := sd.Select(DACLSecurityInformation)
	if !only.Owner.IsZero() || !only.Group.IsZero() || only.Control != SelfRelative|DACLPresent || len(only.DACL.ACEs) != 2 {
		t.Errorf("Select(DACL) = %v %#x", only, only.Control)
	}
	none := sd.Select(SACLSecurityInformation)
	if none.Control != SelfRelative || none.SACL != nil {
		t.Errorf("Select(SACL) = %v %#x", none, none.Control)
	}
	upd := dacl(other, ACE{Type: AccessAllowed, Mask: 1, SID: other})
	upd.Control |= DACLAutoInherited
	sd.Merge(upd, DACLSecurityInformation)
	if sd.Owner != user || len(sd.DACL.ACEs) != 1 || sd.Control&DACLAutoInherited != 0 {
		t.Errorf("Merge(DACL, AI without REQ) = %v %#x", sd, sd.Control)
	}
	upd.Control |= DACLAutoInheritReq
	sd.Merge(upd, DACLSecurityInformation)
	if sd.Control&DACLAutoInherited == 0 || sd.Control&DACLAutoInheritReq != 0 {
		t.Errorf("Merge(DACL, AI|REQ) = %v %#x", sd, sd.Control)
	}
	sd.Merge(&SecurityDescriptor{}, DACLSecurityInformation)
	if sd.Control&DACLPresent == 0 || sd.DACL != nil {
		t.Errorf("Merge(absent DACL) = %v %#x, want a NULL DACL", sd, sd.Control)
	}
	sd.Merge(upd, OwnerSecurityInformation)
	if sd.Owner != other {
		t.Errorf("Merge(OWNER) = %v", sd)
	}
}

func TestInheritanceTooLarge(t *testing.T) {
	// 3000 CREATOR OWNER ACEs of 20 bytes fit one ACL (60 KiB), but a
	// child directory gets two ACEs from each, and a file one with the
	// (longer) owner SID in place of CREATOR OWNER.
	var aces []ACE
	for range 3000 {
		aces = append(aces, ACE{Type: AccessAllowed, Flags: OIandCI, Mask: GenericAll, SID: CreatorOwner})
	}
	parent := dacl(user, aces...)
	if parent.Valid() != nil {
		t.Fatal("parent invalid")
	}
	if _, err := Decode(parent.Encode()); err != nil {
		t.Fatal(err)
	}
	if err := Create(parent, nil, true, tok, FileMapping).Valid(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Valid = %v, want ErrTooLarge", err)
	}
	if err := Create(parent, nil, false, tok, FileMapping).Valid(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("file: Valid = %v, want ErrTooLarge", err)
	}
	small := dacl(user, aces[:100]...)
	if err := Create(small, nil, true, tok, FileMapping).Valid(); err != nil {
		t.Errorf("small: %v", err)
	}
}
