package smbserver

import (
	"sofs.io/sofs/smbserver/wire"
)

// fsctl dispatches the file-system FSCTLs of [MS-SMB2] 3.3.5.15 that act
// on an open file (fsctl_*.go); handleIoctl routes their codes here.
func (c *conn) fsctl(r *request, req *wire.IoctlRequest) wire.Status {
	if req.CtlCode == wire.FsctlQueryNetworkInterfaceInfo {
		return c.queryNetworkInterfaces(r, req)
	}
	o, st := c.lookupOpen(r, req.FileID)
	if st != wire.StatusSuccess {
		return st
	}
	if o.handle == nil {
		return wire.StatusInvalidDeviceRequest // a pipe
	}
	switch req.CtlCode {
	case wire.FsctlSetSparse:
		return c.setSparse(r, req, o)
	case wire.FsctlQueryAllocatedRanges:
		return c.queryAllocatedRanges(r, req, o)
	case wire.FsctlSetZeroData:
		return c.setZeroData(r, req, o)
	case wire.FsctlFileLevelTrim:
		return c.fileLevelTrim(r, req, o)
	case wire.FsctlCreateOrGetObjectID, wire.FsctlGetObjectID:
		return c.objectID(r, req, o)
	case wire.FsctlGetIntegrityInformation:
		return c.getIntegrity(r, req, o)
	case wire.FsctlSetIntegrityInformation:
		return c.setIntegrity(r, req, o)
	case wire.FsctlLmrRequestResiliency:
		return c.requestResiliency(r, req, o)
	case wire.FsctlSrvRequestResumeKey:
		return c.requestResumeKey(r, req, o)
	case wire.FsctlSrvCopychunk, wire.FsctlSrvCopychunkWrite:
		return c.copychunk(r, req, o)
	case wire.FsctlOffloadRead:
		return c.offloadRead(r, req, o)
	case wire.FsctlOffloadWrite:
		return c.offloadWrite(r, req, o)
	case wire.FsctlDuplicateExtentsToFile:
		return c.duplicateExtents(r, req, o)
	case wire.FsctlGetCompression:
		return c.getCompression(r, req, o)
	case wire.FsctlSetCompression:
		return c.setCompression(r, req, o)
	}
	return wire.StatusInvalidDeviceRequest
}

// ioctlOut appends a successful IOCTL response carrying out.
func ioctlOut(r *request, req *wire.IoctlRequest, o *open, out []byte) {
	resp := wire.IoctlResponse{CtlCode: req.CtlCode, FileID: o.id, Output: out}
	r.out = resp.AppendTo(r.out)
}
