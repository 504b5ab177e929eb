package smbserver

import (
	"bytes"
	"errors"

	"sofs.io/sofs/smbserver/rpc"
	"sofs.io/sofs/smbserver/wire"
)

// handleIoctl implements [MS-SMB2] 3.3.5.15 for the FSCTLs sofs serves
// today; others get the status Windows returns for an FSCTL the file
// system does not implement.
func (c *conn) handleIoctl(r *request) wire.Status {
	var req wire.IoctlRequest
	if err := req.Decode(r.msg); err != nil {
		return wire.StatusInvalidParameter
	}
	if req.Flags&wire.IoctlIsFsctl == 0 {
		return wire.StatusNotSupported
	}
	if uint32(len(req.Input)) > c.srv.cfg.MaxTransactSize || req.MaxOutputResponse > c.srv.cfg.MaxTransactSize {
		return wire.StatusInvalidParameter
	}
	if st := c.checkCharge(r, max(uint32(len(req.Input)), req.MaxOutputResponse)); st != wire.StatusSuccess {
		return st
	}
	switch req.CtlCode {
	case wire.FsctlValidateNegotiateInfo:
		return c.validateNegotiate(r, &req)
	case wire.FsctlDfsGetReferrals, wire.FsctlDfsGetReferralsEx:
		// No DFS namespace is hosted ([MS-SMB2] 3.3.5.15.2).
		return wire.StatusNotFound
	case wire.FsctlPipeTransceive:
		return c.pipeTransceive(r, &req)
	case wire.FsctlPipeWait:
		return c.pipeWait(r, &req)
	case wire.FsctlSetSparse, wire.FsctlQueryAllocatedRanges, wire.FsctlSetZeroData, wire.FsctlFileLevelTrim,
		wire.FsctlCreateOrGetObjectID, wire.FsctlGetObjectID, wire.FsctlGetIntegrityInformation, wire.FsctlSetIntegrityInformation,
		wire.FsctlLmrRequestResiliency, wire.FsctlQueryNetworkInterfaceInfo, wire.FsctlSrvRequestResumeKey,
		wire.FsctlSrvCopychunk, wire.FsctlSrvCopychunkWrite, wire.FsctlOffloadRead, wire.FsctlOffloadWrite,
		wire.FsctlDuplicateExtentsToFile, wire.FsctlGetCompression, wire.FsctlSetCompression:
		return c.fsctl(r, &req) // fsctl.go
	}
	if _, st := c.lookupOpen(r, req.FileID); st != wire.StatusSuccess {
		return st
	}
	return wire.StatusInvalidDeviceRequest
}

// validateNegotiate implements FSCTL_VALIDATE_NEGOTIATE_INFO ([MS-SMB2]
// 3.3.5.15.12): a mismatch means a man in the middle rewrote NEGOTIATE, and
// the connection is dropped.
func (c *conn) validateNegotiate(r *request, req *wire.IoctlRequest) wire.Status {
	if c.dialect == Dialect311 {
		// 3.1.1 protects negotiate with the preauth hash instead; Windows
		// terminates the connection for this request.
		c.cancel()
		return wire.StatusAccessDenied
	}
	vn, err := wire.DecodeValidateNegotiateInfoRequest(req.Input)
	if err != nil {
		c.cancel()
		return wire.StatusInvalidParameter
	}
	ok := vn.Capabilities == c.clientCaps && vn.Guid == c.clientGUID && vn.SecurityMode == c.clientSecMode && equalDialects(vn.Dialects, c.clientDialects)
	if !ok {
		c.log.Warn().Msg("VALIDATE_NEGOTIATE_INFO mismatch; closing connection")
		c.cancel()
		return wire.StatusAccessDenied
	}
	if req.MaxOutputResponse < 24 {
		return wire.StatusInvalidParameter
	}
	out := wire.ValidateNegotiateInfoResponse{
		Capabilities: c.serverCaps,
		Guid:         c.srv.cfg.ServerGUID,
		SecurityMode: c.serverSecMode,
		Dialect:      c.dialect,
	}
	resp := wire.IoctlResponse{CtlCode: req.CtlCode, FileID: req.FileID, Output: out.Encode()}
	r.out = resp.AppendTo(r.out)
	r.sign = true
	return wire.StatusSuccess
}

func equalDialects(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// pipeTransceive implements FSCTL_PIPE_TRANSCEIVE ([MS-FSCC] 2.3.49).
func (c *conn) pipeTransceive(r *request, req *wire.IoctlRequest) wire.Status {
	o, st := c.lookupOpen(r, req.FileID)
	if st != wire.StatusSuccess {
		return st
	}
	if o.pipe == nil {
		return wire.StatusInvalidDeviceRequest
	}
	o.mu.Lock()
	out, more, err := o.pipe.Transact(bytes.Clone(req.Input), int(req.MaxOutputResponse))
	o.mu.Unlock()
	if err != nil && !errors.Is(err, rpc.ErrNoData) {
		return wire.StatusPipeBroken
	}
	resp := wire.IoctlResponse{CtlCode: req.CtlCode, FileID: o.id, Output: out}
	r.out = resp.AppendTo(r.out)
	if more {
		return wire.StatusBufferOverflow
	}
	return wire.StatusSuccess
}

// pipeWait implements FSCTL_PIPE_WAIT ([MS-FSCC] 2.3.51): the pipes sofs
// serves are always available.
func (c *conn) pipeWait(r *request, req *wire.IoctlRequest) wire.Status {
	if !r.tree.ipc {
		return wire.StatusInvalidDeviceRequest
	}
	resp := wire.IoctlResponse{CtlCode: req.CtlCode, FileID: req.FileID}
	r.out = resp.AppendTo(r.out)
	return wire.StatusSuccess
}
