package csv

import (
	"context"
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// FileInfo describes a file or directory ([MS-FSCC] 2.4: the fields of
// FileBasic/Standard/Internal/NetworkOpenInformation and directory
// entries).
type FileInfo struct {
	// FileID is the inode number: stable for the life of the file and
	// unique in the volume (mount points inside the volume are refused).
	FileID                                                  uint64
	CreationTime, LastAccessTime, LastWriteTime, ChangeTime time.Time
	// EndOfFile is the size; AllocationSize is st_blocks*512, the space
	// actually allocated (directories: what the file system reports).
	EndOfFile, AllocationSize int64
	// Attributes are FILE_ATTRIBUTE_* bits: DIRECTORY for directories,
	// the persisted bits, NORMAL only when nothing else is set.
	Attributes uint32
	// EASize is the size of the file's EA list in FILE_FULL_EA_INFORMATION
	// form (FileEaInformation, directory entries); 0 without EAs.
	EASize uint32
	// NumberOfLinks is st_nlink for files and 1 for directories (whose
	// POSIX link count counts subdirectories, which Windows does not).
	NumberOfLinks uint32
	DeletePending bool
	IsDir         bool
	// Name is the final component as stored on disk ("" for the root).
	Name string
}

// metaBufSize is large enough for any record we write; a larger one is
// treated as malformed (ERANGE), not allocated for.
const metaBufSize = 256

// readMeta reads an object's meta record. ok is false when there is none
// or it is malformed; err is set only for real failures (including "the
// file system has no xattrs", which probe turns into the fallback).
func (v *Volume) readMeta(fd int) (meta, bool, error) {
	if !v.xattrs {
		return meta{}, false, nil
	}
	var buf [metaBufSize]byte
	n, err := unix.Fgetxattr(fd, metaXattr, buf[:])
	switch {
	case err == unix.ENODATA || err == unix.ERANGE:
		return meta{}, false, nil
	case err != nil:
		return meta{}, false, err
	}
	m, ok := decodeMeta(buf[:n])
	return m, ok, nil
}

// writeMeta stores an object's meta record.
func (v *Volume) writeMeta(fd int, m meta) error {
	if !v.xattrs {
		return nil
	}
	var buf [metaSize]byte
	return unix.Fsetxattr(fd, metaXattr, encodeMeta(&buf, m), 0)
}

// isNoXattr reports whether err means the file system does not store user
// extended attributes.
func isNoXattr(err error) bool {
	return errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP)
}

// defaultCreated is the creation time of an object without a meta record:
// the file system's birth time where it has one, else the change time.
func defaultCreated(st *unix.Statx_t) time.Time {
	if st.Mask&unix.STATX_BTIME != 0 && (st.Btime.Sec != 0 || st.Btime.Nsec != 0) {
		return tsTime(st.Btime)
	}
	return tsTime(st.Ctime)
}

func tsTime(t unix.StatxTimestamp) time.Time { return time.Unix(t.Sec, int64(t.Nsec)) }

// defaultAttrs are the attributes of an object without a meta record:
// ARCHIVE for files (what Windows gives a new file), none for directories.
func defaultAttrs(isDir bool) uint32 {
	if isDir {
		return 0
	}
	return AttrArchive
}

// buildInfo combines stat data and the meta record.
func buildInfo(st *unix.Statx_t, m meta, ok bool, name string) FileInfo {
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	fi := FileInfo{
		FileID:         st.Ino,
		LastAccessTime: tsTime(st.Atime),
		LastWriteTime:  tsTime(st.Mtime),
		ChangeTime:     tsTime(st.Ctime),
		EndOfFile:      int64(st.Size),
		AllocationSize: int64(st.Blocks) * 512,
		NumberOfLinks:  st.Nlink,
		IsDir:          isDir,
		Name:           name,
	}
	if ok && m.hasChanged && m.changedMtime == tsTime(st.Mtime).UnixNano() {
		// A client set the change time and the data has not changed
		// since (see meta.changed).
		fi.ChangeTime = m.changed
	}
	if ok && m.hasCreated {
		fi.CreationTime = m.created
	} else {
		fi.CreationTime = defaultCreated(st)
	}
	attrs := defaultAttrs(isDir)
	if ok {
		attrs = m.attrs
	}
	fi.Attributes = composeAttrs(attrs, isDir)
	if isDir {
		// NTFS reports a directory's size and allocation as zero
		// (its index is not file data), and Windows clients expect it.
		fi.EndOfFile = 0
		fi.AllocationSize = 0
		fi.NumberOfLinks = 1
	}
	return fi
}

// composeAttrs turns stored bits into the reported FILE_ATTRIBUTE_* value.
func composeAttrs(stored uint32, isDir bool) uint32 {
	a := stored & persistedAttrs
	if isDir {
		a |= AttrDirectory
	}
	if a == 0 {
		a = AttrNormal
	}
	return a
}

// infoFD describes an open descriptor (not O_PATH: xattrs need a real
// open), including the delete-pending state from the object table.
func (v *Volume) infoFD(ctx context.Context, fd int, name string) (FileInfo, error) {
	var st unix.Statx_t
	if err := statFD(fd, &st); err != nil {
		return FileInfo{}, sysErr("stat", name, err)
	}
	m, ok, err := v.readMeta(fd)
	if err != nil {
		return FileInfo{}, sysErr("stat", name, err)
	}
	fi := buildInfo(&st, m, ok, name)
	if fi.EASize, err = v.eaSize(fd, m, ok); err != nil {
		return FileInfo{}, sysErr("stat", name, err)
	}
	os, err := v.objects.State(ctx, st.Ino)
	if err != nil {
		return FileInfo{}, err
	}
	fi.DeletePending = os.DeletePending
	return fi, nil
}
