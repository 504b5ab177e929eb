package smbserver

import (
	"encoding/binary"
	"errors"
	"strings"
	"syscall"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/fscc"
	"sofs.io/sofs/smbserver/rpc"
	"sofs.io/sofs/smbserver/secdesc"
	"sofs.io/sofs/smbserver/wire"
)

// handleCreate implements [MS-SMB2] 3.3.5.9 for disk files, directories
// and named pipes.
func (c *conn) handleCreate(r *request) wire.Status {
	var req wire.CreateRequest
	if err := req.Decode(r.msg); err != nil {
		return wire.StatusInvalidParameter
	}
	defer c.replayEnd(r)                            // replay.go
	if st, done := c.durableCreate(r, &req); done { // durable.go: reconnect, replay
		return st
	}
	if st := validateCreate(&req); st != wire.StatusSuccess {
		return st
	}
	if st := checkTreeAdmits(r.tree); st != wire.StatusSuccess { // reauth.go
		return st
	}
	if r.tree.ipc {
		return c.createPipe(r, &req)
	}
	t := r.tree
	access := mapGeneric(req.DesiredAccess)
	if req.DesiredAccess&maximumAllowed != 0 {
		access |= t.maxAccess()
	}
	access &^= maximumAllowed
	if access&^t.maxAccess()&^accessSystemSec != 0 {
		return wire.StatusAccessDenied
	}
	if access&accessSystemSec != 0 {
		// SACL access needs SeSecurityPrivilege, which no sofs user holds.
		return wire.StatusPrivilegeNotHeld
	}
	disp := csv.Disposition(req.CreateDisposition)
	modifies := disp != csv.Open
	if t.share.ReadOnly && (access&writeIntent != 0 || (modifies && disp != csv.OpenIf)) {
		return wire.StatusAccessDenied
	}
	deleteOnClose := req.CreateOptions&optDeleteOnClose != 0
	if deleteOnClose && access&accessDelete == 0 {
		return wire.StatusAccessDenied
	}
	cx, st := parseCreateContexts(req.Contexts)
	if st != wire.StatusSuccess {
		return st
	}
	allocSize, wantMxAc, wantQFid := cx.allocSize, cx.maximalAccess, cx.queryOnDiskID
	ca, st := c.checkCreateAccess(r, &req, cx.secDesc) // accesscheck.go
	if st != wire.StatusSuccess {
		return st
	}
	access = ca.granted
	if deleteOnClose && access&accessDelete == 0 {
		return wire.StatusAccessDenied
	}
	name := req.Name
	if req.FileAttributes&attrEncrypted != 0 && disp != csv.Open && !(disp == csv.OpenIf && nameExists(r, t, name)) {
		// Creating or overwriting an encrypted file needs EFS, which a
		// standalone Windows server refuses with STATUS_ACCESS_DENIED
		// ([MS-FSA] 2.1.5.1: encryption processing); sofs has no EFS.
		return wire.StatusAccessDenied
	}
	h, action, err := c.openForCreate(r, &req, access, csv.OpenRequest{
		Path:           name,
		Disposition:    disp,
		Directory:      req.CreateOptions&optDirectoryFile != 0,
		NonDirectory:   req.CreateOptions&optNonDirectoryFile != 0,
		Write:          access&(fileWriteData|fileAppendData) != 0,
		Attributes:     req.FileAttributes & createAttrs,
		AllocationSize: allocSize,
		DeleteOnClose:  deleteOnClose,
		EAs:            cx.eas,
		Security:       ca.newSD,
	})
	if err != nil {
		return c.mapErr(err)
	}
	if req.CreateOptions&optNoEAKnowledge != 0 {
		if st := checkNeedEA(h); st != wire.StatusSuccess { // ea.go
			h.Close()
			return st
		}
	}
	info, err := h.Stat(r.ctx)
	if err != nil {
		h.Close()
		return c.mapErr(err)
	}
	if deleteOnClose && info.Attributes&attrReadonly != 0 {
		h.Close()
		return wire.StatusCannotDelete
	}
	if !ca.existed && action != csv.Created && ca.newSD != nil {
		// Created by someone else between the check and the open.
		if st := c.recheckOpened(r, &req, h, info.IsDir, &ca); st != wire.StatusSuccess {
			h.Close()
			return st
		}
		access = ca.granted
	}
	o := &open{sess: r.sess, tree: t, handle: h, isDir: info.IsDir, access: access, options: req.CreateOptions, name: name}
	if deleteOnClose && action == csv.Opened {
		// The file will go when this handle closes: other clients'
		// cached handles must go first (oplock.go).
		if st := c.breakForDelete(r, o); st != wire.StatusSuccess {
			h.Close()
			return st
		}
	}
	c.srv.opens.add(o)
	o.csn.Store(uint32(r.hdr.ChannelSequence())) // replay.go: Open.ChannelSequence
	r.sess.mu.Lock()
	if r.sess.state != sessionValid {
		r.sess.mu.Unlock()
		c.srv.closeOpen(o)
		return wire.StatusUserSessionDeleted
	}
	r.sess.opens[o.id.Volatile] = o
	r.sess.mu.Unlock()
	r.cs.fileID, r.cs.haveFileID = o.id, true

	resp := wire.CreateResponse{
		CreateAction:   uint32(action),
		CreationTime:   fscc.FileTime(info.CreationTime),
		LastAccessTime: fscc.FileTime(info.LastAccessTime),
		LastWriteTime:  fscc.FileTime(info.LastWriteTime),
		ChangeTime:     fscc.FileTime(info.ChangeTime),
		AllocationSize: uint64(info.AllocationSize),
		EndOfFile:      uint64(info.EndOfFile),
		FileAttributes: info.Attributes,
		FileID:         o.id,
	}
	if wantMxAc {
		resp.Contexts = append(resp.Contexts, wire.CreateContext{
			Name: wire.CreateContextMaximalAccess,
			Data: wire.EncodeMaximalAccessResponse(0, ca.maximal),
		})
	}
	if wantQFid {
		var id [32]byte
		binary.LittleEndian.PutUint64(id[:8], info.FileID)
		binary.LittleEndian.PutUint64(id[16:24], uint64(t.vol.ID()))
		resp.Contexts = append(resp.Contexts, wire.CreateContext{Name: wire.CreateContextQueryOnDiskID, Data: id[:]})
	}
	c.createGranted(r, o, &req, &resp)  // oplock.go
	c.durableGranted(r, o, &req, &resp) // durable.go
	c.replayGranted(r, o, &resp)        // replay.go
	r.out = resp.AppendTo(r.out)
	return wire.StatusSuccess
}

// createContexts is what handleCreate takes from the create contexts it
// understands.
type createContexts struct {
	allocSize     int64
	maximalAccess bool
	queryOnDiskID bool
	eas           []csv.EA                    // ExtA (ea.go)
	secDesc       *secdesc.SecurityDescriptor // SecD, [MS-SMB2] 2.2.13.2.1
}

// parseCreateContexts validates the create context chain ([MS-SMB2]
// 2.2.13.2, 3.3.5.9). Every context name is at least four bytes long:
// Windows fails shorter ones with STATUS_INVALID_PARAMETER, while unknown
// names of valid length are ignored as the spec requires.
func parseCreateContexts(ccs []wire.CreateContext) (createContexts, wire.Status) {
	var cx createContexts
	for _, cc := range ccs {
		if len(cc.Name) < 4 {
			return cx, wire.StatusInvalidParameter
		}
		switch cc.Name {
		case wire.CreateContextMaximalAccess:
			// [MS-SMB2] 2.2.13.2.5: empty, or an 8-byte Timestamp.
			if len(cc.Data) != 0 && len(cc.Data) != 8 {
				return cx, wire.StatusInvalidParameter
			}
			cx.maximalAccess = true
		case wire.CreateContextQueryOnDiskID:
			cx.queryOnDiskID = true
		case wire.CreateContextSDBuffer:
			sd, err := secdesc.Decode(cc.Data)
			if err != nil {
				return cx, wire.StatusInvalidSecurityDescr
			}
			cx.secDesc = sd
		case wire.CreateContextAllocationSize:
			if len(cc.Data) != 8 {
				return cx, wire.StatusInvalidParameter
			}
			cx.allocSize = int64(binary.LittleEndian.Uint64(cc.Data))
		case wire.CreateContextTimewarp:
			// [MS-SMB2] 3.3.5.9.4: the open is on the snapshot taken at
			// the given time; sofs keeps no snapshots, so none exists
			// and the request fails with STATUS_OBJECT_NAME_NOT_FOUND.
			if len(cc.Data) != 8 {
				return cx, wire.StatusInvalidParameter
			}
			return cx, wire.StatusObjectNameNotFound
		case wire.CreateContextEABuffer:
			// [MS-SMB2] 2.2.13.2.1, 3.3.5.9.2: applied to a created or
			// overwritten file.
			eas, st := decodeEAList(cc.Data)
			if st != wire.StatusSuccess {
				return cx, st
			}
			cx.eas = eas
		}
	}
	return cx, wire.StatusSuccess
}

// nameExists reports whether name names an existing object of t's share.
func nameExists(r *request, t *tree, name string) bool {
	_, err := t.vol.Stat(r.ctx, name)
	return err == nil
}

// validateCreate applies the request checks of [MS-SMB2] 3.3.5.9 that do
// not depend on the file.
func validateCreate(req *wire.CreateRequest) wire.Status {
	if req.ImpersonationLevel > 3 {
		return wire.StatusBadImpersonationLevel
	}
	if req.CreateDisposition > uint32(csv.OverwriteIf) {
		return wire.StatusInvalidParameter
	}
	if req.CreateOptions&optDirectoryFile != 0 && req.CreateOptions&optNonDirectoryFile != 0 {
		return wire.StatusInvalidParameter
	}
	if req.CreateOptions&(optReserveOpfilter|optOpenByFileID|optCreateTreeConnection) != 0 {
		// Windows refuses these as STATUS_NOT_SUPPORTED: opening by
		// file id is not offered, FILE_CREATE_TREE_CONNECTION and
		// FILE_RESERVE_OPFILTER are not meaningful to an SMB2 server.
		return wire.StatusNotSupported
	}
	if req.CreateOptions&0xFF000000 != 0 {
		return wire.StatusInvalidParameter
	}
	if req.DesiredAccess&^validAccessBits != 0 || req.DesiredAccess == 0 {
		return wire.StatusAccessDenied
	}
	if req.FileAttributes&^validAttrs != 0 {
		return wire.StatusInvalidParameter
	}
	if req.ShareAccess&^0x7 != 0 {
		return wire.StatusInvalidParameter
	}
	if strings.HasPrefix(req.Name, `\`) {
		return wire.StatusInvalidParameter
	}
	if req.CreateOptions&optDirectoryFile != 0 {
		switch csv.Disposition(req.CreateDisposition) {
		case csv.Supersede, csv.Overwrite, csv.OverwriteIf:
			return wire.StatusInvalidParameter
		}
	}
	return wire.StatusSuccess
}

// createPipe opens a named pipe on IPC$ ([MS-SMB2] 3.3.5.9: "If the tree
// connect is to a named pipe ...").
func (c *conn) createPipe(r *request, req *wire.CreateRequest) wire.Status {
	p, ok := rpc.NewPipe(req.Name, srvsvcBackend{c.srv})
	if !ok {
		return wire.StatusObjectNameNotFound
	}
	o := &open{sess: r.sess, tree: r.tree, pipe: p, access: mapGeneric(req.DesiredAccess) &^ maximumAllowed, name: req.Name}
	c.srv.opens.add(o)
	r.sess.mu.Lock()
	r.sess.opens[o.id.Volatile] = o
	r.sess.mu.Unlock()
	r.cs.fileID, r.cs.haveFileID = o.id, true
	resp := wire.CreateResponse{
		CreateAction:   uint32(csv.Opened),
		FileAttributes: attrNormal,
		AllocationSize: 4096,
		FileID:         o.id,
	}
	r.out = resp.AppendTo(r.out)
	return wire.StatusSuccess
}

// srvsvcBackend feeds the srvsvc pipe from the server's share list.
type srvsvcBackend struct{ s *Server }

func (b srvsvcBackend) Shares() []rpc.ShareInfo {
	var out []rpc.ShareInfo
	for _, sh := range b.s.cfg.Shares.Shares() {
		out = append(out, rpc.ShareInfo{Name: sh.Name, Type: 0, Comment: sh.Comment, Path: `C:\` + sh.Name})
	}
	out = append(out, rpc.ShareInfo{Name: "IPC$", Type: 3 | 0x80000000, Comment: "IPC Service"})
	return out
}

func (b srvsvcBackend) Server() rpc.ServerInfo {
	return rpc.ServerInfo{
		Name:         b.s.cfg.ServerName,
		Comment:      "sofs",
		VersionMajor: 10,
		VersionMinor: 0,
		// SV_TYPE_WORKSTATION | SV_TYPE_SERVER | SV_TYPE_SERVER_NT
		Type: 0x00000001 | 0x00000002 | 0x00008000,
	}
}

// mapError is the one table from storage errors to NTSTATUS.
func mapError(err error) wire.Status {
	var st wire.Status
	switch {
	case err == nil:
		return wire.StatusSuccess
	case errors.As(err, &st):
		return st
	case errors.Is(err, csv.ErrNotFound):
		return wire.StatusObjectNameNotFound
	case errors.Is(err, csv.ErrPathNotFound):
		return wire.StatusObjectPathNotFound
	case errors.Is(err, csv.ErrExists):
		return wire.StatusObjectNameCollision
	case errors.Is(err, csv.ErrNotDirectory):
		return wire.StatusNotADirectory
	case errors.Is(err, csv.ErrIsDirectory):
		return wire.StatusFileIsADirectory
	case errors.Is(err, csv.ErrNotEmpty):
		return wire.StatusDirectoryNotEmpty
	case errors.Is(err, csv.ErrAccessDenied), errors.Is(err, csv.ErrReadOnly):
		return wire.StatusAccessDenied
	case errors.Is(err, csv.ErrInvalidName):
		return wire.StatusObjectNameInvalid
	case errors.Is(err, csv.ErrStreamsUnsupported):
		return wire.StatusObjectNameInvalid
	case errors.Is(err, csv.ErrSharingViolation): // share modes, oplock.go
		return wire.StatusSharingViolation
	case errors.Is(err, csv.ErrDeletePending):
		return wire.StatusDeletePending
	case errors.Is(err, csv.ErrNoSpace):
		return wire.StatusDiskFull
	case errors.Is(err, csv.ErrCannotDelete):
		return wire.StatusCannotDelete
	case errors.Is(err, csv.ErrNameTooLong):
		return wire.StatusObjectNameInvalid
	case errors.Is(err, csv.ErrInvalidParameter):
		// Combinations [MS-FSA] refuses, e.g. TEMPORARY on a directory
		// (2.1.5.14.2).
		return wire.StatusInvalidParameter
	case errors.Is(err, csv.ErrClosed):
		return wire.StatusFileClosed
	case errors.Is(err, csv.ErrFenced):
		// Never reaches the client: the lease clock refused, so the
		// request's connection is dropped unanswered (fence.go).
		return wire.StatusFileNotAvailable
	case errors.Is(err, csv.ErrEATooLarge):
		return wire.StatusEATooLarge
	case errors.Is(err, csv.ErrNoEAs):
		return wire.StatusEAsNotSupported
	case errors.Is(err, syscall.EINVAL), errors.Is(err, syscall.EFBIG), errors.Is(err, syscall.EOVERFLOW):
		// Offsets and sizes past what the file system can hold.
		return wire.StatusInvalidParameter
	}
	return wire.StatusUnexpectedIOError
}

// mapErr maps a storage error and logs the ones the table does not know:
// those are server faults an operator needs to see.
func (c *conn) mapErr(err error) wire.Status {
	st := mapError(err)
	if st == wire.StatusUnexpectedIOError {
		c.log.Warn().Err(err).Msg("unexpected storage error")
	}
	return st
}
