package openstate

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// HandleRecord is the durable state of one durable or persistent handle
// ([MS-SMB2] 3.3.1.10 Open with IsDurable or IsPersistent): what a server
// process needs to give the handle back to its client after the process
// (or the node) died. A persistent handle's record is committed before
// the CREATE that made the handle is answered; a durable (non-persistent)
// handle's only while its client is disconnected. It is removed when the
// handle is closed or scavenged.
type HandleRecord struct {
	Persistent  uint64   // FileId.Persistent
	CreateGUID  [16]byte // DH2Q CreateGuid
	ClientGUID  [16]byte
	AppInstance [16]byte // zero when none
	Share       string
	Path        string // relative to the share root, as opened
	User        string
	// UserSID is the SID of User's logon ("S-1-5-21-..."): a reconnect
	// is the owner's only if its session has this SID. Empty in a record
	// written before SIDs were kept, where the name decides.
	UserSID     string
	Access      uint32
	ShareAccess uint32
	Options     uint32 // CreateOptions
	Oplock      uint8
	HasLease    bool
	LeaseKey    [16]byte
	LeaseState  uint32
	Timeout     time.Duration
	Owner       string // node that serves the handle
	// Disconnected is when the client was lost, zero while connected; a
	// record whose Disconnected+Timeout has passed is scavenged.
	Disconnected time.Time

	// What a restore needs beyond the open itself:

	// V2 tells a DH2Q handle (reclaimed by DH2C with CreateGuid) from a
	// DHnQ one; IsPersistent a persistent one (SMB2_DHANDLE_FLAG_PERSISTENT),
	// which keeps its caching while disconnected ([MS-SMB2] 3.3.5.9.10).
	V2           bool
	IsPersistent bool
	// LeaseVersion (1 or 2), LeaseEpoch, LeaseParent and HasLeaseParent
	// rebuild a lease as granted ([MS-SMB2] 2.2.13.2.10); a v2 lease
	// reports its epoch and parent on reconnect.
	LeaseVersion   int
	LeaseEpoch     uint16
	LeaseParent    [16]byte
	HasLeaseParent bool
	// Locks are the byte-range locks held through the open; they outlive
	// the process with a persistent handle ([MS-SMB2] 3.3.5.14: locks
	// belong to the open, and a persistent open is resumed with them).
	Locks []LockRange
	// OpenID and LockOwner name the open's entry in the object table and
	// its locks' owner, as the cluster knows them (csv.Handle.GlobalOpenID,
	// LockOwner): the node that adopts the handle supersedes that entry
	// and takes over those locks in one step each, so the handle's share
	// mode, lease and ranges never lapse. Zero when unknown (a record
	// written before they existed).
	OpenID    uint64
	LockOwner uint64
	// LockSeqs are the open's valid LockSequence buckets, so a LOCK
	// replayed after the handle moved is not applied twice.
	LockSeqs []LockSequence
	// ChannelSequence is the open's Open.ChannelSequence ([MS-SMB2]
	// 3.3.1.10) when the record was written: a resumed handle goes on
	// from it, so a request from before the move with an older sequence
	// is still told apart.
	ChannelSequence uint16
	// CreateAction is what the CREATE that made the handle answered
	// (opened, created, overwritten): a replay of that CREATE on another
	// node must answer the same ([MS-SMB2] 3.3.5.9.10).
	CreateAction uint32
	// Position is the open's FilePositionInformation ([MS-FSCC]
	// 2.4.35), which a client reads back after a reconnect.
	Position int64
	// Epoch counts the handle's owners: every adoption (HandleStore.Claim)
	// adds one, so two nodes that each believe they serve the handle can
	// be told apart, the later one holding the higher epoch.
	Epoch uint64
}

// Key is the record's key under a store prefix (see HandleStore).
func (r *HandleRecord) Key() string {
	return fmt.Sprintf("%016x/%s", r.Persistent, hex.EncodeToString(r.CreateGUID[:]))
}

// HandleStore keeps durable and persistent handle records.
//
// Key layout (the etcd implementation uses it under the cluster prefix):
//
//	<prefix>/handles/<owner node>/<persistent id, 16 hex digits>/<CreateGuid, 32 hex digits>
//
// so that a restarting node lists its own records with one range read
// and a surviving node can take over a failed node's records by owner.
// etcdhandles also keeps two index entries per record, written and
// deleted with it, <prefix>/handle-ids/<id> and
// <prefix>/handle-guids/<CreateGuid>, each naming the record's key, so
// that finding a record by id or CreateGuid reads one key.
type HandleStore interface {
	// Put commits a record (create or replace). It returns only once the
	// record is durable.
	Put(ctx context.Context, r HandleRecord) error
	// Delete removes the record of a persistent id (whatever its
	// CreateGuid); absent is no error.
	Delete(ctx context.Context, owner string, persistent uint64) error
	// List returns the records of an owner, by persistent id.
	List(ctx context.Context, owner string) ([]HandleRecord, error)
	// Claim makes to the owner of the record of persistent id that from
	// owns, adding one to its Epoch, in one atomic step: of nodes that
	// claim the same record at once exactly one gets it (ok); the others,
	// and a claim of a record that is not there, get ok false. A claim
	// from another owner is refused while that owner is alive, where the
	// store can tell (etcdhandles: the owner's membership key).
	Claim(ctx context.Context, from string, persistent uint64, to string) (rec HandleRecord, ok bool, err error)
}

// MemoryHandleStore is a HandleStore in memory: it survives connection
// loss but not the process (tests, single-node setups without etcd).
type MemoryHandleStore struct {
	mu sync.Mutex
	m  map[string]map[uint64]HandleRecord
}

// NewMemoryHandleStore returns an empty store.
func NewMemoryHandleStore() *MemoryHandleStore {
	return &MemoryHandleStore{m: make(map[string]map[uint64]HandleRecord)}
}

// Put implements HandleStore. It refuses what EncodeHandleRecord would,
// so tests on memory catch records etcd would not take.
func (s *MemoryHandleStore) Put(_ context.Context, r HandleRecord) error {
	if err := r.validate(); err != nil {
		return err
	}
	r.Locks = slices.Clone(r.Locks)
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.m[r.Owner]
	if m == nil {
		m = make(map[uint64]HandleRecord)
		s.m[r.Owner] = m
	}
	m[r.Persistent] = r
	return nil
}

// Delete implements HandleStore.
func (s *MemoryHandleStore) Delete(_ context.Context, owner string, persistent uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.m[owner]; m != nil {
		delete(m, persistent)
		if len(m) == 0 {
			delete(s.m, owner)
		}
	}
	return nil
}

// Claim implements HandleStore.
func (s *MemoryHandleStore) Claim(_ context.Context, from string, persistent uint64, to string) (HandleRecord, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[from][persistent]
	if !ok {
		return HandleRecord{}, false, nil
	}
	delete(s.m[from], persistent)
	if len(s.m[from]) == 0 {
		delete(s.m, from)
	}
	r.Owner = to
	r.Epoch++
	m := s.m[to]
	if m == nil {
		m = make(map[uint64]HandleRecord)
		s.m[to] = m
	}
	m[persistent] = r
	r.Locks = slices.Clone(r.Locks)
	return r, true, nil
}

// List implements HandleStore.
func (s *MemoryHandleStore) List(_ context.Context, owner string) ([]HandleRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]HandleRecord, 0, len(s.m[owner]))
	for _, r := range s.m[owner] {
		r.Locks = slices.Clone(r.Locks)
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Persistent < out[j].Persistent })
	return out, nil
}

// Len is the number of records of every owner (tests: nothing left
// behind).
func (s *MemoryHandleStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.m {
		n += len(m)
	}
	return n
}
