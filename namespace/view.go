package namespace

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Backoff bounds for re-listing after a watch failure: quick enough that a
// blip costs well under a second, capped so a dead etcd is not hammered.
const (
	minRelistBackoff = 50 * time.Millisecond
	maxRelistBackoff = 5 * time.Second
	// healthyWatch is how long a stream must have lasted for its failure
	// to count as new rather than as another failed attempt.
	healthyWatch = 10 * time.Second
	// relistTimeout bounds one list request during recovery.
	relistTimeout = 5 * time.Second
)

// View is a live, read-only snapshot of the namespace. It lists every key
// under the prefix once, then follows an etcd watch from the listed
// revision, so no change is missed between list and watch. When the watch
// fails (compaction, leader loss, a closed stream) it lists again and
// resumes watching from the new revision. Lookups read only memory.
type View struct {
	store *Store
	log   zerolog.Logger
	// watch opens the watch stream; a field so tests can inject failures.
	watch func(ctx context.Context, rev int64) clientv3.WatchChan

	cancel context.CancelFunc
	done   chan struct{}

	mu  sync.RWMutex
	rev int64
	// shares and users are keyed by the key's last segment, which the
	// Store writes as the lower-cased name.
	shares  map[string]Share
	refused map[string]RefusedShare // share records not served, by the same key
	users   map[string][16]byte     // NT hashes
	cluster Cluster
	hasCl   bool
	changed chan struct{} // closed and replaced on every applied change
}

// NewView loads the namespace and starts following it. It returns once the
// first load has succeeded, so a new View is never empty by accident.
// Close stops it.
func NewView(ctx context.Context, store *Store, log zerolog.Logger) (*View, error) {
	v := newView(store, log)
	rev, err := v.load(ctx)
	if err != nil {
		return nil, err
	}
	v.start(rev)
	return v, nil
}

func newView(store *Store, log zerolog.Logger) *View {
	v := &View{
		store:   store,
		log:     log.With().Str("component", "namespace-view").Logger(),
		done:    make(chan struct{}),
		changed: make(chan struct{}),
	}
	v.watch = func(ctx context.Context, rev int64) clientv3.WatchChan {
		// WithRequireLeader makes a member cut off from the quorum end the
		// stream instead of serving a view that silently stops changing.
		return store.cli.Watch(clientv3.WithRequireLeader(ctx), store.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev))
	}
	return v
}

func (v *View) start(rev int64) {
	ctx, cancel := context.WithCancel(context.Background())
	v.cancel = cancel
	go v.run(ctx, rev)
}

// Close stops following etcd and waits for the watcher to exit. The last
// snapshot stays readable.
func (v *View) Close() {
	v.cancel()
	<-v.done
}

// Changed returns a channel that is closed at the next change applied to
// the view. Take a new channel after each wake-up.
func (v *View) Changed() <-chan struct{} {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.changed
}

// Revision returns the etcd revision the snapshot reflects.
func (v *View) Revision() int64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.rev
}

// Share returns the share named name (case-insensitive).
func (v *View) Share(name string) (Share, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	sh, ok := v.shares[keyName(name)]
	return sh, ok
}

// Shares returns every share, ordered by lower-cased name.
func (v *View) Shares() []Share {
	v.mu.RLock()
	out := make([]Share, 0, len(v.shares))
	for _, sh := range v.shares {
		out = append(out, sh)
	}
	v.mu.RUnlock()
	sortShares(out)
	return out
}

// RefusedShares returns the stored share records the view does not serve
// (they do not decode or break a rule), ordered by key.
func (v *View) RefusedShares() []RefusedShare {
	v.mu.RLock()
	out := make([]RefusedShare, 0, len(v.refused))
	for _, r := range v.refused {
		out = append(out, r)
	}
	v.mu.RUnlock()
	slices.SortFunc(out, func(a, b RefusedShare) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// NTHash returns the NT hash of user (case-insensitive).
func (v *View) NTHash(user string) ([16]byte, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	h, ok := v.users[keyName(user)]
	return h, ok
}

// Cluster returns the cluster record, if it exists.
func (v *View) Cluster() (Cluster, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.cluster, v.hasCl
}

// load lists the whole prefix at one revision and replaces the snapshot.
// It returns the revision to resume watching from.
func (v *View) load(ctx context.Context) (int64, error) {
	resp, err := v.store.cli.Get(ctx, v.store.prefix, clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("namespace view: list %s: %w", v.store.prefix, err)
	}
	shares := make(map[string]Share)
	refused := make(map[string]RefusedShare)
	users := make(map[string][16]byte)
	var cl Cluster
	hasCl := false
	for _, kv := range resp.Kvs {
		key := strings.TrimPrefix(string(kv.Key), v.store.prefix)
		switch {
		case strings.HasPrefix(key, sharesDir):
			if sh, err := decodeShare(kv.Value); err != nil {
				r := refusedShare(string(kv.Key), v.store.prefix+sharesDir, kv.Value, err)
				refused[strings.TrimPrefix(key, sharesDir)] = r
				v.log.Error().Str("key", r.Key).Str("share", r.Name).Str("path", r.Path).Str("reason", r.Reason).Msg("share refused: not served")
			} else {
				shares[strings.TrimPrefix(key, sharesDir)] = sh
			}
		case strings.HasPrefix(key, usersDir):
			if _, h, err := decodeUser(kv.Value); err != nil {
				v.log.Error().Err(err).Str("key", string(kv.Key)).Msg("ignoring bad user record")
			} else {
				users[strings.TrimPrefix(key, usersDir)] = h
			}
		case key == clusterKey:
			if c, err := decodeCluster(kv.Value); err != nil {
				v.log.Error().Err(err).Msg("ignoring bad cluster record")
			} else {
				cl, hasCl = c, true
			}
		}
	}
	v.mu.Lock()
	v.shares, v.refused, v.users, v.cluster, v.hasCl = shares, refused, users, cl, hasCl
	v.rev = resp.Header.Revision
	v.notifyLocked()
	v.mu.Unlock()
	return resp.Header.Revision + 1, nil
}

// notifyLocked wakes everyone waiting on Changed. v.mu must be held.
func (v *View) notifyLocked() {
	close(v.changed)
	v.changed = make(chan struct{})
}

// run follows the watch, re-listing after any failure with bounded
// exponential backoff, until ctx ends.
func (v *View) run(ctx context.Context, rev int64) {
	defer close(v.done)
	backoff := minRelistBackoff
	for ctx.Err() == nil {
		started := time.Now()
		next, err := v.follow(ctx, rev)
		if ctx.Err() != nil {
			return
		}
		if next > rev || time.Since(started) > healthyWatch {
			// The stream worked for a while before failing: this is a new
			// failure, not a repeat, so start again from the shortest wait.
			backoff = minRelistBackoff
		}
		v.log.Warn().Err(err).Int64("revision", next).Dur("backoff", backoff).Msg("namespace watch ended; re-listing")
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
			r, err := v.load(lctx)
			cancel()
			if err == nil {
				rev = r
				break
			}
			v.log.Warn().Err(err).Dur("backoff", backoff).Msg("namespace re-list failed")
		}
	}
}

// errWatchClosed reports a watch channel that closed without an error.
var errWatchClosed = errors.New("watch channel closed")

// follow applies watch events from rev until the stream fails, returning
// the revision to resume from and why it stopped.
func (v *View) follow(ctx context.Context, rev int64) (int64, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream so the client frees it
	for resp := range v.watch(wctx, rev) {
		if err := resp.Err(); err != nil {
			return rev, err
		}
		if resp.Canceled {
			return rev, errors.New("watch canceled by the server")
		}
		if len(resp.Events) == 0 {
			continue // progress notification
		}
		v.apply(resp.Events, resp.Header.Revision)
		rev = resp.Header.Revision + 1
	}
	return rev, errWatchClosed
}

// apply folds one watch response's events into the snapshot.
func (v *View) apply(events []*clientv3.Event, rev int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, ev := range events {
		full := string(ev.Kv.Key)
		key := strings.TrimPrefix(full, v.store.prefix)
		put := ev.Type == clientv3.EventTypePut
		switch {
		case strings.HasPrefix(key, sharesDir):
			id := strings.TrimPrefix(key, sharesDir)
			delete(v.refused, id)
			if !put {
				delete(v.shares, id)
				continue
			}
			sh, err := decodeShare(ev.Kv.Value)
			if err != nil {
				// Drop the old value: serving a share whose stored record
				// is broken would hide the problem.
				delete(v.shares, id)
				r := refusedShare(full, v.store.prefix+sharesDir, ev.Kv.Value, err)
				v.refused[id] = r
				v.log.Error().Str("key", r.Key).Str("share", r.Name).Str("path", r.Path).Str("reason", r.Reason).Msg("share refused: not served")
				continue
			}
			v.shares[id] = sh
		case strings.HasPrefix(key, usersDir):
			id := strings.TrimPrefix(key, usersDir)
			if !put {
				delete(v.users, id)
				continue
			}
			_, h, err := decodeUser(ev.Kv.Value)
			if err != nil {
				delete(v.users, id)
				v.log.Error().Err(err).Str("key", full).Msg("ignoring bad user record")
				continue
			}
			v.users[id] = h
		case key == clusterKey:
			if !put {
				v.cluster, v.hasCl = Cluster{}, false
				continue
			}
			c, err := decodeCluster(ev.Kv.Value)
			if err != nil {
				v.log.Error().Err(err).Msg("ignoring bad cluster record")
				continue
			}
			v.cluster, v.hasCl = c, true
		}
	}
	v.rev = rev
	v.notifyLocked()
}
