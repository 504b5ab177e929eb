package namespace

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Prefix is the root of every key sofs keeps in etcd. The version segment
// lets a future incompatible layout live beside this one during upgrade.
const Prefix = "/sofs/v1/"

// Key prefixes under Prefix.
const (
	sharesDir  = "shares/"
	usersDir   = "users/"
	clusterKey = "cluster"
)

// Store reads and changes the namespace in etcd. It holds no state besides
// the client and is safe for concurrent use.
type Store struct {
	cli    *clientv3.Client
	prefix string
	now    func() time.Time
}

// NewStore returns a Store over cli using Prefix.
func NewStore(cli *clientv3.Client) *Store {
	return &Store{cli: cli, prefix: Prefix, now: time.Now}
}

// Client returns the etcd client the store uses.
func (s *Store) Client() *clientv3.Client { return s.cli }

func (s *Store) shareKey(name string) string { return s.prefix + sharesDir + keyName(name) }
func (s *Store) userKey(name string) string  { return s.prefix + usersDir + keyName(name) }
func (s *Store) clusterKey() string          { return s.prefix + clusterKey }

// PutShare creates sh or replaces the share of the same name.
func (s *Store) PutShare(ctx context.Context, sh Share) error {
	if err := sh.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(sh)
	if err != nil {
		return fmt.Errorf("encode share %q: %w", sh.Name, err)
	}
	if _, err := s.cli.Put(ctx, s.shareKey(sh.Name), string(b)); err != nil {
		return fmt.Errorf("put share %q: %w", sh.Name, err)
	}
	return nil
}

// DeleteShare removes the share named name; ErrNotFound if there is none.
func (s *Store) DeleteShare(ctx context.Context, name string) error {
	if err := ValidateShareName(name); err != nil {
		return err
	}
	resp, err := s.cli.Delete(ctx, s.shareKey(name))
	if err != nil {
		return fmt.Errorf("delete share %q: %w", name, err)
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("share %q: %w", name, ErrNotFound)
	}
	return nil
}

// GetShare returns the share named name (case-insensitive).
func (s *Store) GetShare(ctx context.Context, name string) (Share, error) {
	if err := ValidateShareName(name); err != nil {
		return Share{}, err
	}
	resp, err := s.cli.Get(ctx, s.shareKey(name))
	if err != nil {
		return Share{}, fmt.Errorf("get share %q: %w", name, err)
	}
	if len(resp.Kvs) == 0 {
		return Share{}, fmt.Errorf("share %q: %w", name, ErrNotFound)
	}
	kv := resp.Kvs[0]
	sh, err := decodeShare(kv.Value)
	if err != nil {
		return Share{}, &RefusedShareError{refusedShare(string(kv.Key), s.prefix+sharesDir, kv.Value, err)}
	}
	return sh, nil
}

// ListShares returns every share, ordered by lower-cased name, and the
// stored shares it refuses, ordered by key: records that do not decode,
// or whose values the current rules refuse (a path stored before
// CheckSharePath existed, or written into etcd by hand). One bad record
// does not hide the good ones; the caller reports the refused ones
// (docs/operations.md, "Where shares may live").
func (s *Store) ListShares(ctx context.Context) ([]Share, []RefusedShare, error) {
	resp, err := s.cli.Get(ctx, s.prefix+sharesDir, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, nil, fmt.Errorf("list shares: %w", err)
	}
	out := make([]Share, 0, len(resp.Kvs))
	var refused []RefusedShare
	for _, kv := range resp.Kvs {
		sh, err := decodeShare(kv.Value)
		if err != nil {
			refused = append(refused, refusedShare(string(kv.Key), s.prefix+sharesDir, kv.Value, err))
			continue
		}
		out = append(out, sh)
	}
	return out, refused, nil
}

// PutUser creates the user name with password. It fails with ErrExists if
// the user is already there: changing a password is SetPassword's job, so
// that a restart with the same --user flag can never reset a password an
// operator changed.
func (s *Store) PutUser(ctx context.Context, name, password string) error {
	if err := ValidateUserName(name); err != nil {
		return err
	}
	if err := ValidatePassword(password); err != nil {
		return fmt.Errorf("user %q: %w", name, err)
	}
	h := NTHash(password)
	rec := userRecord{Name: name, NTHash: hex.EncodeToString(h[:]), Created: s.now().UTC()}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode user %q: %w", name, err)
	}
	key := s.userKey(name)
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(b))).
		Commit()
	if err != nil {
		return fmt.Errorf("put user %q: %w", name, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("user %q: %w", name, ErrExists)
	}
	return nil
}

// SetPassword replaces the password of an existing user, keeping its
// creation time. The compare on ModRevision makes a concurrent delete or
// change fail rather than be overwritten.
func (s *Store) SetPassword(ctx context.Context, name, password string) error {
	if err := ValidateUserName(name); err != nil {
		return err
	}
	if err := ValidatePassword(password); err != nil {
		return fmt.Errorf("user %q: %w", name, err)
	}
	key := s.userKey(name)
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("get user %q: %w", name, err)
	}
	if len(resp.Kvs) == 0 {
		return fmt.Errorf("user %q: %w", name, ErrNotFound)
	}
	kv := resp.Kvs[0]
	var rec userRecord
	if err := json.Unmarshal(kv.Value, &rec); err != nil {
		return fmt.Errorf("decode user %q: %w", name, err)
	}
	h := NTHash(password)
	rec.NTHash = hex.EncodeToString(h[:])
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode user %q: %w", name, err)
	}
	tx, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
		Then(clientv3.OpPut(key, string(b))).
		Commit()
	if err != nil {
		return fmt.Errorf("set password of %q: %w", name, err)
	}
	if !tx.Succeeded {
		return fmt.Errorf("set password of %q: user changed concurrently, retry", name)
	}
	return nil
}

// DeleteUser removes the user name; ErrNotFound if there is none.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	if err := ValidateUserName(name); err != nil {
		return err
	}
	resp, err := s.cli.Delete(ctx, s.userKey(name))
	if err != nil {
		return fmt.Errorf("delete user %q: %w", name, err)
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("user %q: %w", name, ErrNotFound)
	}
	return nil
}

// ListUsers returns every user without credentials, ordered by
// lower-cased name.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	resp, err := s.cli.Get(ctx, s.prefix+usersDir, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out := make([]User, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		rec, _, err := decodeUser(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", kv.Key, err)
		}
		out = append(out, User{Name: rec.Name, Created: rec.Created})
	}
	return out, nil
}

// LookupNTHash returns the NT hash of user name. It is for the
// authentication path only (and tests); APIs list users with ListUsers.
func (s *Store) LookupNTHash(ctx context.Context, name string) ([16]byte, error) {
	if err := ValidateUserName(name); err != nil {
		return [16]byte{}, err
	}
	resp, err := s.cli.Get(ctx, s.userKey(name))
	if err != nil {
		return [16]byte{}, fmt.Errorf("get user %q: %w", name, err)
	}
	if len(resp.Kvs) == 0 {
		return [16]byte{}, fmt.Errorf("user %q: %w", name, ErrNotFound)
	}
	_, h, err := decodeUser(resp.Kvs[0].Value)
	return h, err
}

// Cluster returns the cluster record; ErrNotFound before InitCluster.
func (s *Store) Cluster(ctx context.Context) (Cluster, error) {
	resp, err := s.cli.Get(ctx, s.clusterKey())
	if err != nil {
		return Cluster{}, fmt.Errorf("get cluster: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return Cluster{}, fmt.Errorf("cluster record: %w", ErrNotFound)
	}
	return decodeCluster(resp.Kvs[0].Value)
}

// InitCluster creates the cluster record with a fresh random server GUID
// if there is none, in one transaction so that nodes starting together
// agree on a single record, and returns the record that is now stored
// (the existing one when it was already there; name is then ignored).
func (s *Store) InitCluster(ctx context.Context, name string) (Cluster, error) {
	if name == "" || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 }) {
		return Cluster{}, fmt.Errorf("%w: cluster name %q", ErrInvalidName, name)
	}
	c := Cluster{Name: name}
	if _, err := rand.Read(c.ServerGUID[:]); err != nil {
		return Cluster{}, fmt.Errorf("random server guid: %w", err)
	}
	// Mark it as a random (version 4, variant 1) GUID, [MS-DTYP] 2.3.4:
	// Data3's high nibble is the version; Data3 is little-endian on the wire.
	c.ServerGUID[7] = c.ServerGUID[7]&0x0f | 0x40
	c.ServerGUID[8] = c.ServerGUID[8]&0x3f | 0x80
	b, err := json.Marshal(c)
	if err != nil {
		return Cluster{}, fmt.Errorf("encode cluster: %w", err)
	}
	key := s.clusterKey()
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(b))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return Cluster{}, fmt.Errorf("init cluster: %w", err)
	}
	if resp.Succeeded {
		return c, nil
	}
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) == 0 {
		return Cluster{}, fmt.Errorf("init cluster: record vanished during transaction")
	}
	return decodeCluster(kvs[0].Value)
}

// sortShares orders shares as ListShares does.
func sortShares(sh []Share) {
	slices.SortFunc(sh, func(a, b Share) int { return strings.Compare(keyName(a.Name), keyName(b.Name)) })
}
