package adminapi_test

import (
	"context"
	"fmt"
	"testing"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/adminapi/apitest"
)

// directory is an in-memory AccountResolver: the real one (LDAP to a
// domain controller) is exercised against Samba's AD DC in
// integration.TestKerberos; here it is the API's use of it that counts.
type directory struct {
	sids  map[string]string
	down  bool
	calls int
}

func (d *directory) LookupSID(_ context.Context, account string) (string, error) {
	d.calls++
	if d.down {
		return "", fmt.Errorf("%w: dial dc1:636: connection refused", adminapi.ErrDirectoryUnavailable)
	}
	if sid, ok := d.sids[account]; ok {
		return sid, nil
	}
	return "", fmt.Errorf("%w: %s", adminapi.ErrAccountNotFound, account)
}

// TestShareDomainAccounts checks that a share permission naming a domain
// account is stored with the SID the directory gives, that a SID the
// request gives is kept without a lookup, and that an unknown name or an
// unreachable directory refuses the save and stores nothing.
func TestShareDomainAccounts(t *testing.T) {
	const users = "S-1-5-21-1-2-3-513"
	dir := &directory{sids: map[string]string{`EXAMPLE\Domain Users`: users}}
	s := apitest.Start(t, apitest.Options{Accounts: dir})
	tok := apitest.Token
	ctx := t.Context()

	create := adminapi.ShareCreate{Name: "vms", Path: "/csv/vms", Permissions: []adminapi.SharePermission{
		{Account: `EXAMPLE\Domain Users`, Access: "read", Deny: true},
		{Account: `EXAMPLE\alice`, SID: "S-1-5-21-1-2-3-1104", Access: "full"},
		{Account: "Everyone", Access: "read"},
	}}
	r := call(t, s.URL, "POST", v1+"/shares", tok, create)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var got adminapi.Share
	r.decode(t, &got)
	if len(got.Permissions) != 3 || got.Permissions[0].SID != users || got.Permissions[1].SID != "S-1-5-21-1-2-3-1104" || got.Permissions[2].SID != "" {
		t.Fatalf("created permissions %+v", got.Permissions)
	}
	if dir.calls != 1 {
		t.Errorf("%d directory lookups, want 1 (a given SID is not looked up)", dir.calls)
	}
	stored, err := s.Store.GetShare(ctx, "vms")
	if err != nil || stored.Permissions[0].SID != users || stored.Permissions[0].Account != `EXAMPLE\Domain Users` {
		t.Fatalf("stored %+v, %v", stored.Permissions, err)
	}

	unknown := adminapi.ShareCreate{Name: "x", Path: "/csv/x", Permissions: []adminapi.SharePermission{{Account: `EXAMPLE\nobody`, Access: "read"}}}
	expectError(t, call(t, s.URL, "POST", v1+"/shares", tok, unknown), 400, adminapi.CodeAccountNotFound, "permissions")
	dir.down = true
	upd := adminapi.ShareUpdate{Path: "/csv/vms", Permissions: []adminapi.SharePermission{{Account: "alice@example.com", Access: "full"}}}
	expectError(t, call(t, s.URL, "PUT", v1+"/shares/vms", tok, upd), 503, adminapi.CodeDirectoryUnavailable, "permissions")
	if sh, _ := s.Store.GetShare(ctx, "vms"); len(sh.Permissions) != 3 {
		t.Errorf("a refused update changed the share: %+v", sh.Permissions)
	}
	if _, err := s.Store.GetShare(ctx, "x"); err == nil {
		t.Error("a share with an unknown account was stored")
	}
	// With the SID given, the save needs no directory.
	upd.Permissions[0].SID = "S-1-5-21-1-2-3-1104"
	if r := call(t, s.URL, "PUT", v1+"/shares/vms", tok, upd); r.status != 200 {
		t.Fatalf("update with sid while the directory is down: %d %s", r.status, r.body)
	}

	// A node without a directory refuses names, not SIDs.
	bare := apitest.Start(t, apitest.Options{})
	expectError(t, call(t, bare.URL, "POST", v1+"/shares", tok, unknown), 400, adminapi.CodeInvalidValue, "permissions")
	bad := adminapi.ShareCreate{Name: "y", Path: "/csv/y", Permissions: []adminapi.SharePermission{{Account: `EXAMPLE\bob`, SID: "S-1-x", Access: "read"}}}
	expectError(t, call(t, bare.URL, "POST", v1+"/shares", tok, bad), 400, adminapi.CodeInvalidValue, "permissions")
}
