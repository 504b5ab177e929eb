package smbserver

import (
	"context"
	"strings"
	"time"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/fscc"
	"sofs.io/sofs/smbserver/wire"
)

// QUERY_INFO / SET_INFO InfoType values ([MS-SMB2] 2.2.37).
const (
	infoFile       = 1
	infoFilesystem = 2
	infoSecurity   = 3
	infoQuota      = 4
)

// handleQueryInfo implements [MS-SMB2] 3.3.5.20.
func (c *conn) handleQueryInfo(r *request) wire.Status {
	var req wire.QueryInfoRequest
	if err := req.Decode(r.msg); err != nil {
		return wire.StatusInvalidParameter
	}
	if req.OutputBufferLength > c.srv.cfg.MaxTransactSize {
		return wire.StatusInvalidParameter
	}
	o, st := c.lookupOpen(r, req.FileID)
	if st != wire.StatusSuccess {
		return st
	}
	if req.InfoType == infoFile && req.FileInfoClass == fscc.FileFullEaInformation && o.handle != nil {
		return c.queryEAs(r, o, &req) // ea.go: whole entries, scan state
	}
	if req.InfoType == infoFile && req.FileInfoClass == fscc.FileStreamInformation && o.handle != nil {
		return c.queryStreams(r, o, &req) // ea.go: whole entries
	}
	var data []byte
	switch req.InfoType {
	case infoFile:
		data, st = c.queryFileInfo(r.ctx, o, req.FileInfoClass)
	case infoFilesystem:
		data, st = c.queryFSInfo(o, req.FileInfoClass)
	case infoSecurity:
		data, st = c.querySecurity(o, req.AdditionalInformation)
	case infoQuota:
		st = wire.StatusNotSupported
	default:
		st = wire.StatusInvalidParameter
	}
	if st != wire.StatusSuccess {
		return st
	}
	if req.InfoType != infoSecurity {
		if minSize, ok := minQuerySize(req.InfoType, req.FileInfoClass); ok && int(req.OutputBufferLength) < minSize {
			return wire.StatusInfoLengthMismatch
		}
	}
	status := wire.StatusSuccess
	if len(data) > int(req.OutputBufferLength) {
		if req.InfoType == infoSecurity {
			// [MS-SMB2] 3.3.5.20.3: the needed size goes back in the
			// error data so the client can retry.
			r.errData = le32Bytes(uint32(len(data)))
			return wire.StatusBufferTooSmall
		}
		data = data[:req.OutputBufferLength]
		status = wire.StatusBufferOverflow
	}
	resp := wire.QueryInfoResponse{Buffer: data}
	r.out = resp.AppendTo(r.out)
	return status
}

func le32Bytes(v uint32) []byte {
	return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
}

func minQuerySize(infoType uint8, class uint8) (int, bool) {
	if infoType == infoFile {
		return fscc.MinQuerySize(class)
	}
	return fscc.MinFSQuerySize(class)
}

// fileClassNeedsReadAttributes lists the classes that need
// FILE_READ_ATTRIBUTES ([MS-FSA] 2.1.5.11).
func fileClassNeedsReadAttributes(class uint8) bool {
	switch class {
	case fscc.FileBasicInformation, fscc.FileAllInformation, fscc.FileNetworkOpenInformation, fscc.FileAttributeTagInformation:
		return true
	}
	return false
}

func (c *conn) queryFileInfo(ctx context.Context, o *open, class uint8) ([]byte, wire.Status) {
	if o.pipe != nil {
		return c.queryPipeInfo(o, class)
	}
	if fileClassNeedsReadAttributes(class) && o.access&fileReadAttributes == 0 {
		return nil, wire.StatusAccessDenied
	}
	info, err := o.handle.Stat(ctx)
	if err != nil {
		return nil, c.mapErr(err)
	}
	fi := toFsccInfo(&info)
	o.mu.Lock()
	x := fscc.Extra{
		AccessFlags:       o.access,
		CurrentByteOffset: o.position,
		Mode:              o.mode,
		FullName:          streamFullName(o, `\`+o.handle.Path()),
	}
	o.mu.Unlock()
	if class == fscc.FileNormalizedNameInformation && c.dialect < Dialect311 {
		return nil, wire.StatusNotSupported
	}
	if class == fscc.FileNameInformation || class == fscc.FileNormalizedNameInformation {
		// The name is relative to the share, without the leading
		// backslash for the normalized form ([MS-FSCC] 2.4.28).
		if class == fscc.FileNormalizedNameInformation {
			x.FullName = streamFullName(o, o.handle.Path())
		}
	}
	if class == fscc.FileAlternateNameInformation {
		fi.ShortName = alternateName(o.handle.Path())
	}
	data, err := fscc.AppendFileInfo(nil, class, &fi, &x)
	if err != nil {
		return nil, fsccStatus(err)
	}
	return data, wire.StatusSuccess
}

// alternateName is the 8.3 name FileAlternateNameInformation reports for
// the share-relative path p ([MS-FSCC] 2.4.5): the generated short name,
// or the name itself when it is already a valid 8.3 name (NTFS then keeps
// one name for both namespaces). The share root has none.
func alternateName(p string) string {
	name := p[strings.LastIndexByte(p, '\\')+1:]
	if sn := csv.ShortName(name); sn != "" {
		return sn
	}
	return name
}

// queryPipeInfo answers the few classes Windows answers on a pipe.
func (c *conn) queryPipeInfo(o *open, class uint8) ([]byte, wire.Status) {
	fi := fscc.Info{Attributes: attrNormal, AllocationSize: 4096, NumberOfLinks: 1, DeletePending: true}
	x := fscc.Extra{AccessFlags: o.access}
	switch class {
	case fscc.FileStandardInformation, fscc.FileAccessInformation, fscc.FileModeInformation, fscc.FileAlignmentInformation, fscc.FilePositionInformation:
		data, err := fscc.AppendFileInfo(nil, class, &fi, &x)
		if err != nil {
			return nil, fsccStatus(err)
		}
		return data, wire.StatusSuccess
	}
	return nil, wire.StatusInvalidParameter
}

func fsccStatus(err error) wire.Status {
	switch {
	case errorIs(err, fscc.ErrInvalidClass):
		return wire.StatusInvalidInfoClass
	case errorIs(err, fscc.ErrNotSupported):
		return wire.StatusNotSupported
	case errorIs(err, fscc.ErrNoShortName):
		// [MS-FSA] 2.1.5.12.5: a file without an 8.3 name.
		return wire.StatusObjectNameNotFound
	}
	return wire.StatusInvalidParameter
}

// File system attribute flags reported in FileFsAttributeInformation
// ([MS-FSCC] 2.5.1): case-sensitive search, case-preserved names and
// Unicode names are what the backing POSIX file system provides.
const fsAttributes = 0x00000001 | 0x00000002 | 0x00000004

func (c *conn) queryFSInfo(o *open, class uint8) ([]byte, wire.Status) {
	if o.pipe != nil || o.tree.vol == nil {
		return nil, wire.StatusInvalidParameter
	}
	st, err := o.tree.vol.StatFS()
	if err != nil {
		return nil, c.mapErr(err)
	}
	bs := int64(st.BlockSize)
	if bs <= 0 {
		bs = 4096
	}
	sector := int64(st.SectorSize)
	if sector <= 0 {
		sector = 512
	}
	fs := fscc.FSInfo{
		TotalAllocationUnits:           st.TotalBytes / bs,
		CallerAvailableAllocationUnits: st.AvailableBytes / bs,
		ActualAvailableAllocationUnits: st.FreeBytes / bs,
		SectorsPerAllocationUnit:       uint32(bs / sector),
		BytesPerSector:                 uint32(sector),
		VolumeSerialNumber:             st.VolumeSerial,
		VolumeCreationTime:             fscc.FileTime(st.CreationTime),
		VolumeLabel:                    o.tree.share.Name,
		FileSystemName:                 "NTFS",
		FileSystemAttributes:           fsAttributes | fsCapabilities(o.tree.vol) | fsStreamsAndEAs(o.tree.vol), // ea.go
		MaxComponentNameLength:         255,
		SectorSizeFlags:                ssinfoFlags, // fsctl_misc.go
	}
	data, err := fscc.AppendFSInfo(nil, class, &fs)
	if err != nil {
		return nil, fsccStatus(err)
	}
	return data, wire.StatusSuccess
}

// handleSetInfo implements [MS-SMB2] 3.3.5.21.
func (c *conn) handleSetInfo(r *request) wire.Status {
	var req wire.SetInfoRequest
	if err := req.Decode(r.msg); err != nil {
		return wire.StatusInvalidParameter
	}
	o, st := c.lookupOpen(r, req.FileID)
	if st != wire.StatusSuccess {
		return st
	}
	switch req.InfoType {
	case infoFile:
		if o.pipe != nil {
			return wire.StatusInvalidParameter
		}
		st = c.setFileInfo(r, o, req.FileInfoClass, req.Buffer)
	case infoFilesystem:
		st = wire.StatusNotSupported
	case infoSecurity:
		st = c.setSecurity(o, req.AdditionalInformation, req.Buffer) // security.go
	case infoQuota:
		st = wire.StatusNotSupported
	default:
		st = wire.StatusInvalidParameter
	}
	if st != wire.StatusSuccess {
		return st
	}
	resp := wire.SetInfoResponse{}
	r.out = resp.AppendTo(r.out)
	return wire.StatusSuccess
}

func (c *conn) setFileInfo(r *request, o *open, class uint8, buf []byte) wire.Status {
	if o.tree.share.ReadOnly && class != fscc.FilePositionInformation && class != fscc.FileModeInformation {
		return wire.StatusAccessDenied
	}
	h := o.handle
	switch class {
	case fscc.FileBasicInformation:
		if o.access&fileWriteAttributes == 0 {
			return wire.StatusAccessDenied
		}
		bi, err := fscc.DecodeBasicInfo(buf)
		if err != nil {
			return wire.StatusInfoLengthMismatch
		}
		if bi.FileAttributes&attrDirectory != 0 && !o.isDir {
			return wire.StatusInvalidParameter
		}
		if bi.FileAttributes&^(settableAttrs|attrDirectory|attrSparse|attrCompressed|attrEncrypted|attrIntegrity) != 0 {
			return wire.StatusInvalidParameter
		}
		attrs := bi.FileAttributes &^ attrDirectory
		if bi.FileAttributes != 0 && attrs == 0 {
			attrs = attrNormal
		}
		if err := h.SetBasicInfo(r.ctx, setTime(bi.CreationTime), setTime(bi.LastAccessTime), setTime(bi.LastWriteTime), setTime(bi.ChangeTime), attrs); err != nil {
			return c.mapErr(err)
		}
	case fscc.FileEndOfFileInformation:
		if o.access&fileWriteData == 0 {
			return wire.StatusAccessDenied
		}
		size, err := fscc.DecodeEndOfFile(buf)
		if err != nil {
			return wire.StatusInfoLengthMismatch
		}
		if o.isDir {
			return wire.StatusInvalidParameter
		}
		if size < 0 {
			return wire.StatusInvalidParameter
		}
		if size > maxFileSize {
			return wire.StatusInvalidParameter
		}
		if st := c.checkExtend(r.ctx, o, size); st != wire.StatusSuccess {
			return st
		}
		if err := h.SetEndOfFile(r.ctx, size); err != nil {
			return c.mapErr(err)
		}
		c.breakOnWrite(r, o) // oplock.go
	case fscc.FileAllocationInformation:
		if o.access&fileWriteData == 0 {
			return wire.StatusAccessDenied
		}
		size, err := fscc.DecodeAllocation(buf)
		if err != nil {
			return wire.StatusInfoLengthMismatch
		}
		if o.isDir {
			return wire.StatusInvalidParameter
		}
		if size < 0 {
			return wire.StatusInvalidParameter
		}
		if err := h.SetAllocationSize(r.ctx, size); err != nil {
			return c.mapErr(err)
		}
		c.breakOnWrite(r, o) // oplock.go
	case fscc.FileDispositionInformation, fscc.FileDispositionInformationEx:
		if o.access&accessDelete == 0 {
			return wire.StatusAccessDenied
		}
		di, err := fscc.DecodeDispositionInfo(buf, class == fscc.FileDispositionInformationEx)
		if err != nil {
			return wire.StatusInfoLengthMismatch
		}
		if di.Delete {
			info, err := h.Stat(r.ctx)
			if err != nil {
				return c.mapErr(err)
			}
			if info.Attributes&attrReadonly != 0 && di.Flags&fscc.DispositionIgnoreReadonly == 0 {
				return wire.StatusCannotDelete
			}
			if st := c.breakForDelete(r, o); st != wire.StatusSuccess { // oplock.go
				return st
			}
		}
		if err := h.SetDeletePending(r.ctx, di.Delete); err != nil {
			return c.mapErr(err)
		}
	case fscc.FileRenameInformation, fscc.FileRenameInformationEx:
		if o.access&accessDelete == 0 {
			return wire.StatusAccessDenied
		}
		ri, err := fscc.DecodeRenameInfo(buf, class == fscc.FileRenameInformationEx)
		if err != nil {
			return wire.StatusInfoLengthMismatch
		}
		if ri.RootDirectory != 0 {
			return wire.StatusInvalidParameter
		}
		target := strings.TrimPrefix(ri.FileName, `\`)
		if h.IsStream() {
			return c.renameStream(r.ctx, o, target, ri.ReplaceIfExists || ri.Flags&fscc.RenameReplaceIfExists != 0) // ea.go
		}
		if strings.HasPrefix(target, ":") {
			return wire.StatusNotSupported
		}
		replace := ri.ReplaceIfExists || ri.Flags&fscc.RenameReplaceIfExists != 0
		if st := checkTreeAdmits(r.tree); st != wire.StatusSuccess { // reauth.go: the target needs a fresh access check
			return st
		}
		if st := c.checkRenameAccess(r, o, target, replace); st != wire.StatusSuccess { // accesscheck.go
			return st
		}
		if st := c.breakForRename(r, o); st != wire.StatusSuccess { // oplock.go
			return st
		}
		if err := h.Rename(r.ctx, target, replace); err != nil {
			return c.mapErr(err)
		}
	case fscc.FilePositionInformation:
		pos, err := fscc.DecodePosition(buf)
		if err != nil {
			return wire.StatusInfoLengthMismatch
		}
		if pos < 0 {
			return wire.StatusInvalidParameter
		}
		o.mu.Lock()
		o.position = pos
		o.mu.Unlock()
	case fscc.FileModeInformation:
		mode, err := fscc.DecodeMode(buf)
		if err != nil {
			return wire.StatusInfoLengthMismatch
		}
		// Only the sequential/write-through/sync hint bits may be set
		// ([MS-FSCC] 2.4.26).
		if mode&^uint32(0x0000003E) != 0 {
			return wire.StatusInvalidParameter
		}
		o.mu.Lock()
		o.mode = mode
		o.mu.Unlock()
	case fscc.FileFullEaInformation:
		return c.setEAs(o, buf) // ea.go
	default:
		if _, ok := fscc.MinQuerySize(class); ok {
			return wire.StatusNotSupported
		}
		return wire.StatusInvalidInfoClass
	}
	return wire.StatusSuccess
}

// setTime interprets a FILE_BASIC_INFORMATION time: 0 and -1 mean "leave
// unchanged" (-1 also asks to stop automatic updates, which a POSIX file
// system cannot do; -2 resumes them) ([MS-FSCC] 2.4.7).
func setTime(v int64) time.Time {
	if v <= 0 {
		return time.Time{}
	}
	return fscc.TimeOf(uint64(v))
}
