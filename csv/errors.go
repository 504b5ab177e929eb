package csv

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"sofs.io/sofs/csv/openstate"
)

// Sentinel errors. Every error a Volume or Handle returns wraps at most one
// of them (plus the underlying errno where there is one); the SMB server
// maps them to NTSTATUS values with errors.Is.
var (
	// ErrNotFound means the final component of a path does not exist.
	ErrNotFound = errors.New("csv: object name not found")
	// ErrPathNotFound means a parent component does not exist or is not a
	// directory.
	ErrPathNotFound = errors.New("csv: object path not found")
	// ErrExists means the name already exists where it must not.
	ErrExists = errors.New("csv: object name collision")
	// ErrNotDirectory means a directory was required but a file was found.
	ErrNotDirectory = errors.New("csv: not a directory")
	// ErrIsDirectory means a non-directory was required but a directory was
	// found.
	ErrIsDirectory = errors.New("csv: file is a directory")
	// ErrNotEmpty means a directory that must be empty is not.
	ErrNotEmpty = errors.New("csv: directory not empty")
	// ErrAccessDenied means the operation is refused: permissions, symbolic
	// links or mount points in the path, a read-only file, an open target.
	ErrAccessDenied = errors.New("csv: access denied")
	// ErrInvalidName means the path is syntactically unacceptable.
	ErrInvalidName = errors.New("csv: invalid object name")
	// ErrStreamsUnsupported means the path names an alternate data stream.
	ErrStreamsUnsupported = errors.New("csv: alternate data streams not supported")
	// ErrDeletePending means the object (or the directory it would be
	// created in) has delete pending.
	ErrDeletePending = openstate.ErrDeletePending
	// ErrReadOnly means the volume is read-only.
	ErrReadOnly = errors.New("csv: volume is read-only")
	// ErrNoSpace means the backing file system is full or over quota.
	ErrNoSpace = errors.New("csv: no space left on device")
	// ErrCannotDelete means the object has the read-only attribute or is
	// the share root.
	ErrCannotDelete = errors.New("csv: cannot delete")
	// ErrNameTooLong means a component or the whole path is too long.
	ErrNameTooLong = errors.New("csv: name too long")
	// ErrInvalidParameter means the request combines options that cannot
	// go together (for example Directory and NonDirectory). It is an
	// extension of the original contract; the server maps it to
	// STATUS_INVALID_PARAMETER.
	ErrInvalidParameter = openstate.ErrInvalidParameter
	// ErrClosed means the Volume or Handle has been closed.
	ErrClosed = errors.New("csv: closed")
	// ErrFenced means the volume's Guard refused the operation: this node
	// can no longer prove it holds its cluster lease, so another node may
	// own its opens by now. The server must not answer the request as if
	// anything had happened (smbserver drops the connection).
	ErrFenced = errors.New("csv: node fenced")
)

// opError carries the operation, the share-relative path, the sentinel
// kind and the underlying cause, so that errors.Is finds both the kind and
// the errno.
type opError struct {
	op    string
	path  string
	kind  error
	cause error
}

func (e *opError) Error() string {
	if e.cause == nil {
		return fmt.Sprintf("csv: %s %q: %v", e.op, e.path, e.kind)
	}
	return fmt.Sprintf("csv: %s %q: %v: %v", e.op, e.path, e.kind, e.cause)
}

func (e *opError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// newErr wraps a sentinel kind with context.
func newErr(op, path string, kind error) error {
	return &opError{op: op, path: path, kind: kind}
}

// sysErr maps an errno from the backing file system to a sentinel kind and
// wraps both. Errnos with no sentinel are wrapped as they are.
func sysErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	var kind error
	switch {
	case errors.Is(err, unix.ENOENT):
		kind = ErrNotFound
	case errors.Is(err, unix.EEXIST):
		kind = ErrExists
	case errors.Is(err, unix.ENOTDIR):
		kind = ErrNotDirectory
	case errors.Is(err, unix.EISDIR):
		kind = ErrIsDirectory
	case errors.Is(err, unix.ENOTEMPTY):
		kind = ErrNotEmpty
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM),
		errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV), errors.Is(err, unix.ETXTBSY):
		// ELOOP and EXDEV are what RESOLVE_NO_SYMLINKS and RESOLVE_NO_XDEV
		// (and O_NOFOLLOW) report: a symbolic link or a mount point in the
		// path, which we refuse by policy.
		kind = ErrAccessDenied
	case errors.Is(err, unix.EROFS):
		kind = ErrReadOnly
	case errors.Is(err, unix.ENOSPC), errors.Is(err, unix.EDQUOT), errors.Is(err, unix.EFBIG):
		kind = ErrNoSpace
	case errors.Is(err, unix.ENAMETOOLONG):
		kind = ErrNameTooLong
	default:
		return fmt.Errorf("csv: %s %q: %w", op, path, err)
	}
	return &opError{op: op, path: path, kind: kind, cause: err}
}
