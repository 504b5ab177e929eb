package namespace

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Membership keys under Prefix. A node keeps two records:
//
//   - nodes/<id> is its live record, attached to the node's etcd lease: it
//     exists exactly while the node holds the lease, so its absence means
//     the node is down (crashed, partitioned away, or stopped);
//   - node-records/<id> is the persistent record: the node's last
//     registration plus a drain flag, so a down node is still listed (as
//     down) until an operator removes it.
const (
	liveNodesDir   = "nodes/"
	nodeRecordsDir = "node-records/"
	// membersWatchPrefix covers both directories.
	membersWatchPrefix = "node"
)

// Node states.
const (
	NodeJoining  = "joining"
	NodeUp       = "up"
	NodeDraining = "draining"
	NodeDown     = "down"
)

// ErrBusy reports an operation refused because a node is still alive.
var ErrBusy = errors.New("node is still serving")

// NodeRecord describes one node as it registers itself.
type NodeRecord struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	SMBAddresses []string  `json:"smbAddresses,omitempty"`
	APIAddress   string    `json:"apiAddress,omitempty"`
	Version      string    `json:"version,omitempty"`
	State        string    `json:"state"`
	StartedAt    time.Time `json:"startedAt"`
	// EtcdMember is the node's embedded etcd member id (hex); empty when
	// the node uses an external etcd.
	EtcdMember string `json:"etcdMember,omitempty"`
	// Slot is the node's number in the open-state service (openstate.go),
	// and PeerAddress where that service listens for the other nodes.
	Slot        uint16 `json:"slot,omitempty"`
	PeerAddress string `json:"peerAddress,omitempty"`
	// Draining, in the persistent record only, survives a lost lease: a
	// node that re-registers keeps draining. A process start clears it.
	Draining bool `json:"draining,omitempty"`
}

// NodeStatus is a node as the cluster sees it: its record, with State
// "down" when it holds no lease.
type NodeStatus struct {
	NodeRecord
	// Live is true while the node holds its lease.
	Live bool
}

func (s *Store) liveNodeKey(id string) string { return s.prefix + liveNodesDir + id }

// LiveNodeKey is the key that exists exactly while node id holds its
// etcd lease: a transaction conditional on its absence commits only if
// the node is gone (handle takeover, csv/etcdhandles).
func (s *Store) LiveNodeKey(id string) string   { return s.liveNodeKey(id) }
func (s *Store) nodeRecordKey(id string) string { return s.prefix + nodeRecordsDir + id }

// maxNodeID bounds a node id (a GUID, 36 characters).
const maxNodeID = 64

// keyID reports whether id, at most maxLen bytes of printable ASCII with
// no slash, can stand as the last part of a key.
func keyID(id string, maxLen int) bool {
	if id == "" || len(id) > maxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' || id[i] == '/' {
			return false
		}
	}
	return true
}

// decodeNode decodes a node's live or persistent record: an id that can
// be part of a key, and one of the node states.
func decodeNode(b []byte) (NodeRecord, error) {
	var n NodeRecord
	if err := json.Unmarshal(b, &n); err != nil {
		return NodeRecord{}, fmt.Errorf("decode node record: %w", err)
	}
	if n.ID == "" {
		return NodeRecord{}, errors.New("decode node record: no id")
	}
	if !keyID(n.ID, maxNodeID) {
		return NodeRecord{}, fmt.Errorf("decode node record: id %q", n.ID)
	}
	switch n.State {
	case NodeJoining, NodeUp, NodeDraining, NodeDown:
	default:
		return NodeRecord{}, fmt.Errorf("decode node record %s: unknown state %q", n.ID, n.State)
	}
	return n, nil
}

func encodeNode(n NodeRecord) (string, error) {
	b, err := json.Marshal(n)
	if err != nil {
		return "", fmt.Errorf("encode node %s: %w", n.ID, err)
	}
	return string(b), nil
}

// mergeNodes combines live and persistent records into statuses ordered by
// id.
func mergeNodes(live, records map[string]NodeRecord) []NodeStatus {
	out := make([]NodeStatus, 0, len(records))
	for id, r := range records {
		if l, ok := live[id]; ok {
			out = append(out, NodeStatus{NodeRecord: l, Live: true})
			continue
		}
		r.State = NodeDown
		out = append(out, NodeStatus{NodeRecord: r})
	}
	for id, l := range live {
		if _, ok := records[id]; !ok {
			out = append(out, NodeStatus{NodeRecord: l, Live: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ListNodes reads every node's status from etcd.
func (s *Store) ListNodes(ctx context.Context) ([]NodeStatus, error) {
	resp, err := s.cli.Get(ctx, s.prefix+membersWatchPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	live, records := map[string]NodeRecord{}, map[string]NodeRecord{}
	for _, kv := range resp.Kvs {
		s.foldNode(live, records, string(kv.Key), kv.Value, true, zerolog.Nop())
	}
	return mergeNodes(live, records), nil
}

// foldNode applies one key's put or delete to the maps.
func (s *Store) foldNode(live, records map[string]NodeRecord, key string, val []byte, put bool, log zerolog.Logger) {
	rel := strings.TrimPrefix(key, s.prefix)
	var m map[string]NodeRecord
	var id string
	switch {
	case strings.HasPrefix(rel, liveNodesDir):
		m, id = live, strings.TrimPrefix(rel, liveNodesDir)
	case strings.HasPrefix(rel, nodeRecordsDir):
		m, id = records, strings.TrimPrefix(rel, nodeRecordsDir)
	default:
		return
	}
	if !put {
		delete(m, id)
		return
	}
	n, err := decodeNode(val)
	if err == nil && n.ID != id {
		// A record under another node's key would speak for that node.
		err = fmt.Errorf("decode node record: id %q under the key of %q", n.ID, id)
	}
	if err != nil {
		delete(m, id)
		log.Error().Err(err).Str("key", key).Msg("ignoring bad node record")
		return
	}
	m[id] = n
}

// casAttempts bounds the read-modify-write retries of node updates that
// race with the node's own re-registration.
const casAttempts = 8

// DrainNode marks node id draining: the persistent record's flag and, if
// the node is alive, its live record (which keeps its lease). ErrNotFound
// if no such node is known.
func (s *Store) DrainNode(ctx context.Context, id string) error {
	for range casAttempts {
		rk, lk := s.nodeRecordKey(id), s.liveNodeKey(id)
		resp, err := s.cli.Txn(ctx).Then(clientv3.OpGet(rk), clientv3.OpGet(lk)).Commit()
		if err != nil {
			return fmt.Errorf("drain node %s: %w", id, err)
		}
		recs, lives := resp.Responses[0].GetResponseRange().Kvs, resp.Responses[1].GetResponseRange().Kvs
		if len(recs) == 0 && len(lives) == 0 {
			return fmt.Errorf("node %q: %w", id, ErrNotFound)
		}
		var cmps []clientv3.Cmp
		var ops []clientv3.Op
		if len(recs) > 0 {
			r, err := decodeNode(recs[0].Value)
			if err != nil {
				return err
			}
			r.Draining = true
			v, err := encodeNode(r)
			if err != nil {
				return err
			}
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(rk), "=", recs[0].ModRevision))
			ops = append(ops, clientv3.OpPut(rk, v))
		}
		if len(lives) > 0 {
			l, err := decodeNode(lives[0].Value)
			if err != nil {
				return err
			}
			l.State = NodeDraining
			v, err := encodeNode(l)
			if err != nil {
				return err
			}
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(lk), "=", lives[0].ModRevision))
			ops = append(ops, clientv3.OpPut(lk, v, clientv3.WithIgnoreLease()))
		} else {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(lk), "=", 0))
		}
		tr, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return fmt.Errorf("drain node %s: %w", id, err)
		}
		if tr.Succeeded {
			return nil
		}
	}
	return fmt.Errorf("drain node %s: records kept changing; try again", id)
}

// RemoveNode forgets a node that holds no lease and returns its last
// record. ErrBusy if the node is alive, ErrNotFound if it is unknown.
func (s *Store) RemoveNode(ctx context.Context, id string) (NodeRecord, error) {
	rk, lk := s.nodeRecordKey(id), s.liveNodeKey(id)
	resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(lk), "=", 0)).
		Then(clientv3.OpDelete(rk, clientv3.WithPrevKV())).Commit()
	if err != nil {
		return NodeRecord{}, fmt.Errorf("remove node %s: %w", id, err)
	}
	if !resp.Succeeded {
		return NodeRecord{}, fmt.Errorf("node %q: %w", id, ErrBusy)
	}
	del := resp.Responses[0].GetResponseDeleteRange()
	if del.Deleted == 0 || len(del.PrevKvs) == 0 {
		return NodeRecord{}, fmt.Errorf("node %q: %w", id, ErrNotFound)
	}
	return decodeNode(del.PrevKvs[0].Value)
}

// Registration timing. A node renews its lease every KeepAliveInterval and
// fences itself once the lease could expire within FenceMargin without a
// renewal it has seen: it measures validity from when it sent the renewal,
// which is no later than when etcd granted it, so it always fences before
// etcd can expire the lease and hand its work to another node.
const (
	DefaultLeaseTTL   = 5 * time.Second
	keepAliveInterval = time.Second
	// keepAliveTimeout bounds one renewal round trip.
	keepAliveTimeout = time.Second
	// fenceMargin leaves time between fencing and the earliest possible
	// expiry for the fence callback to stop I/O.
	fenceMargin = 1500 * time.Millisecond
	// registerTimeout bounds one registration attempt.
	registerTimeout = 3 * time.Second
)

// RegisterOptions configure Register.
type RegisterOptions struct {
	// TTL is the lease's time to live; DefaultLeaseTTL if zero. Whole
	// seconds, at least 3.
	TTL    time.Duration
	Logger zerolog.Logger
	// OnFence, if set, is called (from the registration's goroutine) with
	// true when the node loses its lease and must stop serving I/O on its
	// opens, and with false once it holds a lease again. Keep it quick.
	// The I/O path does not wait for it: it checks MayServe.
	OnFence func(fenced bool)
	// OnLost, if set, is called once (from the registration's goroutine)
	// when etcd says the lease is gone (expired or revoked): the cluster
	// may already have handed this node's opens to another node, so the
	// registration stops renewing and MayServe refuses for good; the
	// caller must drop what it served and start afresh (sofsd exits).
	// Without OnLost the registration takes a new lease and carries on,
	// which is only right for a holder of no per-node state.
	OnLost func(err error)
}

// Registration is a node's membership: its lease, kept alive in the
// background, and its live record.
type Registration struct {
	store   *Store
	log     zerolog.Logger
	ttl     time.Duration
	onFence func(bool)
	onLost  func(error)
	// clock is the lease clock MayServe reads (leaseclock.go).
	clock *leaseClock
	// transMu orders fence transitions and their OnFence calls: the
	// renewal loop and the deadline timer (expire) both make them.
	transMu sync.Mutex

	mu      sync.Mutex
	rec     NodeRecord
	lease   clientv3.LeaseID
	fenced  error // nil while the lease is held
	changed chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
}

// Register writes node rec under a new lease and keeps the lease alive
// until Close. A draining flag from an earlier run is cleared: a start is
// a return to service.
func (s *Store) Register(ctx context.Context, rec NodeRecord, o RegisterOptions) (*Registration, error) {
	if rec.ID == "" {
		return nil, errors.New("register: empty node id")
	}
	ttl := o.TTL
	if ttl == 0 {
		ttl = DefaultLeaseTTL
	}
	if ttl < 3*time.Second {
		return nil, fmt.Errorf("register: lease TTL %s is below 3s", ttl)
	}
	if rec.State == "" {
		rec.State = NodeJoining
	}
	sent := time.Now()
	r := &Registration{
		store: s, log: o.Logger.With().Str("component", "membership").Logger(), ttl: ttl,
		onFence: o.OnFence, onLost: o.OnLost, clock: newLeaseClock(sent),
		rec: rec, changed: make(chan struct{}), done: make(chan struct{}),
	}
	if err := r.register(ctx, true); err != nil {
		return nil, err
	}
	r.clock.renewed(sent, ttl, fenceMargin)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	go r.run(rctx, sent.Add(ttl))
	r.log.Info().Str("lease", fmt.Sprintf("%x", int64(r.lease))).Dur("ttl", ttl).Str("state", rec.State).Msg("node registered")
	return r, nil
}

// register grants a lease and writes the live and persistent records.
// fresh (a process start) clears the drain flag; otherwise a drain
// recorded while the lease was lost is honoured.
func (r *Registration) register(ctx context.Context, fresh bool) error {
	s := r.store
	ctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	r.mu.Lock()
	rec := r.rec
	r.mu.Unlock()
	old, err := s.cli.Get(ctx, s.nodeRecordKey(rec.ID))
	if err != nil {
		return fmt.Errorf("register node %s: %w", rec.ID, err)
	}
	if !fresh && len(old.Kvs) > 0 {
		if p, err := decodeNode(old.Kvs[0].Value); err == nil && p.Draining {
			rec.State = NodeDraining
		}
	}
	rec.Draining = rec.State == NodeDraining
	lease, err := s.cli.Grant(ctx, int64(r.ttl/time.Second))
	if err != nil {
		return fmt.Errorf("register node %s: grant lease: %w", rec.ID, err)
	}
	v, err := encodeNode(rec)
	if err != nil {
		return err
	}
	if _, err := s.cli.Txn(ctx).Then(
		clientv3.OpPut(s.liveNodeKey(rec.ID), v, clientv3.WithLease(lease.ID)),
		clientv3.OpPut(s.nodeRecordKey(rec.ID), v),
	).Commit(); err != nil {
		// Best effort: an unused lease expires by itself anyway.
		s.cli.Revoke(ctx, lease.ID)
		return fmt.Errorf("register node %s: %w", rec.ID, err)
	}
	r.mu.Lock()
	r.rec, r.lease = rec, lease.ID
	r.mu.Unlock()
	return nil
}

// run renews the lease until ctx ends, fencing and re-registering as
// needed. validUntil is the earliest the current lease can expire.
func (r *Registration) run(ctx context.Context, validUntil time.Time) {
	defer close(r.done)
	tick := time.NewTicker(keepAliveInterval)
	defer tick.Stop()
	// The fence is called when the clock runs out, not at the next tick
	// after a renewal that may block for keepAliveTimeout: connections
	// are dropped as soon as their I/O is refused.
	deadline := time.AfterFunc(r.clock.remaining(time.Now()), r.expire)
	defer deadline.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		r.mu.Lock()
		lease, fenced := r.lease, r.fenced != nil
		r.mu.Unlock()
		sent := time.Now()
		kctx, cancel := context.WithTimeout(ctx, keepAliveTimeout)
		resp, err := r.store.cli.KeepAliveOnce(kctx, lease)
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil && resp.TTL > 0:
			validUntil = sent.Add(time.Duration(resp.TTL) * time.Second)
			r.clock.renewed(sent, time.Duration(resp.TTL)*time.Second, fenceMargin)
			deadline.Reset(r.clock.remaining(time.Now()))
			// A renewal that came back too late proves nothing about
			// now: the node stays fenced until one arrives in time.
			r.unfenceIfValid()
			continue
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			lost := errors.New("etcd lease expired or revoked")
			if r.onLost != nil {
				// Lost for good: another node may hold this node's
				// opens now. Never serve them again.
				r.clock.lose()
				if !fenced {
					r.setFenced(lost)
				}
				r.log.Error().Err(lost).Msg("the etcd lease is gone: this node must restart clean")
				r.onLost(lost)
				return
			}
			r.clock.reset()
			if !fenced {
				r.setFenced(lost)
			}
			// Take a new lease and register again.
			if rerr := r.register(ctx, false); rerr != nil {
				r.log.Warn().Err(rerr).Msg("re-registration failed; retrying")
				continue
			}
			validUntil = sent.Add(r.ttl)
			r.clock.renewed(sent, r.ttl, fenceMargin)
			deadline.Reset(r.clock.remaining(time.Now()))
			r.unfenceIfValid()
			continue
		}
		if !fenced && r.clock.mayServe(time.Now()) != nil {
			r.setFenced(fmt.Errorf("etcd lease not renewed since %s: %w", validUntil.Add(-r.ttl).Format(time.RFC3339Nano), errOr(err)))
		}
	}
}

func errOr(err error) error {
	if err != nil {
		return err
	}
	return errors.New("keepalive returned no TTL")
}

// expire runs when the lease clock should have run out: it fences unless
// a renewal moved the clock on meanwhile.
func (r *Registration) expire() {
	r.transMu.Lock()
	defer r.transMu.Unlock()
	if r.clock.mayServe(time.Now()) == nil {
		return
	}
	r.setFencedLocked(fmt.Errorf("etcd lease not renewed within its TTL minus %s: %w", fenceMargin, ErrLeaseUnsure))
}

// unfenceIfValid ends the fenced state if the clock proves the lease now.
func (r *Registration) unfenceIfValid() {
	r.transMu.Lock()
	defer r.transMu.Unlock()
	if r.clock.mayServe(time.Now()) == nil {
		r.setFencedLocked(nil)
	}
}

// setFenced records a transition into (err != nil) or out of the fenced
// state, logs it and calls OnFence.
func (r *Registration) setFenced(err error) {
	r.transMu.Lock()
	defer r.transMu.Unlock()
	r.setFencedLocked(err)
}

// setFencedLocked is setFenced with transMu held.
func (r *Registration) setFencedLocked(err error) {
	r.mu.Lock()
	was := r.fenced != nil
	r.fenced = err
	if was != (err != nil) {
		close(r.changed)
		r.changed = make(chan struct{})
	}
	lease := r.lease
	r.mu.Unlock()
	if was == (err != nil) {
		return
	}
	if err != nil {
		r.log.Error().Err(err).Msg("lost the etcd lease: fencing (no new work; I/O on this node's opens must stop)")
	} else {
		r.log.Warn().Str("lease", fmt.Sprintf("%x", int64(lease))).Msg("holding an etcd lease again: serving")
	}
	if r.onFence != nil {
		r.onFence(err != nil)
	}
}

// MayServe returns nil while this node may act on its opens: the last
// lease renewal it saw proves the lease valid for longer than the fence
// margin from now. It reads the clock, not the renewal goroutine's view,
// so a process that was stopped past that instant is refused at once on
// waking. Cheap enough for every READ and WRITE: an atomic load and a
// monotonic clock read, no allocation.
func (r *Registration) MayServe() error { return r.clock.mayServe(time.Now()) }

// ServeRemaining is how long this node may still serve without a new
// renewal (0 once fenced), for logs and metrics.
func (r *Registration) ServeRemaining() time.Duration { return r.clock.remaining(time.Now()) }

// Healthy returns nil while the node holds its lease, else why not.
func (r *Registration) Healthy() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fenced
}

// Changed is closed at the next change of Healthy.
func (r *Registration) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// Lease returns the etcd lease the node holds now (it changes when the
// node re-registers after losing one).
func (r *Registration) Lease() clientv3.LeaseID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lease
}

// Record returns the node's current record.
func (r *Registration) Record() NodeRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rec
}

// SetState changes the node's state (joining, up, draining) in its live and
// persistent records. Up does not override a drain recorded by an
// operator.
func (r *Registration) SetState(ctx context.Context, state string) error {
	s := r.store
	ctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	r.mu.Lock()
	rec, lease := r.rec, r.lease
	r.mu.Unlock()
	cur, err := s.cli.Get(ctx, s.nodeRecordKey(rec.ID))
	if err != nil {
		return fmt.Errorf("node state: %w", err)
	}
	if len(cur.Kvs) > 0 {
		if p, err := decodeNode(cur.Kvs[0].Value); err == nil && p.Draining && state != NodeDraining {
			state = NodeDraining
		}
	}
	rec.State = state
	rec.Draining = state == NodeDraining
	v, err := encodeNode(rec)
	if err != nil {
		return err
	}
	if _, err := s.cli.Txn(ctx).Then(
		clientv3.OpPut(s.liveNodeKey(rec.ID), v, clientv3.WithLease(lease)),
		clientv3.OpPut(s.nodeRecordKey(rec.ID), v),
	).Commit(); err != nil {
		return fmt.Errorf("node state: %w", err)
	}
	r.mu.Lock()
	r.rec = rec
	r.mu.Unlock()
	r.log.Info().Str("state", state).Msg("node state changed")
	return nil
}

// Close stops renewing and revokes the lease, so the cluster sees the node
// down at once instead of after the TTL.
func (r *Registration) Close(ctx context.Context) error {
	r.cancel()
	<-r.done
	r.clock.lose()
	r.mu.Lock()
	lease := r.lease
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	if _, err := r.store.cli.Revoke(ctx, lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("revoke node lease: %w", err)
	}
	return nil
}

// Members is a live view of the cluster's nodes, fed by an etcd watch.
type Members struct {
	store  *Store
	log    zerolog.Logger
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	live    map[string]NodeRecord
	records map[string]NodeRecord
	changed chan struct{}
}

// NewMembers lists the nodes and follows changes until Close.
func NewMembers(ctx context.Context, store *Store, log zerolog.Logger) (*Members, error) {
	m := &Members{
		store: store, log: log.With().Str("component", "members").Logger(),
		done: make(chan struct{}), changed: make(chan struct{}),
	}
	rev, err := m.load(ctx)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel = cancel
	go m.run(wctx, rev)
	return m, nil
}

// Close stops following changes.
func (m *Members) Close() {
	m.cancel()
	<-m.done
}

// Nodes returns every node's status, ordered by id.
func (m *Members) Nodes() []NodeStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return mergeNodes(m.live, m.records)
}

// Node returns one node's status.
func (m *Members) Node(id string) (NodeStatus, bool) {
	for _, n := range m.Nodes() {
		if n.ID == id {
			return n, true
		}
	}
	return NodeStatus{}, false
}

// Changed is closed at the next change of the view.
func (m *Members) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

func (m *Members) load(ctx context.Context) (int64, error) {
	s := m.store
	resp, err := s.cli.Get(ctx, s.prefix+membersWatchPrefix, clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("members: list: %w", err)
	}
	live, records := map[string]NodeRecord{}, map[string]NodeRecord{}
	for _, kv := range resp.Kvs {
		s.foldNode(live, records, string(kv.Key), kv.Value, true, m.log)
	}
	m.mu.Lock()
	m.live, m.records = live, records
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
	return resp.Header.Revision + 1, nil
}

// run follows the watch, re-listing after a failure with bounded backoff.
func (m *Members) run(ctx context.Context, rev int64) {
	defer close(m.done)
	backoff := minRelistBackoff
	for ctx.Err() == nil {
		next, err := m.follow(ctx, rev)
		if ctx.Err() != nil {
			return
		}
		if next > rev {
			backoff = minRelistBackoff
		}
		m.log.Warn().Err(err).Dur("backoff", backoff).Msg("members watch ended; re-listing")
		for ctx.Err() == nil {
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, maxRelistBackoff)
			lctx, cancel := context.WithTimeout(ctx, relistTimeout)
			r, err := m.load(lctx)
			cancel()
			if err == nil {
				rev = r
				break
			}
			m.log.Warn().Err(err).Msg("members re-list failed")
		}
	}
}

func (m *Members) follow(ctx context.Context, rev int64) (int64, error) {
	s := m.store
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// RequireLeader ends the stream when the local member loses its
	// leader, so a partitioned node re-lists (and fails) instead of
	// showing a frozen view as current.
	wctx = clientv3.WithRequireLeader(wctx)
	for resp := range s.cli.Watch(wctx, s.prefix+membersWatchPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev)) {
		if err := resp.Err(); err != nil {
			return rev, err
		}
		if resp.Canceled {
			return rev, errors.New("watch canceled by the server")
		}
		if len(resp.Events) == 0 {
			continue
		}
		m.mu.Lock()
		for _, ev := range resp.Events {
			s.foldNode(m.live, m.records, string(ev.Kv.Key), ev.Kv.Value, ev.Type == clientv3.EventTypePut, m.log)
		}
		close(m.changed)
		m.changed = make(chan struct{})
		m.mu.Unlock()
		rev = resp.Header.Revision + 1
	}
	return rev, errors.New("watch channel closed")
}

// EndDeadNode revokes the etcd lease of node id, whose process is known
// to be gone, so that its membership ends now instead of when the lease
// expires: its handles are adopted at once. It acts only while the node's
// live record still names peerAddr (the process that was seen gone: a
// restarted process registers a new record, on a new lease, which this
// never touches). It reports whether it revoked a lease.
func (s *Store) EndDeadNode(ctx context.Context, id, peerAddr string) (bool, error) {
	resp, err := s.cli.Get(ctx, s.liveNodeKey(id))
	if err != nil {
		return false, fmt.Errorf("namespace: read node %s: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return false, nil
	}
	kv := resp.Kvs[0]
	rec, err := decodeNode(kv.Value)
	if err != nil || rec.PeerAddress != peerAddr || kv.Lease == 0 {
		return false, err
	}
	if _, err := s.cli.Revoke(ctx, clientv3.LeaseID(kv.Lease)); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return false, fmt.Errorf("namespace: end node %s: %w", id, err)
	}
	return true, nil
}
