package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/csv/clusterstate"
	"sofs.io/sofs/csv/etcdhandles"
	"sofs.io/sofs/namespace"
	"sofs.io/sofs/smbserver"
)

// Handle takeover between nodes (smbserver/takeover.go): where a handle's
// record is, whether its owner lives, and the hand-over request a live
// owner answers.

// castYieldHandle names the call that asks a handle's node to hand it
// over to the caller, whose client reconnected there.
const castYieldHandle = "smb.yield-handle"

type yieldCall struct {
	ID uint64 `json:"id"`
	To string `json:"to"`
}

// castExpireSession ends a session on whichever node has it (a client's
// PreviousSessionId, reconnecting through another node).
const castExpireSession = "smb.expire-session"

type expireCall struct {
	ID   uint64 `json:"id"`
	User string `json:"user"`
	// SID is the new session's user SID, which decides; empty from a
	// node of an older version, where the name does.
	SID string `json:"sid,omitempty"`
}

// expireSessionElsewhere is smbserver.Config.ExpireSessionElsewhere.
func (l handleLocator) expireSessionElsewhere(ctx context.Context, id uint64, user, sid string) error {
	body, err := json.Marshal(expireCall{ID: id, User: user, SID: sid})
	if err != nil {
		return err
	}
	return l.node.Cast(ctx, castExpireSession, body)
}

// castHasHandle asks every node whether it serves a handle (its name if
// so, nothing if not).
const castHasHandle = "smb.has-handle"

// yieldBusy is a hand-over refused because the handle's client is
// connected on its node.
const yieldBusy = "busy"

// handleLocator is smbserver.HandleLocator over etcd and the open-state
// service's node-to-node calls.
type handleLocator struct {
	store   *etcdhandles.Store
	members *namespace.Members
	node    *clusterstate.Node
	self    string // this node's name: the owner of its records
}

var _ smbserver.HandleLocator = handleLocator{}

// node returns the member named name.
func (l handleLocator) member(name string) (namespace.NodeStatus, bool) {
	for _, n := range l.members.Nodes() {
		if n.Name == name {
			return n, true
		}
	}
	return namespace.NodeStatus{}, false
}

// Locate implements smbserver.HandleLocator. An owner that is no member
// at all (removed by an operator) counts as lost. A durable handle whose
// client has just gone has no record until its node notices (the record
// is written then), so the live nodes are asked too.
func (l handleLocator) Locate(ctx context.Context, id uint64) (string, bool, bool, error) {
	owner, found, err := l.store.Find(ctx, id)
	if err != nil {
		return "", false, false, err
	}
	if found {
		n, ok := l.member(owner)
		return owner, ok && n.Live, true, nil
	}
	if id == 0 {
		return "", false, false, nil // no handle has id 0: none to ask about
	}
	body, err := json.Marshal(yieldCall{ID: id})
	if err != nil {
		return "", false, false, err
	}
	answers, err := l.node.Gather(ctx, castHasHandle, body)
	for _, a := range answers {
		if len(a) > 0 {
			return string(a), true, true, nil
		}
	}
	return "", false, false, err
}

// LocateCreate implements smbserver.HandleLocator.
func (l handleLocator) LocateCreate(ctx context.Context, guid [16]byte) (uint64, bool, error) {
	_, id, found, err := l.store.FindCreateGUID(ctx, guid)
	return id, found, err
}

// Yield implements smbserver.HandleLocator.
func (l handleLocator) Yield(ctx context.Context, owner string, id uint64) error {
	n, ok := l.member(owner)
	if !ok || !n.Live || n.Slot == 0 {
		return fmt.Errorf("node %q is not a live member", owner)
	}
	body, err := json.Marshal(yieldCall{ID: id, To: l.self})
	if err != nil {
		return err
	}
	rep, err := l.node.Call(ctx, n.Slot, castYieldHandle, body)
	if err != nil {
		return fmt.Errorf("hand-over from %s: %w", owner, err)
	}
	if string(rep) == yieldBusy {
		return smbserver.ErrHandleBusy
	}
	return nil
}

// aliveKey is etcdhandles' claim guard: a record of another node may be
// claimed only once that node's membership key is gone. This node's own
// records (a hand-over it makes) need no guard.
func (l handleLocator) aliveKey(st *namespace.Store) func(owner string) (string, bool) {
	return func(owner string) (string, bool) {
		if owner == l.self {
			return "", false
		}
		n, ok := l.member(owner)
		if !ok {
			return "", false
		}
		return st.LiveNodeKey(n.ID), true
	}
}

// serveYields answers other nodes' hand-over calls.
func (l handleLocator) serveYields(srv *smbserver.Server) {
	l.node.HandleGather(castYieldHandle, func(ctx context.Context, body []byte) ([]byte, error) {
		c, err := decodeYieldCall(body, l.self)
		if err != nil {
			return nil, err
		}
		err = srv.Yield(ctx, c.ID, c.To)
		if errors.Is(err, smbserver.ErrHandleBusy) {
			return []byte(yieldBusy), nil
		}
		return nil, err
	})
	l.node.HandleCast(castExpireSession, func(_ context.Context, body []byte) error {
		c, err := decodeExpireCall(body)
		if err != nil {
			return err
		}
		srv.ExpirePrevious(c.ID, c.User, c.SID)
		return nil
	})
	l.node.HandleGather(castHasHandle, func(_ context.Context, body []byte) ([]byte, error) {
		id, err := decodeHasHandle(body)
		if err != nil {
			return nil, err
		}
		if srv.HasDurable(id) {
			return []byte(l.self), nil
		}
		return nil, nil
	})
}

// adoptInterval is how often a survivor looks again for lost nodes'
// handles nobody adopted (a failed attempt, a restore that had to wait).
const adoptInterval = 10 * time.Second

// adoptLost adopts the handles of every node that is down, at start, on
// every membership change and every adoptInterval, until ctx ends. Every
// survivor does; each record goes to the one whose claim commits first.
// Each round also retries the restores of records this node claimed
// earlier without restoring them.
func (l handleLocator) adoptLost(ctx context.Context, srv *smbserver.Server, log zerolog.Logger) {
	tick := time.NewTicker(adoptInterval)
	defer tick.Stop()
	for {
		ch := l.members.Changed()
		for _, n := range l.members.Nodes() {
			if n.Live || n.Name == "" || n.Name == l.self {
				continue
			}
			actx, cancel := context.WithTimeout(ctx, time.Minute)
			if _, err := srv.Adopt(actx, n.Name); err != nil && ctx.Err() == nil {
				log.Warn().Err(err).Str("node", n.Name).Msg("adopting a lost node's handles")
			}
			cancel()
		}
		// Records this node claimed (adopted or handed over) whose
		// restore failed: no other node may claim them while this one
		// lives, so this one tries again.
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		if _, err := srv.RestoreClaimed(rctx); err != nil && ctx.Err() == nil {
			log.Warn().Err(err).Msg("restoring handles this node claimed")
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-ch:
		case <-tick.C:
		}
	}
}
