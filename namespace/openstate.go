package namespace

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The cluster-wide open state (csv/clusterstate) needs three things of
// etcd, all kept here under Prefix + "openstate/":
//
//   - next-slot: the counter from which every process start takes its
//     slot, the number that open ids and lock owners carry in their top
//     bits. A slot names one run of one node, never a node across
//     restarts: a restarted node's old opens (in other nodes' replicas)
//     must look like those of a node that is gone, and be released, not
//     be taken for the new run's;
//   - secret: the random secret that proves membership on the
//     node-to-node channel;
//   - coordinator: the slot of the node that coordinates the open state,
//     attached to that node's lease. Its create revision is the
//     coordinator's epoch; when the lease ends the key goes and the live
//     nodes elect another.
const (
	openStateDir   = "openstate/"
	nextSlotKey    = openStateDir + "next-slot"
	secretKey      = openStateDir + "secret"
	coordinatorKey = openStateDir + "coordinator"
	// maxSlot is the largest slot: 16 bits of an open id. The counter
	// wraps after it; a slot comes back into use only after 65,535 other
	// process starts, long after anything of its first run is gone.
	maxSlot = 65535
)

// NextSlot takes a slot for this run of a node.
func (s *Store) NextSlot(ctx context.Context) (uint16, error) {
	key := s.prefix + nextSlotKey
	for range casAttempts {
		resp, err := s.cli.Get(ctx, key)
		if err != nil {
			return 0, fmt.Errorf("open-state slot: %w", err)
		}
		var cur uint64
		cmp := clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
		if len(resp.Kvs) > 0 {
			if cur, err = parseSlotCounter(resp.Kvs[0].Value); err != nil {
				return 0, fmt.Errorf("open-state slot counter: bad value %q", resp.Kvs[0].Value)
			}
			cmp = clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision)
		}
		next := cur%maxSlot + 1
		tr, err := s.cli.Txn(ctx).If(cmp).Then(clientv3.OpPut(key, strconv.FormatUint(next, 10))).Commit()
		if err != nil {
			return 0, fmt.Errorf("open-state slot: %w", err)
		}
		if tr.Succeeded {
			return uint16(next), nil
		}
	}
	return 0, errors.New("open-state slot: the counter kept changing; try again")
}

// ClusterSecret returns the cluster's node-to-node secret, creating it on
// first use.
func (s *Store) ClusterSecret(ctx context.Context) ([]byte, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("cluster secret: %w", err)
	}
	key := s.prefix + secretKey
	resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, base64.StdEncoding.EncodeToString(b[:]))).
		Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return nil, fmt.Errorf("cluster secret: %w", err)
	}
	if resp.Succeeded {
		return b[:], nil
	}
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) == 0 {
		return nil, errors.New("cluster secret: vanished during the transaction")
	}
	return decodeClusterSecret(kvs[0].Value)
}

// maxClusterSecret bounds the stored secret (32 bytes are made).
const maxClusterSecret = 1024

// decodeClusterSecret decodes the stored secret: base64 of 16 bytes at
// least, maxClusterSecret at most.
func decodeClusterSecret(b []byte) ([]byte, error) {
	if base64.StdEncoding.DecodedLen(len(b)) > maxClusterSecret {
		return nil, errors.New("cluster secret: stored value is too long")
	}
	sec, err := base64.StdEncoding.DecodeString(string(b))
	if err != nil || len(sec) < 16 {
		return nil, errors.New("cluster secret: stored value is not a secret of at least 16 bytes")
	}
	return sec, nil
}

// parseSlotCounter parses the stored slot counter: the last slot given,
// 0 to maxSlot, in decimal.
func parseSlotCounter(b []byte) (uint64, error) {
	n, err := strconv.ParseUint(string(b), 10, 16)
	if err != nil {
		return 0, err
	}
	return n, nil
}

// parseCoordinatorSlot parses the coordinator key's value: the slot of
// the elected node, 1 to maxSlot (0 is no node's).
func parseCoordinatorSlot(b []byte) (uint16, error) {
	n, err := strconv.ParseUint(string(b), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("bad coordinator value %q", b)
	}
	return uint16(n), nil
}

// Coordinator is the elected open-state coordinator.
type Coordinator struct {
	Slot uint16
	// Epoch is the create revision of the election key: a new term has a
	// larger one. 0 means no coordinator.
	Epoch int64
}

// Election keeps an open-state coordinator elected: while the node holds
// its lease and there is none, it tries to become it. Current and
// Changed report the result.
type Election struct {
	store *Store
	reg   *Registration
	slot  uint16
	log   zerolog.Logger

	mu      sync.Mutex
	cur     Coordinator
	changed chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
}

// electionRetry bounds how long the election waits before it looks again
// after an etcd error.
const electionRetry = 500 * time.Millisecond

// NewElection starts taking part in the election as slot, with reg's
// lease, until Close.
func (s *Store) NewElection(ctx context.Context, reg *Registration, slot uint16, log zerolog.Logger) *Election {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e := &Election{store: s, reg: reg, slot: slot, log: log.With().Str("component", "election").Logger(),
		changed: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	go e.run(ctx)
	return e
}

// Current returns the coordinator as last seen.
func (e *Election) Current() Coordinator {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cur
}

// Changed is closed at the next change of Current.
func (e *Election) Changed() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.changed
}

// Close stops taking part. A coordinator's key stays until its lease
// ends (Registration.Close revokes it).
func (e *Election) Close() {
	e.cancel()
	<-e.done
}

func (e *Election) set(c Coordinator) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cur == c {
		return
	}
	e.cur = c
	close(e.changed)
	e.changed = make(chan struct{})
	e.log.Info().Uint16("coordinator", c.Slot).Int64("epoch", c.Epoch).Msg("open-state coordinator")
}

func (e *Election) run(ctx context.Context) {
	defer close(e.done)
	key := e.store.prefix + coordinatorKey
	for ctx.Err() == nil {
		rev, err := e.round(ctx, key)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			// Without a round's revision a watch would start from now and
			// could miss the key another node just wrote, leaving this
			// node without a coordinator until the next change: read the
			// key again instead.
			e.log.Warn().Err(err).Msg("open-state election")
			t := time.NewTimer(electionRetry)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		if err := e.watchUntilGone(ctx, key, rev); err != nil && ctx.Err() == nil {
			e.log.Debug().Err(err).Msg("election watch ended")
			t := time.NewTimer(electionRetry)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// round reads the key, campaigning when it is absent and the node is
// healthy, and returns the revision to watch from.
func (e *Election) round(ctx context.Context, key string) (int64, error) {
	rctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	var ops []clientv3.Op
	if e.reg.Healthy() == nil {
		ops = append(ops, clientv3.OpPut(key, strconv.Itoa(int(e.slot)), clientv3.WithLease(e.reg.Lease())))
	}
	resp, err := e.store.cli.Txn(rctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(ops...).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return 0, err
	}
	if resp.Succeeded {
		if len(ops) == 0 {
			e.set(Coordinator{})
			return resp.Header.Revision + 1, nil
		}
		e.set(Coordinator{Slot: e.slot, Epoch: resp.Header.Revision})
		return resp.Header.Revision + 1, nil
	}
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) == 0 {
		return resp.Header.Revision + 1, nil
	}
	n, err := parseCoordinatorSlot(kvs[0].Value)
	if err != nil {
		return resp.Header.Revision + 1, err
	}
	e.set(Coordinator{Slot: n, Epoch: kvs[0].CreateRevision})
	return resp.Header.Revision + 1, nil
}

// watchUntilGone returns when the coordinator key is deleted (or, while
// there is none, when the node's health changes, so it may campaign).
func (e *Election) watchUntilGone(ctx context.Context, key string, rev int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	health := e.reg.Changed()
	idle := e.Current().Epoch == 0
	ch := e.store.cli.Watch(wctx, key, clientv3.WithRev(rev))
	for {
		select {
		case <-health:
			if idle {
				return nil
			}
			health = e.reg.Changed()
		case resp, ok := <-ch:
			if !ok {
				return errors.New("watch closed")
			}
			if err := resp.Err(); err != nil {
				return err
			}
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypeDelete {
					e.set(Coordinator{})
					return nil
				}
				if n, err := parseCoordinatorSlot(ev.Kv.Value); err == nil {
					e.set(Coordinator{Slot: n, Epoch: ev.Kv.CreateRevision})
				}
			}
		}
	}
}
