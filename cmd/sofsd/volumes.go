package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/csv"
	"sofs.io/sofs/namespace"
)

// volumeCheckEvery is how often a node rereads the volumes and their
// identity records: a stat and a read of a few bytes per volume, and the
// bound on how long a lost or replaced mount goes unnoticed.
const volumeCheckEvery = 5 * time.Second

// volumeChecker is this node's view of the cluster shared volumes: which
// are registered, and whether each carries its identity here. Shares on a
// volume that fails are not served (shareSource.allowed).
type volumeChecker struct {
	store *namespace.Store
	log   zerolog.Logger

	mu       sync.RWMutex
	vols     []namespace.Volume
	problems map[string]error // by volume name
}

func newVolumeChecker(st *namespace.Store, log zerolog.Logger) *volumeChecker {
	return &volumeChecker{store: st, log: log.With().Str("component", "volumes").Logger(), problems: map[string]error{}}
}

// check lists the volumes and checks each one's identity record, logging
// every change of a volume's state.
func (c *volumeChecker) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	vols, bad, err := c.store.ListVolumes(ctx)
	if err != nil {
		return err
	}
	for _, err := range bad {
		c.log.Error().Err(err).Msg("volume record refused")
	}
	problems := map[string]error{}
	for _, v := range vols {
		if err := csv.CheckVolumeStamp(v.Path, v.Name, v.ID); err != nil {
			problems[v.Name] = err
		}
	}
	c.mu.Lock()
	old := c.problems
	c.vols, c.problems = vols, problems
	c.mu.Unlock()
	for _, v := range vols {
		was, now := old[v.Name], problems[v.Name]
		switch {
		case now != nil && (was == nil || was.Error() != now.Error()):
			c.log.Error().Str("volume", v.Name).Str("path", v.Path).Err(now).Msg("volume not verified on this node: its shares are not served here")
		case now == nil && was != nil:
			c.log.Info().Str("volume", v.Name).Str("path", v.Path).Msg("volume verified again: its shares are served")
		}
	}
	return nil
}

// run rechecks every volumeCheckEvery until ctx ends.
func (c *volumeChecker) run(ctx context.Context) {
	t := time.NewTicker(volumeCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.check(ctx); err != nil && ctx.Err() == nil {
				// Keep the last state: an etcd hiccup says nothing about
				// the mounts.
				c.log.Warn().Err(err).Msg("volume check: list volumes")
			}
		}
	}
}

// shareProblem says why a share on path is not served here because of its
// volume, or nil (no volume, or a verified one).
func (c *volumeChecker) shareProblem(p string) error {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := namespace.VolumeOf(c.vols, p)
	if !ok {
		return nil
	}
	if err := c.problems[v.Name]; err != nil {
		return fmt.Errorf("volume %s: %w", v.Name, err)
	}
	return nil
}

// volumeAdmin implements adminapi.Volumes.
type volumeAdmin struct {
	store  *namespace.Store
	check  *volumeChecker
	policy namespace.SharePathPolicy
}

func (a volumeAdmin) info(v namespace.Volume) adminapi.VolumeInfo {
	vi := adminapi.VolumeInfo{Name: v.Name, Path: v.Path, ID: v.ID, Created: v.Created, Verified: true}
	a.check.mu.RLock()
	err, known := a.check.problems[v.Name], false
	for _, cv := range a.check.vols {
		known = known || cv.Name == v.Name
	}
	a.check.mu.RUnlock()
	if err == nil && !known {
		err = csv.CheckVolumeStamp(v.Path, v.Name, v.ID)
	}
	if err != nil {
		vi.Verified, vi.Problem = false, err.Error()
	}
	return vi
}

// CreateVolume registers a volume and stamps its directory, which must be
// mounted on this node.
func (a volumeAdmin) CreateVolume(ctx context.Context, name, path string) (adminapi.VolumeInfo, error) {
	v, err := namespace.NewVolume(name, path)
	if err != nil {
		return adminapi.VolumeInfo{}, fmt.Errorf("%w: %w", adminapi.ErrInvalidVolume, err)
	}
	if err := a.policy.Check(path); err != nil {
		return adminapi.VolumeInfo{}, fmt.Errorf("%w: %w", adminapi.ErrInvalidVolume, err)
	}
	if st, err := os.Stat(path); err != nil || !st.IsDir() {
		return adminapi.VolumeInfo{}, fmt.Errorf("%w: %s is not a directory on this node (mount the shared file system there first)", adminapi.ErrInvalidVolume, path)
	}
	if v, err = a.store.CreateVolume(ctx, v); err != nil {
		if errors.Is(err, namespace.ErrExists) {
			return adminapi.VolumeInfo{}, fmt.Errorf("%w: %w", adminapi.ErrVolumeExists, err)
		}
		return adminapi.VolumeInfo{}, err
	}
	if err := csv.StampVolume(v.Path, v.Name, v.ID); err != nil {
		// Unregister: a volume nobody can verify would only refuse shares.
		if derr := a.store.DeleteVolume(context.WithoutCancel(ctx), v.Name); derr != nil {
			err = errors.Join(err, derr)
		}
		if strings.Contains(err.Error(), "another volume") {
			return adminapi.VolumeInfo{}, fmt.Errorf("%w: %w", adminapi.ErrInvalidVolume, err)
		}
		return adminapi.VolumeInfo{}, err
	}
	if err := a.check.check(ctx); err != nil {
		return adminapi.VolumeInfo{}, err
	}
	return a.info(v), nil
}

// Volumes lists the volumes as this node sees them.
func (a volumeAdmin) Volumes(ctx context.Context) ([]adminapi.VolumeInfo, error) {
	vols, _, err := a.store.ListVolumes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]adminapi.VolumeInfo, 0, len(vols))
	for _, v := range vols {
		out = append(out, a.info(v))
	}
	return out, nil
}
