package namespace

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"sofs.io/sofs/namespace/clustertls"
)

// Join tokens (docs/operations.md, "Adding a node with a join token").
// Each token is one key, /sofs/v1/jointokens/<id>, holding the SHA-256 of
// its secret, never the secret. The key lives on an etcd lease that ends
// joinTokenKeep after the token expires: until then a late or repeated
// join is told "expired" or "already used" rather than "unknown", and
// after it etcd removes the key by itself, so tokens never pile up.
const (
	joinTokensDir = "jointokens/"
	joinTokenKeep = time.Hour
	// MinJoinTokenTTL and MaxJoinTokenTTL bound a token's life: long
	// enough to start a node by hand, short enough that a token left in a
	// shell history or ticket is dead by the time anyone finds it.
	MinJoinTokenTTL = time.Second
	MaxJoinTokenTTL = 24 * time.Hour
)

// Errors of ConsumeJoinToken. Each one tells the joining node's operator
// what to do.
var (
	ErrTokenUnknown = errors.New("join token unknown: never created, mistyped, or expired over an hour ago; create a new one with 'sofsctl token create'")
	ErrTokenExpired = errors.New("join token expired; create a new one with 'sofsctl token create'")
	ErrTokenUsed    = errors.New("join token already used (tokens are single-use); create a new one with 'sofsctl token create'")
)

// JoinTokenRecord is what etcd holds for one token.
type JoinTokenRecord struct {
	// SecretHash is clustertls.JoinToken.SecretHash: hex SHA-256.
	SecretHash string    `json:"secretHash"`
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires"`
	// UsedBy and UsedAt are set by the one join that consumed the token.
	UsedBy string     `json:"usedBy,omitempty"`
	UsedAt *time.Time `json:"usedAt,omitempty"`
}

// decodeJoinToken decodes a stored token record: a SHA-256 in hex, an
// expiry, and a use time with any node that used it.
func decodeJoinToken(b []byte) (JoinTokenRecord, error) {
	var rec JoinTokenRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return JoinTokenRecord{}, err
	}
	if len(rec.SecretHash) != 2*sha256.Size || !isHex(rec.SecretHash) {
		return JoinTokenRecord{}, errors.New("secret hash is not a SHA-256 in hex")
	}
	if rec.Expires.IsZero() {
		return JoinTokenRecord{}, errors.New("no expiry")
	}
	if rec.UsedBy != "" && rec.UsedAt == nil {
		// Half a use: it must not read as unused.
		return JoinTokenRecord{}, errors.New("used by a node, with no time")
	}
	return rec, nil
}

func (s *Store) joinTokenKey(id string) string { return s.prefix + joinTokensDir + id }

// CreateJoinToken stores a new token for tok, valid for ttl, and returns
// its expiry.
func (s *Store) CreateJoinToken(ctx context.Context, tok clustertls.JoinToken, ttl time.Duration) (time.Time, error) {
	if ttl < MinJoinTokenTTL || ttl > MaxJoinTokenTTL {
		return time.Time{}, fmt.Errorf("%w: join token ttl %s (want %s to %s)", ErrInvalidName, ttl, MinJoinTokenTTL, MaxJoinTokenTTL)
	}
	if !clustertls.ValidTokenID(tok.ID) {
		return time.Time{}, fmt.Errorf("%w: join token id %q", ErrInvalidName, tok.ID)
	}
	now := s.now().UTC()
	rec := JoinTokenRecord{SecretHash: tok.SecretHash(), Created: now, Expires: now.Add(ttl)}
	b, err := json.Marshal(rec)
	if err != nil {
		return time.Time{}, fmt.Errorf("encode join token: %w", err)
	}
	lease, err := s.cli.Grant(ctx, int64((ttl+joinTokenKeep)/time.Second))
	if err != nil {
		return time.Time{}, fmt.Errorf("join token lease: %w", err)
	}
	key := s.joinTokenKey(tok.ID)
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(b), clientv3.WithLease(lease.ID))).
		Commit()
	if err != nil {
		return time.Time{}, fmt.Errorf("store join token: %w", err)
	}
	if !resp.Succeeded {
		// 48 random bits collided with a live token: astronomically
		// unlikely, and the caller can simply try again.
		s.cli.Revoke(ctx, lease.ID)
		return time.Time{}, fmt.Errorf("join token %s: %w", tok.ID, ErrExists)
	}
	return rec.Expires, nil
}

// ConsumeJoinToken checks the token id with secret and marks it used by
// node, in one transaction, so two joins racing with one token cannot
// both succeed. It fails with ErrTokenUnknown (no such token, or a wrong
// secret: the two are not told apart, so the id alone reveals nothing),
// ErrTokenExpired or ErrTokenUsed.
func (s *Store) ConsumeJoinToken(ctx context.Context, id string, secret []byte, node string) error {
	if !clustertls.ValidTokenID(id) {
		return ErrTokenUnknown
	}
	key := s.joinTokenKey(id)
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read join token: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return ErrTokenUnknown
	}
	kv := resp.Kvs[0]
	rec, err := decodeJoinToken(kv.Value)
	if err != nil {
		return fmt.Errorf("join token %s: stored record: %w", id, err)
	}
	if !clustertls.SecretMatches(secret, rec.SecretHash) {
		return ErrTokenUnknown
	}
	if rec.UsedAt != nil {
		return fmt.Errorf("%w (by node %q at %s)", ErrTokenUsed, rec.UsedBy, rec.UsedAt.Format(time.RFC3339))
	}
	now := s.now().UTC()
	if !now.Before(rec.Expires) {
		return fmt.Errorf("%w (at %s)", ErrTokenExpired, rec.Expires.Format(time.RFC3339))
	}
	rec.UsedBy, rec.UsedAt = node, &now
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode join token: %w", err)
	}
	tx, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
		Then(clientv3.OpPut(key, string(b), clientv3.WithIgnoreLease())).
		Commit()
	if err != nil {
		return fmt.Errorf("consume join token: %w", err)
	}
	if !tx.Succeeded {
		// Another join changed it between the read and the write: it
		// used the token (the only change a record ever gets).
		return fmt.Errorf("%w (by a concurrent join)", ErrTokenUsed)
	}
	return nil
}
