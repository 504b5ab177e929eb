package secdesc

import (
	"bytes"
	"testing"
)

// FuzzDecode checks that Decode never panics, and that whatever it
// accepts encodes to a canonical form that decodes to the same
// descriptor and encodes to the same bytes again.
func FuzzDecode(f *testing.F) {
	f.Add(everyoneFull)
	f.Add(Create(nil, nil, true, tok, FileMapping).Encode())
	f.Add((&SecurityDescriptor{Control: DACLPresent}).Encode())
	withSACL := dacl(user, ACE{Type: AccessDenied, Flags: OIandCI, Mask: 2, SID: other},
		ACE{Type: AccessAllowedCallback, Mask: 1, SID: user, Extra: []byte("artx")})
	withSACL.Control |= SACLPresent
	withSACL.SACL = &ACL{Revision: ACLRevisionDS, ACEs: []ACE{{Type: SystemAudit, Flags: FailedAccess, Mask: 0x10000, SID: Everyone}}}
	f.Add(withSACL.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		sd, err := Decode(b)
		if err != nil {
			return
		}
		_ = sd.String()
		_ = MaximalAccess(sd, tok, FileMapping)
		for _, dir := range []bool{false, true} {
			c := Create(sd, nil, dir, tok, FileMapping)
			if c.Valid() != nil {
				continue
			}
			if _, err := Decode(c.Encode()); err != nil {
				t.Fatalf("inherited descriptor does not decode: %v", err)
			}
		}
		merged := Create(nil, nil, false, tok, FileMapping)
		merged.Merge(sd, OwnerSecurityInformation|GroupSecurityInformation|DACLSecurityInformation|SACLSecurityInformation)
		if _, err := Decode(merged.Encode()); err != nil {
			t.Fatalf("merged descriptor does not decode: %v", err)
		}
		_ = sd.Select(0xFF).Encode()
		enc := sd.Encode()
		sd2, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-decode of %x: %v", enc, err)
		}
		if enc2 := sd2.Encode(); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable:\n%x\n%x", enc, enc2)
		}
	})
}
