package smbserver

import (
	"testing"

	"sofs.io/sofs/smbserver/secdesc"
)

// TestPermissionSID checks which SID a share permission stands for: the
// stored SID of a domain account wins over its name, and a domain name
// stored without one names nobody rather than a local user of that name.
func TestPermissionSID(t *testing.T) {
	s := &Server{}
	group, _ := secdesc.ParseSID("S-1-5-21-1-2-3-1105")
	for _, c := range []struct {
		p    SharePermission
		want secdesc.SID
		ok   bool
	}{
		{SharePermission{Account: `SOFS\vmadmins`, SID: "S-1-5-21-1-2-3-1105"}, group, true},
		{SharePermission{Account: `SOFS\vmadmins`}, secdesc.SID{}, false},
		{SharePermission{Account: "vmadmins@sofs.test"}, secdesc.SID{}, false},
		{SharePermission{Account: `SOFS\vmadmins`, SID: "S-1-x"}, secdesc.SID{}, false},
		{SharePermission{Account: "Everyone"}, secdesc.Everyone, true},
	} {
		got, ok := s.permissionSID(c.p)
		if ok != c.ok || got != c.want {
			t.Errorf("%+v: %v %v, want %v %v", c.p, got, ok, c.want, c.ok)
		}
	}
	// The share-level check sees the group through the token's groups.
	sh := Share{Permissions: []SharePermission{{Account: `SOFS\vmadmins`, SID: group.String(), Access: "read"}}}
	member := &secdesc.Token{User: secdesc.NewSID(5, 21, 1, 2, 3, 1104), Groups: []secdesc.SID{group}}
	other := &secdesc.Token{User: secdesc.NewSID(5, 21, 1, 2, 3, 1106)}
	if got := s.shareAccess(sh, member); got != shareRightRead {
		t.Errorf("member's share access %#x, want read %#x", got, shareRightRead)
	}
	if got := s.shareAccess(sh, other); got != 0 {
		t.Errorf("non-member's share access %#x, want 0", got)
	}
}
