package openstate

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The stored form of a HandleRecord: JSON with a format version, so that a
// later layout can be read beside this one during a rolling upgrade, and
// so that an operator can read a record with etcdctl.

// handleRecordVersion is the format EncodeHandleRecord writes.
const handleRecordVersion = 1

// Limits on a decoded record. A record comes from etcd, which anything
// with cluster credentials can write, so its decoder trusts nothing.
const (
	// MaxHandleRecordSize bounds an encoded record: a path of
	// maxPathBytes plus maxRecordLocks locks fit with room to spare.
	MaxHandleRecordSize = 256 << 10
	// maxRecordLocks bounds the locks a record carries. Windows has no
	// per-open limit; 4096 ranges per handle is far more than the
	// databases and VM hosts that use persistent handles hold.
	maxRecordLocks = 4096
	// maxRecordTimeout is the longest handle timeout a record may keep
	// (DH2Q caps at 300 s, DHnQ handles keep 16 minutes; one hour leaves
	// room for a configured longer CA timeout).
	maxRecordTimeout = time.Hour
	// maxRecordString bounds the share, user and owner names.
	maxRecordString = 1024
	// maxRecordPath bounds Path: 32767 UTF-16 units of an NT path, at most
	// three UTF-8 bytes each.
	maxRecordPath = 3 * 32767
)

// ErrBadHandleRecord means a stored record is malformed: not JSON, of an
// unknown version, or with a field out of its range.
var ErrBadHandleRecord = errors.New("csv: malformed handle record")

type guidHex [16]byte

func (g guidHex) MarshalText() ([]byte, error) {
	return []byte(hex.EncodeToString(g[:])), nil
}

func (g *guidHex) UnmarshalText(b []byte) error {
	if len(b) != 32 {
		return fmt.Errorf("guid of %d hex digits, want 32", len(b))
	}
	_, err := hex.Decode(g[:], b)
	return err
}

type seqJSON struct {
	Index uint32 `json:"i"`
	Seq   uint8  `json:"s"`
}

type lockJSON struct {
	Offset    uint64 `json:"off"`
	Length    uint64 `json:"len"`
	Exclusive bool   `json:"x,omitempty"`
}

// handleRecordJSON is version 1 of the stored record.
type handleRecordJSON struct {
	Version      int        `json:"v"`
	Persistent   uint64     `json:"fid"`
	CreateGUID   guidHex    `json:"create_guid"`
	ClientGUID   guidHex    `json:"client_guid"`
	AppInstance  guidHex    `json:"app_instance"`
	Share        string     `json:"share"`
	Path         string     `json:"path"`
	User         string     `json:"user"`
	UserSID      string     `json:"user_sid,omitempty"`
	Access       uint32     `json:"access"`
	ShareAccess  uint32     `json:"share_access"`
	Options      uint32     `json:"options"`
	Oplock       uint8      `json:"oplock"`
	HasLease     bool       `json:"has_lease,omitempty"`
	LeaseKey     guidHex    `json:"lease_key"`
	LeaseState   uint32     `json:"lease_state,omitempty"`
	LeaseVersion int        `json:"lease_version,omitempty"`
	LeaseEpoch   uint16     `json:"lease_epoch,omitempty"`
	LeaseParent  *guidHex   `json:"lease_parent,omitempty"`
	TimeoutMS    int64      `json:"timeout_ms"`
	Owner        string     `json:"owner"`
	Disconnected *time.Time `json:"disconnected,omitempty"`
	V2           bool       `json:"v2,omitempty"`
	IsPersistent bool       `json:"persistent,omitempty"`
	Locks        []lockJSON `json:"locks,omitempty"`
	OpenID       uint64     `json:"open_id,omitempty"`
	LockOwner    uint64     `json:"lock_owner,omitempty"`
	Epoch        uint64     `json:"epoch,omitempty"`
	Position     int64      `json:"position,omitempty"`
	CreateAction uint32     `json:"create_action,omitempty"`
	LockSeqs     []seqJSON  `json:"lock_seq,omitempty"`
	ChannelSeq   uint16     `json:"channel_seq,omitempty"`
}

// EncodeHandleRecord returns r's stored form. It fails on a record that
// DecodeHandleRecord would refuse, so nothing unreadable is ever stored.
func EncodeHandleRecord(r HandleRecord) ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	j := handleRecordJSON{
		Version: handleRecordVersion, Persistent: r.Persistent,
		CreateGUID: r.CreateGUID, ClientGUID: r.ClientGUID, AppInstance: r.AppInstance,
		Share: r.Share, Path: r.Path, User: r.User, UserSID: r.UserSID,
		Access: r.Access, ShareAccess: r.ShareAccess, Options: r.Options, Oplock: r.Oplock,
		HasLease: r.HasLease, LeaseKey: r.LeaseKey, LeaseState: r.LeaseState,
		LeaseVersion: r.LeaseVersion, LeaseEpoch: r.LeaseEpoch,
		TimeoutMS: r.Timeout.Milliseconds(), Owner: r.Owner,
		V2: r.V2, IsPersistent: r.IsPersistent,
		OpenID: r.OpenID, LockOwner: r.LockOwner, Epoch: r.Epoch, Position: r.Position, CreateAction: r.CreateAction, ChannelSeq: r.ChannelSequence,
	}
	if r.HasLeaseParent {
		p := guidHex(r.LeaseParent)
		j.LeaseParent = &p
	}
	if !r.Disconnected.IsZero() {
		d := r.Disconnected.UTC()
		j.Disconnected = &d
	}
	for _, l := range r.Locks {
		j.Locks = append(j.Locks, lockJSON{Offset: l.Offset, Length: l.Length, Exclusive: l.Exclusive})
	}
	for _, q := range r.LockSeqs {
		j.LockSeqs = append(j.LockSeqs, seqJSON{Index: q.Index, Seq: q.Seq})
	}
	b, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("csv: encode handle record: %w", err)
	}
	if len(b) > MaxHandleRecordSize {
		return nil, fmt.Errorf("%w: %d bytes encoded", ErrBadHandleRecord, len(b))
	}
	return b, nil
}

// DecodeHandleRecord parses a stored record, refusing anything malformed
// with an error wrapping ErrBadHandleRecord.
func DecodeHandleRecord(b []byte) (HandleRecord, error) {
	if len(b) > MaxHandleRecordSize {
		return HandleRecord{}, fmt.Errorf("%w: %d bytes", ErrBadHandleRecord, len(b))
	}
	// Check the version before the rest, so that a newer format is
	// reported as such and not as whatever field it changed.
	var v struct {
		Version int `json:"v"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return HandleRecord{}, fmt.Errorf("%w: %v", ErrBadHandleRecord, err)
	}
	if v.Version != handleRecordVersion {
		return HandleRecord{}, fmt.Errorf("%w: version %d, want %d", ErrBadHandleRecord, v.Version, handleRecordVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var j handleRecordJSON
	if err := dec.Decode(&j); err != nil {
		return HandleRecord{}, fmt.Errorf("%w: %v", ErrBadHandleRecord, err)
	}
	if dec.More() {
		return HandleRecord{}, fmt.Errorf("%w: trailing data", ErrBadHandleRecord)
	}
	if len(j.Locks) > maxRecordLocks {
		return HandleRecord{}, fmt.Errorf("%w: %d locks", ErrBadHandleRecord, len(j.Locks))
	}
	if j.TimeoutMS < 0 || j.TimeoutMS > maxRecordTimeout.Milliseconds() {
		return HandleRecord{}, fmt.Errorf("%w: timeout %d ms", ErrBadHandleRecord, j.TimeoutMS)
	}
	r := HandleRecord{
		Persistent: j.Persistent, CreateGUID: j.CreateGUID, ClientGUID: j.ClientGUID, AppInstance: j.AppInstance,
		Share: j.Share, Path: j.Path, User: j.User, UserSID: j.UserSID,
		Access: j.Access, ShareAccess: j.ShareAccess, Options: j.Options, Oplock: j.Oplock,
		HasLease: j.HasLease, LeaseKey: j.LeaseKey, LeaseState: j.LeaseState,
		LeaseVersion: j.LeaseVersion, LeaseEpoch: j.LeaseEpoch,
		Timeout: time.Duration(j.TimeoutMS) * time.Millisecond, Owner: j.Owner,
		V2: j.V2, IsPersistent: j.IsPersistent,
		OpenID: j.OpenID, LockOwner: j.LockOwner, Epoch: j.Epoch, Position: j.Position, CreateAction: j.CreateAction, ChannelSequence: j.ChannelSeq,
	}
	if j.LeaseParent != nil {
		r.LeaseParent, r.HasLeaseParent = *j.LeaseParent, true
	}
	if j.Disconnected != nil {
		r.Disconnected = j.Disconnected.UTC()
	}
	if len(j.LockSeqs) > 64 {
		return HandleRecord{}, fmt.Errorf("%w: %d lock sequences", ErrBadHandleRecord, len(j.LockSeqs))
	}
	for _, q := range j.LockSeqs {
		r.LockSeqs = append(r.LockSeqs, LockSequence{Index: q.Index, Seq: q.Seq})
	}
	if len(j.Locks) > 0 {
		r.Locks = make([]LockRange, len(j.Locks))
		for i, l := range j.Locks {
			r.Locks[i] = LockRange{Offset: l.Offset, Length: l.Length, Exclusive: l.Exclusive}
		}
	}
	if err := r.validate(); err != nil {
		return HandleRecord{}, err
	}
	return r, nil
}

// validate checks the ranges both codec directions enforce.
func (r *HandleRecord) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadHandleRecord, fmt.Sprintf(format, args...))
	}
	switch {
	case r.Persistent == 0 || r.Persistent == ^uint64(0):
		// 0 and all ones are never FileIds of an open ([MS-SMB2] 2.2.14.1).
		return bad("file id %#x", r.Persistent)
	case r.Owner == "" || len(r.Owner) > maxRecordString || strings.ContainsAny(r.Owner, "/\x00"):
		// The owner is a key segment (HandleStore).
		return bad("owner %q", r.Owner)
	case r.Share == "" || len(r.Share) > maxRecordString:
		return bad("share %q", r.Share)
	case len(r.User) > maxRecordString:
		return bad("user of %d bytes", len(r.User))
	case r.UserSID != "" && !sidShaped(r.UserSID):
		return bad("user SID %q", r.UserSID)
	case len(r.Path) > maxRecordPath:
		return bad("path of %d bytes", len(r.Path))
	case r.Timeout < 0 || r.Timeout > maxRecordTimeout:
		return bad("timeout %v", r.Timeout)
	case r.Oplock != 0x00 && r.Oplock != 0x01 && r.Oplock != 0x08 && r.Oplock != 0x09:
		// A granted oplock level ([MS-SMB2] 2.2.14: none, II,
		// exclusive, batch); a lease is HasLease.
		return bad("oplock level %#x", r.Oplock)
	case !r.HasLease && (r.LeaseState != 0 || r.LeaseVersion != 0 || r.HasLeaseParent):
		return bad("lease fields without a lease")
	case r.HasLease && r.LeaseVersion != 1 && r.LeaseVersion != 2:
		return bad("lease version %d", r.LeaseVersion)
	case r.LeaseState&^(CacheRead|CacheHandle|CacheWrite) != 0:
		return bad("lease state %#x", r.LeaseState)
	case r.IsPersistent && !r.V2:
		// Only DH2Q asks for persistence ([MS-SMB2] 2.2.13.2.11).
		return bad("persistent without v2")
	case len(r.Locks) > maxRecordLocks:
		return bad("%d locks", len(r.Locks))
	case len(r.LockSeqs) > 64:
		return bad("%d lock sequences", len(r.LockSeqs))
	case r.CreateAction > 3:
		// FILE_SUPERSEDED .. FILE_OVERWRITTEN ([MS-SMB2] 2.2.14).
		return bad("create action %d", r.CreateAction)
	case r.Position < 0:
		return bad("position %d", r.Position)
	}
	for _, l := range r.Locks {
		if !l.Valid() {
			return bad("lock range %d+%d", l.Offset, l.Length)
		}
	}
	for _, q := range r.LockSeqs {
		if q.Index < 1 || q.Index > 64 {
			return bad("lock sequence index %d", q.Index)
		}
	}
	return nil
}

// maxSIDString bounds a SID's text: "S-1-" and an authority of up to 48
// bits, then at most 15 sub-authorities of up to 10 digits ([MS-DTYP]
// 2.4.2).
const maxSIDString = 4 + 15 + 15*11

// sidShaped reports whether s looks like a SID's text form: "S-1-", then
// groups of decimal digits separated by single dashes (the authority may
// be hexadecimal, "0x..."). The record's reader compares it, nothing
// more; its shape keeps junk out.
func sidShaped(s string) bool {
	rest, ok := strings.CutPrefix(s, "S-1-")
	if !ok || len(s) > maxSIDString || rest == "" {
		return false
	}
	for i, part := range strings.Split(rest, "-") {
		digits := "0123456789"
		if hex, ok := strings.CutPrefix(part, "0x"); ok && i == 0 {
			part, digits = hex, "0123456789abcdefABCDEF"
		}
		if part == "" || len(part) > 15 || strings.Trim(part, digits) != "" {
			return false
		}
	}
	return true
}
