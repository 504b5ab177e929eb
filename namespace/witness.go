package namespace

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// witnessDir holds one record per SMB Witness registration ([MS-SWN]),
// keyed by the registration's context handle UUID. The records are cluster
// state, so that a client whose witness node dies can keep its
// registration through another node.
const witnessDir = "witness/"

// ErrDamagedRecord marks a record in etcd that does not decode; a list
// that meets one returns the others with it.
var ErrDamagedRecord = errors.New("namespace: damaged record")

// WitnessRegistrationTTL is how long a registration outlives the last sign
// of its client: each WitnessrAsyncNotify renews its etcd lease, and a
// registration nobody polls for this long is removed by etcd, so crashed
// clients leave nothing behind. Windows clients poll continuously.
const WitnessRegistrationTTL = 5 * time.Minute

// Witness resource states as last reported to a client.
const (
	WitnessAvailable   = "available"
	WitnessUnavailable = "unavailable"
)

// WitnessRegistration is one client's witness registration.
type WitnessRegistration struct {
	// ID is the registration's context handle UUID.
	ID      string `json:"id"`
	Version uint32 `json:"version"`
	NetName string `json:"netName"`
	// ShareName is set for RegisterEx registrations that name a share.
	ShareName string `json:"shareName,omitempty"`
	// IPAddress is the node address the client uses for SMB, as it
	// registered it; NodeID is the node serving that address.
	IPAddress string `json:"ipAddress"`
	NodeID    string `json:"nodeId"`
	Client    string `json:"client"`
	Flags     uint32 `json:"flags,omitempty"`
	// KeepAlive is RegisterEx's KeepAliveTimeout in seconds: a waiting
	// AsyncNotify fails with ERROR_TIMEOUT after it, at once for 0
	// ([MS-SWN] 3.1.5.2). Register (v1) registrations have none.
	KeepAlive uint32 `json:"keepAlive,omitempty"`
	// Via is the node whose witness service took the registration.
	Via   string    `json:"via"`
	Since time.Time `json:"since"`
	// Reported is the state of NodeID last reported to the client
	// (WitnessAvailable at registration).
	Reported string `json:"reported"`
	// MoveTo, when set, asks the client to move to that node; MoveSent
	// is the last MoveTo delivered as CLIENT_MOVE.
	MoveTo   string `json:"moveTo,omitempty"`
	MoveSent string `json:"moveSent,omitempty"`
	// ShareMoveTo, when set, asks a client registered for ShareName to
	// move that share to the node (SHARE_MOVE); ShareMoveSent is the last
	// ShareMoveTo delivered.
	ShareMoveTo   string `json:"shareMoveTo,omitempty"`
	ShareMoveSent string `json:"shareMoveSent,omitempty"`
	// Pinned is set when an operator moved the client: load balancing
	// then leaves it where the operator put it.
	Pinned bool `json:"pinned,omitempty"`
	// Addresses are the addresses of NodeID the client last heard of (at
	// registration, or in a move or IP_CHANGE); a client that asked for
	// IP notifications is told when the node's addresses differ from
	// them. Nil in records written before they were kept: nothing to
	// compare with.
	Addresses []string `json:"addresses,omitempty"`
	// Lease is the registration's etcd lease.
	Lease int64 `json:"lease"`

	rev int64
}

func (s *Store) witnessKey(id string) string { return s.prefix + witnessDir + id }

// CreateWitnessRegistration stores a new registration under a lease of
// WitnessRegistrationTTL.
func (s *Store) CreateWitnessRegistration(ctx context.Context, r WitnessRegistration) (WitnessRegistration, error) {
	lease, err := s.cli.Grant(ctx, int64(WitnessRegistrationTTL/time.Second))
	if err != nil {
		return r, fmt.Errorf("witness registration lease: %w", err)
	}
	r.Lease = int64(lease.ID)
	b, err := json.Marshal(r)
	if err != nil {
		return r, fmt.Errorf("encode witness registration: %w", err)
	}
	key := s.witnessKey(r.ID)
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(b), clientv3.WithLease(lease.ID))).
		Commit()
	if err != nil {
		return r, fmt.Errorf("put witness registration: %w", err)
	}
	if !resp.Succeeded {
		return r, fmt.Errorf("witness registration %s: %w", r.ID, ErrExists)
	}
	r.rev = resp.Header.Revision
	return r, nil
}

// GetWitnessRegistration returns registration id, or ErrNotFound.
func (s *Store) GetWitnessRegistration(ctx context.Context, id string) (WitnessRegistration, error) {
	resp, err := s.cli.Get(ctx, s.witnessKey(id))
	if err != nil {
		return WitnessRegistration{}, fmt.Errorf("get witness registration: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return WitnessRegistration{}, fmt.Errorf("witness registration %s: %w", id, ErrNotFound)
	}
	return decodeWitness(resp.Kvs[0].Value, resp.Kvs[0].ModRevision, resp.Kvs[0].Lease)
}

// maxWitnessID bounds a registration id (a context handle UUID, 36
// characters).
const maxWitnessID = 64

// decodeWitness decodes the registration stored with lease. The record's
// Lease is what the registration renews, rewrites with and revokes, so it
// must be the lease the key is attached to: a damaged record naming
// another lease (a node's membership lease) would keep that alive or end
// it.
func decodeWitness(b []byte, rev, lease int64) (WitnessRegistration, error) {
	var r WitnessRegistration
	if err := json.Unmarshal(b, &r); err != nil {
		return WitnessRegistration{}, fmt.Errorf("decode witness registration: %w", err)
	}
	if !keyID(r.ID, maxWitnessID) {
		return WitnessRegistration{}, fmt.Errorf("decode witness registration: id %q", r.ID)
	}
	if r.Lease == 0 || r.Lease != lease {
		return WitnessRegistration{}, fmt.Errorf("decode witness registration %s: lease %x, but the key is attached to %x", r.ID, r.Lease, lease)
	}
	r.rev = rev
	return r, nil
}

// DeleteWitnessRegistration removes registration id and revokes its lease;
// ErrNotFound if there is none.
func (s *Store) DeleteWitnessRegistration(ctx context.Context, id string) error {
	resp, err := s.cli.Delete(ctx, s.witnessKey(id), clientv3.WithPrevKV())
	if err != nil {
		return fmt.Errorf("delete witness registration: %w", err)
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("witness registration %s: %w", id, ErrNotFound)
	}
	if r, err := decodeWitness(resp.PrevKvs[0].Value, 0, resp.PrevKvs[0].Lease); err == nil && r.Lease != 0 {
		// The key is gone; a failed revoke only leaves an empty lease
		// that expires on its own.
		s.cli.Revoke(ctx, clientv3.LeaseID(r.Lease))
	}
	return nil
}

// ListWitnessRegistrations returns every registration, oldest first. A
// record that does not decode is left out and named in the error, which
// then wraps ErrDamagedRecord: one damaged record must not stop the
// witness's placement for every client, and an operator can still see
// (and remove) the key.
func (s *Store) ListWitnessRegistrations(ctx context.Context) ([]WitnessRegistration, error) {
	resp, err := s.cli.Get(ctx, s.prefix+witnessDir, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("list witness registrations: %w", err)
	}
	out := make([]WitnessRegistration, 0, len(resp.Kvs))
	var damaged []error
	for _, kv := range resp.Kvs {
		r, err := decodeWitness(kv.Value, kv.ModRevision, kv.Lease)
		if err != nil {
			damaged = append(damaged, fmt.Errorf("%w: %s: %w", ErrDamagedRecord, kv.Key, err))
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Since.Equal(out[j].Since) {
			return out[i].Since.Before(out[j].Since)
		}
		return out[i].ID < out[j].ID
	})
	return out, errors.Join(damaged...)
}

// CountWitnessRegistrations returns how many registrations the cluster
// holds, without reading them.
func (s *Store) CountWitnessRegistrations(ctx context.Context) (int64, error) {
	resp, err := s.cli.Get(ctx, s.prefix+witnessDir, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("count witness registrations: %w", err)
	}
	return resp.Count, nil
}

// maxWitnessUpdateTries bounds UpdateWitnessRegistration's compare-and-swap
// retries; a registration has at most a poller and an operator writing it.
const maxWitnessUpdateTries = 8

// ErrUnchanged, returned by an update function, leaves the record as is.
var ErrUnchanged = errors.New("unchanged")

// UpdateWitnessRegistration applies fn to registration id and writes the
// result if no one changed the record meanwhile, retrying a bounded number
// of times. If fn returns ErrUnchanged nothing is written and the current
// record is returned with a nil error.
func (s *Store) UpdateWitnessRegistration(ctx context.Context, id string, fn func(*WitnessRegistration) error) (WitnessRegistration, error) {
	key := s.witnessKey(id)
	for range maxWitnessUpdateTries {
		cur, err := s.GetWitnessRegistration(ctx, id)
		if err != nil {
			return cur, err
		}
		next := cur
		if err := fn(&next); errors.Is(err, ErrUnchanged) {
			return cur, nil
		} else if err != nil {
			return cur, err
		}
		b, err := json.Marshal(next)
		if err != nil {
			return cur, fmt.Errorf("encode witness registration: %w", err)
		}
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", cur.rev)).
			Then(clientv3.OpPut(key, string(b), clientv3.WithLease(clientv3.LeaseID(cur.Lease)))).
			Commit()
		if err != nil {
			return cur, fmt.Errorf("update witness registration: %w", err)
		}
		if resp.Succeeded {
			next.rev = resp.Header.Revision
			return next, nil
		}
	}
	return WitnessRegistration{}, fmt.Errorf("witness registration %s: too many concurrent updates", id)
}

// MoveWitnessClient asks registration id's client to move to node (by
// id): the witness serving its next AsyncNotify sends CLIENT_MOVE with the
// node's addresses (Move-SmbWitnessClient). The registration is pinned
// there: load balancing does not move it back. The node is not checked
// here.
func (s *Store) MoveWitnessClient(ctx context.Context, id, node string) (WitnessRegistration, error) {
	return s.UpdateWitnessRegistration(ctx, id, func(r *WitnessRegistration) error {
		r.MoveTo = node
		r.MoveSent = ""
		r.Pinned = true
		return nil
	})
}

// MoveWitnessShare asks the clients registered for share (by name, without
// case) to move it to node (by id): the witness serving each one's next
// AsyncNotify sends SHARE_MOVE with the node's addresses ([MS-SWN] 3.1.6.3).
// If client is not empty only that client's registrations move. Like
// MoveWitnessClient it pins them and does not check the node. It returns
// the registrations it changed; one removed meanwhile is skipped.
func (s *Store) MoveWitnessShare(ctx context.Context, share, client, node string) ([]WitnessRegistration, error) {
	regs, err := s.ListWitnessRegistrations(ctx)
	if err != nil && !errors.Is(err, ErrDamagedRecord) {
		return nil, err
	}
	var out []WitnessRegistration
	for _, g := range regs {
		if g.ShareName == "" || !strings.EqualFold(g.ShareName, share) || client != "" && !strings.EqualFold(g.Client, client) {
			continue
		}
		r, err := s.UpdateWitnessRegistration(ctx, g.ID, func(r *WitnessRegistration) error {
			r.ShareMoveTo = node
			r.ShareMoveSent = ""
			r.Pinned = true
			return nil
		})
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// RenewWitnessRegistration extends registration r's lifetime by renewing
// its lease once.
func (s *Store) RenewWitnessRegistration(ctx context.Context, r WitnessRegistration) error {
	if _, err := s.cli.KeepAliveOnce(ctx, clientv3.LeaseID(r.Lease)); err != nil {
		return fmt.Errorf("renew witness registration %s: %w", r.ID, err)
	}
	return nil
}

// WatchWitnessRegistration returns a channel that receives a value after
// each change of registration id (including its deletion), and is closed
// when the watch ends (ctx done, or the etcd member lost its leader). It
// holds at most one pending change: callers re-read the record.
func (s *Store) WatchWitnessRegistration(ctx context.Context, id string) <-chan struct{} {
	return s.watchSignal(ctx, s.witnessKey(id))
}

// witnessResourcesDir holds the cluster resources an operator (or an MS-CMRP
// client) has taken offline, one key per resource name, lower-cased. A
// resource offline makes the witness report the registrations it covers
// as unavailable; bringing it online reports them available again.
const witnessResourcesDir = "witness-resources/"

func (s *Store) witnessResourceKey(name string) string {
	return s.prefix + witnessResourcesDir + strings.ToLower(name)
}

// SetWitnessResourceOffline records resource name as offline or online.
func (s *Store) SetWitnessResourceOffline(ctx context.Context, name string, offline bool) error {
	var err error
	if offline {
		_, err = s.cli.Put(ctx, s.witnessResourceKey(name), "offline")
	} else {
		_, err = s.cli.Delete(ctx, s.witnessResourceKey(name))
	}
	if err != nil {
		return fmt.Errorf("set resource %q offline=%v: %w", name, offline, err)
	}
	return nil
}

// WitnessResourceOffline reports whether resource name is offline.
func (s *Store) WitnessResourceOffline(ctx context.Context, name string) (bool, error) {
	resp, err := s.cli.Get(ctx, s.witnessResourceKey(name), clientv3.WithCountOnly())
	if err != nil {
		return false, fmt.Errorf("get resource %q: %w", name, err)
	}
	return resp.Count > 0, nil
}

// WatchWitnessResources returns a channel that receives a value after any
// resource goes offline or online; like WatchWitnessRegistration's, it is
// closed when the watch ends.
func (s *Store) WatchWitnessResources(ctx context.Context) <-chan struct{} {
	return s.watchSignal(ctx, s.prefix+witnessResourcesDir, clientv3.WithPrefix())
}

func (s *Store) watchSignal(ctx context.Context, key string, opts ...clientv3.OpOption) <-chan struct{} {
	out := make(chan struct{}, 1)
	// WithCreatedNotify makes the watch signal once it is established: a
	// caller that read the state before then re-reads it, so a change in
	// between is not lost.
	wc := s.cli.Watch(clientv3.WithRequireLeader(ctx), key, append(opts, clientv3.WithCreatedNotify())...)
	go func() {
		// Closing tells the caller the watch ended (ctx done, or the
		// member lost its leader): it must re-read and watch again.
		defer close(out)
		for range wc {
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}()
	return out
}
