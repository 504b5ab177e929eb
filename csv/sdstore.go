package csv

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Security descriptors are kept once per distinct descriptor, as NTFS
// keeps them in $Secure: each object's user.sofs.sd attribute holds a
// 4-byte security id, and the descriptor bytes live in a file named by
// that id in the volume's descriptor store.
//
// Why not the descriptor itself in the attribute: on ext4 with 256-byte
// inodes only about 100 bytes of attributes fit inside the inode, and the
// meta record takes most of them; a descriptor (100-300 bytes) would spill
// into an external attribute block, which costs a disk block per file and
// shows as 4 KiB more AllocationSize on every file (smbtorture's
// smb2.create.blob notices). A 4-byte id still fits.
//
// The store is the directory sdStoreDir at the volume root. Its name
// contains '|', which no SMB path may contain ([MS-FSCC] 2.1.5.2), so
// clients can neither list nor open it. A descriptor's file name is its
// id in hex; the id is the first four bytes of the descriptor's SHA-256,
// probed linearly on collision. Files are written under a temporary
// name and published with link(2), which fails if the name exists, so
// two nodes storing the same or colliding descriptors at once on the
// shared volume agree without a lock: whoever links first wins and the
// other re-reads and compares. Published files are never changed, so any
// node may cache them for ever. Descriptors are not reference counted
// and stay in the store when their last object goes (NTFS does the same);
// there are few distinct descriptors.
const (
	sdStoreDir = ".sofs|security"
	// sdIDSize is the size of the per-object attribute value.
	sdIDSize = 4
	// maxSDProbes bounds the linear probing after an id collision.
	maxSDProbes = 64
	// sdCacheMax bounds the descriptors cached per volume; the cache is
	// simply emptied when full (entries are cheap to reload).
	sdCacheMax = 4096
)

// sdStore is a volume's descriptor store. The zero value is ready; the
// store directory is opened per miss (misses are rare: published
// descriptors are cached for good).
type sdStore struct {
	mu     sync.Mutex
	byID   map[uint32][]byte
	byHash map[[sha256.Size]byte]uint32
}

// openSDDir opens (creating if asked) the store directory.
func openSDDir(v *Volume, create bool) (int, error) {
	const flags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(v.rootfd, sdStoreDir, flags, 0)
	if err == unix.ENOENT && create {
		if err := unix.Mkdirat(v.rootfd, sdStoreDir, 0o700); err != nil && err != unix.EEXIST {
			return -1, err
		}
		fd, err = unix.Openat(v.rootfd, sdStoreDir, flags, 0)
	}
	return fd, err
}

func (s *sdStore) remember(id uint32, h [sha256.Size]byte, sd []byte) {
	if s.byID == nil {
		s.byID = make(map[uint32][]byte)
		s.byHash = make(map[[sha256.Size]byte]uint32)
	}
	if len(s.byID) >= sdCacheMax {
		clear(s.byID)
		clear(s.byHash)
	}
	s.byID[id] = sd
	s.byHash[h] = id
}

// readFile reads the descriptor file of id; ok is false when there is
// none.
func readSDFile(dirfd int, id uint32) ([]byte, bool, error) {
	fd, err := unix.Openat(dirfd, sdFileName(id), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	f := os.NewFile(uintptr(fd), sdFileName(id))
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSDSize+1))
	if err != nil {
		return nil, false, err
	}
	if len(b) > maxSDSize {
		return nil, false, fmt.Errorf("security descriptor %s larger than %d bytes", sdFileName(id), maxSDSize)
	}
	return b, true, nil
}

func sdFileName(id uint32) string { return fmt.Sprintf("%08x", id) }

// get returns the descriptor stored under id.
func (s *sdStore) get(v *Volume, id uint32) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sd, ok := s.byID[id]; ok {
		return sd, true, nil
	}
	dirfd, err := openSDDir(v, false)
	if err == unix.ENOENT {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer unix.Close(dirfd)
	sd, ok, err := readSDFile(dirfd, id)
	if err != nil || !ok {
		return nil, false, err
	}
	s.remember(id, sha256.Sum256(sd), sd)
	return sd, true, nil
}

// put stores sd (if not stored yet) and returns its id.
func (s *sdStore) put(v *Volume, sd []byte) (uint32, error) {
	h := sha256.Sum256(sd)
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.byHash[h]; ok {
		return id, nil
	}
	dirfd, err := openSDDir(v, true)
	if err != nil {
		return 0, err
	}
	defer unix.Close(dirfd)
	id := binary.LittleEndian.Uint32(h[:4])
	for range maxSDProbes {
		old, ok, err := readSDFile(dirfd, id)
		if err != nil {
			return 0, err
		}
		if !ok {
			won, err := publishSD(dirfd, id, sd)
			if err != nil {
				return 0, err
			}
			if !won {
				// Another writer published this id first: look again.
				old, ok, err = readSDFile(dirfd, id)
				if err != nil {
					return 0, err
				}
			}
			if won || (ok && bytes.Equal(old, sd)) {
				sd = bytes.Clone(sd)
				s.remember(id, h, sd)
				return id, nil
			}
		} else if bytes.Equal(old, sd) {
			s.remember(id, h, old)
			return id, nil
		}
		id++
	}
	return 0, fmt.Errorf("security descriptor store: %d colliding ids", maxSDProbes)
}

// publishSD writes sd to a temporary file and links it to id's name;
// won is false when that name already exists.
func publishSD(dirfd int, id uint32, sd []byte) (won bool, err error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := "tmp-" + hex.EncodeToString(rnd[:])
	fd, err := unix.Openat(dirfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return false, err
	}
	defer unix.Unlinkat(dirfd, tmp, 0)
	f := os.NewFile(uintptr(fd), tmp)
	if _, err := f.Write(sd); err != nil {
		f.Close()
		return false, err
	}
	// The descriptor must be durable before any object refers to it.
	if err := f.Sync(); err != nil {
		f.Close()
		return false, err
	}
	if err := f.Close(); err != nil {
		return false, err
	}
	err = unix.Linkat(dirfd, tmp, dirfd, sdFileName(id), 0)
	if err == unix.EEXIST {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := unix.Fsync(dirfd); err != nil {
		return false, err
	}
	return true, nil
}
