package adminapi

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// JoinTokens creates join tokens: the one secret a new node needs to get
// its certificate from the cluster (docs/operations.md, "Adding a node
// with a join token"). cmd adapts it from the namespace store and the
// cluster CA; when Config.JoinTokens is nil the route answers 501.
type JoinTokens interface {
	// CreateJoinToken stores a new single-use token valid for ttl and
	// returns it. A ttl out of range is an error wrapping
	// ErrInvalidJoinTokenTTL.
	CreateJoinToken(ctx context.Context, ttl time.Duration) (JoinToken, error)
}

// ErrInvalidJoinTokenTTL reports a ttl JoinTokens refuses.
var ErrInvalidJoinTokenTTL = errors.New("invalid join token ttl")

// Join token lifetimes the API accepts, the namespace's: long enough to
// start a node by hand, short enough that a leaked token is dead soon.
const (
	DefaultJoinTokenTTL = 15 * time.Minute
	MinJoinTokenTTL     = time.Second
	MaxJoinTokenTTL     = 24 * time.Hour
)

// JoinTokenCreate is the body of POST /api/v1/join-tokens.
type JoinTokenCreate struct {
	// TTL is a Go duration ("10m", "1h"); DefaultJoinTokenTTL when empty.
	TTL string `json:"ttl,omitempty"`
}

// JoinToken is a created token. Token is shown once: the cluster keeps
// only a hash of its secret.
type JoinToken struct {
	Token   string    `json:"token"`
	ID      string    `json:"id"`
	Expires time.Time `json:"expires"`
	// CAHash is the SHA-256 of the cluster CA certificate the token pins
	// (hex), the same as in Token, for checking by eye.
	CAHash string `json:"caHash"`
}

func (a *api) createJoinToken(w http.ResponseWriter, r *http.Request) *apiError {
	if a.joinTokens == nil {
		return errorf(http.StatusNotImplemented, CodeNotImplemented, "", "this node cannot create join tokens (no cluster CA: etcd without TLS, or an external etcd)")
	}
	b, e := readBody(r)
	if e != nil {
		return e
	}
	var req JoinTokenCreate
	if len(b) > 0 {
		if e := decodeJSON(b, &req); e != nil {
			return e
		}
	}
	ttl := DefaultJoinTokenTTL
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil {
			return badValue("ttl", "ttl %q is not a duration (like 10m or 1h)", req.TTL)
		}
		ttl = d
	}
	if ttl < MinJoinTokenTTL || ttl > MaxJoinTokenTTL {
		return badValue("ttl", "ttl %s is out of range (%s to %s)", ttl, MinJoinTokenTTL, MaxJoinTokenTTL)
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	tok, err := a.joinTokens.CreateJoinToken(ctx, ttl)
	switch {
	case errors.Is(err, ErrInvalidJoinTokenTTL):
		return badValue("ttl", "%v", err)
	case err != nil:
		return storeError(err)
	}
	// The secret itself is never logged.
	a.log.Info().Str("token_id", tok.ID).Time("expires", tok.Expires).Str("remote", r.RemoteAddr).Msg("join token created")
	writeJSON(w, http.StatusCreated, tok)
	return nil
}
