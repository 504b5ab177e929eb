package adminapi_test

import (
	"path/filepath"
	"testing"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/adminapi/apitest"
	"sofs.io/sofs/namespace"
)

// TestSharePathsRefused: the paths of issue 18's attack (the root, system
// directories, the node's data directory and its files, unclean and
// relative paths) are refused on create and on update with a 400 naming
// "path", and nothing is stored; a share inside the data directory that
// avoids the private files is accepted.
func TestSharePathsRefused(t *testing.T) {
	data := "/tmp/sofs-node"
	s := apitest.Start(t, apitest.Options{SharePaths: namespace.SharePathPolicy{
		DataDir: data,
		Private: []string{filepath.Join(data, "etcd"), filepath.Join(data, "api-token"), filepath.Join(data, "node.json")},
	}})
	tok := apitest.Token
	ctx := t.Context()

	ok := adminapi.ShareCreate{Name: "ok", Path: data + "/share"}
	if r := call(t, s.URL, "POST", v1+"/shares", tok, ok); r.status != 201 {
		t.Fatalf("share inside the data directory: %d %s", r.status, r.body)
	}
	for _, p := range []string{
		"/", "/etc", "/etc/ssl", "/proc", "/proc/self/root", "/sys", "/dev", "/boot", "/usr", "/root", "/var/lib",
		"/srv/x/../../etc", "/srv/x/../../../etc", "/srv/./x", "/srv/x/",
		"relative/dir",
		data, "/tmp", data + "/etcd", data + "/etcd/member", data + "/api-token", data + "/node.json",
	} {
		t.Run(p, func(t *testing.T) {
			expectError(t, call(t, s.URL, "POST", v1+"/shares", tok, adminapi.ShareCreate{Name: "bad", Path: p}), 400, adminapi.CodeInvalidValue, "path")
			if _, err := s.Store.GetShare(ctx, "bad"); err == nil {
				t.Fatalf("path %q: refused share was stored", p)
			}
			expectError(t, call(t, s.URL, "PUT", v1+"/shares/ok", tok, adminapi.ShareUpdate{Path: p}), 400, adminapi.CodeInvalidValue, "path")
			if sh, err := s.Store.GetShare(ctx, "ok"); err != nil || sh.Path != data+"/share" {
				t.Fatalf("path %q: refused update changed the share: %+v %v", p, sh, err)
			}
		})
	}
}
