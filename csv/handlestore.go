package csv

import (
	"context"
	"encoding/hex"
	"fmt"
	"sort"
	"sync"
	"time"
)

// HandleRecord is the durable state of one persistent handle ([MS-SMB2]
// 3.3.1.10 Open with IsPersistent): what a server process needs to give
// the handle back to its client after the process (or the node) died.
// It is committed before the CREATE that made the handle is answered and
// removed when the handle is closed or scavenged.
type HandleRecord struct {
	Persistent  uint64   // FileId.Persistent
	CreateGUID  [16]byte // DH2Q CreateGuid
	ClientGUID  [16]byte
	AppInstance [16]byte // zero when none
	Share       string
	Path        string // relative to the share root, as opened
	User        string
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
}

// Key is the record's key under a store prefix (see HandleStore).
func (r *HandleRecord) Key() string {
	return fmt.Sprintf("%016x/%s", r.Persistent, hex.EncodeToString(r.CreateGUID[:]))
}

// HandleStore keeps persistent handle records.
//
// Key layout (the etcd implementation uses it under the cluster prefix):
//
//	<prefix>/handles/<owner node>/<persistent id, 16 hex digits>/<CreateGuid, 32 hex digits>
//
// so that a restarting node lists its own records with one range read
// and a surviving node can take over a failed node's records by owner.
type HandleStore interface {
	// Put commits a record (create or replace). It returns only once the
	// record is durable.
	Put(ctx context.Context, r HandleRecord) error
	// Delete removes the record of a persistent id; absent is no error.
	Delete(ctx context.Context, owner string, persistent uint64) error
	// List returns the records of an owner, by persistent id.
	List(ctx context.Context, owner string) ([]HandleRecord, error)
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

// Put implements HandleStore.
func (s *MemoryHandleStore) Put(_ context.Context, r HandleRecord) error {
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

// List implements HandleStore.
func (s *MemoryHandleStore) List(_ context.Context, owner string) ([]HandleRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]HandleRecord, 0, len(s.m[owner]))
	for _, r := range s.m[owner] {
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
