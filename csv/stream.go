package csv

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sofs.io/sofs/csv/openstate"
	"strings"

	"golang.org/x/sys/unix"
)

// Named data streams ([MS-FSCC] 2.1.4, [MS-FSA] 2.1.5.1: "file:stream")
// cannot live in xattrs: a stream is a file's worth of data, read and
// written at offsets. Each one is a regular file in the volume's hidden
// area:
//
//	<root>/.sofs/streams/<FileId as 16 hex digits>/s.<stream name>
//
// keyed by the base file's FileId (its inode number), so renames and hard
// links of the base keep its streams. The area is created lazily and is
// unreachable for clients: parsePath refuses ".sofs" as a first
// component in any case spelling, lookup never resolves a name at the
// root to it (short names included), and ReadDir leaves it out.
//
// A stream open is two registrations: the base file is opened as an
// ordinary Handle without share-mode entry (Handle.base: it pins the
// base, fails with ErrDeletePending once the base is being deleted, and
// keeps a deleted base on disk until the last stream handle closes, as
// smb2.streams.delete requires), and the stream file is the object whose
// FileId (its own inode) carries share modes, oplocks, leases, locks and
// delete pending, so each stream is its own object for sharing.
//
// Each stream directory records the birth time of the base it belongs to
// (xattr user.sofs.base); a directory whose record does not match is left
// over from a file deleted outside sofs whose inode number was reused, and
// is discarded instead of being shown as the new file's streams.

// hiddenDir is the volume's private area at the root of the share.
const hiddenDir = ".sofs"

// streamsRel is the directory of stream directories, below the root.
const streamsRel = hiddenDir + "/streams"

// streamFilePrefix starts every stream file name, so that no stream name
// ("." and ".." are valid ones) can collide with a directory entry the
// file system reserves.
const streamFilePrefix = "s."

// baseXattr records, on a stream directory, the birth time of its base.
const baseXattr = "user.sofs.base"

// streamLoc locates a named stream's file; name is guarded by Volume.mu
// (it changes when the stream is renamed).
type streamLoc struct {
	baseID uint64
	name   string // the stream name as stored (without streamFilePrefix)
}

// StreamInfo describes one data stream for FileStreamInformation
// ([MS-FSCC] 2.4.43).
type StreamInfo struct {
	// Name is "" for the default stream, else the stream name as
	// created (without the ":" and ":$DATA" decorations).
	Name                 string
	Size, AllocationSize int64
}

func streamDirRel(baseID uint64) string { return fmt.Sprintf("%s/%016x", streamsRel, baseID) }

// baseTag is what a stream directory records about its base: the birth
// time where the file system has one, else nothing to compare (0).
func baseTag(st *unix.Statx_t) uint64 {
	if st.Mask&unix.STATX_BTIME == 0 {
		return 0
	}
	return uint64(st.Btime.Sec)*1e9 + uint64(st.Btime.Nsec)
}

// mkdirBeneath creates name in the directory rel below the root without
// following links; an existing directory is fine.
func (v *Volume) mkdirBeneath(rel, name string) error {
	pfd := v.rootfd
	if rel != "" {
		fd, err := v.openBeneath(v.rootfd, rel, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		pfd = fd
	}
	if err := unix.Mkdirat(pfd, name, 0o700); err != nil && err != unix.EEXIST {
		return err
	}
	return nil
}

// openStreamDir opens the stream directory of the base whose stat is st.
// With create it makes it (and the hidden area) if missing; without, a
// missing directory is ENOENT. A stale directory (see baseXattr) is
// emptied first.
func (v *Volume) openStreamDir(st *unix.Statx_t, create bool) (int, error) {
	rel := streamDirRel(st.Ino)
	tag := baseTag(st)
	for range 2 {
		fd, err := v.openBeneath(v.rootfd, rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err == unix.ENOENT && create {
			if err := v.mkdirBeneath("", hiddenDir); err != nil {
				return -1, err
			}
			if err := v.mkdirBeneath(hiddenDir, "streams"); err != nil {
				return -1, err
			}
			if err := v.mkdirBeneath(streamsRel, rel[len(streamsRel)+1:]); err != nil {
				return -1, err
			}
			fd, err = v.openBeneath(v.rootfd, rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
			if err == nil && v.xattrs && tag != 0 {
				var b [8]byte
				binary.LittleEndian.PutUint64(b[:], tag)
				if err := unix.Fsetxattr(fd, baseXattr, b[:], 0); err != nil && !isNoXattr(err) {
					unix.Close(fd)
					return -1, err
				}
			}
			return fd, err
		}
		if err != nil {
			return -1, err
		}
		if v.xattrs && tag != 0 {
			var b [8]byte
			n, err := unix.Fgetxattr(fd, baseXattr, b[:])
			if err == nil && n == 8 && binary.LittleEndian.Uint64(b[:]) != tag {
				unix.Close(fd)
				v.log.Info().Uint64("file_id", st.Ino).Msg("discarding the streams of a deleted file whose FileId was reused")
				if err := v.removeStreamDir(st.Ino); err != nil {
					return -1, err
				}
				continue
			}
		}
		return fd, nil
	}
	return -1, unix.ENOENT
}

// lookupStream finds the stored spelling of stream name in the stream
// directory dfd: the exact name, else a case-insensitive match (stream
// names are case-insensitive, smb2.streams.names3). It returns
// ErrNotFound (bare) when there is none.
func lookupStream(dfd int, name string) (string, unix.Statx_t, error) {
	var st unix.Statx_t
	err := statAt(dfd, streamFilePrefix+name, &st)
	if err == nil {
		return name, st, nil
	}
	if err != unix.ENOENT {
		return "", st, err
	}
	names, err := readNames(dfd)
	if err != nil {
		return "", st, err
	}
	for _, n := range names {
		s, ok := strings.CutPrefix(n, streamFilePrefix)
		if ok && strings.EqualFold(s, name) {
			if err := statAt(dfd, n, &st); err != nil {
				if err == unix.ENOENT {
					break
				}
				return "", st, err
			}
			return s, st, nil
		}
	}
	return "", st, ErrNotFound
}

// readNames lists a directory open as fd.
func readNames(fd int) ([]string, error) {
	dfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dfd), "streams")
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err == io.EOF {
		err = nil
	}
	return names, err
}

// basePath rebuilds the share-relative path of a stream's base file.
func basePath(comps []string) string { return strings.Join(comps, `\`) }

// openStream opens or creates the named stream sp of the file comps
// names, with req's disposition applying to the stream ([MS-FSA]
// 2.1.5.1). A missing base file is created (as a regular file) when the
// disposition creates.
func (v *Volume) openStream(ctx context.Context, comps []string, sp streamPart, req OpenRequest) (*Handle, Action, error) {
	overwrite := req.Disposition == Supersede || req.Disposition == Overwrite || req.Disposition == OverwriteIf
	creates := req.Disposition != Open && req.Disposition != Overwrite
	baseReq := OpenRequest{Path: basePath(comps), Disposition: Open}
	if creates {
		baseReq.Disposition = OpenIf
		baseReq.Attributes = req.Attributes
		baseReq.NonDirectory = true
		baseReq.EAs = req.EAs
	}
	bh, _, err := v.Open(ctx, baseReq)
	if err != nil {
		if creates && errors.Is(err, ErrIsDirectory) {
			// Directories have named streams too; only a new base is
			// a file.
			baseReq.NonDirectory = false
			bh, _, err = v.Open(ctx, baseReq)
		}
		if err != nil {
			return nil, 0, err
		}
	}
	h, act, err := v.openStreamOf(ctx, bh, sp.name, req, overwrite, creates)
	if err != nil {
		bh.Close()
		return nil, 0, err
	}
	return h, act, nil
}

func (v *Volume) openStreamOf(ctx context.Context, bh *Handle, name string, req OpenRequest, overwrite, creates bool) (*Handle, Action, error) {
	if err := v.enter("open", req.Path); err != nil {
		return nil, 0, err
	}
	defer v.life.RUnlock()
	a, err := bh.attrs()
	if err != nil {
		return nil, 0, err
	}
	if a&AttrReadonly != 0 && !req.Reopen && (req.Write || overwrite || req.DeleteOnClose) {
		return nil, 0, newErr("open", req.Path, ErrAccessDenied)
	}
	var bst unix.Statx_t
	if err := statFD(bh.fd, &bst); err != nil {
		return nil, 0, sysErr("open", req.Path, err)
	}
	dfd, err := v.openStreamDir(&bst, creates && !v.readOnly)
	if err == unix.ENOENT {
		return nil, 0, newErr("open", req.Path, ErrNotFound)
	}
	if err != nil {
		return nil, 0, sysErr("open", req.Path, err)
	}
	defer unix.Close(dfd)
	flags := unix.O_RDONLY
	if req.Write || overwrite {
		flags = unix.O_RDWR
	}
	flags |= unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC | unix.O_NOCTTY
	for range maxOpenAttempts {
		stored, st, err := lookupStream(dfd, name)
		var fd int
		var act Action
		existed := err == nil
		switch {
		case err == nil:
			if req.Disposition == Create {
				return nil, 0, newErr("open", req.Path, ErrExists)
			}
			if st.Mode&unix.S_IFMT != unix.S_IFREG {
				return nil, 0, newErr("open", req.Path, ErrAccessDenied)
			}
			fd, err = unix.Openat(dfd, streamFilePrefix+stored, flags, 0)
			if err == unix.ENOENT {
				continue
			}
			if err != nil {
				return nil, 0, sysErr("open", req.Path, err)
			}
			act = Opened
		case !errors.Is(err, ErrNotFound):
			return nil, 0, sysErr("open", req.Path, err)
		case !creates:
			return nil, 0, newErr("open", req.Path, ErrNotFound)
		case v.readOnly:
			return nil, 0, newErr("open", req.Path, ErrReadOnly)
		default:
			stored = name
			v.nsMu.Lock()
			if _, _, lerr := lookupStream(dfd, name); lerr == nil {
				v.nsMu.Unlock()
				continue
			}
			fd, err = unix.Openat(dfd, streamFilePrefix+name, flags|unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600)
			v.nsMu.Unlock()
			if err == unix.EEXIST {
				continue
			}
			if err != nil {
				return nil, 0, sysErr("create", req.Path, err)
			}
			act = Created
		}
		h, err := v.finishStream(ctx, bh, fd, stored, req, existed, overwrite, act)
		if err != nil {
			unix.Close(fd)
			if act == Created {
				unix.Unlinkat(dfd, streamFilePrefix+stored, 0)
			}
			return nil, 0, err
		}
		switch {
		case existed && overwrite:
			act = Overwritten
			if req.Disposition == Supersede {
				act = Superseded
			}
			h.notifyData(NotifySize | NotifyLastWrite)
		case act == Created:
			h.notifyStream(ActionAddedStream, NotifyStreamName, stored)
		}
		return h, act, nil
	}
	return nil, 0, newErr("open", req.Path, ErrAccessDenied)
}

// finishStream registers a stream open on descriptor fd and applies an
// overwrite.
func (v *Volume) finishStream(ctx context.Context, bh *Handle, fd int, stored string, req OpenRequest, existed, overwrite bool, act Action) (*Handle, error) {
	var st unix.Statx_t
	if err := statFD(fd, &st); err != nil {
		return nil, sysErr("open", req.Path, err)
	}
	pk := openstate.ParentOf(req.Entry)
	f, g, err := v.acquire(ctx, st.Ino, "", false, req.Path, req.Entry, existed)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	first := f.stream == nil
	if first {
		f.stream = &streamLoc{baseID: bh.f.id, name: stored}
	}
	v.mu.Unlock()
	if first {
		if err := v.streamOpened(ctx); err != nil {
			v.log.Warn().Err(err).Str("path", req.Path).Msg("telling the other nodes about an open stream")
		}
	}
	if existed && overwrite {
		if err := unix.Ftruncate(fd, 0); err != nil {
			v.releaseOpen(ctx, f, openstate.EntryID(req.Entry))
			return nil, sysErr("overwrite", req.Path, err)
		}
	}
	if act == Created || (existed && overwrite) {
		if err := preallocate(fd, req.AllocationSize, req.Path); err != nil {
			v.releaseOpen(ctx, f, openstate.EntryID(req.Entry))
			return nil, err
		}
	}
	h := &Handle{v: v, f: f, fd: fd, writable: req.Write, openID: openstate.EntryID(req.Entry), grant: g, base: bh, parent: pk}
	h.deleteOnClose.Store(req.DeleteOnClose)
	return h, nil
}

// StreamName returns the name of the named stream the handle is open on,
// as stored, or "" for a file's default stream or a directory.
func (h *Handle) StreamName() string {
	if h.base == nil {
		return ""
	}
	h.v.mu.Lock()
	defer h.v.mu.Unlock()
	return h.f.stream.name
}

// IsStream reports whether the handle is open on a named stream.
func (h *Handle) IsStream() bool { return h.base != nil }

// baseID is the FileId of the file the handle's data belongs to.
func (h *Handle) baseID() uint64 {
	if h.base != nil {
		return h.base.f.id
	}
	return h.f.id
}

// Streams lists the data streams of the handle's file ([MS-FSA]
// 2.1.5.12.29): the default stream first (files only: a directory has
// none), then the named streams in stored order.
func (h *Handle) Streams() ([]StreamInfo, error) {
	if err := h.check("query streams"); err != nil {
		return nil, err
	}
	defer h.release()
	v := h.v
	fd := h.metaFD()
	var st unix.Statx_t
	if err := statFD(fd, &st); err != nil {
		return nil, sysErr("query streams", h.Path(), err)
	}
	var out []StreamInfo
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		out = append(out, StreamInfo{Size: int64(st.Size), AllocationSize: int64(st.Blocks) * 512})
	}
	if err := v.enter("query streams", h.Path()); err != nil {
		return nil, err
	}
	defer v.life.RUnlock()
	dfd, err := v.openStreamDir(&st, false)
	if err == unix.ENOENT {
		return out, nil
	}
	if err != nil {
		return nil, sysErr("query streams", h.Path(), err)
	}
	defer unix.Close(dfd)
	names, err := readNames(dfd)
	if err != nil {
		return nil, sysErr("query streams", h.Path(), err)
	}
	for _, n := range names {
		s, ok := strings.CutPrefix(n, streamFilePrefix)
		if !ok || s == "" {
			continue
		}
		var sst unix.Statx_t
		if statAt(dfd, n, &sst) != nil || sst.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		out = append(out, StreamInfo{Name: s, Size: int64(sst.Size), AllocationSize: int64(sst.Blocks) * 512})
	}
	return out, nil
}

// RenameStream renames the named stream the handle is open on to
// newName ("" is the default stream), as FileRenameInformation with a
// ":name" target does ([MS-FSA] 2.1.5.15.11.1, Algorithm for Performing
// Stream Rename; a malformed name is ErrInvalidParameter there, not an
// invalid object name). An existing target is
// ErrExists without replace; with it, only an empty target that is not
// open may be replaced (NTFS refuses others: ErrInvalidParameter, and
// ErrSharingViolation when open). Renaming onto the default stream
// needs an empty default stream and moves the data into it.
func (h *Handle) RenameStream(ctx context.Context, newName string, replace bool) error {
	const op = "rename stream"
	if err := h.checkWrite(op); err != nil {
		return err
	}
	defer h.release()
	if h.base == nil {
		return newErr(op, h.Path(), ErrInvalidParameter)
	}
	sp, err := parseStreamSuffix(newName)
	if err != nil {
		return newErr(op, newName, ErrInvalidParameter)
	}
	v := h.v
	if err := v.enter(op, h.Path()); err != nil {
		return err
	}
	defer v.life.RUnlock()
	v.nsMu.Lock()
	defer v.nsMu.Unlock()
	var bst unix.Statx_t
	if err := statFD(h.base.fd, &bst); err != nil {
		return sysErr(op, h.Path(), err)
	}
	dfd, err := v.openStreamDir(&bst, false)
	if err != nil {
		return sysErr(op, h.Path(), err)
	}
	defer unix.Close(dfd)
	old := h.StreamName()
	var ost unix.Statx_t
	if err := statAt(dfd, streamFilePrefix+old, &ost); err != nil || ost.Ino != h.f.id {
		return newErr(op, h.Path(), ErrNotFound)
	}
	if sp.name == "" {
		return h.moveToDefault(dfd, old, &bst, replace)
	}
	target, tst, err := lookupStream(dfd, sp.name)
	switch {
	case err == nil && tst.Ino == h.f.id:
		if target == sp.name {
			return nil
		}
		err = renameNoReplace(dfd, streamFilePrefix+old, dfd, streamFilePrefix+sp.name)
	case err == nil:
		if !replace {
			return newErr(op, newName, ErrExists)
		}
		if os, serr := v.objects.State(ctx, tst.Ino); serr != nil {
			return serr
		} else if os.Opens > 0 {
			return newErr(op, newName, ErrSharingViolation)
		}
		if tst.Size != 0 {
			return newErr(op, newName, ErrInvalidParameter)
		}
		if err := unix.Unlinkat(dfd, streamFilePrefix+target, 0); err != nil {
			return sysErr(op, newName, err)
		}
		err = renameNoReplace(dfd, streamFilePrefix+old, dfd, streamFilePrefix+sp.name)
	case errors.Is(err, ErrNotFound):
		err = renameNoReplace(dfd, streamFilePrefix+old, dfd, streamFilePrefix+sp.name)
	default:
		return sysErr(op, newName, err)
	}
	if err != nil {
		return sysErr(op, newName, err)
	}
	v.mu.Lock()
	h.f.stream.name = sp.name
	v.mu.Unlock()
	h.notifyStream(ActionRemovedStream, NotifyStreamName, old)
	h.notifyStream(ActionAddedStream, NotifyStreamName, sp.name)
	return nil
}

// moveToDefault renames a named stream onto the file's default stream:
// the base keeps its inode (its FileId), so the data is copied in and
// the stream removed. Only an empty default stream may be replaced.
func (h *Handle) moveToDefault(dfd int, old string, bst *unix.Statx_t, replace bool) error {
	const op = "rename stream"
	if bst.Mode&unix.S_IFMT == unix.S_IFDIR {
		return newErr(op, h.Path(), ErrIsDirectory)
	}
	if bst.Size != 0 {
		if !replace {
			return newErr(op, h.Path(), ErrExists)
		}
		return newErr(op, h.Path(), ErrInvalidParameter)
	}
	wfd, err := h.v.openBeneath(h.v.rootfd, h.diskPath(), unix.O_WRONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return sysErr(op, h.Path(), err)
	}
	defer unix.Close(wfd)
	var sst unix.Statx_t
	if err := statFD(h.fd, &sst); err != nil {
		return sysErr(op, h.Path(), err)
	}
	var roff, woff int64
	for roff < int64(sst.Size) {
		n, err := unix.CopyFileRange(h.fd, &roff, wfd, &woff, int(int64(sst.Size)-roff), 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return sysErr(op, h.Path(), err)
		}
		if n == 0 {
			break
		}
	}
	if err := unix.Unlinkat(dfd, streamFilePrefix+old, 0); err != nil {
		return sysErr(op, h.Path(), err)
	}
	return nil
}

// removeStream deletes a delete-pending stream's file after checking
// that the name still refers to it.
func (v *Volume) removeStream(f *file) error {
	v.mu.Lock()
	loc := *f.stream
	v.mu.Unlock()
	rel := streamDirRel(loc.baseID)
	dfd, err := v.openBeneath(v.rootfd, rel, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return sysErr("delete stream", loc.name, err)
	}
	defer unix.Close(dfd)
	var st unix.Statx_t
	if err := statAt(dfd, streamFilePrefix+loc.name, &st); err != nil {
		return sysErr("delete stream", loc.name, err)
	}
	if st.Ino != f.id {
		return newErr("delete stream", loc.name, ErrNotFound)
	}
	if err := unix.Unlinkat(dfd, streamFilePrefix+loc.name, 0); err != nil {
		return sysErr("delete stream", loc.name, err)
	}
	if v.watchingFor(NotifyStreamName) {
		v.mu.Lock()
		var disk string
		if base := v.files[loc.baseID]; base != nil {
			disk = base.disk
		}
		v.mu.Unlock()
		if disk != "" {
			dir, name := splitDisk(disk)
			v.emit(Event{Dir: dir, Name: name + ":" + loc.name, Action: ActionRemovedStream, Filter: NotifyStreamName})
		}
	}
	return nil
}

// removeStreamDir deletes the stream directory of baseID and every
// stream in it (the base file is gone or was overwritten). Open stream
// handles keep their data until they close, as for any unlinked file.
func (v *Volume) removeStreamDir(baseID uint64) error {
	rel := streamDirRel(baseID)
	dfd, err := v.openBeneath(v.rootfd, rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return err
	}
	names, err := readNames(dfd)
	if err == nil {
		for _, n := range names {
			if e := unix.Unlinkat(dfd, n, 0); e != nil && e != unix.ENOENT && err == nil {
				err = e
			}
		}
	}
	unix.Close(dfd)
	if err != nil {
		return err
	}
	pfd, err := v.openBeneath(v.rootfd, streamsRel, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if err := unix.Unlinkat(pfd, rel[len(streamsRel)+1:], unix.AT_REMOVEDIR); err != nil && err != unix.ENOENT {
		return err
	}
	return nil
}

// hasLocalOpenStreams reports whether a named stream of baseID is open on
// this node.
func (v *Volume) hasLocalOpenStreams(baseID uint64) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, f := range v.files {
		if f.stream != nil && f.stream.baseID == baseID {
			return true
		}
	}
	return false
}

// checkStreamsShareDelete refuses an open of baseID for DELETE while one
// of its named streams is open without FILE_SHARE_DELETE: deleting the
// file deletes its streams, so each of them must allow it
// (smb2.streams.delete; [MS-FSA] 2.1.5.1.2.1).
func (v *Volume) checkStreamsShareDelete(ctx context.Context, baseID uint64, path string) error {
	deny, err := v.LocalStreamsDenyDelete(ctx, baseID)
	if err == nil && !deny && v.remote != nil {
		deny, err = v.remote.StreamsDenyDelete(ctx, baseID)
	}
	if err != nil {
		return err
	}
	if deny {
		return newErr("open", path, ErrSharingViolation)
	}
	return nil
}
