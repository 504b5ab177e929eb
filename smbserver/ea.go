package smbserver

import (
	"context"
	"errors"
	"strings"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/fscc"
	"sofs.io/sofs/smbserver/wire"
)

// QUERY_INFO Flags for FileFullEaInformation ([MS-SMB2] 2.2.37).
const (
	slRestartScan       = 0x00000001
	slReturnSingleEntry = 0x00000002
	slIndexSpecified    = 0x00000004
)

// decodeEAList turns a FILE_FULL_EA_INFORMATION list from a client (the
// ExtA create context, [MS-SMB2] 2.2.13.2.1, or a SET_INFO buffer) into
// storage EAs, checking every name ([MS-FSA] 2.1.5.14, FileFullEaInformation:
// a malformed list is STATUS_EA_LIST_INCONSISTENT, a bad name
// STATUS_INVALID_EA_NAME).
func decodeEAList(b []byte) ([]csv.EA, wire.Status) {
	list, err := fscc.DecodeFullEA(b)
	if err != nil {
		return nil, wire.StatusEAListInconsistent
	}
	out := make([]csv.EA, 0, len(list))
	for _, ea := range list {
		if !fscc.ValidEAName(ea.Name) {
			return nil, wire.StatusInvalidEAName
		}
		out = append(out, csv.EA{Name: ea.Name, Value: ea.Value, NeedEA: ea.Flags&fscc.FileNeedEA != 0})
	}
	if csv.EAListSize(out) > csv.MaxEAListSize {
		return nil, wire.StatusEATooLarge
	}
	return out, wire.StatusSuccess
}

// queryEAs answers QUERY_INFO FileFullEaInformation ([MS-SMB2]
// 3.3.5.20.1, [MS-FSCC] 2.4.15, [MS-FSA] 2.1.5.12.12): with a
// FILE_GET_EA_INFORMATION list in the input buffer, the named EAs in
// that order (an absent one with an empty value); otherwise the file's
// EAs from the open's scan position, restarted by SL_RESTART_SCAN or set
// by SL_INDEX_SPECIFIED (a 1-based index in AdditionalInformation). Only
// whole entries are returned: as many as fit (one with
// SL_RETURN_SINGLE_ENTRY), STATUS_BUFFER_OVERFLOW when some did not,
// STATUS_BUFFER_TOO_SMALL when not even the first did.
func (c *conn) queryEAs(r *request, o *open, req *wire.QueryInfoRequest) wire.Status {
	if o.access&fileReadEA == 0 {
		return wire.StatusAccessDenied
	}
	eas, err := o.handle.EAs()
	if err != nil {
		return c.mapErr(err)
	}
	var list []csv.EA
	scan := len(req.InputBuffer) == 0
	o.mu.Lock()
	defer o.mu.Unlock()
	if !scan {
		names, err := fscc.DecodeGetEA(req.InputBuffer)
		if err != nil {
			return wire.StatusEAListInconsistent
		}
		for _, n := range names {
			if !fscc.ValidEAName(n) {
				return wire.StatusInvalidEAName
			}
			ea := csv.EA{Name: n}
			for _, have := range eas {
				if strings.EqualFold(have.Name, n) {
					ea = have
					break
				}
			}
			list = append(list, ea)
		}
	} else {
		if len(eas) == 0 {
			return wire.StatusNoEAsOnFile
		}
		pos := o.eaPos
		if req.Flags&slRestartScan != 0 {
			pos = 0
		}
		if req.Flags&slIndexSpecified != 0 {
			idx := int(req.AdditionalInformation)
			if idx == 0 || idx > len(eas) {
				return wire.StatusNonexistentEAEntry
			}
			pos = idx - 1
		}
		if pos >= len(eas) {
			return wire.StatusNoMoreEAs
		}
		list = eas[pos:]
	}
	n, size := 0, 0
	for i := range list {
		at := (size + 3) &^ 3
		end := at + csv.EAListSize(list[i:i+1])
		if end > int(req.OutputBufferLength) {
			break
		}
		size, n = end, n+1
		if req.Flags&slReturnSingleEntry != 0 {
			break
		}
	}
	if n == 0 {
		return wire.StatusBufferTooSmall
	}
	out := make([]fscc.EA, n)
	for i := range out {
		out[i] = fscc.EA{Name: list[i].Name, Value: list[i].Value}
		if list[i].NeedEA {
			out[i].Flags = fscc.FileNeedEA
		}
	}
	data, err := fscc.AppendFullEA(nil, out)
	if err != nil {
		return wire.StatusInternalError
	}
	if scan {
		o.eaPos = len(eas) - len(list) + n
	}
	resp := wire.QueryInfoResponse{Buffer: data}
	r.out = resp.AppendTo(r.out)
	if n < len(list) && req.Flags&slReturnSingleEntry == 0 {
		return wire.StatusBufferOverflow
	}
	return wire.StatusSuccess
}

// setEAs applies SET_INFO FileFullEaInformation ([MS-FSA] 2.1.5.14,
// FileFullEaInformation): every EA in the list is added, replaced or (with
// an empty value) deleted, all or none.
func (c *conn) setEAs(o *open, buf []byte) wire.Status {
	if o.access&fileWriteEA == 0 {
		return wire.StatusAccessDenied
	}
	eas, st := decodeEAList(buf)
	if st != wire.StatusSuccess {
		return st
	}
	if err := o.handle.SetEAs(eas); err != nil {
		return c.mapErr(err)
	}
	return wire.StatusSuccess
}

// checkNeedEA refuses an open with FILE_NO_EA_KNOWLEDGE of a file that
// has an EA marked FILE_NEED_EA ([MS-FSA] 2.1.5.1.2.1: the opener could
// not interpret the file; STATUS_ACCESS_DENIED).
func checkNeedEA(h *csv.Handle) wire.Status {
	eas, err := h.EAs()
	if err != nil {
		return mapError(err)
	}
	for _, ea := range eas {
		if ea.NeedEA {
			return wire.StatusAccessDenied
		}
	}
	return wire.StatusSuccess
}

// queryStreams answers FileStreamInformation ([MS-FSCC] 2.4.43,
// [MS-FSA] 2.1.5.12.29): the default stream and the named ones (for a
// stream handle, those of its file), as many whole entries as fit, with
// STATUS_BUFFER_OVERFLOW when one did not.
func (c *conn) queryStreams(r *request, o *open, req *wire.QueryInfoRequest) wire.Status {
	if minSize, ok := fscc.MinQuerySize(fscc.FileStreamInformation); ok && int(req.OutputBufferLength) < minSize {
		return wire.StatusInfoLengthMismatch
	}
	ss, err := o.handle.Streams()
	if err != nil {
		return c.mapErr(err)
	}
	list := make([]fscc.Stream, len(ss))
	for i, s := range ss {
		list[i] = fscc.Stream{Name: s.Name, Size: s.Size, AllocationSize: s.AllocationSize}
	}
	data, overflow := fscc.AppendStreamInformation(nil, list, int(req.OutputBufferLength))
	resp := wire.QueryInfoResponse{Buffer: data}
	r.out = resp.AppendTo(r.out)
	if overflow {
		return wire.StatusBufferOverflow
	}
	return wire.StatusSuccess
}

// renameStream handles FileRenameInformation on a stream handle
// ([MS-FSA] 2.1.5.15.11.1, Algorithm for Performing Stream Rename): a ":name[:$DATA]" target renames the stream
// within its file. Windows answers a full-path target that names a
// stream with STATUS_SHARING_VIOLATION (smb2.streams.rename2) and moves
// no stream to another file.
func (c *conn) renameStream(ctx context.Context, o *open, target string, replace bool) wire.Status {
	rest, ok := strings.CutPrefix(target, ":")
	if !ok {
		if strings.Contains(target, ":") {
			return wire.StatusSharingViolation
		}
		return wire.StatusInvalidParameter
	}
	if err := o.handle.RenameStream(ctx, rest, replace); err != nil {
		if errors.Is(err, csv.ErrIsDirectory) {
			return wire.StatusInvalidParameter
		}
		return c.mapErr(err)
	}
	return wire.StatusSuccess
}

// streamFullName adds a stream handle's ":name" to the name
// FileNameInformation and FileAllInformation report.
func streamFullName(o *open, name string) string {
	if s := o.handle.StreamName(); s != "" {
		return name + ":" + s
	}
	return name
}

// fsStreamsAndEAs are the FileFsAttributeInformation flags ([MS-FSCC]
// 2.5.1) for named streams, always served, and extended attributes,
// served when the backing file system stores xattrs.
func fsStreamsAndEAs(v *csv.Volume) uint32 {
	f := fscc.FileNamedStreams
	if v.SupportsEAs() {
		f |= fscc.FileSupportsExtendedAttributes
	}
	return f
}
