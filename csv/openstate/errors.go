package openstate

import "errors"

// The errors of the open-state transitions that the volume returns too
// (csv aliases them, so errors.Is holds across both packages).
var (
	// ErrDeletePending means the object (or the directory it would be
	// created in) has delete pending.
	ErrDeletePending = errors.New("csv: delete pending")
	// ErrInvalidParameter means the request combines options that cannot
	// go together (for example Directory and NonDirectory); the server
	// maps it to STATUS_INVALID_PARAMETER.
	ErrInvalidParameter = errors.New("csv: invalid parameter")
)
