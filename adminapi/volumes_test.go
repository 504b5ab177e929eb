package adminapi_test

import (
	"context"
	"fmt"
	"testing"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/adminapi/apitest"
)

type fakeVolumes struct{ made []string }

func (f *fakeVolumes) CreateVolume(_ context.Context, name, path string) (adminapi.VolumeInfo, error) {
	switch path {
	case "/etc":
		return adminapi.VolumeInfo{}, fmt.Errorf("%w: system directory", adminapi.ErrInvalidVolume)
	case "/mnt/taken":
		return adminapi.VolumeInfo{}, fmt.Errorf("%w: %s", adminapi.ErrVolumeExists, name)
	}
	f.made = append(f.made, name)
	return adminapi.VolumeInfo{Name: name, Path: path, ID: "00", Verified: true}, nil
}

func (f *fakeVolumes) Volumes(context.Context) ([]adminapi.VolumeInfo, error) {
	return []adminapi.VolumeInfo{{Name: "csv1", Path: "/mnt/csv1", Problem: "not mounted"}}, nil
}

// TestVolumeRoutes: token required, fields checked, errors mapped to 400
// naming path and 409, and 501 without a volume manager.
func TestVolumeRoutes(t *testing.T) {
	f := &fakeVolumes{}
	s := apitest.Start(t, apitest.Options{Volumes: f})
	tok := apitest.Token
	path := v1 + "/volumes"
	expectError(t, call(t, s.URL, "GET", path, "", nil), 401, adminapi.CodeUnauthorized, "")
	expectError(t, call(t, s.URL, "POST", path, tok, adminapi.VolumeCreate{Path: "/mnt/a"}), 400, adminapi.CodeMissingField, "name")
	expectError(t, call(t, s.URL, "POST", path, tok, adminapi.VolumeCreate{Name: "a"}), 400, adminapi.CodeMissingField, "path")
	expectError(t, call(t, s.URL, "POST", path, tok, adminapi.VolumeCreate{Name: "a", Path: "/etc"}), 400, adminapi.CodeInvalidValue, "path")
	expectError(t, call(t, s.URL, "POST", path, tok, adminapi.VolumeCreate{Name: "a", Path: "/mnt/taken"}), 409, adminapi.CodeVolumeExists, "name")
	if r := call(t, s.URL, "POST", path, tok, adminapi.VolumeCreate{Name: "csv1", Path: "/mnt/csv1"}); r.status != 201 || len(f.made) != 1 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	r := call(t, s.URL, "GET", path, tok, nil)
	var vl adminapi.VolumeList
	r.decode(t, &vl)
	if r.status != 200 || len(vl.Volumes) != 1 || vl.Volumes[0].Verified || vl.Volumes[0].Problem == "" {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	off := apitest.Start(t, apitest.Options{})
	expectError(t, call(t, off.URL, "GET", path, tok, nil), 501, adminapi.CodeNotImplemented, "")
}
