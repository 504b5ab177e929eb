// Package fscc encodes and decodes the file-system information structures
// of [MS-FSCC] that SMB2 QUERY_INFO, SET_INFO and QUERY_DIRECTORY carry,
// and implements the DOS wildcard matching of [MS-FSA] 2.1.4.4.
//
// The package is pure: it does no I/O, keeps no global mutable state and
// imports nothing else from sofs. Every decoder treats its input as
// untrusted: lengths are checked against the bytes that remain before
// anything is read or allocated, and malformed input yields an error
// wrapping ErrMalformed rather than a panic.
package fscc

import "errors"

var (
	// ErrInvalidClass reports an information class that [MS-FSCC] does
	// not define (the server answers STATUS_INVALID_INFO_CLASS).
	ErrInvalidClass = errors.New("fscc: invalid information class")
	// ErrNotSupported reports a class that [MS-FSCC] defines but this
	// package cannot produce for the requested operation (the server
	// answers STATUS_NOT_SUPPORTED, [MS-SMB2] 3.3.5.20.1).
	ErrNotSupported = errors.New("fscc: information class not supported")
	// ErrMalformed reports input bytes that do not form a valid
	// structure (too short, lengths beyond the buffer, bad UTF-16).
	ErrMalformed = errors.New("fscc: malformed structure")
	// ErrNoShortName reports a FileAlternateNameInformation query for a
	// file without an 8.3 name; Windows answers
	// STATUS_OBJECT_NAME_NOT_FOUND ([MS-FSA] 2.1.5.12.5).
	ErrNoShortName = errors.New("fscc: file has no short name")
)
