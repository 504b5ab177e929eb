package smbserver

import (
	"errors"
	"strings"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/secdesc"
	"sofs.io/sofs/smbserver/wire"
)

// Directory-specific rights ([MS-SMB2] 2.2.13.1.2): same bits as the file
// rights, other names.
const (
	fileListDirectory   = fileReadData
	fileAddFile         = fileWriteData
	fileAddSubdirectory = fileAppendData
	// accessModify is the "Modify" right of the Windows UI: read, write,
	// execute and delete, but not DELETE_CHILD, WRITE_DAC or WRITE_OWNER.
	accessModify uint32 = 0x001301BF
)

// shareRootSD is the descriptor of a share's root directory when none is
// stored there. Inheritable, it follows what Windows Server gives a folder
// created at the root of a data volume: Administrators and SYSTEM have
// full control, the creator of anything gets full control of it (CREATOR
// OWNER), and Authenticated Users may modify (create, read, write, delete)
// but not change the permissions or owner of others' files. On the root
// itself Authenticated Users have full control: sofs has no administrator
// accounts, so its users are the share's operators and must be able to
// open and manage the root as before (share permissions restrict them).
// The price is FILE_DELETE_CHILD on the root, so any user may delete a
// file at the top of the share whatever its own permissions say; private
// data belongs in a directory below, whose inherited Modify right has no
// FILE_DELETE_CHILD. A descriptor set on the root replaces all this.
// On a guest share Everyone gets what Authenticated Users get, so guest
// and anonymous sessions can work as they could before.
func shareRootSD(sh Share) *secdesc.SecurityDescriptor {
	const oici = secdesc.ObjectInherit | secdesc.ContainerInherit
	users := []secdesc.SID{secdesc.AuthenticatedUsers}
	if sh.Guest {
		users = append(users, secdesc.Everyone)
	}
	aces := []secdesc.ACE{
		{Type: secdesc.AccessAllowed, Flags: oici, Mask: fileAllAccess, SID: secdesc.Administrators},
		{Type: secdesc.AccessAllowed, Flags: oici, Mask: fileAllAccess, SID: secdesc.LocalSystem},
		{Type: secdesc.AccessAllowed, Flags: oici | secdesc.InheritOnly, Mask: genericAll, SID: secdesc.CreatorOwner},
	}
	for _, u := range users {
		aces = append(aces,
			secdesc.ACE{Type: secdesc.AccessAllowed, Mask: fileAllAccess, SID: u},
			secdesc.ACE{Type: secdesc.AccessAllowed, Flags: oici | secdesc.InheritOnly, Mask: accessModify, SID: u})
	}
	return &secdesc.SecurityDescriptor{
		Control: secdesc.SelfRelative | secdesc.DACLPresent | secdesc.DACLAutoInherited,
		Owner:   secdesc.Administrators,
		Group:   secdesc.LocalSystem,
		DACL:    &secdesc.ACL{Revision: secdesc.ACLRevision, ACEs: aces},
	}
}

// legacyOwner owns objects that have no stored descriptor (made on the
// backing directory by other means, or before descriptors were kept).
var legacyOwner = secdesc.Token{User: secdesc.Administrators, PrimaryGroup: secdesc.LocalSystem}

// objectSD returns the effective descriptor of the object at name: the
// stored one, else (none stored, or one that does not decode) the share
// root default for the root, and for any other object what it would
// have inherited from that root had an administrator created it, plus
// full control for the root's users on the object itself: data put on
// the backing directory behind sofs's back stays as usable as it was.
func objectSD(sh Share, name string, isDir bool, raw []byte) *secdesc.SecurityDescriptor {
	if raw != nil {
		if sd, err := secdesc.Decode(raw); err == nil {
			return sd
		}
	}
	root := shareRootSD(sh)
	if name == "" {
		return root
	}
	sd := secdesc.Create(root, nil, isDir, &legacyOwner, secdesc.FileMapping)
	var own []secdesc.ACE
	for _, a := range root.DACL.ACEs {
		if a.Flags == 0 && a.SID != secdesc.Administrators && a.SID != secdesc.LocalSystem {
			own = append(own, a)
		}
	}
	sd.DACL.ACEs = append(own, sd.DACL.ACEs...)
	return sd
}

// createAccess is the outcome of CREATE's access check.
type createAccess struct {
	// granted is the access of the new open (generic rights mapped,
	// MAXIMUM_ALLOWED resolved).
	granted uint32
	// maximal is the MxAc answer ([MS-SMB2] 2.2.14.2.5): everything the
	// caller could have opened the object with.
	maximal uint32
	// newSD is the descriptor to store if the open creates the object.
	newSD []byte
	// existed says the object existed at check time.
	existed bool
	token   *secdesc.Token
}

// checkCreateAccess runs the access check of CREATE ([MS-DTYP] 2.5.3.2,
// [MS-FSA] 2.1.5.1) for the session's token, intersected with the
// share's permissions (t.maxAccess()). For an existing object the rights
// come from its descriptor, plus DELETE when the parent grants
// FILE_DELETE_CHILD and FILE_READ_ATTRIBUTES when the parent grants
// FILE_LIST_DIRECTORY ([MS-FSA] 2.1.5.1.2.1; Windows and smbtorture's
// smb2.acls.OWNER rely on both). A new object needs FILE_ADD_FILE or
// FILE_ADD_SUBDIRECTORY on the parent, gets the descriptor inheritance
// gives it ([MS-DTYP] 2.5.3.4; creator is the SecD create context, or
// nil), and its creator gets the access asked for, as NTFS grants it.
//
// When the check cannot see the object (the path does not resolve), it
// grants the share-level access and leaves the error to the open, so the
// client sees the same status as before.
func (c *conn) checkCreateAccess(r *request, req *wire.CreateRequest, creator *secdesc.SecurityDescriptor) (createAccess, wire.Status) {
	t := r.tree
	tok := t.token()
	if tok == nil {
		tok = c.srv.tokenFor(r.sess)
	}
	desired := req.DesiredAccess &^ accessSystemSec
	ca := createAccess{token: tok}
	name := streamBase(req.Name)
	raw, isDir, err := t.vol.SecurityDescriptorAt(r.ctx, name)
	switch {
	case err == nil && csv.Disposition(req.CreateDisposition) == csv.Create && name == req.Name:
		// FILE_CREATE of an existing name fails with
		// STATUS_OBJECT_NAME_COLLISION before any access check
		// ([MS-FSA] 2.1.5.1.2; smb2.delete-on-close-perms.CREATE
		// Existing): the open reports it. (A new stream of an
		// existing file is checked against the file below.)
	case err == nil:
		ca.existed = true
		max := c.objectMaxAccess(r, tok, name, isDir, raw)
		granted, ok := secdesc.Check(max, desired, secdesc.FileMapping)
		if !ok || overwriteNeeds(req)&^max != 0 {
			return ca, wire.StatusAccessDenied
		}
		ca.granted, ca.maximal = granted, max
		return ca, wire.StatusSuccess
	case errors.Is(err, csv.ErrNotFound) && csv.Disposition(req.CreateDisposition) != csv.Open:
		parent := parentPath(name)
		praw, _, perr := t.vol.SecurityDescriptorAt(r.ctx, parent)
		if perr != nil {
			break
		}
		psd := objectSD(t.share, parent, true, praw)
		pmax := secdesc.MaximalAccess(psd, tok, secdesc.FileMapping) & t.maxAccess()
		dir := req.CreateOptions&optDirectoryFile != 0
		need := fileAddFile
		if dir {
			need = fileAddSubdirectory
		}
		if pmax&need == 0 {
			return ca, wire.StatusAccessDenied
		}
		if req.CreateOptions&optDeleteOnClose != 0 && req.FileAttributes&attrReadonly != 0 {
			// [MS-FSA] 2.1.5.1.1: a new read-only file cannot be
			// delete-on-close; it is refused before it exists
			// (smb2.delete-on-close-perms.READONLY).
			return ca, wire.StatusCannotDelete
		}
		sd := secdesc.Create(psd, creator, dir, tok, secdesc.FileMapping)
		if sd.Valid() != nil {
			// Inheritance would overflow the 64 KiB ACL limit.
			return ca, statusInvalidACL
		}
		ca.newSD = sd.Encode()
		ca.maximal = secdesc.MaximalAccess(sd, tok, secdesc.FileMapping) & t.maxAccess()
		granted, ok := secdesc.Check(t.maxAccess(), desired, secdesc.FileMapping)
		if !ok {
			return ca, wire.StatusAccessDenied
		}
		if desired&maximumAllowed != 0 {
			granted = ca.maximal | mapGeneric(desired&^maximumAllowed)
		}
		ca.granted = granted
		return ca, wire.StatusSuccess
	}
	granted, _ := secdesc.Check(t.maxAccess(), desired, secdesc.FileMapping)
	ca.granted, ca.maximal = granted, t.maxAccess()
	return ca, wire.StatusSuccess
}

// objectMaxAccess is what tok may do to the existing object at name,
// within the share's permissions. The parent is read only when the
// object's own descriptor lacks DELETE or FILE_READ_ATTRIBUTES (rare:
// owners and the default Modify right have both), whatever was asked
// for, so that the MxAc answer is complete too.
func (c *conn) objectMaxAccess(r *request, tok *secdesc.Token, name string, isDir bool, raw []byte) uint32 {
	t := r.tree
	max := secdesc.MaximalAccess(objectSD(t.share, name, isDir, raw), tok, secdesc.FileMapping)
	if missing := ^max & (accessDelete | fileReadAttributes); missing != 0 && name != "" {
		parent := parentPath(name)
		if praw, _, err := t.vol.SecurityDescriptorAt(r.ctx, parent); err == nil {
			pmax := secdesc.MaximalAccess(objectSD(t.share, parent, true, praw), tok, secdesc.FileMapping)
			if pmax&fileDeleteChild != 0 {
				max |= accessDelete
			}
			if pmax&fileListDirectory != 0 {
				max |= fileReadAttributes
			}
		}
	}
	return max & t.maxAccess()
}

// recheckOpened repeats the check for an open that found an existing
// object where checkCreateAccess saw none (another client created it in
// between): the access asked for must be allowed by that object's
// descriptor. A denied open is closed by the caller.
func (c *conn) recheckOpened(r *request, req *wire.CreateRequest, h *csv.Handle, isDir bool, ca *createAccess) wire.Status {
	raw, _, err := h.SecurityDescriptor()
	if err != nil {
		return c.mapErr(err)
	}
	desired := req.DesiredAccess &^ accessSystemSec
	max := c.objectMaxAccess(r, ca.token, streamBase(req.Name), isDir, raw)
	granted, ok := secdesc.Check(max, desired, secdesc.FileMapping)
	if !ok || overwriteNeeds(req)&^max != 0 {
		return wire.StatusAccessDenied
	}
	ca.granted, ca.maximal = granted, max
	return wire.StatusSuccess
}

// streamBase is the file a path names, without a stream suffix
// ("file:stream:$DATA", "file::$DATA"): named streams have no descriptor
// of their own, an open of one is checked against its file's ([MS-FSA]
// 2.1.5.1: security applies to the file).
func streamBase(name string) string {
	last := strings.LastIndexByte(name, '\\') + 1
	if i := strings.IndexByte(name[last:], ':'); i >= 0 {
		return name[:last+i]
	}
	return name
}

// overwriteNeeds is the right replacing an existing file's contents
// needs besides the access asked for: FILE_WRITE_DATA, for supersede as
// for overwrite ([MS-FSA] 2.1.5.1.2.1 truncates the file in both cases;
// smbtorture's smb2.acls.OVERWRITE_READ_ONLY_FILE records that Windows
// refuses all three dispositions on a file the caller may only read).
func overwriteNeeds(req *wire.CreateRequest) uint32 {
	switch csv.Disposition(req.CreateDisposition) {
	case csv.Supersede, csv.Overwrite, csv.OverwriteIf:
		return fileWriteData
	}
	return 0
}

// checkRenameAccess is the access check of a rename beyond the DELETE the
// open already holds ([MS-FSA] 2.1.5.14.11): the target directory must
// grant FILE_ADD_FILE (FILE_ADD_SUBDIRECTORY for a directory), and
// replacing an existing target needs DELETE on it. Errors resolving the
// target are left to the rename, which reports them with their usual
// status.
func (c *conn) checkRenameAccess(r *request, o *open, target string, replace bool) wire.Status {
	t := o.tree
	tok := t.token()
	if tok == nil {
		tok = c.srv.tokenFor(o.sess)
	}
	parent := parentPath(target)
	praw, _, err := t.vol.SecurityDescriptorAt(r.ctx, parent)
	if err != nil {
		return wire.StatusSuccess
	}
	pmax := secdesc.MaximalAccess(objectSD(t.share, parent, true, praw), tok, secdesc.FileMapping) & t.maxAccess()
	need := fileAddFile
	if o.isDir {
		need = fileAddSubdirectory
	}
	if pmax&need == 0 {
		return wire.StatusAccessDenied
	}
	if !replace {
		return wire.StatusSuccess
	}
	raw, isDir, err := t.vol.SecurityDescriptorAt(r.ctx, target)
	if err != nil {
		return wire.StatusSuccess
	}
	if c.objectMaxAccess(r, tok, target, isDir, raw)&accessDelete == 0 {
		return wire.StatusAccessDenied
	}
	return wire.StatusSuccess
}

// abeNeeds is what a user must be granted on an entry to see it in a
// listing of a share with access-based enumeration: the read rights of
// FILE_GENERIC_READ (smbtorture's smb2.acls.ACCESSBASED hides an entry
// that lacks any of READ_DATA, READ_ATTRIBUTES or READ_EA).
const abeNeeds = fileReadData | fileReadAttributes | fileReadEA

// hideUnreadable drops from a directory listing the entries the session
// may not read, on shares with access-based enumeration ([MS-SMB2] 2.2.10
// SMB2_SHAREFLAG_ACCESS_BASED_DIRECTORY_ENUM; 3.3.5.18: the server
// filters what it returns). Each entry's own descriptor decides, without
// the parent's FILE_LIST_DIRECTORY, which the lister has anyway. It reads
// one descriptor per entry, a cost only such shares pay.
func (c *conn) hideUnreadable(r *request, o *open, list []csv.FileInfo) []csv.FileInfo {
	t := o.tree
	if !t.share.AccessBasedEnumeration {
		return list
	}
	tok := t.token()
	if tok == nil {
		tok = c.srv.tokenFor(o.sess)
	}
	dir := o.handle.Path()
	out := list[:0]
	for _, fi := range list {
		name := joinPath(dir, fi.Name)
		raw, isDir, err := t.vol.SecurityDescriptorAt(r.ctx, name)
		if err != nil {
			continue // gone since the listing
		}
		max := secdesc.MaximalAccess(objectSD(t.share, name, isDir, raw), tok, secdesc.FileMapping) & t.maxAccess()
		if max&abeNeeds == abeNeeds {
			out = append(out, fi)
		}
	}
	return out
}
