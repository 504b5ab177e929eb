package smbserver

import (
	"sync"
	"sync/atomic"
	"time"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/rpc"
	"sofs.io/sofs/smbserver/wire"
)

// open is an Open ([MS-SMB2] 3.3.1.10): a file, directory or pipe handle
// held by a session through a tree connect.
type open struct {
	id      wire.FileID
	sess    *session
	tree    *tree
	handle  *csv.Handle // nil for pipes
	pipe    rpc.Pipe    // nil for files
	isDir   bool
	access  uint32 // granted access mask
	options uint32 // CreateOptions
	name    string // path as opened, relative to the share root
	opened  time.Time

	mu sync.Mutex // serialises pipe I/O, directory enumeration and position
	// Directory enumeration state ([MS-SMB2] 3.3.5.18).
	dirEntries []dirEntry
	dirPos     int
	dirPattern string
	dirStarted bool
	// dirStamp is the directory's state when dirEntries was taken (see
	// snapshotStale).
	dirStamp dirStamp
	position int64 // FilePositionInformation
	eaPos    int   // next EA of a FileFullEaInformation scan (ea.go)
	mode     uint32
	closed   bool

	// Open.ChannelSequence, OutstandingRequestCount and
	// OutstandingPreRequestCount ([MS-SMB2] 3.3.1.10; replay.go).
	// csn is read without the lock on every request; it changes only
	// under csnMu.
	csnMu          sync.Mutex
	csn            atomic.Uint32
	csnOutstanding uint32
	csnPre         uint32
	// replayKey names the open in the replay table when its CREATE
	// carried a DH2Q CreateGuid; replayable stays set until the client
	// first uses the open (replay.go).
	replayKey    createKey
	hasReplayKey bool
	replayable   atomic.Bool
}

// dirEntry is one listed name with its metadata.
type dirEntry struct {
	name string
	info csv.FileInfo
}

// openTable maps volatile FileIds to opens for the whole server, so a
// lookup needs no session lock.
type openTable struct {
	mu   sync.RWMutex
	m    map[uint64]*open
	next atomic.Uint64
	base uint64 // Config.FileIDBase
}

func newOpenTable(base uint64) *openTable {
	t := &openTable{m: make(map[uint64]*open), base: base}
	t.next.Store(base)
	return t
}

func (t *openTable) add(o *open) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		id := t.next.Add(1)
		if id == 0 || id == anyID || t.m[id] != nil {
			continue
		}
		// Persistent ids equal volatile ids until persistent handles
		// give them a cluster-wide meaning.
		o.id = wire.FileID{Persistent: id, Volatile: id}
		o.opened = time.Now()
		t.m[id] = o
		return
	}
}

// addRestored enters a restored open under the id its client knows
// (restore.go); false if the id is invalid or taken.
func (t *openTable) addRestored(o *open, id uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id == 0 || id == anyID || t.m[id] != nil {
		return false
	}
	o.id = wire.FileID{Persistent: id, Volatile: id}
	o.opened = time.Now()
	t.m[id] = o
	return true
}

// reserve makes later ids larger than id, so a new open never takes the
// FileId of a handle record from an earlier process, restored or not.
// Ids outside this server's range (Config.FileIDBase: another node's, or
// an earlier run's in a cluster) cannot collide with its own and are not
// reserved: two nodes adopting one lost node's handles must not both
// continue counting in its range.
func (t *openTable) reserve(id uint64) {
	if t.base != 0 && (id < t.base || id-t.base >= 1<<48) {
		return
	}
	for {
		cur := t.next.Load()
		if cur >= id || t.next.CompareAndSwap(cur, id) {
			return
		}
	}
}

func (t *openTable) get(id uint64) *open {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.m[id]
}

func (t *openTable) remove(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, id)
}

// lookupOpen resolves a request's FileId ([MS-SMB2] 3.3.5.x: "If the Open
// is not found ... STATUS_FILE_CLOSED"), honouring the compound-related
// placeholder id.
func (c *conn) lookupOpen(r *request, id wire.FileID) (*open, wire.Status) {
	defer r.ordered() // later requests may run once this one has its open (order.go)
	if id.Persistent == anyID && id.Volatile == anyID {
		if !r.cs.related || !r.cs.haveFileID {
			return nil, wire.StatusFileClosed
		}
		id = r.cs.fileID
	}
	o := c.srv.opens.get(id.Volatile)
	if o == nil || o.sess != r.sess || o.id.Persistent != id.Persistent {
		return nil, wire.StatusFileClosed
	}
	if o.tree != r.tree {
		return nil, wire.StatusFileClosed
	}
	if r.csnOpen == nil && c.dialect >= Dialect300 {
		if st := c.verifyChannelSequence(r, o); st != wire.StatusSuccess { // replay.go
			return nil, st
		}
	}
	r.cs.fileID, r.cs.haveFileID = o.id, true
	return o, wire.StatusSuccess
}

// closeOpen releases an open's storage handle or pipe. It is idempotent.
// retire marks o closed and takes it off this server's tables (the
// durable table too, unless durable is false: a handed-over open whose
// record has moved); ok is false if it was already closed, wasDurable
// tells whether it was in the durable table.
func (s *Server) retire(o *open, durable bool) (ok, wasDurable bool) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return false, false
	}
	o.closed = true
	o.mu.Unlock()
	s.opens.remove(o.id.Volatile)
	s.oplockClosed(o)
	if durable {
		wasDurable = s.durableClosed(o) // durable.go
	}
	s.replayClosed(o)   // replay.go
	forgetResiliency(o) // fsctl_misc.go
	return true, wasDurable
}

func (s *Server) closeOpen(o *open) {
	ok, durable := s.retire(o, true)
	if !ok {
		return
	}
	if o.pipe != nil {
		o.pipe.Close()
	}
	if o.handle != nil {
		if err := o.handle.Close(); err != nil {
			s.log.Warn().Err(err).Str("path", o.name).Msg("close failed")
		}
	}
	if durable {
		// After the handle: a test waiting for it may open the file at
		// once, and must not meet the closed open's oplock or lease.
		s.dh.mu.Lock()
		s.dh.event("close")
		s.dh.mu.Unlock()
	}
}
