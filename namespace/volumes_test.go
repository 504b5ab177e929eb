package namespace

import (
	"errors"
	"testing"
)

func TestVolumes(t *testing.T) {
	s := NewStore(startEtcd(t))
	ctx := testCtx(t)
	v, err := NewVolume("vms", "/mnt/csv1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateVolume(ctx, v); err != nil {
		t.Fatal(err)
	}
	again, _ := NewVolume("VMS", "/mnt/csv2")
	if _, err := s.CreateVolume(ctx, again); !errors.Is(err, ErrExists) {
		t.Fatalf("second volume of one name: %v", err)
	}
	for _, p := range []string{"/", "/etc", "/mnt", "relative", "/mnt/x/../../etc"} {
		if _, err := NewVolume("bad", p); err == nil {
			t.Errorf("volume on %q accepted", p)
		}
	}
	if _, err := s.Client().Put(ctx, s.volumeKey("junk"), "{"); err != nil {
		t.Fatal(err)
	}
	nested, _ := NewVolume("inner", "/mnt/csv1/inner")
	if _, err := s.CreateVolume(ctx, nested); err != nil {
		t.Fatal(err)
	}
	vols, bad, err := s.ListVolumes(ctx)
	if err != nil || len(vols) != 2 || len(bad) != 1 {
		t.Fatalf("ListVolumes: %+v %v %v", vols, bad, err)
	}
	for p, want := range map[string]string{"/mnt/csv1/a": "vms", "/mnt/csv1": "vms", "/mnt/csv1/inner/x": "inner", "/mnt/csv10/a": "", "/srv/x": ""} {
		got, ok := VolumeOf(vols, p)
		if ok != (want != "") || got.Name != want {
			t.Errorf("VolumeOf(%s) = %q %v, want %q", p, got.Name, ok, want)
		}
	}
	if err := s.DeleteVolume(ctx, "vms"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteVolume(ctx, "vms"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}
