package etcdnode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/client/pkg/v3/fileutil"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3/raftpb"
)

// DataError reports an embedded member's data directory that etcd cannot
// start from: a damaged write-ahead log or backend database. The member
// must be restored from a backup or, in a cluster of several members,
// removed and joined again with an empty directory; retrying the start
// cannot help.
type DataError struct {
	// Path is the damaged file (or directory).
	Path string
	// Problem says what is wrong with it.
	Problem string
	// Err is the underlying error, if any.
	Err error
}

func (e *DataError) Error() string {
	return fmt.Sprintf("etcd data %s is damaged: %s", e.Path, e.Problem)
}

func (e *DataError) Unwrap() error { return e.Err }

// CheckData reads an embedded member's data directory the way etcd will at
// start, without changing it, and returns a *DataError for damage etcd
// would meet with a panic, a hang or a silent loss instead of an error:
//
//   - a WAL file of 0 bytes, or one without a single record (etcd's raft
//     panics restarting from a log with no hard state);
//   - a WAL file cut short: its last record's declared length runs past
//     the end of the file, which no crash of etcd produces (etcd
//     preallocates each segment, so a torn write leaves zeros inside the
//     file, and etcd repairs that itself) but a truncated copy or a
//     failing disk does; etcd would drop the tail and start from a log
//     older than its database, and may then never become ready;
//   - a WAL record that fails its checksum or does not decode;
//   - a backend database (member/snap/db) that bbolt cannot open or read
//     (etcd panics on it in a goroutine no caller can recover);
//   - a one-member cluster whose WAL ends before the last entry its
//     database applied (a log cut at a record boundary, or an old WAL
//     beside a newer database): etcd would never become ready.
//
// A directory without member data passes: the member starts fresh.
func CheckData(dir string) error {
	if !HasData(dir) {
		return nil
	}
	walDir := filepath.Join(dir, "member", "wal")
	last, err := checkWAL(walDir)
	if err != nil {
		return err
	}
	dbPath := filepath.Join(dir, "member", "snap", "db")
	applied, members, err := checkBackend(dbPath)
	if err != nil {
		return err
	}
	// The database records the last entry applied to it; every applied
	// entry came from the log, so a log that ends before it lost its
	// tail. A lone member then waits for ever: raft hands out the lost
	// indexes again and etcd skips them as applied. With peers the
	// leader resends the lost entries, so only a lone member is refused.
	if applied > last && members <= 1 {
		return &DataError{Path: walDir, Problem: fmt.Sprintf(
			"the WAL ends at entry %d, but the database %s has applied entries up to %d: the log lost its tail", last, dbPath, applied)}
	}
	return nil
}

// walExt is the suffix of WAL segment files; etcd ignores other files in
// the directory (its own .tmp and .broken among them).
const walExt = ".wal"

// checkWAL checks every segment and returns the highest raft index the
// log holds (entries, or the snapshot it starts from).
func checkWAL(walDir string) (uint64, error) {
	ents, err := os.ReadDir(walDir)
	if err != nil {
		return 0, &DataError{Path: walDir, Problem: "cannot list the WAL directory", Err: err}
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), walExt) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return 0, &DataError{Path: walDir, Problem: "the WAL directory holds no " + walExt + " file"}
	}
	// Segment names are fixed-width hex sequence and index numbers, so
	// name order is log order.
	slices.Sort(names)
	var last uint64
	for _, name := range names {
		l, err := checkWALFile(filepath.Join(walDir, name))
		if err != nil {
			return 0, err
		}
		last = max(last, l)
	}
	return last, nil
}

// checkWALFile decodes one segment. Each segment starts with a CRC record
// carrying the previous segment's checksum, so a fresh decoder per file
// checks every record's CRC within the file. It returns the highest raft
// index the segment holds.
func checkWALFile(path string) (last uint64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, &DataError{Path: path, Problem: "cannot open", Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, &DataError{Path: path, Problem: "cannot stat", Err: err}
	}
	if st.Size() == 0 {
		return 0, &DataError{Path: path, Problem: "the WAL file is empty (0 bytes)"}
	}
	dec := wal.NewDecoder(fileutil.NewFileReader(f))
	records := 0
	var rec walpb.Record
	for {
		err = dec.Decode(&rec)
		if err != nil {
			break
		}
		records++
		switch rec.Type {
		case wal.EntryType:
			var e raftpb.Entry
			if err := e.Unmarshal(rec.Data); err != nil {
				return 0, &DataError{Path: path, Problem: fmt.Sprintf("undecodable entry before offset %d", dec.LastOffset()), Err: err}
			}
			last = max(last, e.Index)
		case wal.SnapshotType:
			var sn walpb.Snapshot
			if err := sn.Unmarshal(rec.Data); err != nil {
				return 0, &DataError{Path: path, Problem: fmt.Sprintf("undecodable snapshot record before offset %d", dec.LastOffset()), Err: err}
			}
			last = max(last, sn.Index)
		case wal.CrcType:
			if c := dec.LastCRC(); c != 0 && rec.Validate(c) != nil {
				return 0, &DataError{Path: path, Problem: fmt.Sprintf("CRC record at offset %d does not match the records before it", dec.LastOffset())}
			}
			dec.UpdateCRC(rec.Crc)
		}
	}
	switch {
	case errors.Is(err, io.EOF):
	case errors.Is(err, io.ErrUnexpectedEOF):
		// A torn last write inside the preallocated file is etcd's
		// to repair; a record running past the end of the file is not.
		off := dec.LastOffset()
		if past, n := recordRunsPastEnd(f, off, st.Size()); past {
			return 0, &DataError{Path: path, Problem: fmt.Sprintf("the WAL file is cut short: the record at offset %d needs %d bytes, the file ends after %d", off, n, st.Size()-off), Err: err}
		}
	default:
		return 0, &DataError{Path: path, Problem: fmt.Sprintf("unreadable WAL record after offset %d", dec.LastOffset()), Err: err}
	}
	if records == 0 {
		return 0, &DataError{Path: path, Problem: "the WAL file holds no record"}
	}
	return last, nil
}

// recordRunsPastEnd reads the frame header at off and reports whether the
// frame (header, record and padding) needs more than the size-off bytes
// left, with the bytes it needs. A header that itself does not fit runs
// past the end too. The frame layout is etcd's (wal/encoder.go): a
// little-endian int64 whose low 56 bits are the record length and whose
// set top bit marks padding counted in the low 3 bits of the top byte.
func recordRunsPastEnd(f *os.File, off, size int64) (bool, int64) {
	const header = 8
	if size-off < header {
		return true, header
	}
	var b [header]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return true, header
	}
	l := int64(binary.LittleEndian.Uint64(b[:]))
	n := int64(uint64(l) &^ (uint64(0xff) << 56))
	if l < 0 {
		n += int64((uint64(l) >> 56) & 0x7)
	}
	need := header + n
	return need > size-off, need
}

// backendOpenTimeout bounds waiting for bbolt's file lock: another process
// holding the database (a second sofsd on the same directory) must not
// turn the check into a hang.
const backendOpenTimeout = 2 * time.Second

// checkBackend opens the backend database read-only, reads its root
// buckets, and returns the last raft index applied to it and the number
// of cluster members it records; a bbolt panic on a corrupt page becomes
// a DataError. A missing database is etcd's to rebuild.
func checkBackend(path string) (applied uint64, members int, err error) {
	if _, serr := os.Stat(path); errors.Is(serr, os.ErrNotExist) {
		return 0, 0, nil
	}
	defer func() {
		if p := recover(); p != nil {
			err = &DataError{Path: path, Problem: fmt.Sprintf("the database is corrupt (reading it panicked: %v)", p)}
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: backendOpenTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return 0, 0, fmt.Errorf("etcdnode: %s is locked by another process (is another sofsd using this data directory?)", path)
	}
	if err != nil {
		return 0, 0, &DataError{Path: path, Problem: "not a readable bbolt database", Err: err}
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		// Only the root and each bucket's first leaf: a full walk
		// would make every start read the whole database.
		if err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			b.Cursor().First()
			return nil
		}); err != nil {
			return err
		}
		// etcd's schema (server/storage/schema): meta/consistent_index
		// is the big-endian index of the last applied entry, and the
		// members bucket has a key per member.
		if meta := tx.Bucket([]byte("meta")); meta != nil {
			if v := meta.Get([]byte("consistent_index")); len(v) == 8 {
				applied = binary.BigEndian.Uint64(v)
			}
		}
		if m := tx.Bucket([]byte("members")); m != nil {
			members = m.Stats().KeyN
		}
		return nil
	})
	if err != nil {
		return 0, 0, &DataError{Path: path, Problem: "the database cannot be read", Err: err}
	}
	return applied, members, nil
}

// DataMembers returns how many cluster members the member data in dir
// records (0 when there is none): whether a member restarting from it
// is alone.
func DataMembers(dir string) (int, error) {
	if !HasData(dir) {
		return 0, nil
	}
	_, members, err := checkBackend(filepath.Join(dir, "member", "snap", "db"))
	return members, err
}

// WithScheme returns addr as a URL, adding scheme when addr has none.
func WithScheme(addr, scheme string) string {
	if addr == "" || strings.Contains(addr, "://") {
		return addr
	}
	return scheme + "://" + addr
}
