package namespace

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Name limits, taken from Windows' lmcons.h so that any name sofs accepts
// also works with Windows tools: NNLEN (80) for share names, UNLEN (256)
// for user names and PWLEN (256) for passwords.
const (
	MaxShareNameLen = 80
	MaxUserNameLen  = 256
	MaxPasswordLen  = 256
)

// ErrInvalidName is wrapped by every name validation failure.
var ErrInvalidName = errors.New("invalid name")

// shareForbidden are the characters Windows rejects in share names.
const shareForbidden = `\/:*?"<>|`

// userForbidden are the characters Windows rejects in account names.
const userForbidden = `"/\[]:;|=,+*?<>@`

// ValidateShareName reports why name cannot name a disk share, or nil.
func ValidateShareName(name string) error {
	if err := checkName("share", name, MaxShareNameLen, shareForbidden); err != nil {
		return err
	}
	// IPC$ is the inter-process share the server itself provides for named
	// pipes ([MS-SMB2] 3.3.5.7); a disk share may not shadow it.
	if strings.EqualFold(name, "IPC$") {
		return fmt.Errorf("%w: share name %q is reserved for the server's named pipes", ErrInvalidName, name)
	}
	return nil
}

// ValidateUserName reports why name cannot name a user, or nil.
func ValidateUserName(name string) error {
	if err := checkName("user", name, MaxUserNameLen, userForbidden); err != nil {
		return err
	}
	if strings.Trim(name, ". ") == "" {
		return fmt.Errorf("%w: user name %q consists only of dots and spaces", ErrInvalidName, name)
	}
	return nil
}

// ValidatePassword reports why pw cannot be a password, or nil. The
// password itself never appears in the error.
func ValidatePassword(pw string) error {
	if pw == "" {
		return errors.New("password is empty")
	}
	if !utf8.ValidString(pw) {
		return errors.New("password is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(pw); n > MaxPasswordLen {
		return fmt.Errorf("password has %d characters, more than %d", n, MaxPasswordLen)
	}
	return nil
}

func checkName(kind, name string, maxLen int, forbidden string) error {
	if name == "" {
		return fmt.Errorf("%w: %s name is empty", ErrInvalidName, kind)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: %s name %q is not valid UTF-8", ErrInvalidName, kind, name)
	}
	if n := utf8.RuneCountInString(name); n > maxLen {
		return fmt.Errorf("%w: %s name %q has %d characters, more than %d", ErrInvalidName, kind, name, n, maxLen)
	}
	if i := strings.IndexAny(name, forbidden); i >= 0 {
		return fmt.Errorf("%w: %s name %q contains %q; none of %s are allowed", ErrInvalidName, kind, name, name[i], forbidden)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: %s name %q contains a control character", ErrInvalidName, kind, name)
		}
	}
	if strings.TrimSpace(name) != name {
		return fmt.Errorf("%w: %s name %q starts or ends with white space", ErrInvalidName, kind, name)
	}
	return nil
}

// keyName is the key component for a case-insensitive name.
func keyName(name string) string { return strings.ToLower(name) }
