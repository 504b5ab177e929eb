package smbtest

import (
	"context"
	"fmt"

	"sofs.io/sofs/smbserver/wire"
)

// Access and share masks the tests use.
const (
	// AccessReadWrite is GENERIC_READ|GENERIC_WRITE as Windows maps it
	// (FILE_GENERIC_READ | FILE_GENERIC_WRITE).
	AccessReadWrite = 0x0012019F
	// ShareAll is FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE.
	ShareAll = 0x7
	// LeaseRWH is read, write and handle caching.
	LeaseRWH = 0x7
)

// PersistentOpen builds a CREATE (FILE_OPEN_IF) asking for a persistent
// durable handle ([MS-SMB2] 2.2.13.2.11 DH2Q with
// SMB2_DHANDLE_FLAG_PERSISTENT) and a v2 lease with read, write and
// handle caching.
func PersistentOpen(name string, createGUID, leaseKey [16]byte, timeoutMS uint32) *wire.CreateRequest {
	req := &wire.CreateRequest{
		RequestedOplockLevel: wire.OplockLevelLease,
		ImpersonationLevel:   2,
		DesiredAccess:        AccessReadWrite,
		ShareAccess:          ShareAll,
		CreateDisposition:    3, // FILE_OPEN_IF
		FileAttributes:       0x80,
		Name:                 name,
	}
	q := wire.DurableHandleRequestV2{Timeout: timeoutMS, Flags: wire.DurableHandleFlagPersistent, CreateGUID: createGUID}
	req.Contexts = []wire.CreateContext{
		{Name: wire.CreateContextDurableHandleV2, Data: q.Encode()},
		{Name: wire.CreateContextRequestLease, Data: wire.Lease{V2: true, LeaseKey: leaseKey, LeaseState: LeaseRWH}.Encode()},
	}
	return req
}

// PersistentReconnect builds the CREATE that reclaims a persistent handle
// ([MS-SMB2] 2.2.13.2.12 DH2C) with its lease key.
func PersistentReconnect(name string, fid wire.FileID, createGUID, leaseKey [16]byte) *wire.CreateRequest {
	req := &wire.CreateRequest{
		RequestedOplockLevel: wire.OplockLevelLease,
		ImpersonationLevel:   2,
		DesiredAccess:        AccessReadWrite,
		ShareAccess:          ShareAll,
		CreateDisposition:    1, // FILE_OPEN
		FileAttributes:       0x80,
		Name:                 name,
	}
	c := wire.DurableHandleReconnectV2{FileID: fid, CreateGUID: createGUID, Flags: wire.DurableHandleFlagPersistent}
	req.Contexts = []wire.CreateContext{
		{Name: wire.CreateContextDurableReconnectV2, Data: c.Encode()},
		{Name: wire.CreateContextRequestLease, Data: wire.Lease{V2: true, LeaseKey: leaseKey, LeaseState: LeaseRWH}.Encode()},
	}
	return req
}

// Create sends a CREATE and decodes its successful response.
func (c *Conn) Create(ctx context.Context, tid uint32, req *wire.CreateRequest) (wire.CreateResponse, error) {
	resp, err := c.Call(ctx, wire.CmdCreate, tid, req, 0)
	if err != nil {
		return wire.CreateResponse{}, err
	}
	if resp.Status() != wire.StatusSuccess {
		return wire.CreateResponse{}, fmt.Errorf("smbtest: create %q: %v", req.Name, resp.Status())
	}
	var cr wire.CreateResponse
	if err := cr.Decode(resp.Msg); err != nil {
		return wire.CreateResponse{}, fmt.Errorf("smbtest: create %q: %w", req.Name, err)
	}
	return cr, nil
}

// CloseFile closes an open.
func (c *Conn) CloseFile(ctx context.Context, tid uint32, fid wire.FileID) error {
	resp, err := c.Call(ctx, wire.CmdClose, tid, &wire.CloseRequest{FileID: fid}, 0)
	if err != nil {
		return err
	}
	if resp.Status() != wire.StatusSuccess {
		return fmt.Errorf("smbtest: close: %v", resp.Status())
	}
	return nil
}

// Context returns the data of the create context called name, nil if
// the response has none.
func Context(cr wire.CreateResponse, name string) []byte {
	for _, cc := range cr.Contexts {
		if cc.Name == name {
			return cc.Data
		}
	}
	return nil
}
