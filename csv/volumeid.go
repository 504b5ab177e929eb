package csv

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// A named cluster shared volume carries its identity on itself: a small
// record in the private area at its root, .sofs/volume.json, holding the
// volume's name and the id the cluster registered for it. A node checks
// the record before it serves shares on the volume, so an empty mount
// point (the shared file system not mounted), another file system mounted
// there, or a stale copy is refused instead of written into. The private
// area is unreachable over SMB (parsePath refuses ".sofs" at a share's
// root), so no client can forge or remove the record.

// VolumeStampPath is where the identity record of the volume rooted at
// root lives.
func VolumeStampPath(root string) string {
	return filepath.Join(root, hiddenDir, "volume.json")
}

// maxStampSize bounds the record read back: a name and an id.
const maxStampSize = 4 << 10

type volumeStamp struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

// ErrVolumeUnverified is wrapped by CheckVolumeStamp's errors.
var ErrVolumeUnverified = errors.New("volume identity not verified")

// StampVolume writes the identity record of volume name with id at root,
// which must be an existing directory. A record that is already there for
// the same id is kept; one for another volume is an error, so two
// registrations cannot claim one directory.
func StampVolume(root, name, id string) error {
	st, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("volume %s: %w", name, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("volume %s: %s is not a directory", name, root)
	}
	if err := CheckVolumeStamp(root, name, id); err == nil {
		return nil
	} else if _, rerr := os.Stat(VolumeStampPath(root)); rerr == nil {
		return fmt.Errorf("volume %s: %s already belongs to another volume: %w", name, root, err)
	}
	if err := os.MkdirAll(filepath.Join(root, hiddenDir), 0o755); err != nil {
		return fmt.Errorf("volume %s: %w", name, err)
	}
	b, err := json.Marshal(volumeStamp{Name: name, ID: id})
	if err != nil {
		return fmt.Errorf("volume %s: %w", name, err)
	}
	tmp := VolumeStampPath(root) + ".new"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("volume %s: %w", name, err)
	}
	_, werr := f.Write(b)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("volume %s: write identity: %w", name, err)
	}
	// A shared file system makes the rename visible to every node at once.
	if err := os.Rename(tmp, VolumeStampPath(root)); err != nil {
		return fmt.Errorf("volume %s: %w", name, err)
	}
	return nil
}

// CheckVolumeStamp reports why the directory at root is not volume name
// with id as registered, or nil: missing (not mounted, or mounted
// elsewhere), unreadable, or the identity of another volume.
func CheckVolumeStamp(root, name, id string) error {
	b, err := readSmall(VolumeStampPath(root), maxStampSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s has no identity record (%s): the volume is not mounted there, or another file system is", ErrVolumeUnverified, root, VolumeStampPath(root))
	case err != nil:
		return fmt.Errorf("%w: %v", ErrVolumeUnverified, err)
	}
	s, err := parseVolumeStamp(b)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrVolumeUnverified, VolumeStampPath(root), err)
	}
	if s.ID != id || s.Name != name {
		return fmt.Errorf("%w: %s holds volume %q (id %s), not %q (id %s): another or an older file system is mounted there", ErrVolumeUnverified, root, s.Name, s.ID, name, id)
	}
	return nil
}

// parseVolumeStamp decodes an identity record: a name and an id, neither
// empty (a record without them identifies nothing).
func parseVolumeStamp(b []byte) (volumeStamp, error) {
	var s volumeStamp
	if err := json.Unmarshal(b, &s); err != nil {
		return volumeStamp{}, err
	}
	if s.Name == "" || s.ID == "" {
		return volumeStamp{}, errors.New("identity record without a name or an id")
	}
	return s, nil
}

func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}
