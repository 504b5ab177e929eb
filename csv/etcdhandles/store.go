// Package etcdhandles keeps durable and persistent handle records
// (openstate.HandleStore) in etcd, so that they outlive the process and the
// node that serves the handles.
package etcdhandles

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/csv/openstate"
)

// handlesDir is the segment under the store's prefix (see openstate.HandleStore
// for the whole layout).
const handlesDir = "handles/"

// The two indexes, beside the records: idsDir + <persistent id, 16 hex
// digits> and guidsDir + <CreateGuid, 32 hex digits>, each holding the
// record's key below handlesDir ("<owner>/<id>/<CreateGuid>"). Every
// write of a record writes its index entries in the same transaction, so
// Find and FindCreateGUID read one key instead of every record's: a
// persistent CREATE asks FindCreateGUID each time, and a failover's
// reconnects ask Find once each, so a scan would cost O(records) per
// open.
const (
	idsDir   = "handle-ids/"
	guidsDir = "handle-guids/"
)

// Store is a openstate.HandleStore over an etcd client. It holds no state but
// the client and prefix, and is safe for concurrent use.
type Store struct {
	cli    *clientv3.Client
	prefix string
	// aliveKey names, for an owner, a key that exists exactly while that
	// owner is alive (its membership key on its etcd lease); Claim from
	// another owner is conditional on its absence. Set before use.
	aliveKey func(owner string) (string, bool)
	// membership names this node's membership key and the lease it must
	// be attached to; writes of this node's records are conditional on
	// it (GuardWrites). Set before use.
	membership func() (key string, lease int64, err error)
}

// GuardWrites makes every record this node writes (Put, and Claim of its
// own records) conditional on its membership key still being attached to
// its current etcd lease: the same key whose absence a survivor's Claim
// requires. In etcd's serial order, then, no write of a node whose lease
// has ended (a paused or cut-off node waking up) can land after a
// survivor adopted its handles and resurrect one. membership returns the
// key and lease, or an error while the node holds none. Call before the
// store is used.
func (s *Store) GuardWrites(membership func() (key string, lease int64, err error)) {
	s.membership = membership
}

// fence returns the comparison that guards this node's writes, if any.
func (s *Store) fence() ([]clientv3.Cmp, error) {
	if s.membership == nil {
		return nil, nil
	}
	key, lease, err := s.membership()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", csv.ErrFenced, err)
	}
	return []clientv3.Cmp{clientv3.Compare(clientv3.LeaseValue(key), "=", lease)}, nil
}

var _ openstate.HandleStore = (*Store)(nil)

// New returns a store keeping its records under prefix (the cluster's
// key prefix, ending in '/'): prefix + "handles/<owner>/<id>/<CreateGuid>".
func New(cli *clientv3.Client, prefix string) *Store {
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &Store{cli: cli, prefix: prefix}
}

// GuardClaims makes Claim from another owner conditional on that owner
// being gone: aliveKey gives the key that exists exactly while it lives
// (false: unknown owner, no condition). Call before the store is used.
func (s *Store) GuardClaims(aliveKey func(owner string) (string, bool)) {
	s.aliveKey = aliveKey
}

// ownerPrefix is where an owner's records live; the trailing slash keeps
// owner "a" from listing owner "ab".
func (s *Store) ownerPrefix(owner string) string {
	return s.prefix + handlesDir + owner + "/"
}

// idPrefix is where the record of one persistent id lives.
func (s *Store) idPrefix(owner string, id uint64) string {
	return fmt.Sprintf("%s%016x/", s.ownerPrefix(owner), id)
}

// idIndex and guidIndex are the index keys of a persistent id and of a
// CreateGuid.
func (s *Store) idIndex(id uint64) string {
	return fmt.Sprintf("%s%s%016x", s.prefix, idsDir, id)
}

func (s *Store) guidIndex(guid [16]byte) string {
	return s.prefix + guidsDir + hex.EncodeToString(guid[:])
}

// indexOps are the puts of r's index entries; the value is r's key below
// handlesDir.
func (s *Store) indexOps(r openstate.HandleRecord) []clientv3.Op {
	v := r.Owner + "/" + r.Key()
	return []clientv3.Op{clientv3.OpPut(s.idIndex(r.Persistent), v), clientv3.OpPut(s.guidIndex(r.CreateGUID), v)}
}

// parseIndex splits an index value into owner, persistent id and
// CreateGuid (hex), refusing anything a record key cannot be.
func parseIndex(v string) (owner string, id uint64, guid string, err error) {
	parts := strings.Split(v, "/")
	if len(parts) == 3 && len(parts[1]) == 16 && len(parts[2]) == 32 && checkOwner(parts[0]) == nil {
		if id, err = strconv.ParseUint(parts[1], 16, 64); err == nil {
			if _, herr := hex.DecodeString(parts[2]); herr == nil {
				return parts[0], id, parts[2], nil
			}
		}
	}
	return "", 0, "", fmt.Errorf("%w: index value %q", openstate.ErrBadHandleRecord, v)
}

// Put implements openstate.HandleStore: one transaction, which etcd answers
// only once it is committed to a quorum's WAL (fsynced), so the record
// survives a crash of this node and of etcd members alike.
func (s *Store) Put(ctx context.Context, r openstate.HandleRecord) error {
	val, err := openstate.EncodeHandleRecord(r)
	if err != nil {
		return err
	}
	// A persistent id keeps one CreateGuid for its life (the server
	// allocates ids and never reuses a live one), so the key is stable
	// and a replace is a plain put of the same key.
	key := s.prefix + handlesDir + r.Owner + "/" + r.Key()
	cmps, err := s.fence()
	if err != nil {
		return fmt.Errorf("etcdhandles: put %s: %w", key, err)
	}
	ops := append([]clientv3.Op{clientv3.OpPut(key, string(val))}, s.indexOps(r)...)
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("etcdhandles: put %s: %w", key, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("etcdhandles: put %s: %w: this node's membership lease has ended", key, csv.ErrFenced)
	}
	return nil
}

// Claim implements openstate.HandleStore: one transaction that deletes the
// record under from, puts it (epoch plus one) under to, and commits only
// if the record is unchanged since it was read and, when from is another
// owner, that owner's membership key is absent. So a survivor can never
// adopt the handle of a node that is still (or again) registered, and a
// restarting node that claims its own records first wins over survivors
// racing it, or sees that they won.
func (s *Store) Claim(ctx context.Context, from string, persistent uint64, to string) (openstate.HandleRecord, bool, error) {
	if err := checkOwner(from); err != nil {
		return openstate.HandleRecord{}, false, err
	}
	if err := checkOwner(to); err != nil {
		return openstate.HandleRecord{}, false, err
	}
	p := s.idPrefix(from, persistent)
	resp, err := s.cli.Get(ctx, p, clientv3.WithPrefix())
	if err != nil {
		return openstate.HandleRecord{}, false, fmt.Errorf("etcdhandles: claim %s: %w", p, err)
	}
	if len(resp.Kvs) != 1 {
		return openstate.HandleRecord{}, false, nil
	}
	kv := resp.Kvs[0]
	r, err := openstate.DecodeHandleRecord(kv.Value)
	if err == nil {
		err = checkKey(string(kv.Key)[len(s.ownerPrefix(from)):], r)
	}
	if err != nil {
		return openstate.HandleRecord{}, false, fmt.Errorf("etcdhandles: claim %s: %w", kv.Key, err)
	}
	r.Owner = to
	r.Epoch++
	val, err := openstate.EncodeHandleRecord(r)
	if err != nil {
		return openstate.HandleRecord{}, false, err
	}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision)}
	if from != to && s.aliveKey != nil {
		if k, ok := s.aliveKey(from); ok {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		}
	}
	// And only while the claimer holds its own membership: a node whose
	// lease ended adopts and hands over nothing.
	fc, err := s.fence()
	if err != nil {
		return openstate.HandleRecord{}, false, fmt.Errorf("etcdhandles: claim %s: %w", kv.Key, err)
	}
	cmps = append(cmps, fc...)
	ops := append([]clientv3.Op{clientv3.OpPut(s.prefix+handlesDir+to+"/"+r.Key(), string(val))}, s.indexOps(r)...)
	if from != to {
		ops = append(ops, clientv3.OpDelete(string(kv.Key)))
	}
	tr, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return openstate.HandleRecord{}, false, fmt.Errorf("etcdhandles: claim %s: %w", kv.Key, err)
	}
	if !tr.Succeeded {
		return openstate.HandleRecord{}, false, nil
	}
	return r, true, nil
}

// Delete implements openstate.HandleStore. The index entries go with the
// record only while they still name it (read first, compared in the
// transaction): a record another node claimed meanwhile keeps its index,
// and deleting a record that is no longer this owner's deletes nothing.
func (s *Store) Delete(ctx context.Context, owner string, persistent uint64) error {
	if err := checkOwner(owner); err != nil {
		return err
	}
	p := s.idPrefix(owner, persistent)
	idx := s.idIndex(persistent)
	resp, err := s.cli.Get(ctx, idx)
	if err != nil {
		return fmt.Errorf("etcdhandles: delete %s: %w", p, err)
	}
	ops := []clientv3.Op{clientv3.OpDelete(p, clientv3.WithPrefix())}
	var cmps []clientv3.Cmp
	if len(resp.Kvs) == 1 {
		v := string(resp.Kvs[0].Value)
		if o, _, guid, perr := parseIndex(v); perr == nil && o == owner {
			gidx := s.prefix + guidsDir + guid
			cmps = []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(idx), "=", resp.Kvs[0].ModRevision)}
			ops = append(ops, clientv3.OpDelete(idx),
				clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.Value(gidx), "=", v)}, []clientv3.Op{clientv3.OpDelete(gidx)}, nil))
		}
	}
	// If the index changed since it was read (a claim), only the record
	// under this owner goes, which is all that is this owner's.
	if _, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Else(ops[0]).Commit(); err != nil {
		return fmt.Errorf("etcdhandles: delete %s: %w", p, err)
	}
	return nil
}

// List implements openstate.HandleStore. A record that does not decode is an
// error naming its key: the caller (restore) must not silently drop a
// handle a client may still come back for, and an operator can remove
// the key by hand.
func (s *Store) List(ctx context.Context, owner string) ([]openstate.HandleRecord, error) {
	if err := checkOwner(owner); err != nil {
		return nil, err
	}
	p := s.ownerPrefix(owner)
	resp, err := s.cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("etcdhandles: list %s: %w", p, err)
	}
	out := make([]openstate.HandleRecord, 0, len(resp.Kvs))
	var errs []error
	for _, kv := range resp.Kvs {
		r, err := openstate.DecodeHandleRecord(kv.Value)
		if err == nil {
			err = checkKey(string(kv.Key)[len(p):], r)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("etcdhandles: %s: %w", kv.Key, err))
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// checkKey verifies that a record sits under its own key, so a record
// copied to another owner or id is refused rather than restored twice.
func checkKey(rest string, r openstate.HandleRecord) error {
	id, guid, ok := strings.Cut(rest, "/")
	n, err := strconv.ParseUint(id, 16, 64)
	if !ok || err != nil || len(id) != 16 || n != r.Persistent || rest != r.Key() || guid == "" {
		return fmt.Errorf("%w: key does not match record %s", openstate.ErrBadHandleRecord, r.Key())
	}
	return nil
}

func checkOwner(owner string) error {
	if owner == "" || strings.ContainsAny(owner, "/\x00") {
		return fmt.Errorf("%w: owner %q", openstate.ErrBadHandleRecord, owner)
	}
	return nil
}

// Find returns the owner of the record of persistent id from its index
// entry (one key): a reconnect that reaches a node other than its
// handle's asks this once. found is false when no owner has it.
func (s *Store) Find(ctx context.Context, id uint64) (owner string, found bool, err error) {
	resp, err := s.cli.Get(ctx, s.idIndex(id))
	if err != nil {
		return "", false, fmt.Errorf("etcdhandles: find %016x: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return "", false, nil
	}
	o, n, _, err := parseIndex(string(resp.Kvs[0].Value))
	if err != nil || n != id {
		return "", false, fmt.Errorf("etcdhandles: find %016x: %w", id, errors.Join(err, openstate.ErrBadHandleRecord))
	}
	return o, true, nil
}

// FindCreateGUID returns the owner and persistent id of the record whose
// CreateGuid is guid (a replayed CREATE, or a second one with a CreateGuid
// in use, reaching a node other than the handle's), from its index entry.
func (s *Store) FindCreateGUID(ctx context.Context, guid [16]byte) (owner string, id uint64, found bool, err error) {
	resp, err := s.cli.Get(ctx, s.guidIndex(guid))
	if err != nil {
		return "", 0, false, fmt.Errorf("etcdhandles: find create guid: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return "", 0, false, nil
	}
	o, n, g, err := parseIndex(string(resp.Kvs[0].Value))
	if err != nil || g != hex.EncodeToString(guid[:]) {
		return "", 0, false, fmt.Errorf("etcdhandles: find create guid: %w", errors.Join(err, openstate.ErrBadHandleRecord))
	}
	return o, n, true, nil
}

// Reindex writes the index entries of owner's records that have none
// (records written before the store kept indexes), leaving entries that
// exist alone. A node calls it for its own records at start, before it
// serves; it returns how many entries it wrote.
func (s *Store) Reindex(ctx context.Context, owner string) (int, error) {
	recs, err := s.List(ctx, owner)
	n := 0
	for _, r := range recs {
		for _, op := range s.indexOps(r) {
			k := string(op.KeyBytes())
			resp, terr := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).Then(op).Commit()
			if terr != nil {
				return n, fmt.Errorf("etcdhandles: reindex %s: %w", k, terr)
			}
			if resp.Succeeded {
				n++
			}
		}
	}
	return n, err
}
