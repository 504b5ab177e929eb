package csv

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestVolumeStamp: a stamped directory checks as its volume; an empty
// mount point, another volume's directory or a garbled record do not; a
// second registration cannot claim a stamped directory.
func TestVolumeStamp(t *testing.T) {
	root := t.TempDir()
	if err := CheckVolumeStamp(root, "vms", "id1"); !errors.Is(err, ErrVolumeUnverified) || !strings.Contains(err.Error(), "not mounted") {
		t.Fatalf("unstamped: %v", err)
	}
	if err := StampVolume(root, "vms", "id1"); err != nil {
		t.Fatal(err)
	}
	if err := StampVolume(root, "vms", "id1"); err != nil {
		t.Fatalf("restamp with the same id: %v", err)
	}
	if err := CheckVolumeStamp(root, "vms", "id1"); err != nil {
		t.Fatal(err)
	}
	if err := CheckVolumeStamp(root, "vms", "id2"); !errors.Is(err, ErrVolumeUnverified) || !strings.Contains(err.Error(), "id1") {
		t.Fatalf("stale id: %v", err)
	}
	if err := StampVolume(root, "other", "id3"); err == nil || !strings.Contains(err.Error(), "another volume") {
		t.Fatalf("second registration of one directory: %v", err)
	}
	if err := os.WriteFile(VolumeStampPath(root), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckVolumeStamp(root, "vms", "id1"); !errors.Is(err, ErrVolumeUnverified) {
		t.Fatalf("garbled record: %v", err)
	}
	if err := os.WriteFile(VolumeStampPath(root), make([]byte, 8<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckVolumeStamp(root, "vms", "id1"); !errors.Is(err, ErrVolumeUnverified) {
		t.Fatalf("oversized record: %v", err)
	}
	if err := StampVolume(root+"/missing", "vms", "id1"); err == nil {
		t.Fatal("stamped a missing directory")
	}
}

// FuzzParseVolumeStamp: a damaged identity record is refused or names a
// volume, and round-trips.
func FuzzParseVolumeStamp(f *testing.F) {
	good, _ := json.Marshal(volumeStamp{Name: "vol1", ID: "0123456789abcdef0123456789abcdef"})
	f.Add(good)
	f.Add([]byte(`{"name":"v"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseVolumeStamp(b)
		if err != nil {
			return
		}
		if s.Name == "" || s.ID == "" {
			t.Fatalf("accepted %+v", s)
		}
		enc, _ := json.Marshal(s)
		if s2, err := parseVolumeStamp(enc); err != nil || s2 != s {
			t.Fatalf("does not round-trip: %+v -> %s -> %+v (%v)", s, enc, s2, err)
		}
	})
}
