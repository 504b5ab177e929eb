package adminapi_test

import (
	"path/filepath"
	"strings"
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

// TestRefusedStoredShare: one stored share whose path is now refused does
// not break the share list or the cluster view: both answer 200 with the
// good shares and name the refused one and why; the share itself answers
// 409 share_refused, and a PUT with an allowed path repairs it. /readyz
// stays ready and lists what the node refuses.
func TestRefusedStoredShare(t *testing.T) {
	s := apitest.Start(t, apitest.Options{RefusedShares: func() []adminapi.RefusedShare {
		return []adminapi.RefusedShare{{Name: "Etc", Path: "/etc", Reason: "test"}}
	}})
	tok := apitest.Token
	if r := call(t, s.URL, "POST", v1+"/shares", tok, adminapi.ShareCreate{Name: "good", Path: "/srv/good"}); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if _, err := s.Store.Client().Put(t.Context(), namespace.Prefix+"shares/etc", `{"name":"Etc","path":"/etc"}`); err != nil {
		t.Fatal(err)
	}
	r := call(t, s.URL, "GET", v1+"/shares", tok, nil)
	var sl adminapi.ShareList
	r.decode(t, &sl)
	if r.status != 200 || len(sl.Shares) != 1 || sl.Shares[0].Name != "good" || len(sl.Refused) != 1 ||
		sl.Refused[0].Name != "Etc" || sl.Refused[0].Path != "/etc" || !strings.Contains(sl.Refused[0].Reason, "system directory") {
		t.Fatalf("GET /shares: %d %s", r.status, r.body)
	}
	r = call(t, s.URL, "GET", v1+"/cluster", tok, nil)
	var ci adminapi.ClusterInfo
	r.decode(t, &ci)
	if r.status != 200 || ci.Shares != 1 || ci.RefusedShares != 1 {
		t.Fatalf("GET /cluster: %d %s", r.status, r.body)
	}
	r = call(t, s.URL, "GET", v1+"/shares/etc", tok, nil)
	expectError(t, r, 409, adminapi.CodeShareRefused, "name")
	if d := r.errDetail(t); !strings.Contains(d.Message, "/etc") {
		t.Fatalf("409 does not say why: %s", d.Message)
	}
	expectError(t, call(t, s.URL, "POST", v1+"/shares", tok, adminapi.ShareCreate{Name: "etc", Path: "/srv/x"}), 409, adminapi.CodeShareRefused, "name")
	r = call(t, s.URL, "GET", "/readyz", "", nil)
	var st adminapi.Status
	r.decode(t, &st)
	if r.status != 200 || len(st.RefusedShares) != 1 || st.RefusedShares[0].Name != "Etc" {
		t.Fatalf("GET /readyz: %d %s", r.status, r.body)
	}

	if r := call(t, s.URL, "PUT", v1+"/shares/etc", tok, adminapi.ShareUpdate{Path: "/srv/etc-share"}); r.status != 200 {
		t.Fatalf("PUT repair: %d %s", r.status, r.body)
	}
	r = call(t, s.URL, "GET", v1+"/shares/etc", tok, nil)
	var sh adminapi.Share
	r.decode(t, &sh)
	if r.status != 200 || sh.Name != "Etc" || sh.Path != "/srv/etc-share" {
		t.Fatalf("after the repair: %d %s", r.status, r.body)
	}
	r = call(t, s.URL, "GET", v1+"/shares", tok, nil)
	sl = adminapi.ShareList{}
	r.decode(t, &sl)
	if len(sl.Shares) != 2 || len(sl.Refused) != 0 {
		t.Fatalf("GET /shares after the repair: %s", r.body)
	}
}
