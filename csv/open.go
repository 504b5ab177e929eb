package csv

import (
	"context"
	"errors"
	"fmt"
	"sofs.io/sofs/csv/openstate"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Disposition is the SMB2 CreateDisposition ([MS-SMB2] 2.2.13).
type Disposition uint32

// CreateDisposition values ([MS-SMB2] 2.2.13).
const (
	Supersede   Disposition = 0 // replace if it exists, else create
	Open        Disposition = 1 // open if it exists, else fail
	Create      Disposition = 2 // create, fail if it exists
	OpenIf      Disposition = 3 // open if it exists, else create
	Overwrite   Disposition = 4 // truncate if it exists, else fail
	OverwriteIf Disposition = 5 // truncate if it exists, else create
)

// Action is the SMB2 CreateAction of a response ([MS-SMB2] 2.2.14).
type Action uint32

// CreateAction values ([MS-SMB2] 2.2.14).
const (
	Superseded  Action = 0
	Opened      Action = 1
	Created     Action = 2
	Overwritten Action = 3
)

// OpenRequest is what Volume.Open needs of an SMB2 CREATE.
type OpenRequest struct {
	// Path is relative to the share root, backslash separated, without a
	// leading backslash; "" is the root. See parsePath for the rules.
	Path        string
	Disposition Disposition
	// Directory is FILE_DIRECTORY_FILE: the object must be (or is created
	// as) a directory; a file is ErrNotDirectory.
	Directory bool
	// NonDirectory is FILE_NON_DIRECTORY_FILE: a directory is
	// ErrIsDirectory.
	NonDirectory bool
	// Write means the granted access includes writing data: files are
	// opened O_RDWR, otherwise O_RDONLY. Directories are always O_RDONLY.
	Write bool
	// Attributes are the FILE_ATTRIBUTE_* bits of a created or overwritten
	// file (DIRECTORY and NORMAL are implied, not stored).
	Attributes uint32
	// AllocationSize, if positive, is preallocated on create or overwrite
	// without changing the size (fallocate KEEP_SIZE).
	AllocationSize int64
	// DeleteOnClose is FILE_DELETE_ON_CLOSE: closing this handle sets
	// delete pending, and the object goes when its last handle closes.
	DeleteOnClose bool
	// Entry, if set, makes the open take part in share modes, oplocks and
	// leases (see ObjectTable.Acquire); the grant is Handle.Grant.
	Entry *OpenEntry
	// EAs, if any, are the extended attributes of a created, overwritten
	// or superseded file (the CREATE's EA buffer; ea.go).
	EAs []EA
	// Security, if set, is a security descriptor stored with a newly created object
	// (security.go); an existing object keeps its own.
	Security []byte
	// Reopen marks the reopening of an open granted earlier (a durable
	// handle restored after a restart or adopted from another node): its
	// access was checked when it was granted, so a read-only attribute
	// set since does not refuse it, as it does not end the open on one
	// server.
	Reopen bool
}

// Handle is one open of a file or directory. Its methods are safe for
// concurrent use, except Close, which must not race with the others.
type Handle struct {
	v             *Volume
	f             *file
	fd            int
	isDir         bool
	writable      bool
	deleteOnClose atomic.Bool
	closed        atomic.Bool
	// pinMu guards pins and unpinned: the operations using fd right now
	// and the channel Close waits on (see acquire).
	pinMu    sync.Mutex
	pins     int
	unpinned chan struct{}
	openID   uint64 // the ObjectTable entry's id; 0 if none
	grant    Grant
	// watch is the directory's change-notify state (notify.go); guarded
	// by Volume.watches.mu.
	watch *Watch
	// renamed is set when a file was renamed through the handle: its
	// close reports an attribute change, as Windows does (notify.go).
	renamed atomic.Bool
	// lockOwner identifies the handle in the LockTable; 0 until it
	// first locks (locks.go).
	lockOwner atomic.Uint64
	lockSeq   lockSequences
	// base is, for a named stream, the open of the file the stream
	// belongs to (stream.go); nil otherwise.
	base *Handle
	// syncs batches the fdatasync calls of concurrent Syncs (syncbatch.go).
	syncs syncBatcher
	// parent is the ParentLeaseKey the open carries; modified is set by
	// the first change of the data through the handle. Both decide the
	// directory lease breaks of its changes (dirlease.go).
	parent   ParentKey
	modified atomic.Bool
	// created holds the directory lease breaks its own creation or
	// overwrite started, delivered by Open once the volume's locks are
	// released.
	created []Break
}

// maxOpenAttempts bounds the loop in Open that retries when a concurrent
// create or delete flips whether the name exists between the lookup and
// the open.
const maxOpenAttempts = 4

// Open opens or creates the object named by req.Path, following the
// CreateDisposition rules of [MS-FSA] 2.1.5.1. Creating or overwriting
// an object breaks the leases of its directory (dirlease.go).
func (v *Volume) Open(ctx context.Context, req OpenRequest) (*Handle, Action, error) {
	h, act, err := v.open(ctx, req)
	if h != nil && len(h.created) > 0 {
		bs := h.created
		h.created = nil
		v.deliverParentBreaks(bs)
	}
	return h, act, err
}

// errGone reports that the object the name led to was deleted before
// its open was registered; open looks the name up again.
var errGone = errors.New("csv: object deleted during the open")

func (v *Volume) open(ctx context.Context, req OpenRequest) (*Handle, Action, error) {
	for attempt := 1; ; attempt++ {
		h, act, err := v.openOnce(ctx, req)
		if err != errGone {
			return h, act, err
		}
		if attempt == maxOpenAttempts {
			return nil, 0, newErr("open", req.Path, ErrNotFound)
		}
	}
}

func (v *Volume) openOnce(ctx context.Context, req OpenRequest) (*Handle, Action, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if err := checkRequest(req, v.readOnly); err != nil {
		return nil, 0, err
	}
	comps, sp, err := parseStreamPath(req.Path)
	if err != nil {
		return nil, 0, err
	}
	if sp.name != "" || sp.explicit {
		// A data stream is never a directory ([MS-FSA] 2.1.5.1:
		// "dir::$DATA" with FILE_DIRECTORY_FILE is
		// STATUS_NOT_A_DIRECTORY, without it
		// STATUS_FILE_IS_A_DIRECTORY).
		if req.Directory || len(comps) == 0 {
			return nil, 0, newErr("open", req.Path, ErrNotDirectory)
		}
		if sp.name != "" {
			return v.openStream(ctx, comps, sp, req)
		}
		req.NonDirectory = true
	}
	if err := v.enter("open", req.Path); err != nil {
		return nil, 0, err
	}
	defer v.life.RUnlock()
	if len(comps) == 0 {
		fd, err := unix.Openat(v.rootfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, 0, sysErr("open", req.Path, err)
		}
		return v.finishExisting(ctx, fd, nil, "", req)
	}

	// Fast path: the client spelled every component as it is on disk.
	rel := diskPath(comps)
	var st unix.Statx_t
	fd, err := v.openExisting(v.rootfd, rel, req, &st)
	if err == nil {
		return v.finishExisting(ctx, fd, &st, rel, req)
	}
	if err != unix.ENOENT && err != unix.ENOTDIR {
		return nil, 0, sysErr("open", req.Path, err)
	}

	d, err := v.walkDir("open", req.Path, comps[:len(comps)-1])
	if err != nil {
		return nil, 0, err
	}
	defer d.close()
	last := comps[len(comps)-1]
	for range maxOpenAttempts {
		name, st, err := v.lookup(d, last)
		if err == nil {
			if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFDIR {
				return nil, 0, newErr("open", req.Path, ErrAccessDenied)
			}
			fd, err := v.openExisting(d.fd, name, req, &st)
			if err == unix.ENOENT {
				continue // deleted since the lookup
			}
			if err != nil {
				return nil, 0, sysErr("open", req.Path, err)
			}
			return v.finishExisting(ctx, fd, &st, joinDisk(d.disk, name), req)
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, 0, sysErr("open", req.Path, err)
		}
		if req.Disposition == Open || req.Disposition == Overwrite {
			return nil, 0, newErr("open", req.Path, ErrNotFound)
		}
		if v.readOnly {
			return nil, 0, newErr("open", req.Path, ErrReadOnly)
		}
		h, act, err := v.createLocked(ctx, d, last, req)
		if errors.Is(err, errRaced) {
			continue
		}
		return h, act, err
	}
	return nil, 0, newErr("open", req.Path, ErrAccessDenied)
}

// errRaced reports that the name appeared while we were creating it; Open
// retries as an open of the existing object.
var errRaced = errors.New("csv: name created concurrently")

// checkRequest refuses combinations [MS-FSA] 2.1.5.1 rejects, and changes
// on a read-only volume.
func checkRequest(req OpenRequest, readOnly bool) error {
	overwrite := req.Disposition == Supersede || req.Disposition == Overwrite || req.Disposition == OverwriteIf
	switch {
	case req.Disposition > OverwriteIf,
		req.Directory && req.NonDirectory,
		req.Directory && overwrite,
		req.AllocationSize < 0:
		return newErr("open", req.Path, ErrInvalidParameter)
	case readOnly && (req.Write || req.DeleteOnClose || overwrite || req.Disposition == Create):
		return newErr("open", req.Path, ErrReadOnly)
	}
	return nil
}

func joinDisk(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "/" + name
}

// openExisting opens an existing object at rel below dirfd with the access
// the request needs, refusing anything but regular files and directories
// (a FIFO or device would block or have side effects; O_NONBLOCK makes the
// open itself harmless for FIFOs and is ignored for regular files).
func (v *Volume) openExisting(dirfd int, rel string, req OpenRequest, st *unix.Statx_t) (int, error) {
	flags := unix.O_RDONLY | unix.O_NONBLOCK
	if req.Write || req.Disposition == Supersede || req.Disposition == Overwrite || req.Disposition == OverwriteIf {
		flags = unix.O_RDWR | unix.O_NONBLOCK
	}
	fd, err := v.openBeneath(dirfd, rel, flags, 0)
	if err == unix.EISDIR {
		fd, err = v.openBeneath(dirfd, rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	}
	if err != nil {
		return -1, err
	}
	if err := statFD(fd, st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFDIR {
		unix.Close(fd)
		return -1, unix.EACCES
	}
	return fd, nil
}

// finishExisting applies the disposition to an object that exists and was
// opened as fd, and registers the open. It owns fd. st is fd's statx when
// the caller has it (openExisting), else nil.
func (v *Volume) finishExisting(ctx context.Context, fd int, st *unix.Statx_t, disk string, req OpenRequest) (h *Handle, act Action, err error) {
	defer func() {
		if err != nil {
			unix.Close(fd)
		}
	}()
	if st == nil {
		st = new(unix.Statx_t)
		if err := statFD(fd, st); err != nil {
			return nil, 0, sysErr("open", req.Path, err)
		}
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	overwrite := req.Disposition == Supersede || req.Disposition == Overwrite || req.Disposition == OverwriteIf
	switch {
	case req.Disposition == Create:
		return nil, 0, newErr("open", req.Path, ErrExists)
	case req.Directory && !isDir:
		return nil, 0, newErr("open", req.Path, ErrNotDirectory)
	case req.NonDirectory && isDir, overwrite && isDir:
		return nil, 0, newErr("open", req.Path, ErrIsDirectory)
	case disk == "" && req.DeleteOnClose:
		return nil, 0, newErr("open", req.Path, ErrCannotDelete)
	}
	m, ok, err := v.readMeta(fd)
	if err != nil {
		return nil, 0, sysErr("open", req.Path, err)
	}
	if !ok {
		m = meta{attrs: defaultAttrs(isDir), created: defaultCreated(st), hasCreated: true}
	}
	if m.attrs&AttrReadonly != 0 && !req.Reopen {
		// [MS-FSA] 2.1.5.1.2: write access to, or overwriting, a read-only
		// file is STATUS_ACCESS_DENIED; delete-on-close is
		// STATUS_CANNOT_DELETE.
		if req.DeleteOnClose {
			return nil, 0, newErr("open", req.Path, ErrCannotDelete)
		}
		if (req.Write && !isDir) || overwrite {
			return nil, 0, newErr("open", req.Path, ErrAccessDenied)
		}
	}
	if overwrite && m.attrs&(AttrHidden|AttrSystem)&^req.Attributes != 0 {
		// Overwriting a hidden or system file must restate those bits, or
		// Windows refuses it (CreateFile, CREATE_ALWAYS: ACCESS_DENIED).
		return nil, 0, newErr("open", req.Path, ErrAccessDenied)
	}
	if req.Entry != nil && req.Entry.Access&openstate.AccessDelete != 0 {
		if err := v.checkStreamsShareDelete(ctx, st.Ino, req.Path); err != nil {
			return nil, 0, err
		}
	}
	pk := openstate.ParentOf(req.Entry)
	f, g, err := v.acquire(ctx, st.Ino, disk, isDir, req.Path, req.Entry, true)
	if err != nil {
		return nil, 0, err
	}
	h = &Handle{v: v, f: f, fd: fd, isDir: isDir, writable: req.Write && !isDir, openID: openstate.EntryID(req.Entry), grant: g, parent: pk}
	if err := statFD(fd, st); err == nil && st.Nlink == 0 {
		// Deleted (a delete-pending close, maybe through another node)
		// between our lookup and the acquire: the object is gone, not
		// open, and the name is looked up again (one server creates a
		// new file for an open-if here, as the removal and the name's
		// disappearance are one step there).
		v.releaseOpen(ctx, f, openstate.EntryID(req.Entry))
		return nil, 0, errGone
	}
	act = Opened
	if overwrite {
		if err := v.overwrite(fd, st, m, req); err != nil {
			v.releaseOpen(ctx, f, openstate.EntryID(req.Entry))
			return nil, 0, err
		}
		act = Overwritten
		if req.Disposition == Supersede {
			act = Superseded
		}
		h.notifyObject(ActionModified, NotifyAttributes|NotifySize|NotifyLastWrite)
		h.created = v.breakParentOfLocked(ctx, disk, pk)
	}
	h.deleteOnClose.Store(req.DeleteOnClose)
	return h, act, nil
}

// overwrite truncates an existing file and replaces its attributes, as
// FILE_OVERWRITE and FILE_SUPERSEDE do ([MS-FSA] 2.1.5.1.2.1: the new
// attributes are the requested ones plus ARCHIVE). Supersede also resets
// the creation time, since Windows replaces the file.
func (v *Volume) overwrite(fd int, st *unix.Statx_t, m meta, req OpenRequest) error {
	if err := v.fenced("overwrite", req.Path); err != nil {
		return err
	}
	if err := unix.Ftruncate(fd, 0); err != nil {
		return sysErr("overwrite", req.Path, err)
	}
	m.attrs = req.Attributes&persistedAttrs | AttrArchive
	if req.Disposition == Supersede {
		m.created, m.hasCreated = time.Now(), true
	}
	if err := v.writeMeta(fd, m); err != nil {
		return sysErr("overwrite", req.Path, err)
	}
	// Overwriting a file replaces all of its data: the named streams
	// go too (smb2.streams.create-disposition).
	if err := v.removeStreamDir(st.Ino); err != nil {
		return sysErr("overwrite", req.Path, err)
	}
	if err := v.applyCreateEAs(fd, req.EAs, len(req.EAs) > 0, req.Path); err != nil {
		return err
	}
	return preallocate(fd, req.AllocationSize, req.Path)
}

// preallocate reserves size bytes without changing the file size; file
// systems that cannot (EOPNOTSUPP) simply do not.
func preallocate(fd int, size int64, path string) error {
	if size <= 0 {
		return nil
	}
	err := unix.Fallocate(fd, unix.FALLOC_FL_KEEP_SIZE, 0, size)
	if err != nil && err != unix.EOPNOTSUPP {
		return sysErr("allocate", path, err)
	}
	return nil
}

// createLocked creates name in directory d under the namespace lock,
// first checking again (now serialised with every other creator) that no
// case variant exists. It returns errRaced if one does.
func (v *Volume) createLocked(ctx context.Context, d *dirRef, name string, req OpenRequest) (*Handle, Action, error) {
	v.nsMu.Lock()
	defer v.nsMu.Unlock()
	if err := statFD(d.fd, &d.st); err != nil {
		return nil, 0, sysErr("create", req.Path, err)
	}
	if _, _, err := v.lookup(d, name); err == nil {
		return nil, 0, errRaced
	} else if !errors.Is(err, ErrNotFound) {
		return nil, 0, sysErr("create", req.Path, err)
	}
	// [MS-FSA] 2.1.5.1: no new object in a directory with delete pending.
	if os, err := v.objects.State(ctx, d.st.Ino); err != nil {
		return nil, 0, err
	} else if os.DeletePending {
		return nil, 0, newErr("create", req.Path, ErrDeletePending)
	}
	// The state lookup above may have waited on the cluster: ask again
	// before the name is created.
	if err := v.fenced("create", req.Path); err != nil {
		return nil, 0, err
	}
	var fd int
	var err error
	if req.Directory {
		err = unix.Mkdirat(d.fd, name, 0o755)
		if err == nil {
			fd, err = v.openBeneath(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		}
	} else {
		fd, err = v.openBeneath(d.fd, name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NONBLOCK, 0o644)
	}
	if err == unix.EEXIST {
		return nil, 0, errRaced
	}
	if err != nil {
		return nil, 0, sysErr("create", req.Path, err)
	}
	fail := func(err error) (*Handle, Action, error) {
		unix.Close(fd)
		flags := 0
		if req.Directory {
			flags = unix.AT_REMOVEDIR
		}
		unix.Unlinkat(d.fd, name, flags)
		return nil, 0, err
	}
	var st unix.Statx_t
	if err := statFD(fd, &st); err != nil {
		return fail(sysErr("create", req.Path, err))
	}
	m := meta{attrs: req.Attributes & persistedAttrs, created: defaultCreated(&st), hasCreated: true}
	if !req.Directory {
		m.attrs |= AttrArchive
	}
	if err := v.writeMeta(fd, m); err != nil {
		return fail(sysErr("create", req.Path, err))
	}
	if err := v.applyCreateEAs(fd, req.EAs, false, req.Path); err != nil {
		return fail(err)
	}
	if req.Security != nil && v.xattrs {
		if err := v.writeSD(fd, req.Security); err != nil {
			return fail(sysErr("create", req.Path, err))
		}
	}
	if !req.Directory {
		if err := preallocate(fd, req.AllocationSize, req.Path); err != nil {
			return fail(err)
		}
	}
	var after unix.Statx_t
	if err := statFD(d.fd, &after); err == nil {
		v.cache.added(&d.st, &after, name)
		d.st = after
	}
	pk := openstate.ParentOf(req.Entry)
	f, g, err := v.acquire(ctx, st.Ino, joinDisk(d.disk, name), req.Directory, req.Path, req.Entry, false)
	if err != nil {
		return fail(err)
	}
	h := &Handle{v: v, f: f, fd: fd, isDir: req.Directory, writable: req.Write && !req.Directory, openID: openstate.EntryID(req.Entry), grant: g, parent: pk}
	h.deleteOnClose.Store(req.DeleteOnClose)
	v.emit(Event{Dir: d.disk, Name: name, Action: ActionAdded, Filter: nameFilter(req.Directory)})
	h.created = v.breakParent(ctx, d.st.Ino, pk)
	return h, Created, nil
}

// acquire registers an open of object id in the object table and in the
// node's file map.
func (v *Volume) acquire(ctx context.Context, id uint64, disk string, isDir bool, path string, e *OpenEntry, existed bool) (*file, Grant, error) {
	if e != nil {
		e.Directory, e.Existed = isDir, existed
		e.DirectoryRules()
	}
	g, err := v.objects.Acquire(ctx, id, e)
	if err != nil {
		var bw *BreakWait
		if errors.As(err, &bw) {
			return nil, g, err
		}
		return nil, g, fmt.Errorf("csv: open %q: %w", path, err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	f := v.files[id]
	if f == nil {
		f = &file{id: id, disk: disk, isDir: isDir}
		v.files[id] = f
	}
	f.refs++
	return f, g, nil
}

// releaseOpen undoes acquire for an open that failed after it; it never
// deletes (the failed open could not have set delete pending).
func (v *Volume) releaseOpen(ctx context.Context, f *file, openID uint64) {
	if _, _, err := v.objects.Release(ctx, f.id, openID); err != nil {
		v.log.Error().Err(err).Uint64("file_id", f.id).Msg("release of failed open")
	}
	v.dropFile(f)
}

func (v *Volume) dropFile(f *file) {
	v.mu.Lock()
	f.refs--
	gone := f.refs <= 0 && v.files[f.id] == f
	if gone {
		delete(v.files, f.id)
	}
	stream := gone && f.stream != nil
	v.mu.Unlock()
	if stream {
		ctx, cancel := context.WithTimeout(context.Background(), relayTimeout)
		v.streamClosed(ctx)
		cancel()
	}
}
