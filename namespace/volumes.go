package namespace

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Volume is a named cluster shared volume: a directory every node mounts
// at Path (a shared file system), registered with an ID that is also
// stamped on the directory itself (csv.StampVolume). A share whose path
// lies inside a volume's Path is on that volume, and a node serves it
// only while its view of the volume carries the ID (docs/operations.md,
// "Cluster shared volumes").
type Volume struct {
	Name    string    `json:"name"`
	Path    string    `json:"path"`
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
}

const volumesDir = "volumes/"

func (s *Store) volumeKey(name string) string { return s.prefix + volumesDir + keyName(name) }

// ValidateVolumeName reports why name cannot name a volume: the rules of
// share names.
func ValidateVolumeName(name string) error {
	return checkName("volume", name, MaxShareNameLen, shareForbidden)
}

// Validate reports why v cannot be stored: its name, and a path that
// CheckSharePath accepts (a volume holds shares, so it may not be
// anywhere a share may not).
func (v Volume) Validate() error {
	if err := ValidateVolumeName(v.Name); err != nil {
		return err
	}
	if err := CheckSharePath(v.Path); err != nil {
		return fmt.Errorf("volume %q: %w", v.Name, err)
	}
	if len(v.ID) != 32 || !isHex(v.ID) {
		return fmt.Errorf("volume %q: id %q is not 32 hex digits", v.Name, v.ID)
	}
	return nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// decodeVolume decodes a stored volume record and checks it.
func decodeVolume(b []byte) (Volume, error) {
	var v Volume
	if err := json.Unmarshal(b, &v); err != nil {
		return Volume{}, err
	}
	if err := v.Validate(); err != nil {
		return Volume{}, err
	}
	return v, nil
}

// NewVolume returns a volume record with a fresh id, not yet stored.
func NewVolume(name, p string) (Volume, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Volume{}, fmt.Errorf("volume id: %w", err)
	}
	v := Volume{Name: name, Path: p, ID: hex.EncodeToString(id[:])}
	return v, v.Validate()
}

// CreateVolume stores v; ErrExists if a volume of that name exists.
func (s *Store) CreateVolume(ctx context.Context, v Volume) (Volume, error) {
	if err := v.Validate(); err != nil {
		return Volume{}, err
	}
	v.Created = s.now().UTC()
	b, err := json.Marshal(v)
	if err != nil {
		return Volume{}, fmt.Errorf("encode volume %q: %w", v.Name, err)
	}
	key := s.volumeKey(v.Name)
	resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).Then(clientv3.OpPut(key, string(b))).Commit()
	if err != nil {
		return Volume{}, fmt.Errorf("create volume %q: %w", v.Name, err)
	}
	if !resp.Succeeded {
		return Volume{}, fmt.Errorf("volume %q: %w", v.Name, ErrExists)
	}
	return v, nil
}

// ListVolumes returns every volume, ordered by lower-cased name. A record
// that does not decode is skipped and reported in the error list, as
// ListShares does, so one bad record hides no good volume.
func (s *Store) ListVolumes(ctx context.Context) ([]Volume, []error, error) {
	resp, err := s.cli.Get(ctx, s.prefix+volumesDir, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, nil, fmt.Errorf("list volumes: %w", err)
	}
	var out []Volume
	var bad []error
	for _, kv := range resp.Kvs {
		v, err := decodeVolume(kv.Value)
		if err != nil {
			bad = append(bad, fmt.Errorf("volume record %s: %w", kv.Key, err))
			continue
		}
		out = append(out, v)
	}
	return out, bad, nil
}

// VolumeOf returns the volume whose path holds p (the deepest, if
// volumes nest), or false when p is on none.
func VolumeOf(vols []Volume, p string) (Volume, bool) {
	p = path.Clean(p)
	var best Volume
	found := false
	for _, v := range vols {
		if (p == v.Path || strings.HasPrefix(p, v.Path+"/")) && (!found || len(v.Path) > len(best.Path)) {
			best, found = v, true
		}
	}
	return best, found
}

// DeleteVolume removes the volume named name; ErrNotFound if there is
// none. Its stamp and its shares stay: shares on its path become ordinary
// shares again.
func (s *Store) DeleteVolume(ctx context.Context, name string) error {
	if err := ValidateVolumeName(name); err != nil {
		return err
	}
	resp, err := s.cli.Delete(ctx, s.volumeKey(name))
	if err != nil {
		return fmt.Errorf("delete volume %q: %w", name, err)
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("volume %q: %w", name, ErrNotFound)
	}
	return nil
}
