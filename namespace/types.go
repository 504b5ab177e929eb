package namespace

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Share is a disk share as stored in the namespace.
type Share struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	Comment string `json:"comment,omitempty"`
	// ContinuouslyAvailable grants persistent handles and write-through.
	ContinuouslyAvailable bool `json:"continuouslyAvailable"`
	// EncryptData requires SMB3 encryption on the share.
	EncryptData bool `json:"encryptData"`
	ReadOnly    bool `json:"readOnly"`
	// Guest admits anonymous and guest sessions.
	Guest bool `json:"guest"`
	// Permissions is the share-level access list; empty grants Everyone
	// full control (the files' own permissions still apply).
	Permissions []SharePermission `json:"permissions,omitempty"`
	// AccessBasedEnumeration hides from directory listings what the user
	// may not read.
	AccessBasedEnumeration bool `json:"accessBasedEnumeration,omitempty"`
}

// SharePermission is one entry of a share's access list, as Windows'
// Grant-SmbShareAccess and Block-SmbShareAccess set them.
type SharePermission struct {
	// Account is "Everyone", "Authenticated Users", "Users", "Guests",
	// "Administrators", a SID (S-1-...), a sofs user name, or a domain
	// account (DOMAIN\name or name@domain).
	Account string `json:"account"`
	// SID is the SID a domain Account resolved to when the permission
	// was saved (or that the operator gave). Stored so that checking
	// access never waits on a domain controller; required for a domain
	// account, empty otherwise.
	SID string `json:"sid,omitempty"`
	// Access is "read", "change" or "full".
	Access string `json:"access"`
	// Deny refuses the rights instead of granting them.
	Deny bool `json:"deny,omitempty"`
}

// MaxSharePermissions bounds a share's access list; Windows shares rarely
// carry more than a handful of entries, and the list is evaluated on
// every TREE_CONNECT.
const MaxSharePermissions = 64

// Validate reports why p cannot be stored, or nil.
func (p SharePermission) Validate() error {
	if err := p.ValidateForm(); err != nil {
		return err
	}
	if p.SID == "" && IsDomainAccount(p.Account) {
		// Without its SID a domain name would grant or deny nobody;
		// resolving it at every tree connect would make logons wait on
		// the DC.
		return fmt.Errorf("share permission for %q: a domain account needs its SID (resolved through the directory, ldap-url, or given as sid)", p.Account)
	}
	return nil
}

// ValidateForm is Validate without the check that a domain account has
// its SID: for a permission about to be resolved.
func (p SharePermission) ValidateForm() error {
	if p.Account == "" || len(p.Account) > 256 {
		return fmt.Errorf("share permission: account %q must be 1 to 256 bytes", p.Account)
	}
	switch strings.ToLower(p.Access) {
	case "read", "change", "full":
	default:
		return fmt.Errorf("share permission for %q: access %q, want read, change or full", p.Account, p.Access)
	}
	if p.SID != "" && !validSID(p.SID) {
		return fmt.Errorf("share permission for %q: sid %q is not a SID (S-1-...)", p.Account, p.SID)
	}
	return nil
}

// IsDomainAccount reports whether account is written as a domain account
// name, DOMAIN\name or name@domain, rather than a SID, a well-known name
// or a sofs user.
func IsDomainAccount(account string) bool {
	return strings.ContainsAny(account, `\@`)
}

// validSID checks the S-1-<authority>-<sub>... form (at most 15
// subauthorities, [MS-DTYP] 2.4.2); the SID codec in smbserver/secdesc
// parses it fully when the permission is used.
func validSID(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) < 3 || len(parts) > 3+15 || !strings.EqualFold(parts[0], "S") || parts[1] != "1" {
		return false
	}
	for _, p := range parts[2:] {
		if p == "" || len(p) > 20 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// MaxCommentLen bounds a share comment; srvsvc carries it as a counted
// UTF-16 string and Windows limits it to MAXCOMMENTSZ (256).
const MaxCommentLen = 256

// Validate reports why s cannot be stored, or nil.
func (s Share) Validate() error {
	if err := s.ValidateForm(); err != nil {
		return err
	}
	for _, p := range s.Permissions {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("share %q: %w", s.Name, err)
		}
	}
	return nil
}

// ValidateForm is Validate without the check that domain accounts in
// the permissions have their SIDs.
func (s Share) ValidateForm() error {
	if err := ValidateShareName(s.Name); err != nil {
		return err
	}
	if err := CheckSharePath(s.Path); err != nil {
		return fmt.Errorf("share %q: %w", s.Name, err)
	}
	if len([]rune(s.Comment)) > MaxCommentLen {
		return fmt.Errorf("share %q: comment longer than %d characters", s.Name, MaxCommentLen)
	}
	if len(s.Permissions) > MaxSharePermissions {
		return fmt.Errorf("share %q: %d permissions, at most %d", s.Name, len(s.Permissions), MaxSharePermissions)
	}
	for _, p := range s.Permissions {
		if err := p.ValidateForm(); err != nil {
			return fmt.Errorf("share %q: %w", s.Name, err)
		}
	}
	return nil
}

// User is a user as listed to operators. It deliberately has no hash field,
// so an API that returns Users cannot leak credentials.
type User struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// userRecord is the stored form of a user; it never leaves the package.
type userRecord struct {
	Name    string    `json:"name"`
	NTHash  string    `json:"ntHash"` // hex of MD4(UTF-16LE(password))
	Created time.Time `json:"created"`
}

func (r userRecord) hash() ([16]byte, error) {
	var h [16]byte
	b, err := hex.DecodeString(r.NTHash)
	if err != nil {
		return h, fmt.Errorf("user %q: bad ntHash: %w", r.Name, err)
	}
	if len(b) != len(h) {
		return h, fmt.Errorf("user %q: ntHash has %d bytes, want 16", r.Name, len(b))
	}
	copy(h[:], b)
	return h, nil
}

// Cluster is the cluster-wide record, created once.
type Cluster struct {
	Name string `json:"name"`
	// ServerGUID is the ServerGuid every node reports in NEGOTIATE
	// ([MS-SMB2] 2.2.4); one value for the cluster so that a client moving
	// between nodes sees the same server.
	ServerGUID GUID `json:"serverGuid"`
}

// GUID is a GUID in its wire (packet) byte order ([MS-DTYP] 2.3.4.2).
type GUID [16]byte

// String formats g as the registry form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx
// ([MS-DTYP] 2.3.4.3): the first three fields are little-endian on the wire.
func (g GUID) String() string {
	b := [16]byte{g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6]}
	copy(b[8:], g[8:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// MarshalText implements encoding.TextMarshaler.
func (g GUID) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts the form
// String produces.
func (g *GUID) UnmarshalText(text []byte) error {
	s := string(text)
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return fmt.Errorf("guid %q: want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", s)
	}
	b, err := hex.DecodeString(s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36])
	if err != nil {
		return fmt.Errorf("guid %q: %w", s, err)
	}
	*g = GUID{b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]}
	copy(g[8:], b[8:])
	return nil
}

// Errors returned by Store.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

// decodeShare parses a stored share record and checks it, so a corrupt or
// hand-edited key cannot put an invalid share in front of clients.
func decodeShare(b []byte) (Share, error) {
	var s Share
	if err := json.Unmarshal(b, &s); err != nil {
		return Share{}, fmt.Errorf("decode share: %w", err)
	}
	if err := s.Validate(); err != nil {
		return Share{}, fmt.Errorf("decode share: %w", err)
	}
	return s, nil
}

// RefusedShare is a stored share record that is not served: it does not
// decode, or breaks a rule (its path above all). Name and Path are what
// the record says, as far as it could be read; Reason says what is wrong.
type RefusedShare struct {
	Key    string `json:"key"`
	Name   string `json:"name"`
	Path   string `json:"path,omitempty"`
	Reason string `json:"reason"`
}

// ErrShareRefused is wrapped by RefusedShareError.
var ErrShareRefused = errors.New("share record refused")

// RefusedShareError is GetShare's error for a refused record.
type RefusedShareError struct{ Share RefusedShare }

func (e *RefusedShareError) Error() string {
	return fmt.Sprintf("share %q is refused: %s", e.Share.Name, e.Share.Reason)
}

func (e *RefusedShareError) Unwrap() error { return ErrShareRefused }

// refusedShare describes the record under key (in dir) that decodeShare
// refused with err. The name comes from the record if it has a usable
// one, else from the key.
func refusedShare(key, dir string, value []byte, err error) RefusedShare {
	r := RefusedShare{Key: key, Name: strings.TrimPrefix(key, dir), Reason: err.Error()}
	var raw struct {
		Name string `json:"name"`
		Path string `json:"path"`
	}
	if json.Unmarshal(value, &raw) == nil {
		if raw.Name != "" && ValidateShareName(raw.Name) == nil {
			r.Name = raw.Name
		}
		// Bounded: the path is shown to operators, not used.
		if len(raw.Path) <= 4096 {
			r.Path = raw.Path
		}
	}
	r.Reason = strings.TrimPrefix(r.Reason, "decode share: ")
	return r
}

// decodeUser parses a stored user record and checks its name and hash.
func decodeUser(b []byte) (userRecord, [16]byte, error) {
	var r userRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return userRecord{}, [16]byte{}, fmt.Errorf("decode user: %w", err)
	}
	if err := ValidateUserName(r.Name); err != nil {
		return userRecord{}, [16]byte{}, fmt.Errorf("decode user: %w", err)
	}
	h, err := r.hash()
	if err != nil {
		return userRecord{}, [16]byte{}, fmt.Errorf("decode user: %w", err)
	}
	return r, h, nil
}

// decodeCluster parses the stored cluster record.
func decodeCluster(b []byte) (Cluster, error) {
	var c Cluster
	if err := json.Unmarshal(b, &c); err != nil {
		return Cluster{}, fmt.Errorf("decode cluster: %w", err)
	}
	return c, nil
}
