package smbserver

import (
	"encoding/binary"
	"testing"

	"sofs.io/sofs/smbserver/fscc"
	"sofs.io/sofs/smbserver/secdesc"
	"sofs.io/sofs/smbserver/wire"
)

// secClient is one user's raw connection to the test server's share.
type secClient struct {
	c   *rawConn
	s   *rawSession
	tid uint32
	tc  wire.TreeConnectResponse
}

func secLogin(t *testing.T, ts *testServer, user, pass string) *secClient {
	t.Helper()
	c := dialRaw(t, ts.addr, Dialect302)
	s := c.login(user, pass)
	req := wire.TreeConnectRequest{Path: `\\127.0.0.1\share`}
	resp := c.roundTrip(s.signer, c.header(wire.CmdTreeConnect, s.id, 0), &req)
	sc := &secClient{c: c, s: s}
	if st := status(resp); st != wire.StatusSuccess {
		return sc
	}
	if err := sc.tc.Decode(resp); err != nil {
		t.Fatal(err)
	}
	sc.tid = hdrOf(t, resp).TreeID
	return sc
}

// open sends a CREATE asking for MxAc and returns the status, the FileId
// and the maximal access the server reports.
func (sc *secClient) open(t *testing.T, name string, access, disp uint32, contexts ...wire.CreateContext) (wire.Status, wire.FileID, uint32) {
	t.Helper()
	req := &wire.CreateRequest{
		ImpersonationLevel: 2, DesiredAccess: access, ShareAccess: 7, CreateDisposition: disp,
		Name: name, FileAttributes: 0x80,
		Contexts: append([]wire.CreateContext{{Name: wire.CreateContextMaximalAccess}}, contexts...),
	}
	resp := sc.c.roundTrip(sc.s.signer, sc.c.header(wire.CmdCreate, sc.s.id, sc.tid), req)
	st := status(resp)
	if st != wire.StatusSuccess {
		return st, wire.FileID{}, 0
	}
	var cr wire.CreateResponse
	if err := cr.Decode(resp); err != nil {
		t.Fatal(err)
	}
	var mx uint32
	for _, cc := range cr.Contexts {
		if cc.Name == wire.CreateContextMaximalAccess {
			if _, mx, _ = wire.DecodeMaximalAccessResponse(cc.Data); mx == 0 {
				t.Fatalf("MxAc response %x", cc.Data)
			}
		}
	}
	return st, cr.FileID, mx
}

func (sc *secClient) close(t *testing.T, id wire.FileID) {
	t.Helper()
	resp := sc.c.roundTrip(sc.s.signer, sc.c.header(wire.CmdClose, sc.s.id, sc.tid), &wire.CloseRequest{FileID: id})
	if st := status(resp); st != wire.StatusSuccess {
		t.Fatalf("close: %v", st)
	}
}

func (sc *secClient) querySD(t *testing.T, id wire.FileID, info uint32) (wire.Status, *secdesc.SecurityDescriptor) {
	t.Helper()
	req := &wire.QueryInfoRequest{InfoType: infoSecurity, OutputBufferLength: 4096, AdditionalInformation: info, FileID: id}
	resp := sc.c.roundTrip(sc.s.signer, sc.c.header(wire.CmdQueryInfo, sc.s.id, sc.tid), req)
	if st := status(resp); st != wire.StatusSuccess {
		return st, nil
	}
	var qr wire.QueryInfoResponse
	if err := qr.Decode(resp); err != nil {
		t.Fatal(err)
	}
	sd, err := secdesc.Decode(qr.Buffer)
	if err != nil {
		t.Fatalf("server sent an undecodable descriptor %x: %v", qr.Buffer, err)
	}
	return wire.StatusSuccess, sd
}

func (sc *secClient) setSD(t *testing.T, id wire.FileID, info uint32, sd *secdesc.SecurityDescriptor) wire.Status {
	t.Helper()
	req := &wire.SetInfoRequest{InfoType: infoSecurity, AdditionalInformation: info, Buffer: sd.Encode(), FileID: id}
	return status(sc.c.roundTrip(sc.s.signer, sc.c.header(wire.CmdSetInfo, sc.s.id, sc.tid), req))
}

const (
	dispOpen   = 1
	dispCreate = 2
	dispOpenIf = 3
)

// TestFilePermissionsAcrossUsers checks, over the wire with two users, that
// a new file is owned by its creator, that the inherited default lets
// others modify but not re-permission it, that a DACL set by the owner is
// stored and enforced on CREATE (with the MxAc answer following it), and
// that ownership cannot be given away.
func TestFilePermissionsAcrossUsers(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Users = staticUsers{"alice": "a-pass", "bob": "b-pass"} })
	alice := secLogin(t, ts, "alice", "a-pass")
	bob := secLogin(t, ts, "bob", "b-pass")
	aliceSID := UserSID(ts.srv.cfg.ServerGUID, "alice")
	bobSID := UserSID(ts.srv.cfg.ServerGUID, "bob")

	// The file lives in a directory: at the top of the share every user
	// has FILE_DELETE_CHILD, so DELETE would show in bob's rights below.
	alice.close(t, alice.c.create(alice.s, alice.tid, "team", true))
	st, h, mx := alice.open(t, `team\doc.txt`, fileAllAccess, dispCreate)
	if st != wire.StatusSuccess || mx != fileAllAccess {
		t.Fatalf("alice creates: %v, MxAc %#x", st, mx)
	}
	st, sd := alice.querySD(t, h, secOwner|secGroup|secDACL)
	if st != wire.StatusSuccess || sd.Owner != aliceSID {
		t.Fatalf("owner: %v %v, want %v", st, sd, aliceSID)
	}

	// Bob may modify alice's file (Authenticated Users: Modify from the
	// share root) but not take over its permissions.
	st, hb, mx := bob.open(t, `team\doc.txt`, fileReadData|fileWriteData, dispOpen)
	if st != wire.StatusSuccess || mx != accessModify {
		t.Fatalf("bob opens for read/write: %v, MxAc %#x want %#x", st, mx, accessModify)
	}
	bob.close(t, hb)
	if st, _, _ := bob.open(t, `team\doc.txt`, writeDAC, dispOpen); st != wire.StatusAccessDenied {
		t.Fatalf("bob opens for WRITE_DAC: %v, want ACCESS_DENIED", st)
	}
	if st, _, _ := bob.open(t, `team\doc.txt`, maximumAllowed|writeOwner, dispOpen); st != wire.StatusAccessDenied {
		t.Fatalf("bob opens for MAXIMUM_ALLOWED|WRITE_OWNER: %v, want ACCESS_DENIED", st)
	}

	// Alice keeps the file to herself.
	private := &secdesc.SecurityDescriptor{Control: secdesc.DACLPresent, DACL: &secdesc.ACL{ACEs: []secdesc.ACE{
		{Type: secdesc.AccessAllowed, Mask: genericAll, SID: aliceSID},
	}}}
	if st := alice.setSD(t, h, secDACL, private); st != wire.StatusSuccess {
		t.Fatalf("set DACL: %v", st)
	}
	st, sd = alice.querySD(t, h, secDACL)
	if st != wire.StatusSuccess || len(sd.DACL.ACEs) != 1 || sd.DACL.ACEs[0].Mask != fileAllAccess || !sd.Owner.IsZero() {
		t.Fatalf("stored DACL (generic rights mapped, owner not asked for): %v %v", st, sd)
	}
	if st, _, _ := bob.open(t, `team\doc.txt`, fileReadData, dispOpen); st != wire.StatusAccessDenied {
		t.Fatalf("bob reads a private file: %v, want ACCESS_DENIED", st)
	}
	// READ_ATTRIBUTES comes from the parent's FILE_LIST_DIRECTORY.
	st, hb, mx = bob.open(t, `team\doc.txt`, maximumAllowed, dispOpen)
	if st != wire.StatusSuccess || mx != fileReadAttributes {
		t.Fatalf("bob MAXIMUM_ALLOWED: %v, MxAc %#x want %#x", st, mx, fileReadAttributes)
	}
	bob.close(t, hb)

	// Ownership cannot be given to someone else, nor changed without
	// WRITE_OWNER.
	if st := alice.setSD(t, h, secOwner, &secdesc.SecurityDescriptor{Owner: bobSID}); st != statusInvalidOwner {
		t.Fatalf("give ownership away: %v, want STATUS_INVALID_OWNER", st)
	}
	// A group of her own token is accepted, and she can take it back.
	if st := alice.setSD(t, h, secOwner, &secdesc.SecurityDescriptor{Owner: secdesc.AuthenticatedUsers}); st != wire.StatusSuccess {
		t.Fatalf("owner to Authenticated Users: %v", st)
	}
	if st := alice.setSD(t, h, secOwner, &secdesc.SecurityDescriptor{Owner: aliceSID}); st != wire.StatusSuccess {
		t.Fatalf("owner back to alice: %v", st)
	}
	alice.close(t, h)
	st, h, _ = alice.open(t, `team\doc.txt`, readControl, dispOpen)
	if st != wire.StatusSuccess {
		t.Fatalf("reopen: %v", st)
	}
	if st := alice.setSD(t, h, secOwner, &secdesc.SecurityDescriptor{Owner: aliceSID}); st != wire.StatusAccessDenied {
		t.Fatalf("set owner without WRITE_OWNER: %v, want ACCESS_DENIED", st)
	}
	if st, _ := alice.querySD(t, h, secSACL); st != wire.StatusAccessDenied {
		t.Fatalf("query SACL without ACCESS_SYSTEM_SECURITY: %v", st)
	}
	alice.close(t, h)

	// At the top of the share, FILE_DELETE_CHILD on the root gives any
	// user DELETE (see shareRootSD).
	st, h, _ = alice.open(t, "top.txt", fileAllAccess, dispCreate)
	if st != wire.StatusSuccess || alice.setSD(t, h, secDACL, private) != wire.StatusSuccess {
		t.Fatalf("private top-level file: %v", st)
	}
	alice.close(t, h)
	st, hb, mx = bob.open(t, "top.txt", maximumAllowed, dispOpen)
	if st != wire.StatusSuccess || mx != fileReadAttributes|accessDelete {
		t.Fatalf("bob MAXIMUM_ALLOWED at the root: %v, MxAc %#x", st, mx)
	}
	bob.close(t, hb)
	// MxAc reports the same whatever the open asked for.
	st, hb, mx = bob.open(t, "top.txt", fileReadAttributes, dispOpen)
	if st != wire.StatusSuccess || mx != fileReadAttributes|accessDelete {
		t.Fatalf("bob READ_ATTRIBUTES at the root: %v, MxAc %#x", st, mx)
	}
	bob.close(t, hb)
}

// TestCreateWithSecD checks the SD create context: the descriptor sent
// is the new file's, and a malformed one is refused.
func TestCreateWithSecD(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Users = staticUsers{"alice": "a-pass", "bob": "b-pass"} })
	alice := secLogin(t, ts, "alice", "a-pass")
	bob := secLogin(t, ts, "bob", "b-pass")
	bobSID := UserSID(ts.srv.cfg.ServerGUID, "bob")
	deny := &secdesc.SecurityDescriptor{Control: secdesc.DACLPresent, DACL: &secdesc.ACL{ACEs: []secdesc.ACE{
		{Type: secdesc.AccessDenied, Mask: fileReadData, SID: bobSID},
		{Type: secdesc.AccessAllowed, Mask: fileAllAccess, SID: secdesc.AuthenticatedUsers},
	}}}
	secd := wire.CreateContext{Name: wire.CreateContextSDBuffer, Data: deny.Encode()}
	st, h, _ := alice.open(t, "nobob", fileAllAccess, dispCreate, secd)
	if st != wire.StatusSuccess {
		t.Fatalf("create with SecD: %v", st)
	}
	alice.close(t, h)
	if st, _, _ := bob.open(t, "nobob", fileReadData, dispOpen); st != wire.StatusAccessDenied {
		t.Fatalf("bob reads: %v, want ACCESS_DENIED", st)
	}
	st, h, mx := bob.open(t, "nobob", fileWriteData, dispOpen)
	if st != wire.StatusSuccess || mx != fileAllAccess&^fileReadData {
		t.Fatalf("bob writes: %v, MxAc %#x", st, mx)
	}
	bob.close(t, h)
	bad := wire.CreateContext{Name: wire.CreateContextSDBuffer, Data: []byte{1, 0, 4, 0x80, 0xFF, 0xFF}}
	if st, _, _ := alice.open(t, "bad", fileAllAccess, dispCreate, bad); st != wire.StatusInvalidSecurityDescr {
		t.Fatalf("malformed SecD: %v, want STATUS_INVALID_SECURITY_DESCR", st)
	}
	if st, _, _ := alice.open(t, "bad", fileReadData, dispOpen); st != wire.StatusObjectNameNotFound {
		t.Fatalf("a refused create left a file behind: %v", st)
	}
}

// TestSharePermissions checks the share-level access list: the tree
// connect's MaximalAccess, refusal of a denied user, and that CREATE
// grants no more than the share allows.
func TestSharePermissions(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Users = staticUsers{"alice": "a-pass", "bob": "b-pass", "carol": "c-pass"}
		c.Shares = staticShares{{Name: "share", Path: t.TempDir(), Permissions: []SharePermission{
			{Account: "Everyone", Access: "read"},
			{Account: "alice", Access: "full"},
			{Account: "carol", Access: "full", Deny: true},
		}}}
	})
	alice := secLogin(t, ts, "alice", "a-pass")
	if alice.tid == 0 || alice.tc.MaximalAccess != fileAllAccess {
		t.Fatalf("alice: tree %d MaximalAccess %#x", alice.tid, alice.tc.MaximalAccess)
	}
	bob := secLogin(t, ts, "bob", "b-pass")
	if bob.tid == 0 || bob.tc.MaximalAccess != shareRightRead {
		t.Fatalf("bob: tree %d MaximalAccess %#x, want %#x", bob.tid, bob.tc.MaximalAccess, shareRightRead)
	}
	carol := secLogin(t, ts, "carol", "c-pass")
	if carol.tid != 0 {
		t.Fatalf("carol (denied) connected with MaximalAccess %#x", carol.tc.MaximalAccess)
	}
	st, h, _ := alice.open(t, "f", fileAllAccess, dispCreate)
	if st != wire.StatusSuccess {
		t.Fatalf("alice creates: %v", st)
	}
	alice.close(t, h)
	if st, _, _ := bob.open(t, "f", fileWriteData, dispOpen); st != wire.StatusAccessDenied {
		t.Fatalf("bob writes through a read-only share permission: %v", st)
	}
	if st, _, _ := bob.open(t, "g", fileReadData, dispOpenIf); st != wire.StatusAccessDenied {
		t.Fatalf("bob creates through a read-only share permission: %v", st)
	}
	st, h, mx := bob.open(t, "f", maximumAllowed, dispOpen)
	if st != wire.StatusSuccess || mx != shareRightRead {
		t.Fatalf("bob MAXIMUM_ALLOWED: %v MxAc %#x, want %#x", st, mx, shareRightRead)
	}
	bob.close(t, h)
}

// TestRenameAccess checks the rename rules: the target directory must let
// the caller add files, and replacing a file needs DELETE on it.
func TestRenameAccess(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Users = staticUsers{"alice": "a-pass", "bob": "b-pass"} })
	alice := secLogin(t, ts, "alice", "a-pass")
	bob := secLogin(t, ts, "bob", "b-pass")
	aliceSID := UserSID(ts.srv.cfg.ServerGUID, "alice")
	private := &secdesc.SecurityDescriptor{Control: secdesc.DACLPresent, DACL: &secdesc.ACL{ACEs: []secdesc.ACE{
		{Type: secdesc.AccessAllowed, Flags: secdesc.ObjectInherit | secdesc.ContainerInherit, Mask: fileAllAccess, SID: aliceSID},
		{Type: secdesc.AccessAllowed, Mask: shareRightRead, SID: secdesc.AuthenticatedUsers},
	}}}
	// "box" lets others read but not add; "shared" has the inherited
	// default (others may add, but not delete what is not theirs) and
	// holds a private file of alice's.
	for _, d := range []string{"box", "shared"} {
		alice.close(t, alice.c.create(alice.s, alice.tid, d, true))
	}
	st, h, _ := alice.open(t, "box", fileAllAccess, dispOpen)
	if st != wire.StatusSuccess || alice.setSD(t, h, secDACL, private) != wire.StatusSuccess {
		t.Fatalf("close box: %v", st)
	}
	alice.close(t, h)
	st, h, _ = alice.open(t, `shared\a.txt`, fileAllAccess, dispCreate, wire.CreateContext{Name: wire.CreateContextSDBuffer, Data: private.Encode()})
	if st != wire.StatusSuccess {
		t.Fatalf("private file: %v", st)
	}
	alice.close(t, h)

	rename := func(sc *secClient, id wire.FileID, target string, replace bool) wire.Status {
		b := renameInfo(target)
		if replace {
			b[0] = 1
		}
		req := &wire.SetInfoRequest{InfoType: infoFile, FileInfoClass: fscc.FileRenameInformation, FileID: id, Buffer: b}
		return status(sc.c.roundTrip(sc.s.signer, sc.c.header(wire.CmdSetInfo, sc.s.id, sc.tid), req))
	}
	st, hb, _ := bob.open(t, "bobs.txt", fileAllAccess, dispCreate)
	if st != wire.StatusSuccess {
		t.Fatalf("bob creates: %v", st)
	}
	if st := rename(bob, hb, `box\bobs.txt`, false); st != wire.StatusAccessDenied {
		t.Fatalf("bob moves into a directory he may not add to: %v, want ACCESS_DENIED", st)
	}
	if st := rename(bob, hb, `shared\a.txt`, true); st != wire.StatusAccessDenied {
		t.Fatalf("bob replaces a file he may not delete: %v, want ACCESS_DENIED", st)
	}
	if st := rename(bob, hb, `shared\b.txt`, false); st != wire.StatusSuccess {
		t.Fatalf("bob moves into a directory he may add to: %v", st)
	}
	bob.close(t, hb)
	if st, _, _ := alice.open(t, `shared\a.txt`, fileReadData, dispOpen); st != wire.StatusSuccess {
		t.Fatalf("alice's file after the refused replace: %v", st)
	}
}

// BenchmarkCreateCloseExisting measures CREATE+CLOSE of an existing file
// in a subdirectory, the path that pays for reading the descriptor (and
// the parent's when DELETE or READ_ATTRIBUTES is asked for).
func BenchmarkCreateCloseExisting(b *testing.B) {
	ts := startServer(b, nil)
	c := dialRaw(b, ts.addr, Dialect302)
	s := c.login("test", "test123")
	tid := c.treeConnect(s, "share")
	closeReq := func(id wire.FileID) {
		expect(b, c.roundTrip(s.signer, c.header(wire.CmdClose, s.id, tid), &wire.CloseRequest{FileID: id}), wire.CmdClose, wire.StatusSuccess)
	}
	closeReq(c.create(s, tid, "d", true))
	closeReq(c.create(s, tid, `d\f`, false))
	req := createReq(`d\f`, false)
	req.DesiredAccess = fileReadData | fileReadAttributes | synchronize
	req.CreateDisposition = dispOpen
	b.ResetTimer()
	for range b.N {
		resp := c.roundTrip(s.signer, c.header(wire.CmdCreate, s.id, tid), req)
		var cr wire.CreateResponse
		if err := cr.Decode(resp); err != nil {
			b.Fatal(status(resp), err)
		}
		closeReq(cr.FileID)
	}
}

// TestAccessBasedEnumeration checks that a share with access-based
// enumeration announces it and lists only what the user may read, and
// that a share without it lists everything.
func TestAccessBasedEnumeration(t *testing.T) {
	for _, abe := range []bool{true, false} {
		ts := startServer(t, func(c *Config) {
			c.Users = staticUsers{"alice": "a-pass", "bob": "b-pass"}
			c.Shares = staticShares{{Name: "share", Path: t.TempDir(), AccessBasedEnumeration: abe}}
		})
		alice := secLogin(t, ts, "alice", "a-pass")
		bob := secLogin(t, ts, "bob", "b-pass")
		if got := bob.tc.ShareFlags&wire.ShareFlagAccessBasedDirEnum != 0; got != abe {
			t.Fatalf("abe %v: share flags %#x", abe, bob.tc.ShareFlags)
		}
		aliceSID := UserSID(ts.srv.cfg.ServerGUID, "alice")
		private := &secdesc.SecurityDescriptor{Control: secdesc.DACLPresent, DACL: &secdesc.ACL{ACEs: []secdesc.ACE{
			{Type: secdesc.AccessAllowed, Mask: fileAllAccess, SID: aliceSID},
		}}}
		for _, f := range []string{"public.txt", "private.txt"} {
			var cx []wire.CreateContext
			if f == "private.txt" {
				cx = append(cx, wire.CreateContext{Name: wire.CreateContextSDBuffer, Data: private.Encode()})
			}
			st, h, _ := alice.open(t, f, fileAllAccess, dispCreate, cx...)
			if st != wire.StatusSuccess {
				t.Fatalf("create %s: %v", f, st)
			}
			alice.close(t, h)
		}
		list := func(sc *secClient) map[string]bool {
			d := sc.c.create(sc.s, sc.tid, "", true)
			defer sc.close(t, d)
			req := &wire.QueryDirectoryRequest{FileInformationClass: 12, FileID: d, FileName: "*", OutputBufferLength: 65536}
			resp := sc.c.roundTrip(sc.s.signer, sc.c.header(wire.CmdQueryDirectory, sc.s.id, sc.tid), req)
			var qr wire.QueryDirectoryResponse
			if st := status(resp); st != wire.StatusSuccess || qr.Decode(resp) != nil {
				t.Fatalf("query directory: %v", st)
			}
			names := map[string]bool{}
			for b := qr.Buffer; len(b) >= 12; {
				next := binary.LittleEndian.Uint32(b)
				n := binary.LittleEndian.Uint32(b[8:])
				if int(12+n) > len(b) {
					t.Fatalf("bad entry %x", b)
				}
				name, err := fscc.DecodeUTF16(b[12 : 12+n])
				if err != nil {
					t.Fatal(err)
				}
				names[name] = true
				if next == 0 || int(next) > len(b) {
					break
				}
				b = b[next:]
			}
			return names
		}
		if got := list(alice); !got["public.txt"] || !got["private.txt"] {
			t.Errorf("abe %v: alice lists %v", abe, got)
		}
		if got := list(bob); !got["public.txt"] || got["private.txt"] != !abe {
			t.Errorf("abe %v: bob lists %v", abe, got)
		}
	}
}

func TestStreamBase(t *testing.T) {
	for in, want := range map[string]string{
		"f":                 "f",
		`d\f:s`:             `d\f`,
		`d\f:s:$DATA`:       `d\f`,
		`d\f::$DATA`:        `d\f`,
		`d:x\f`:             `d:x\f`, // only the last component names a stream
		"":                  "",
		`a\b\c.txt:zone:$D`: `a\b\c.txt`,
	} {
		if got := streamBase(in); got != want {
			t.Errorf("streamBase(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestReauthReevaluatesAccess checks that a re-authentication as another
// user takes the old user's SIDs and share access away from the session's
// tree connects: what alice's tree allowed, bob (read-only share right) and
// carol (denied) get no more through it than their own tree connects would.
func TestReauthReevaluatesAccess(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Users = staticUsers{"alice": "a-pass", "bob": "b-pass", "carol": "c-pass"}
		c.Shares = staticShares{{Name: "share", Path: t.TempDir(), Permissions: []SharePermission{
			{Account: "Everyone", Access: "read"},
			{Account: "alice", Access: "full"},
			{Account: "carol", Access: "full", Deny: true},
		}}}
	})
	u := secLogin(t, ts, "alice", "a-pass")
	st, h, _ := u.open(t, "f", fileAllAccess, dispCreate)
	if st != wire.StatusSuccess {
		t.Fatalf("alice creates: %v", st)
	}
	u.close(t, h)

	expect(t, u.c.reauth(u.s, "bob", "b-pass", true), wire.CmdSessionSetup, wire.StatusSuccess)
	if st, _, _ := u.open(t, "f", fileWriteData, dispOpen); st != wire.StatusAccessDenied {
		t.Fatalf("bob writes through alice's tree connect: %v", st)
	}
	st, h, mx := u.open(t, "f", maximumAllowed, dispOpen)
	if st != wire.StatusSuccess || mx != shareRightRead {
		t.Fatalf("bob MAXIMUM_ALLOWED through alice's tree connect: %v MxAc %#x, want %#x", st, mx, shareRightRead)
	}
	u.close(t, h)

	expect(t, u.c.reauth(u.s, "carol", "c-pass", true), wire.CmdSessionSetup, wire.StatusSuccess)
	if st, _, _ := u.open(t, "f", fileReadData, dispOpen); st != wire.StatusAccessDenied {
		t.Fatalf("carol (denied on the share) opens through alice's tree connect: %v", st)
	}

	expect(t, u.c.reauth(u.s, "alice", "a-pass", true), wire.CmdSessionSetup, wire.StatusSuccess)
	if st, h, _ := u.open(t, "f", fileWriteData, dispOpen); st != wire.StatusSuccess {
		t.Fatalf("alice again: %v", st)
	} else {
		u.close(t, h)
	}
}
