package etcdnode

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.etcd.io/etcd/client/pkg/v3/fileutil"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"

	"sofs.io/sofs/internal/testport"
)

// healthyMember starts a member in a fresh directory, writes a few keys,
// stops it, and returns the directory (the etcd dir) and its one WAL
// segment.
func healthyMember(t *testing.T) (dir, walFile string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "etcd")
	cfg := Config{
		Dir: dir, ClientURL: testport.Loopback(t), PeerURL: testport.Loopback(t),
		Logger:       zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		ReadyTimeout: 30 * time.Second,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := n.Client().Put(ctx, fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	wals, err := filepath.Glob(filepath.Join(dir, "member", "wal", "*.wal"))
	if err != nil || len(wals) != 1 {
		t.Fatalf("WAL segments: %v %v", wals, err)
	}
	return dir, wals[0]
}

// copyMember copies a stopped member's directory.
func copyMember(t *testing.T, dir string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "etcd")
	if err := os.CopyFS(dst, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// recordEnds returns the offset after each record of a WAL segment.
func recordEnds(t *testing.T, path string) []int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := wal.NewDecoder(fileutil.NewFileReader(f))
	var ends []int64
	var rec walpb.Record
	for dec.Decode(&rec) == nil {
		if rec.Type == wal.CrcType {
			dec.UpdateCRC(rec.Crc)
		}
		ends = append(ends, dec.LastOffset())
	}
	return ends
}

func wantDataError(t *testing.T, err error, path, problem string) {
	t.Helper()
	var de *DataError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v, want a *DataError", err)
	}
	if de.Path != path || !strings.Contains(de.Problem, problem) {
		t.Fatalf("DataError{%s, %s}, want path %s and a problem with %q", de.Path, de.Problem, path, problem)
	}
}

func TestCheckData(t *testing.T) {
	dir, walFile := healthyMember(t)
	rel := func(d, p string) string { r, _ := filepath.Rel(dir, p); return filepath.Join(d, r) }
	if err := CheckData(dir); err != nil {
		t.Fatalf("healthy member: %v", err)
	}
	if err := CheckData(t.TempDir()); err != nil {
		t.Fatalf("empty directory: %v", err)
	}
	ends := recordEnds(t, walFile)
	if len(ends) < 10 {
		t.Fatalf("only %d WAL records", len(ends))
	}

	t.Run("empty WAL", func(t *testing.T) {
		d := copyMember(t, dir)
		w := rel(d, walFile)
		if err := os.Truncate(w, 0); err != nil {
			t.Fatal(err)
		}
		wantDataError(t, CheckData(d), w, "empty")
	})
	t.Run("no WAL file", func(t *testing.T) {
		d := copyMember(t, dir)
		if err := os.Remove(rel(d, walFile)); err != nil {
			t.Fatal(err)
		}
		wantDataError(t, CheckData(d), filepath.Dir(rel(d, walFile)), "no .wal file")
	})
	t.Run("cut inside a record", func(t *testing.T) {
		d := copyMember(t, dir)
		w := rel(d, walFile)
		if err := os.Truncate(w, ends[len(ends)/2]+5); err != nil {
			t.Fatal(err)
		}
		wantDataError(t, CheckData(d), w, "cut short")
	})
	t.Run("cut at a record boundary", func(t *testing.T) {
		// The segment decodes cleanly, but it ends before what the
		// database applied.
		d := copyMember(t, dir)
		w := rel(d, walFile)
		if err := os.Truncate(w, ends[len(ends)/2]); err != nil {
			t.Fatal(err)
		}
		wantDataError(t, CheckData(d), filepath.Dir(w), "lost its tail")
	})
	t.Run("flipped byte", func(t *testing.T) {
		d := copyMember(t, dir)
		w := rel(d, walFile)
		flipByte(t, w, ends[len(ends)/2-1]+8+4) // inside the record, past its frame header
		wantDataError(t, CheckData(d), w, "")
	})
	t.Run("garbage db", func(t *testing.T) {
		d := copyMember(t, dir)
		db := filepath.Join(d, "member", "snap", "db")
		junk := make([]byte, 64<<10)
		for i := range junk {
			junk[i] = byte(i*13 + 1)
		}
		if err := os.WriteFile(db, junk, 0o600); err != nil {
			t.Fatal(err)
		}
		wantDataError(t, CheckData(d), db, "bbolt")
	})
	t.Run("empty db", func(t *testing.T) {
		d := copyMember(t, dir)
		db := filepath.Join(d, "member", "snap", "db")
		if err := os.Truncate(db, 0); err != nil {
			t.Fatal(err)
		}
		wantDataError(t, CheckData(d), db, "")
	})
	t.Run("Start refuses", func(t *testing.T) {
		d := copyMember(t, dir)
		if err := os.Truncate(rel(d, walFile), 0); err != nil {
			t.Fatal(err)
		}
		_, err := Start(t.Context(), Config{Dir: d, ClientURL: testport.Loopback(t), PeerURL: testport.Loopback(t),
			Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
		wantDataError(t, err, rel(d, walFile), "empty")
	})
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
}

// TestCheckDataLeavesTornWritesToEtcd: a crash in the middle of a write
// leaves a partial record followed by the segment's preallocated zeros;
// etcd repairs that by itself, so CheckData must accept it and the member
// must start and keep the acknowledged keys.
func TestCheckDataLeavesTornWritesToEtcd(t *testing.T) {
	dir, walFile := healthyMember(t)
	ends := recordEnds(t, walFile)
	end := ends[len(ends)-1]
	f, err := os.OpenFile(walFile, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A frame header announcing a 1000-byte record, of which only the
	// first sector's worth reached the disk.
	var hdr [8]byte
	binary.LittleEndian.PutUint64(hdr[:], 1000)
	part := make([]byte, 200)
	for i := range part {
		part[i] = 0xab
	}
	if _, err := f.WriteAt(append(hdr[:], part...), end); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := CheckData(dir); err != nil {
		t.Fatalf("torn write refused: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := Start(ctx, Config{Dir: dir, ClientURL: testport.Loopback(t), PeerURL: testport.Loopback(t),
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), ReadyTimeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("etcd did not start after a torn write: %v", err)
	}
	defer n.Close()
	resp, err := n.Client().Get(ctx, "k19")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("acknowledged key lost: %v %v", resp, err)
	}
}
