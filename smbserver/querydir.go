package smbserver

import (
	"context"
	"errors"
	"time"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/fscc"
	"sofs.io/sofs/smbserver/wire"
)

// QUERY_DIRECTORY flags ([MS-SMB2] 2.2.33).
const (
	qdRestartScans      = 0x01
	qdReturnSingleEntry = 0x02
	qdIndexSpecified    = 0x04
	qdReopen            = 0x10
)

// handleQueryDirectory implements [MS-SMB2] 3.3.5.18. The directory is
// snapshotted at the first query (and on restart/reopen); later queries
// page through the snapshot, so a listing of 100,000 names costs one
// directory read, and entries created meanwhile show after a restart as
// on Windows.
func (c *conn) handleQueryDirectory(r *request) wire.Status {
	var req wire.QueryDirectoryRequest
	if err := req.Decode(r.msg); err != nil {
		return wire.StatusInvalidParameter
	}
	o, st := c.lookupOpen(r, req.FileID)
	if st != wire.StatusSuccess {
		return st
	}
	if o.pipe != nil || !o.isDir {
		return wire.StatusInvalidParameter
	}
	if o.access&fileReadData == 0 {
		// FILE_LIST_DIRECTORY is FILE_READ_DATA on a directory.
		return wire.StatusAccessDenied
	}
	if req.OutputBufferLength > c.srv.cfg.MaxTransactSize {
		return wire.StatusInvalidParameter
	}
	if st := c.checkCharge(r, req.OutputBufferLength); st != wire.StatusSuccess {
		return st
	}
	pattern := req.FileName
	o.mu.Lock()
	defer o.mu.Unlock()
	restart := req.Flags&(qdRestartScans|qdReopen) != 0 || !o.dirStarted
	if restart {
		if pattern == "" {
			pattern = "*"
		}
		r.detach() // a large directory takes milliseconds to read
		entries, stamp, err := c.snapshotDir(r, o)
		if err != nil {
			return c.mapErr(err)
		}
		o.dirEntries, o.dirPos, o.dirPattern, o.dirStamp = entries, 0, pattern, stamp
	}
	first := restart
	// A continued enumeration re-checks each entry it returns when the
	// directory may have changed since the snapshot: Windows enumerates
	// the live directory, so a name removed meanwhile is not returned,
	// and the metadata is current.
	recheck := !first && o.snapshotStale(r.ctx)
	if recheck {
		r.detach() // a Stat per returned entry
	}
	o.dirStarted = true
	dw, err := fscc.NewDirWriter(req.FileInformationClass, int(req.OutputBufferLength), nil)
	if err != nil {
		return wire.StatusInvalidInfoClass
	}
	added := 0
	for o.dirPos < len(o.dirEntries) {
		e := &o.dirEntries[o.dirPos]
		if !fscc.Match(o.dirPattern, e.name) {
			o.dirPos++
			continue
		}
		if recheck && e.name != "." && e.name != ".." {
			info, err := o.handle.StatChild(r.ctx, e.name)
			if errors.Is(err, csv.ErrNotFound) || errors.Is(err, csv.ErrPathNotFound) {
				o.dirPos++
				continue
			}
			if err == nil {
				e.info = info
			}
		}
		fi := toFsccInfo(&e.info)
		fi.Name = e.name
		if e.name != "." && e.name != ".." {
			fi.ShortName = csv.ShortName(e.name)
		}
		if !dw.Add(&fi, 0) {
			if added == 0 {
				// Not even one entry fits: [MS-SMB2] 3.3.5.18 answers
				// STATUS_INFO_LENGTH_MISMATCH.
				return wire.StatusInfoLengthMismatch
			}
			break
		}
		added++
		o.dirPos++
		if req.Flags&qdReturnSingleEntry != 0 {
			break
		}
	}
	if added == 0 {
		if first {
			return wire.StatusNoSuchFile
		}
		return wire.StatusNoMoreFiles
	}
	data := dw.Bytes()
	resp := wire.QueryDirectoryResponse{Buffer: data}
	r.out = resp.AppendTo(r.out)
	return wire.StatusSuccess
}

// dirStamp records a directory's modification and change times and when
// they were read.
type dirStamp struct {
	mtime, ctime, taken time.Time
}

// stampTrustAge is how old a directory's mtime must be, when the snapshot
// is taken, for an unchanged mtime to prove that nothing changed since:
// file systems stamp with a coarse clock (a few milliseconds), so a
// change right after a recent one can leave the mtime as it was.
const stampTrustAge = time.Second

// snapshotStale reports whether the directory of o may have changed since
// its snapshot was taken. It costs one Stat of the open directory.
func (o *open) snapshotStale(ctx context.Context) bool {
	st := o.dirStamp
	if st.taken.Sub(st.mtime) < stampTrustAge {
		return true
	}
	cur, err := o.handle.Stat(ctx)
	return err != nil || !cur.LastWriteTime.Equal(st.mtime) || !cur.ChangeTime.Equal(st.ctime)
}

// snapshotDir lists a directory with the "." and ".." entries Windows and
// Samba return first, and the directory's stamp before the listing.
func (c *conn) snapshotDir(r *request, o *open) ([]dirEntry, dirStamp, error) {
	taken := time.Now()
	self, err := o.handle.Stat(r.ctx)
	if err != nil {
		return nil, dirStamp{}, err
	}
	stamp := dirStamp{mtime: self.LastWriteTime, ctime: self.ChangeTime, taken: taken}
	parent := self
	if p := parentPath(o.handle.Path()); p != o.handle.Path() {
		if pi, err := o.tree.vol.Stat(r.ctx, p); err == nil {
			parent = pi
		}
	}
	list, err := o.handle.ReadDir(r.ctx)
	if err != nil {
		return nil, dirStamp{}, err
	}
	list = c.hideUnreadable(r, o, list) // accesscheck.go
	out := make([]dirEntry, 0, len(list)+2)
	out = append(out, dirEntry{name: ".", info: self}, dirEntry{name: "..", info: parent})
	for i := range list {
		out = append(out, dirEntry{name: list[i].Name, info: list[i]})
	}
	return out, stamp, nil
}

// joinPath joins a share-relative directory path and a name.
func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + `\` + name
}

// parentPath returns the parent of a share-relative path ("" for the
// root and its children).
func parentPath(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '\\' {
			return p[:i]
		}
	}
	return ""
}

// toFsccInfo converts storage metadata to the wire-neutral form.
func toFsccInfo(fi *csv.FileInfo) fscc.Info {
	links := fi.NumberOfLinks
	if fi.DeletePending && links > 0 {
		// [MS-FSA] 2.1.5.11.27: NumberOfLinks counts the links that
		// are not being deleted; delete pending removes the one the
		// file was opened by.
		links--
	}
	return fscc.Info{
		FileID:         fi.FileID,
		CreationTime:   fscc.FileTime(fi.CreationTime),
		LastAccessTime: fscc.FileTime(fi.LastAccessTime),
		LastWriteTime:  fscc.FileTime(fi.LastWriteTime),
		ChangeTime:     fscc.FileTime(fi.ChangeTime),
		EndOfFile:      fi.EndOfFile,
		AllocationSize: fi.AllocationSize,
		Attributes:     fi.Attributes,
		EASize:         fi.EASize,
		NumberOfLinks:  links,
		DeletePending:  fi.DeletePending,
		Directory:      fi.IsDir,
		Name:           fi.Name,
	}
}
