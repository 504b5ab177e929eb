package csv

import (
	"os"
	"slices"
	"sync"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// Bounds of the case-insensitive name cache. 64 directories cover the
// working set of a busy share (the directories files are being created in);
// directories with more than 200,000 entries are not cached, bounding the
// memory to roughly 64 x 200,000 names in the worst case and keeping very
// large directories correct (scanned each time) rather than fast.
const (
	maxCachedDirs  = 64
	maxCachedNames = 200000
)

// dirKey identifies a directory on the backing file system.
type dirKey struct{ dev, ino uint64 }

// dirStamp is what must be unchanged for a cached listing to be trusted.
// Timestamps on Linux have the granularity of the coarse clock (a few
// milliseconds), so an external change in the same tick as our scan can go
// unseen; changes made through this Volume update or drop the entry
// explicitly, so only changes made behind the server's back within one tick
// are at risk.
type dirStamp struct {
	mtime, ctime unix.StatxTimestamp
	size         uint64
}

func stampOf(st *unix.Statx_t) dirStamp {
	return dirStamp{mtime: st.Mtime, ctime: st.Ctime, size: st.Size}
}

func keyOf(st *unix.Statx_t) dirKey {
	return dirKey{dev: unix.Mkdev(st.Dev_major, st.Dev_minor), ino: st.Ino}
}

// dirNames is one cached directory: fold key to the on-disk names with that
// key, sorted so that the choice among case variants is deterministic.
type dirNames struct {
	stamp dirStamp
	names map[string][]string
	used  uint64
}

// dirCache is the bounded per-volume cache of case-folded directory
// listings, used only when an exact lookup misses.
type dirCache struct {
	mu   sync.Mutex
	dirs map[dirKey]*dirNames
	tick uint64
	// scans counts directory scans, so tests can check that lookups in a
	// large directory do not rescan it.
	scans uint64
}

func newDirCache() *dirCache { return &dirCache{dirs: make(map[dirKey]*dirNames)} }

// lookup finds the on-disk name in the directory dirfd (described by st)
// that equals name case-insensitively. It returns "" if there is none.
func (c *dirCache) lookup(dirfd int, st *unix.Statx_t, name string) (string, error) {
	key, stamp := keyOf(st), stampOf(st)
	fk := foldKey(name)
	c.mu.Lock()
	if d := c.dirs[key]; d != nil && d.stamp == stamp {
		c.tick++
		d.used = c.tick
		found := first(d.names[fk], name)
		c.mu.Unlock()
		return found, nil
	}
	c.mu.Unlock()

	names, err := scanNames(dirfd)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.scans++
	c.mu.Unlock()
	idx := make(map[string][]string, len(names))
	for _, n := range names {
		if utf8.ValidString(n) {
			k := foldKey(n)
			idx[k] = append(idx[k], n)
		}
	}
	for _, v := range idx {
		slices.Sort(v)
	}
	found := first(idx[fk], name)
	if len(names) <= maxCachedNames {
		c.mu.Lock()
		c.store(key, &dirNames{stamp: stamp, names: idx})
		c.mu.Unlock()
	}
	return found, nil
}

// first returns the first candidate that really equals name under
// EqualFold (the key is canonical, the check keeps the two rules tied).
func first(cands []string, name string) string {
	for _, n := range cands {
		if equalFold(n, name) {
			return n
		}
	}
	return ""
}

func (c *dirCache) store(key dirKey, d *dirNames) {
	if _, ok := c.dirs[key]; !ok && len(c.dirs) >= maxCachedDirs {
		var old dirKey
		oldest := ^uint64(0)
		for k, v := range c.dirs {
			if v.used < oldest {
				old, oldest = k, v.used
			}
		}
		delete(c.dirs, old)
	}
	c.tick++
	d.used = c.tick
	c.dirs[key] = d
}

// added records that this Volume created name in the directory whose state
// before the change was before and after it is after. A listing that was
// current before is updated in place (so creating many files in a large
// directory never rescans it); any other is dropped.
func (c *dirCache) added(before, after *unix.Statx_t, name string) {
	key := keyOf(before)
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.dirs[key]
	if d == nil {
		return
	}
	if d.stamp != stampOf(before) || !utf8.ValidString(name) {
		delete(c.dirs, key)
		return
	}
	k := foldKey(name)
	if !slices.Contains(d.names[k], name) {
		d.names[k] = append(d.names[k], name)
		slices.Sort(d.names[k])
	}
	d.stamp = stampOf(after)
}

// forget drops the listing of a directory (after a removal or rename).
func (c *dirCache) forget(st *unix.Statx_t) {
	c.mu.Lock()
	delete(c.dirs, keyOf(st))
	c.mu.Unlock()
}

// scanNames lists a directory through a fresh open file description, so
// that no descriptor shared with a Handle has its position moved.
func scanNames(dirfd int) ([]string, error) {
	fd, err := unix.Openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "dir")
	defer f.Close()
	return f.Readdirnames(-1)
}
