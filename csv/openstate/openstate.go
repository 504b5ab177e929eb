package openstate

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// This file holds the cluster-wide open state of one object as a plain
// value (FileState) and the transitions that change it: share-mode checks,
// oplock and lease grants, breaks, acknowledgments and break timeouts
// ([MS-FSA] 2.1.5.1.2, 2.1.5.17, 2.1.4.12; [MS-SMB2] 3.3.5.9, 3.3.4.6,
// 3.3.4.7, 3.3.5.22). The transitions are pure functions of the state so
// that every ObjectTable applies them the same way: the in-memory table
// under a mutex, an etcd-backed one in a compare-and-swap transaction.

// Caching states: the lease state bits of [MS-SMB2] 2.2.13.2.8. Oplocks are
// the same states in another encoding (batch = RWH, exclusive = RW,
// level II = R), which lets one algorithm break both.
const (
	CacheNone   uint32 = 0x0
	CacheRead   uint32 = 0x1
	CacheHandle uint32 = 0x2
	CacheWrite  uint32 = 0x4
)

// Oplock levels ([MS-SMB2] 2.2.13 RequestedOplockLevel values).
const (
	OplockNone      uint8 = 0x00
	OplockLevelII   uint8 = 0x01
	OplockExclusive uint8 = 0x08
	OplockBatch     uint8 = 0x09
)

// Access and share bits the share-mode check looks at ([MS-DTYP] 2.4.3,
// [MS-SMB2] 2.2.13).
const (
	accReadData     uint32 = 0x00000001
	accWriteData    uint32 = 0x00000002
	accAppendData   uint32 = 0x00000004
	accExecute      uint32 = 0x00000020
	accReadAttrs    uint32 = 0x00000080
	accWriteAttrs   uint32 = 0x00000100
	AccessDelete    uint32 = 0x00010000
	accReadControl  uint32 = 0x00020000
	accSynchronize  uint32 = 0x00100000
	ShareRead       uint32 = 0x1
	ShareWrite      uint32 = 0x2
	ShareDelete     uint32 = 0x4
	conflictingMask        = accReadData | accWriteData | accAppendData | accExecute | AccessDelete
)

// Errors of the open-state transitions.
var (
	// ErrSharingViolation: the share modes of the open and of existing
	// opens conflict (STATUS_SHARING_VIOLATION).
	ErrSharingViolation = errors.New("sharing violation")
	// ErrBreakPending: the open must wait for oplock or lease breaks
	// (returned wrapped in a *BreakWait).
	ErrBreakPending = errors.New("oplock or lease break in progress")
	// ErrLeaseKeyInUse: the lease key already names a lease on another
	// object ([MS-SMB2] 3.3.5.9.8: STATUS_INVALID_PARAMETER).
	ErrLeaseKeyInUse = errors.New("lease key in use on another file")
	// ErrNotBreaking: an acknowledgment for an oplock or lease that is not
	// being broken.
	ErrNotBreaking = errors.New("no break in progress")
	// ErrBadAck: an acknowledgment asking for more than the break allows.
	ErrBadAck = errors.New("acknowledged state exceeds the break")
	// ErrNoLease: no lease with that key on the object.
	ErrNoLease = errors.New("no such lease")
)

// OplockCaching maps an oplock level to its caching state.
func OplockCaching(level uint8) uint32 {
	switch level {
	case OplockBatch:
		return CacheRead | CacheWrite | CacheHandle
	case OplockExclusive:
		return CacheRead | CacheWrite
	case OplockLevelII:
		return CacheRead
	}
	return CacheNone
}

// CachingOplock maps a caching state to the oplock level that expresses
// it (RH has no oplock of its own and becomes level II).
func CachingOplock(c uint32) uint8 {
	switch {
	case c&(CacheRead|CacheWrite|CacheHandle) == CacheRead|CacheWrite|CacheHandle:
		return OplockBatch
	case c&(CacheRead|CacheWrite) == CacheRead|CacheWrite:
		return OplockExclusive
	case c&CacheRead != 0:
		return OplockLevelII
	}
	return OplockNone
}

// LeaseKey identifies a lease: the client's GUID and its 16-byte key
// ([MS-SMB2] 3.3.1.4 LeaseTable per ClientGuid).
type LeaseKey struct {
	Client [16]byte
	Key    [16]byte
}

// LeaseRequest is the RqLs create context of an open.
type LeaseRequest struct {
	Key       LeaseKey
	State     uint32
	Version   int // 1 or 2
	ParentKey [16]byte
	HasParent bool
	Epoch     uint16
	// AllowDirectory: the lease may be granted on a directory (an SMB 3.x
	// connection that negotiated SMB2_GLOBAL_CAP_DIRECTORY_LEASING,
	// [MS-SMB2] 3.3.5.4, 3.3.5.9.11). Without it a directory open gets
	// no lease.
	AllowDirectory bool
}

// OpenEntry is what the object table needs to know about a new open.
type OpenEntry struct {
	// ID names the open cluster-wide; the server chooses it. 0 is invalid.
	ID uint64
	// Access is the granted access mask, ShareAccess the FILE_SHARE_* bits.
	Access      uint32
	ShareAccess uint32
	// Overwrite: the disposition truncates the file (supersede, overwrite,
	// overwrite-if); read caching of every other holder is broken.
	Overwrite bool
	// Oplock is the requested oplock level (OplockNone with a lease).
	Oplock uint8
	// Lease is the requested lease, nil for none.
	Lease *LeaseRequest
	// Retry marks a second or later attempt after waiting for breaks.
	Retry bool
	// Directory and Existed are filled by the volume.
	Directory bool
	Existed   bool
	// Persistent marks the open of a persistent handle: in a cluster its
	// entry outlives the loss of its node until a survivor adopts the
	// handle ([MS-SMB2] 3.3.5.9.10: a persistent open keeps its share
	// mode and caching while its client, or its server, is away).
	Persistent bool
	// Supersedes names an existing entry this open takes the place of,
	// atomically: the adoption of a persistent or durable handle whose
	// record the caller has claimed (its share mode, lease and locks
	// never lapse in between). An entry that is not there is no error:
	// the open is then an ordinary one.
	Supersedes uint64
}

// DirectoryRules applies what a directory open may be granted: never an
// oplock ([MS-FSA] 2.1.5.17), a lease only where the connection allows
// directory leases, and then read and handle caching only. Windows drops
// write caching from a directory lease request (RWH is granted RH, RW is
// granted R; Samba's smb2.dirlease.leases, written against Windows,
// checks it): no client may change a directory's entries without the
// server. Dropping W from the request itself, not only from the grant,
// keeps a later open of the same key able to upgrade the lease (the
// upgrade rule compares the grant with the request). It is idempotent.
func (e *OpenEntry) DirectoryRules() {
	if e == nil || !e.Directory {
		return
	}
	e.Oplock = OplockNone
	if e.Lease != nil {
		if !e.Lease.AllowDirectory {
			e.Lease = nil
		} else {
			e.Lease.State &^= CacheWrite
		}
	}
}

// Grant is the outcome of a successful open.
type Grant struct {
	// Oplock is the granted oplock level (without a lease).
	Oplock uint8
	// Lease is the lease state after the open, when one was requested.
	Lease *LeaseGrant
	// Breaks are notifications to deliver now (breaks that need no wait).
	Breaks []Break
}

// LeaseGrant is the lease part of a CREATE response.
type LeaseGrant struct {
	State     uint32
	Epoch     uint16
	Breaking  bool
	ParentKey [16]byte
	HasParent bool
	Version   int
}

// Break is one break notification to deliver to an oplock or lease holder.
type Break struct {
	// Lease breaks name the lease; oplock breaks the open.
	IsLease bool
	OpenID  uint64   // oplock holder
	Key     LeaseKey // lease
	// OpenIDs are the opens of the lease, any of which locates its client.
	OpenIDs     []uint64
	From, To    uint32 // caching states
	AckRequired bool
	Epoch       uint16 // new epoch of a v2 lease
	Version     int
}

// BreakWait is the error of an open that must wait: deliver Breaks, then
// wait for a change of the object (generation Gen) and try again.
type BreakWait struct {
	Object uint64
	Gen    uint64
	Breaks []Break
}

func (e *BreakWait) Error() string {
	return fmt.Sprintf("csv: object %#x: %v", e.Object, ErrBreakPending)
}

// Unwrap makes errors.Is(err, ErrBreakPending) hold.
func (e *BreakWait) Unwrap() error { return ErrBreakPending }

// OpenRecord is one open in a FileState.
type OpenRecord struct {
	ID          uint64
	Access      uint32
	ShareAccess uint32
	// Oplock is the open's oplock level (leases are in LeaseRecords).
	Oplock       uint8
	Breaking     bool
	BreakTo      uint8
	BreakStarted time.Time
	// HasLease and Lease name the open's lease.
	HasLease bool
	Lease    LeaseKey
	// Persistent: the entry of a persistent handle (OpenEntry.Persistent).
	Persistent bool
}

// LeaseRecord is one lease on a FileState ([MS-SMB2] 3.3.1.13).
type LeaseRecord struct {
	Key   LeaseKey
	State uint32
	// Breaking: a break was sent and waits for its acknowledgment;
	// BreakTo is the state it announced, Required the state the
	// acknowledgment must reach (lower when further breaks came while
	// breaking: the break-to-none cascade).
	Breaking     bool
	BreakTo      uint32
	Required     uint32
	BreakStarted time.Time
	Epoch        uint16
	Version      int
	ParentKey    [16]byte
	HasParent    bool
}

// FileState is the complete open state of one object: what an etcd-backed
// table stores under the object's key.
type FileState struct {
	// Opens counts every open, including those acquired without an entry.
	Opens         int
	DeletePending bool
	Entries       []OpenRecord
	Leases        []LeaseRecord
	// Gen changes with every transition; waiters compare it.
	Gen uint64
	// Directory: the object is a directory (set by its first open with
	// an entry). Its leases are broken by changes to its children
	// (BreakParent).
	Directory bool
	// DeleteParent is the ParentLeaseKey of the open that last set
	// delete pending: when the object goes, the directory lease it names
	// is spared the break if the last closer carries the same key
	// (dirlease.go).
	DeleteParent ParentKey
	// RemovalStarted is when the last open of the delete-pending object
	// was released: its removal is under way until Forget. Zero when
	// unknown (a table of an earlier version).
	RemovalStarted time.Time `json:",omitzero"`
}

// removalWait bounds how long opens wait for a removal under way (see
// Acquire): the removal is an unlink and one Forget, so an object still
// there after this is stuck (its remover failed to forget it), and opens
// are refused with delete pending again rather than wait for ever.
const removalWait = 10 * time.Second

func (s *FileState) clone() *FileState {
	c := *s
	c.Entries = slices.Clone(s.Entries)
	c.Leases = slices.Clone(s.Leases)
	return &c
}

func (s *FileState) lease(k LeaseKey) *LeaseRecord {
	for i := range s.Leases {
		if s.Leases[i].Key == k {
			return &s.Leases[i]
		}
	}
	return nil
}

func (s *FileState) entry(id uint64) *OpenRecord {
	for i := range s.Entries {
		if s.Entries[i].ID == id {
			return &s.Entries[i]
		}
	}
	return nil
}

func (s *FileState) leaseOpens(k LeaseKey) []uint64 {
	var ids []uint64
	for _, e := range s.Entries {
		if e.HasLease && e.Lease == k {
			ids = append(ids, e.ID)
		}
	}
	return ids
}

// isStatOpen: access that neither checks share modes nor breaks oplocks.
func isStatOpen(access uint32) bool {
	const bits = accSynchronize | accReadAttrs | accWriteAttrs
	return access&bits != 0 && access&^bits == 0
}

// isLeaseStatOpen: access that does not break leases.
func isLeaseStatOpen(access uint32) bool {
	const bits = accSynchronize | accReadAttrs | accWriteAttrs | accReadControl
	return access&bits != 0 && access&^bits == 0
}

// ShareConflict reports whether an open with access/share conflicts with an
// existing open ([MS-FSA] 2.1.5.1.2 share access check).
func ShareConflict(eAccess, eShare, access, share uint32) bool {
	if eAccess&conflictingMask == 0 || access&conflictingMask == 0 {
		return false
	}
	check := func(acc, accBits, sh, shBit uint32) bool { return acc&accBits != 0 && sh&shBit == 0 }
	return check(access, accWriteData|accAppendData, eShare, ShareWrite) ||
		check(eAccess, accWriteData|accAppendData, share, ShareWrite) ||
		check(access, accReadData|accExecute, eShare, ShareRead) ||
		check(eAccess, accReadData|accExecute, share, ShareRead) ||
		check(access, AccessDelete, eShare, ShareDelete) ||
		check(eAccess, AccessDelete, share, ShareDelete)
}

// Acquire applies a new open to s. On success the open is recorded and the
// grant returned. A *BreakWait error means breaks were started (s changed:
// store it) and the open must be retried once they resolve. Other errors
// leave s unchanged in meaning (nothing recorded).
func (s *FileState) Acquire(e *OpenEntry, now time.Time) (Grant, error) {
	if e != nil && e.Supersedes != 0 {
		if old, i, ok := s.supersede(e.Supersedes); ok {
			// The adopted handle was granted its open before any delete
			// became pending; its adoption is not a new open.
			g, err := s.acquire(e, now)
			if err != nil {
				// Refused or told to wait: the old entry stands until
				// the adoption succeeds.
				s.Entries = slices.Insert(s.Entries, i, old)
				s.Opens++
			}
			return g, err
		}
	}
	if s.DeletePending {
		removing := s.Opens == 0 && !s.RemovalStarted.IsZero() && now.Sub(s.RemovalStarted) < removalWait
		if e != nil && (removing || e.Retry && s.breaking()) {
			// A close is under way, and one server shows none of it:
			// there the last handle's cleanup removes a delete-pending
			// file at once, and an open waiting for a holder's break
			// meets the holder's close as a whole. Here the close is
			// three transitions (delete pending, release, forget after
			// the removal; csv.Handle.Close), made on the holder's node
			// while this open's node is woken by each. So an open waits
			// for the outcome instead of failing: for the removal when
			// the last open is gone (Opens == 0 only between Release and
			// Forget; bounded by removalWait), and, when it already
			// waited for a break, for that
			// break to end (an acknowledgment, the holder's release or
			// the break timeout) before delete pending refuses it.
			return Grant{}, &BreakWait{Gen: s.Gen}
		}
		return Grant{}, ErrDeletePending
	}
	return s.acquire(e, now)
}

// breaking reports whether a break of an oplock or lease of s waits for
// its acknowledgment.
func (s *FileState) breaking() bool {
	for i := range s.Entries {
		if !s.Entries[i].HasLease && s.Entries[i].Breaking {
			return true
		}
	}
	for i := range s.Leases {
		if s.Leases[i].Breaking {
			return true
		}
	}
	return false
}

// supersede removes entry id, keeping its lease record for the open that
// takes its place (which names the same key), and returns it with its
// index.
func (s *FileState) supersede(id uint64) (OpenRecord, int, bool) {
	for i := range s.Entries {
		if s.Entries[i].ID == id {
			old := s.Entries[i]
			s.Entries = slices.Delete(s.Entries, i, i+1)
			s.Opens--
			return old, i, true
		}
	}
	return OpenRecord{}, 0, false
}

func (s *FileState) acquire(e *OpenEntry, now time.Time) (Grant, error) {
	if e == nil {
		s.Opens++
		return Grant{}, nil
	}
	e.DirectoryRules()
	if e.Directory {
		s.Directory = true
	}
	stat := isStatOpen(e.Access)
	violation := false
	if !stat {
		for _, o := range s.Entries {
			if ShareConflict(o.Access, o.ShareAccess, e.Access, e.ShareAccess) {
				violation = true
				break
			}
		}
	}
	// Truncating adds FILE_WRITE_DATA to what the open does to the file:
	// an attribute-only overwrite still breaks and is granted like a
	// writer (Samba's open_access_mask).
	statBreak := stat && !e.Overwrite
	var breaks []Break
	delay := false
	if !statBreak {
		delayMask := CacheWrite
		if violation {
			delayMask = CacheHandle
		}
		leaseStat := isLeaseStatOpen(e.Access) && !e.Overwrite
		consider := func(cur uint32, breaking, isLease bool) (to uint32, brk bool) {
			to = cur &^ delayMask
			if e.Overwrite && delayMask&CacheHandle == 0 {
				to &^= CacheHandle | CacheRead
			}
			if cur&^to == 0 {
				if breaking {
					delay = true
				}
				return 0, false
			}
			if !isLease {
				to &^= CacheHandle | CacheWrite
			}
			if cur&delayMask != 0 {
				delay = true
			}
			if breaking && e.Retry {
				delay = true
			}
			return to, true
		}
		for i := range s.Entries {
			o := &s.Entries[i]
			if o.HasLease || (o.Oplock == OplockNone && !o.Breaking) {
				continue
			}
			if to, ok := consider(OplockCaching(o.Oplock), o.Breaking, false); ok {
				if b, ok := s.breakOplock(o, CachingOplock(to), now); ok {
					breaks = append(breaks, b)
				}
			}
		}
		if !leaseStat {
			for i := range s.Leases {
				l := &s.Leases[i]
				if e.Lease != nil && l.Key == e.Lease.Key {
					continue
				}
				if to, ok := consider(l.State, l.Breaking, true); ok {
					if b, ok := s.breakLease(l, to, now); ok {
						breaks = append(breaks, b)
					}
				}
			}
		}
	}
	if delay {
		// Only new breaks move the generation: a retry that merely
		// keeps waiting must not wake the other waiters (they would
		// wake each other in turn).
		if len(breaks) > 0 {
			s.Gen++
		}
		return Grant{}, &BreakWait{Gen: s.Gen, Breaks: breaks}
	}
	if violation {
		if len(breaks) > 0 {
			s.Gen++
			return Grant{Breaks: breaks}, ErrSharingViolation
		}
		return Grant{}, ErrSharingViolation
	}
	g := Grant{Breaks: breaks}
	rec := OpenRecord{ID: e.ID, Access: e.Access, ShareAccess: e.ShareAccess, Persistent: e.Persistent}
	if e.Lease != nil {
		g.Lease = s.grantLease(e, &rec)
	} else if !(statBreak && e.Existed) {
		rec.Oplock = CachingOplock(s.grantable(e, OplockCaching(e.Oplock), nil))
		g.Oplock = rec.Oplock
	}
	s.Entries = append(s.Entries, rec)
	s.Opens++
	s.Gen++
	return g, nil
}

// grantable applies the grant rules to a requested caching state
// ([MS-SMB2] 3.3.5.9, [MS-FSA] 2.1.5.17; Samba's delay_for_oplock).
func (s *FileState) grantable(e *OpenEntry, requested uint32, own *LeaseKey) uint32 {
	g := requested
	if e.Directory {
		if e.Lease == nil {
			return CacheNone // no oplocks on directories
		}
		g &^= CacheWrite
	}
	if e.Lease != nil {
		if g&(CacheRead|CacheWrite) == 0 || g&CacheRead == 0 {
			return CacheNone
		}
	}
	gotOplock, gotHandleLease, noWrite := false, false, false
	for _, o := range s.Entries {
		if own != nil && o.HasLease && o.Lease == *own {
			continue
		}
		if !o.HasLease && o.Oplock != OplockNone {
			gotOplock = true
		}
		if o.HasLease || o.Oplock != OplockNone || !isStatOpen(o.Access) {
			noWrite = true
		}
	}
	for _, l := range s.Leases {
		if own != nil && l.Key == *own {
			continue
		}
		if l.State&CacheHandle != 0 {
			gotHandleLease = true
		}
	}
	if noWrite {
		g &^= CacheWrite
	}
	if e.Lease != nil {
		if gotOplock {
			g &^= CacheHandle
		}
		return g
	}
	if gotHandleLease {
		return CacheNone
	}
	return OplockCaching(CachingOplock(g))
}

// grantLease grants or joins the open's lease.
func (s *FileState) grantLease(e *OpenEntry, rec *OpenRecord) *LeaseGrant {
	req := e.Lease
	rec.HasLease, rec.Lease = true, req.Key
	l := s.lease(req.Key)
	if l == nil {
		st := s.grantable(e, req.State, &req.Key)
		s.Leases = append(s.Leases, LeaseRecord{
			Key: req.Key, State: st, Epoch: req.Epoch, Version: req.Version,
			ParentKey: req.ParentKey, HasParent: req.HasParent,
		})
		l = &s.Leases[len(s.Leases)-1]
		if l.Version >= 2 {
			l.Epoch++
		}
	} else if !l.Breaking {
		st := s.grantable(e, req.State, &req.Key)
		if st == req.State && st&^l.State != 0 && st&l.State == l.State {
			l.State = st
			if l.Version >= 2 {
				l.Epoch++
			}
		}
	}
	return &LeaseGrant{State: l.State, Epoch: l.Epoch, Breaking: l.Breaking, ParentKey: l.ParentKey, HasParent: l.HasParent, Version: l.Version}
}

// breakOplock starts breaking an oplock to level to.
func (s *FileState) breakOplock(o *OpenRecord, to uint8, now time.Time) (Break, bool) {
	if o.Breaking {
		if OplockCaching(to)&^OplockCaching(o.BreakTo) == 0 {
			o.BreakTo = to
		}
		return Break{}, false
	}
	if o.Oplock == OplockLevelII {
		// Level II breaks to none without an acknowledgment.
		o.Oplock = OplockNone
		return Break{OpenID: o.ID, From: CacheRead, To: CacheNone}, true
	}
	o.Breaking, o.BreakTo, o.BreakStarted = true, to, now
	return Break{OpenID: o.ID, From: OplockCaching(o.Oplock), To: OplockCaching(to), AckRequired: true}, true
}

// breakLease starts breaking a lease to state to ([MS-SMB2] 3.3.4.7).
func (s *FileState) breakLease(l *LeaseRecord, to uint32, now time.Time) (Break, bool) {
	if l.Breaking {
		l.Required &= to
		return Break{}, false
	}
	if l.State&^to == 0 {
		return Break{}, false
	}
	b := Break{IsLease: true, Key: l.Key, OpenIDs: s.leaseOpens(l.Key), From: l.State, To: to, Version: l.Version}
	if l.Version >= 2 {
		l.Epoch++
	}
	b.Epoch = l.Epoch
	if l.State&(CacheWrite|CacheHandle) == 0 {
		// A pure read lease breaks without an acknowledgment.
		l.State = to
		return b, true
	}
	b.AckRequired = true
	l.Breaking, l.BreakTo, l.Required, l.BreakStarted = true, to, to, now
	return b, true
}

// Release removes open id (0: an open acquired without an entry).
func (s *FileState) Release(id uint64) error {
	if s.Opens <= 0 {
		return errors.New("not open")
	}
	if id != 0 {
		i := slices.IndexFunc(s.Entries, func(o OpenRecord) bool { return o.ID == id })
		if i < 0 {
			return fmt.Errorf("open %#x not recorded", id)
		}
		o := s.Entries[i]
		s.Entries = slices.Delete(s.Entries, i, i+1)
		if o.HasLease && len(s.leaseOpens(o.Lease)) == 0 {
			s.Leases = slices.DeleteFunc(s.Leases, func(l LeaseRecord) bool { return l.Key == o.Lease })
		}
	}
	s.Opens--
	s.Gen++
	return nil
}

// AckOplock applies an oplock break acknowledgment ([MS-SMB2] 3.3.5.22.1)
// and returns the open's new level.
func (s *FileState) AckOplock(id uint64, level uint8) (uint8, error) {
	o := s.entry(id)
	if o == nil || o.HasLease {
		return 0, ErrNotBreaking
	}
	if !o.Breaking {
		return o.Oplock, ErrNotBreaking
	}
	if level != OplockNone && level != OplockLevelII {
		return o.Oplock, ErrInvalidParameter
	}
	if OplockCaching(level)&^OplockCaching(o.BreakTo) != 0 {
		// Acknowledging level II for a break to none: the break stands.
		level = OplockNone
	}
	o.Breaking, o.Oplock = false, level
	s.Gen++
	return level, nil
}

// AckLease applies a lease break acknowledgment ([MS-SMB2] 3.3.5.22.2).
// When further breaks arrived meanwhile, the returned Break continues the
// cascade.
func (s *FileState) AckLease(k LeaseKey, state uint32, now time.Time) ([]Break, error) {
	l := s.lease(k)
	if l == nil {
		return nil, ErrNoLease
	}
	if !l.Breaking {
		return nil, ErrNotBreaking
	}
	if state&^l.BreakTo != 0 {
		return nil, ErrBadAck
	}
	l.State = state
	l.Breaking = false
	s.Gen++
	if l.State&^l.Required == 0 {
		return nil, nil
	}
	// Further breaks arrived while this one was out: continue in steps,
	// as Windows does (first to R, then R to none without an
	// acknowledgment), under the same epoch.
	to := l.Required & l.State
	b := Break{IsLease: true, Key: l.Key, OpenIDs: s.leaseOpens(l.Key), From: l.State, Version: l.Version, Epoch: l.Epoch}
	if l.State&(CacheWrite|CacheHandle) != 0 {
		to |= l.State & CacheRead
		b.To, b.AckRequired = to, true
		l.Breaking, l.BreakTo, l.BreakStarted = true, to, now
	} else {
		b.To = CacheNone
		l.State, l.Required = CacheNone, CacheNone
	}
	return []Break{b}, nil
}

// BreakRead breaks the read caching of every level II oplock (the writer's
// own included, as Windows does) and of every read lease but the writer's,
// as a WRITE or an end-of-file change does ([MS-FSA] 2.1.4.12: they break
// to none without an acknowledgment).
func (s *FileState) BreakRead(id uint64, now time.Time) []Break {
	var own *LeaseKey
	if o := s.entry(id); o != nil && o.HasLease {
		own = &o.Lease
	}
	var out []Break
	for i := range s.Entries {
		o := &s.Entries[i]
		if o.HasLease || o.Oplock != OplockLevelII || o.Breaking {
			continue
		}
		if b, ok := s.breakOplock(o, OplockNone, now); ok {
			out = append(out, b)
		}
	}
	for i := range s.Leases {
		l := &s.Leases[i]
		if own != nil && l.Key == *own || l.State&CacheRead == 0 {
			continue
		}
		if b, ok := s.breakLease(l, CacheNone, now); ok {
			out = append(out, b)
		}
	}
	if len(out) > 0 {
		s.Gen++
	}
	return out
}

// readBreakNeeded reports whether BreakRead(id, ...) would change s: some
// level II oplock not already breaking, or some read lease other than the
// writer's own. It mirrors BreakRead's skip conditions and allocates
// nothing.
func (s *FileState) readBreakNeeded(id uint64) bool {
	var own *LeaseKey
	if o := s.entry(id); o != nil && o.HasLease {
		own = &o.Lease
	}
	for i := range s.Entries {
		o := &s.Entries[i]
		if !o.HasLease && o.Oplock == OplockLevelII && !o.Breaking {
			return true
		}
	}
	for i := range s.Leases {
		l := &s.Leases[i]
		if (own == nil || l.Key != *own) && l.State&CacheRead != 0 {
			return true
		}
	}
	return false
}

// ExpireBreaks ends every break started at or before cutoff whose holder
// never acknowledged it ([MS-SMB2] 3.3.2.1 oplock break acknowledgment
// timer): the oplock or lease is revoked (none).
func (s *FileState) ExpireBreaks(cutoff time.Time) bool {
	changed := false
	for i := range s.Entries {
		o := &s.Entries[i]
		if o.Breaking && !o.BreakStarted.After(cutoff) {
			// An unacknowledged break revokes the oplock entirely, as
			// Windows and Samba do.
			o.Breaking, o.Oplock = false, OplockNone
			changed = true
		}
	}
	for i := range s.Leases {
		l := &s.Leases[i]
		if l.Breaking && !l.BreakStarted.After(cutoff) {
			l.Breaking, l.State, l.Required = false, CacheNone, CacheNone
			changed = true
		}
	}
	if changed {
		s.Gen++
	}
	return changed
}

// BreakPending reports whether open id's oplock, or the lease it belongs
// to, is being broken and the break waits for an acknowledgment.
func (s *FileState) BreakPending(id uint64) bool {
	o := s.entry(id)
	switch {
	case o == nil:
		return false
	case o.HasLease:
		l := s.lease(o.Lease)
		return l != nil && l.Breaking
	}
	return o.Breaking
}

// BreakHandle breaks the handle caching of every lease on the object but
// the one of open id, as a rename through id does when id holds a lease
// (other clients must close their cached handles first; Samba's
// delay_rename_for_lease_break). wait reports whether some lease still
// holds H (its break is out), so the rename must wait.
func (s *FileState) BreakHandle(id uint64, now time.Time) (out []Break, wait bool) {
	o := s.entry(id)
	if o == nil || !o.HasLease {
		return nil, false
	}
	return s.breakHandles(&o.Lease, now)
}

// BreakHandleAll breaks the handle caching of every lease on the object
// but the one of open id (if it has one), as setting delete pending
// through id does, whether or not id holds a lease ([MS-FSA] 2.1.5.14.3,
// 2.1.4.12: FileDispositionInformation breaks H; Windows does the same
// for an open with FILE_DELETE_ON_CLOSE; smbtorture smb2.lease.unlink).
// A client that caches a closed handle must close it, or the file stays.
// wait reports whether some lease still holds H (its break is out).
func (s *FileState) BreakHandleAll(id uint64, now time.Time) (out []Break, wait bool) {
	var own *LeaseKey
	if o := s.entry(id); o != nil && o.HasLease {
		own = &o.Lease
	}
	return s.breakHandles(own, now)
}

// breakHandles breaks H on every lease but own (nil: none).
func (s *FileState) breakHandles(own *LeaseKey, now time.Time) (out []Break, wait bool) {
	for i := range s.Leases {
		l := &s.Leases[i]
		if own != nil && l.Key == *own || l.State&CacheHandle == 0 {
			continue
		}
		wait = true
		if b, ok := s.breakLease(l, l.State&^CacheHandle, now); ok {
			out = append(out, b)
		}
	}
	if len(out) > 0 {
		s.Gen++
	}
	return out, wait
}
