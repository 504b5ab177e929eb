package csv

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"path/filepath"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// Options configure a Volume.
type Options struct {
	// ReadOnly refuses every change with ErrReadOnly.
	ReadOnly bool
	// Logger receives the volume's few log lines (fallbacks, failed
	// deletions at close).
	Logger zerolog.Logger
	// Objects is the per-file open state; nil means a new in-memory table
	// (single node).
	Objects ObjectTable
	// Locks holds the byte-range locks; nil means a new in-memory table.
	Locks LockTable
	// Label is the volume label reported by StatFS; "" means the base name
	// of the backing directory.
	Label string
	// ParentBreaks, if set, receives the directory lease breaks that a
	// change to a child starts (dirlease.go), to deliver them to their
	// holders. Nothing waits for them. It is called without the volume's
	// locks held, on the goroutine that made the change.
	ParentBreaks func([]Break)
	// Notify, if set, relays change notifications to and from the other
	// nodes serving the same directory (notify.go).
	Notify NotifyRelay
	// Remote, if set, answers for the opens of the other nodes serving
	// the same directory (remoteopens.go).
	Remote RemoteOpens
	// Guard, if set, is asked right before every system call that reads
	// or changes the backing directory on behalf of a client (open,
	// read, write, sync, truncate, metadata, rename, delete): a non-nil
	// answer refuses the operation with ErrFenced. A cluster node passes
	// its lease clock, so a node that may have lost its lease touches
	// nothing, even when it wakes from a pause in the middle of a
	// request. Closing descriptors is never refused. It must be cheap
	// and safe for concurrent use.
	Guard func() error
}

// Volume is one share's backing directory. It is safe for concurrent use.
type Volume struct {
	root     string
	log      zerolog.Logger
	readOnly bool
	label    string
	objects  ObjectTable
	locks    LockTable
	cache    *dirCache

	// life guards rootfd against Close: operations that use it hold a
	// read lock, so the descriptor number can never be reused under them.
	life   sync.RWMutex
	closed bool
	rootfd int

	// Fixed at open.
	noOpenat2 bool // kernel lacks openat2: resolve per component
	xattrs    bool // the backing file system stores user xattrs
	dev       uint64
	rootIno   uint64
	id        uint64
	serial    uint32
	created   time.Time

	sds sdStore // security descriptors (sdstore.go)

	// nsMu serialises changes to the namespace (create, rename, delete)
	// so that two case variants of one name can never both be created.
	nsMu sync.Mutex
	// eaMu serialises EA list read-modify-write cycles (ea.go).
	eaMu sync.Mutex

	// mu guards files: the open objects of this node, for their current
	// path (which follows renames) and shared delete-on-close handling.
	mu    sync.Mutex
	files map[uint64]*file

	// watches are the watched directory handles (change notify,
	// notify.go).
	watches notifyHub

	// parentBreaks delivers directory lease breaks (Options.ParentBreaks).
	parentBreaks func([]Break)
	// relay is Options.Notify.
	relay NotifyRelay
	// guard is Options.Guard.
	guard func() error
	// remote is Options.Remote; streams counts this node's open stream
	// objects (remoteopens.go).
	remote   RemoteOpens
	streamMu sync.Mutex
	streams  int
}

// file is one open object on this node, shared by its handles.
type file struct {
	id    uint64
	refs  int
	isDir bool
	disk  string // current on-disk path relative to the root; guarded by Volume.mu
	// stream locates a named stream's file (stream.go); nil for files
	// and directories.
	stream *streamLoc
}

// OpenVolume opens the backing directory root, which must exist and be a
// directory.
func OpenVolume(root string, opt Options) (*Volume, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, sysErr("open volume", root, err)
	}
	v := &Volume{
		root:     root,
		log:      opt.Logger.With().Str("volume", root).Logger(),
		readOnly: opt.ReadOnly,
		label:    opt.Label,
		objects:  opt.Objects,
		cache:    newDirCache(),
		rootfd:   fd,
		xattrs:   true,
		files:    make(map[uint64]*file),

		parentBreaks: opt.ParentBreaks,
		relay:        opt.Notify,
		remote:       opt.Remote,
		guard:        opt.Guard,
	}
	if v.label == "" {
		v.label = filepath.Base(root)
	}
	if v.objects == nil {
		v.objects = NewMemoryObjectTable()
	}
	if v.locks = opt.Locks; v.locks == nil {
		v.locks = NewMemoryLockTable()
	}
	if err := v.probe(); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if v.relay != nil {
		v.relay.Subscribe(v.Publish, v.watchedRemotely)
	}
	if v.remote != nil {
		v.remote.SubscribeOpens(v)
	}
	return v, nil
}

// probe detects openat2, identifies the file system and makes sure the
// root has a creation time.
func (v *Volume) probe() error {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: resolveFlags}
	if fd, err := unix.Openat2(v.rootfd, ".", &how); err == nil {
		unix.Close(fd)
	} else if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		// EPERM: some seccomp profiles deny unknown system calls that way.
		v.noOpenat2 = true
		v.log.Info().Err(err).Msg("openat2 unavailable; resolving paths one component at a time")
	} else {
		return sysErr("open volume", v.root, err)
	}
	var st unix.Statx_t
	if err := statFD(v.rootfd, &st); err != nil {
		return sysErr("open volume", v.root, err)
	}
	v.dev, v.rootIno = unix.Mkdev(st.Dev_major, st.Dev_minor), st.Ino
	var fs unix.Statfs_t
	if err := unix.Fstatfs(v.rootfd, &fs); err != nil {
		return sysErr("open volume", v.root, err)
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d:%d:%d:%d", fs.Fsid.Val[0], fs.Fsid.Val[1], v.dev, v.rootIno)
	v.id = h.Sum64()
	v.serial = uint32(v.id>>32) ^ uint32(v.id)

	m, ok, err := v.readMeta(v.rootfd)
	switch {
	case err != nil && isNoXattr(err):
		v.xattrs = false
		v.log.Warn().Err(err).Msg("backing file system refuses user xattrs; creation times and DOS attributes will not persist")
	case err != nil:
		return sysErr("open volume", v.root, err)
	}
	if ok && m.hasCreated {
		v.created = m.created
		return nil
	}
	v.created = defaultCreated(&st)
	if v.xattrs && !v.readOnly {
		m.created, m.hasCreated = v.created, true
		if err := v.writeMeta(v.rootfd, m); err != nil {
			if !isNoXattr(err) {
				return sysErr("open volume", v.root, err)
			}
			v.xattrs = false
			v.log.Warn().Err(err).Msg("backing file system refuses user xattrs; creation times and DOS attributes will not persist")
		}
	}
	return nil
}

// Close releases the root descriptor. Handles stay usable for I/O; new
// opens fail with ErrClosed.
func (v *Volume) Close() error {
	v.life.Lock()
	defer v.life.Unlock()
	if v.closed {
		return nil
	}
	v.closed = true
	if err := unix.Close(v.rootfd); err != nil {
		return sysErr("close volume", v.root, err)
	}
	return nil
}

// enter takes the read side of life; the caller must call v.life.RUnlock.
// It also asks the guard, since every caller is about to touch the
// backing directory.
func (v *Volume) enter(op, path string) error {
	v.life.RLock()
	if v.closed {
		v.life.RUnlock()
		return newErr(op, path, ErrClosed)
	}
	if err := v.fenced(op, path); err != nil {
		v.life.RUnlock()
		return err
	}
	return nil
}

// fenced asks the guard whether op may touch the backing directory now.
func (v *Volume) fenced(op, path string) error {
	if v.guard == nil {
		return nil
	}
	if err := v.guard(); err != nil {
		return &opError{op: op, path: path, kind: ErrFenced, cause: err}
	}
	return nil
}

// ID returns a 64-bit identifier of the volume, stable across restarts
// (derived from the file system id and the root's inode); the server uses
// it as the volume id of QUERY_ON_DISK_ID ([MS-SMB2] 2.2.14.2.9).
func (v *Volume) ID() uint64 { return v.id }

// ReadOnly reports whether the volume refuses changes.
func (v *Volume) ReadOnly() bool { return v.readOnly }

// FSInfo describes the volume for the FileFsXxxInformation classes
// ([MS-FSCC] 2.5).
type FSInfo struct {
	TotalBytes, FreeBytes, AvailableBytes int64
	BlockSize                             uint32
	SectorSize                            uint32
	VolumeSerial                          uint32
	CreationTime                          time.Time
	Label                                 string
}

// StatFS reports the size and identity of the volume. BlockSize is the
// 4096-byte cluster Windows clients expect; SectorSize is 512, which every
// backing store accepts for alignment.
func (v *Volume) StatFS() (FSInfo, error) {
	if err := v.enter("statfs", ""); err != nil {
		return FSInfo{}, err
	}
	defer v.life.RUnlock()
	var fs unix.Statfs_t
	if err := unix.Fstatfs(v.rootfd, &fs); err != nil {
		return FSInfo{}, sysErr("statfs", "", err)
	}
	bs := int64(fs.Bsize)
	return FSInfo{
		TotalBytes:     int64(fs.Blocks) * bs,
		FreeBytes:      int64(fs.Bfree) * bs,
		AvailableBytes: int64(fs.Bavail) * bs,
		BlockSize:      4096,
		SectorSize:     512,
		VolumeSerial:   v.serial,
		CreationTime:   v.created,
		Label:          v.label,
	}, nil
}

// Stat describes the object at path without opening a Handle on it.
func (v *Volume) Stat(ctx context.Context, path string) (FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return FileInfo{}, err
	}
	comps, err := parsePath(path)
	if err != nil {
		return FileInfo{}, err
	}
	if err := v.enter("stat", path); err != nil {
		return FileInfo{}, err
	}
	defer v.life.RUnlock()
	if len(comps) == 0 {
		return v.infoFD(ctx, v.rootfd, "")
	}
	d, err := v.walkDir("stat", path, comps[:len(comps)-1])
	if err != nil {
		return FileInfo{}, err
	}
	defer d.close()
	name, st, err := v.lookup(d, comps[len(comps)-1])
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return FileInfo{}, newErr("stat", path, ErrNotFound)
		}
		return FileInfo{}, sysErr("stat", path, err)
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFDIR {
		return FileInfo{}, newErr("stat", path, ErrAccessDenied)
	}
	fd, err := v.openBeneath(d.fd, name, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return FileInfo{}, sysErr("stat", path, err)
	}
	defer unix.Close(fd)
	return v.infoFD(ctx, fd, name)
}
