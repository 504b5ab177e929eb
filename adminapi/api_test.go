package adminapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/adminapi/apitest"
	"sofs.io/sofs/namespace"
)

type response struct {
	status int
	header http.Header
	body   []byte
}

// errDetail decodes an error body, failing the test if it is not one.
func (r response) errDetail(t *testing.T) adminapi.ErrorDetail {
	t.Helper()
	var b adminapi.ErrorBody
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil || b.Error.Code == "" || b.Error.Message == "" {
		t.Fatalf("status %d: body %q is not an error document: %v", r.status, r.body, err)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q", ct)
	}
	return b.Error
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("status %d: body %q: %v", r.status, r.body, err)
	}
}

type reqOpt func(*http.Request)

func withHeader(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

// call sends a request. body is nil (none), a string or []byte (sent as
// is), or anything else (sent as JSON).
func call(t *testing.T, base, method, path, token string, body any, opts ...reqOpt) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// expectError checks status, code and field of an error response.
func expectError(t *testing.T, r response, status int, code, field string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	d := r.errDetail(t)
	if d.Code != code || d.Field != field {
		t.Fatalf("error %+v, want code %q field %q", d, code, field)
	}
}

const v1 = adminapi.Prefix

func TestAuth(t *testing.T) {
	s := apitest.Start(t, apitest.Options{})
	tok := apitest.Token

	// Health and readiness need no token.
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := call(t, s.URL, "GET", p, "", nil); r.status != 200 {
			t.Errorf("GET %s without token: %d %s", p, r.status, r.body)
		}
	}
	// Everything else does, including unknown paths and /metrics.
	for _, p := range []string{v1 + "/cluster", v1 + "/shares", v1 + "/users/x", v1 + "/nope", "/metrics", "/"} {
		r := call(t, s.URL, "GET", p, "", nil)
		expectError(t, r, 401, adminapi.CodeUnauthorized, "")
		if r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s: 401 without WWW-Authenticate", p)
		}
		expectError(t, call(t, s.URL, "GET", p, "wrong", nil), 401, adminapi.CodeUnauthorized, "")
		expectError(t, call(t, s.URL, "GET", p, tok+"x", nil), 401, adminapi.CodeUnauthorized, "")
	}
	for _, h := range []string{"Basic " + tok, tok, "Bearer", "Bearer ", "Token " + tok} {
		r := call(t, s.URL, "GET", v1+"/shares", "", nil, withHeader("Authorization", h))
		expectError(t, r, 401, adminapi.CodeUnauthorized, "")
	}
	// A mutating request without a token changes nothing.
	r := call(t, s.URL, "POST", v1+"/shares", "", map[string]any{"name": "s", "path": "/p"})
	expectError(t, r, 401, adminapi.CodeUnauthorized, "")
	if _, err := s.Store.GetShare(t.Context(), "s"); !errors.Is(err, namespace.ErrNotFound) {
		t.Fatalf("unauthenticated create reached the store: %v", err)
	}
	// The scheme is case-insensitive.
	if r := call(t, s.URL, "GET", v1+"/shares", "", nil, withHeader("Authorization", "bearer "+tok)); r.status != 200 {
		t.Fatalf("lower-case scheme: %d %s", r.status, r.body)
	}
	// Unknown routes, once authenticated, are JSON 404s and 405s.
	expectError(t, call(t, s.URL, "GET", v1+"/nope", tok, nil), 404, adminapi.CodeNotFound, "")
	expectError(t, call(t, s.URL, "GET", v1+"/shares/", tok, nil), 404, adminapi.CodeNotFound, "")
	r = call(t, s.URL, "PATCH", v1+"/shares/x", tok, nil)
	expectError(t, r, 405, adminapi.CodeMethodNotAllowed, "")
	if got := r.header.Get("Allow"); got != "GET, PUT, DELETE" {
		t.Errorf("Allow = %q", got)
	}
	expectError(t, call(t, s.URL, "POST", "/healthz", tok, nil), 405, adminapi.CodeMethodNotAllowed, "")
}

func TestTokenRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "api-token")
	created, err := adminapi.EnsureTokenFile(path)
	if err != nil || !created {
		t.Fatalf("EnsureTokenFile: %v %v", created, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", fi.Mode())
	}
	if again, err := adminapi.EnsureTokenFile(path); err != nil || again {
		t.Fatalf("second EnsureTokenFile: %v %v", again, err)
	}
	b, _ := os.ReadFile(path)
	oldTok := strings.TrimSpace(string(b))
	if len(oldTok) != 43 {
		t.Fatalf("token %q", oldTok)
	}
	tf, err := adminapi.NewTokenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := apitest.Start(t, apitest.Options{Token: tf})
	get := func(tok string) int { return call(t, s.URL, "GET", v1+"/cluster", tok, nil).status }
	if get(oldTok) != 200 {
		t.Fatal("token from the file refused")
	}
	// replace writes the file as an operator's editor would: a new file
	// renamed over the old one.
	replace := func(content string) {
		tmp := filepath.Join(dir, "tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	newTok, _ := adminapi.NewToken()
	replace(oldTok + "\n# rotating\n" + newTok + "\n")
	if get(oldTok) != 200 || get(newTok) != 200 {
		t.Fatal("during rotation both tokens must work")
	}
	replace(newTok + "\n")
	if get(oldTok) != 401 || get(newTok) != 200 {
		t.Fatal("after rotation only the new token may work")
	}
	os.Remove(path)
	if get(newTok) != 401 {
		t.Fatal("a missing token file must lock everyone out")
	}
	if _, err := adminapi.NewTokenFile(path); err == nil {
		t.Fatal("NewTokenFile on a missing file succeeded")
	}
	replace("# only a comment\n\n")
	if _, err := adminapi.NewTokenFile(path); err == nil {
		t.Fatal("NewTokenFile on a file without tokens succeeded")
	}
}

func TestNewRefusesMissingConfig(t *testing.T) {
	if _, err := adminapi.New(adminapi.Config{Token: adminapi.StaticTokens{"x"}}); err == nil {
		t.Error("New without Store succeeded")
	}
	s := apitest.Start(t, apitest.Options{})
	if _, err := adminapi.New(adminapi.Config{Store: s.Store}); err == nil {
		t.Error("New without Token succeeded")
	}
	// An empty token list refuses everything, including an empty token.
	h, err := adminapi.New(adminapi.Config{Store: s.Store, Token: adminapi.StaticTokens{""}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", v1+"/cluster", nil)
	req.Header.Set("Authorization", "Bearer ")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Fatalf("empty token: %d", rec.Code)
	}
}

func TestClusterAndNodes(t *testing.T) {
	s := apitest.Start(t, apitest.Options{})
	tok := apitest.Token
	ctx := t.Context()
	if err := s.Store.PutShare(ctx, namespace.Share{Name: "a", Path: "/a"}); err != nil {
		t.Fatal(err)
	}
	r := call(t, s.URL, "GET", v1+"/cluster", tok, nil)
	if r.status != 200 {
		t.Fatalf("cluster: %d %s", r.status, r.body)
	}
	var ci adminapi.ClusterInfo
	r.decode(t, &ci)
	cl, _ := s.Store.Cluster(ctx)
	if ci.Name != "sofs-test" || ci.ServerGUID != cl.ServerGUID.String() || ci.Node != apitest.NodeID ||
		ci.Nodes != 1 || ci.Shares != 1 || ci.Users != 0 || ci.NamespaceRevision == 0 {
		t.Fatalf("cluster = %+v", ci)
	}

	r = call(t, s.URL, "GET", v1+"/nodes", tok, nil)
	var nl adminapi.NodeList
	r.decode(t, &nl)
	if r.status != 200 || len(nl.Nodes) != 1 || nl.Nodes[0].ID != apitest.NodeID || !nl.Nodes[0].Self ||
		nl.Nodes[0].State != adminapi.NodeUp || !nl.Nodes[0].Ready {
		t.Fatalf("nodes: %d %s", r.status, r.body)
	}
	r = call(t, s.URL, "GET", v1+"/nodes/"+apitest.NodeID, tok, nil)
	if r.status != 200 {
		t.Fatalf("node show: %d %s", r.status, r.body)
	}
	expectError(t, call(t, s.URL, "GET", v1+"/nodes/other", tok, nil), 404, adminapi.CodeNodeNotFound, "id")
	expectError(t, call(t, s.URL, "GET", v1+"/nodes/a%20b", tok, nil), 400, adminapi.CodeInvalidValue, "id")
	// Drain and remove wait for membership.
	expectError(t, call(t, s.URL, "POST", v1+"/nodes/"+apitest.NodeID+"/drain", tok, nil), 501, adminapi.CodeNotImplemented, "")
	expectError(t, call(t, s.URL, "DELETE", v1+"/nodes/"+apitest.NodeID, tok, nil), 501, adminapi.CodeNotImplemented, "")
}

// fakeMembers is a Members and NodeController over a map.
type fakeMembers struct{ nodes map[string]*adminapi.NodeInfo }

func (f *fakeMembers) Nodes(context.Context) ([]adminapi.NodeInfo, error) {
	var out []adminapi.NodeInfo
	for _, id := range []string{"n1", "n2", apitest.NodeID} {
		if n, ok := f.nodes[id]; ok {
			out = append(out, *n)
		}
	}
	return out, nil
}

func (f *fakeMembers) Node(_ context.Context, id string) (adminapi.NodeInfo, error) {
	if n, ok := f.nodes[id]; ok {
		return *n, nil
	}
	return adminapi.NodeInfo{}, adminapi.ErrNodeNotFound
}

func (f *fakeMembers) Drain(_ context.Context, id string) error {
	n, ok := f.nodes[id]
	if !ok {
		return adminapi.ErrNodeNotFound
	}
	n.State = adminapi.NodeDraining
	return nil
}

func (f *fakeMembers) Remove(_ context.Context, id string) error {
	n, ok := f.nodes[id]
	switch {
	case !ok:
		return adminapi.ErrNodeNotFound
	case n.State == adminapi.NodeUp:
		return adminapi.ErrNodeBusy
	}
	delete(f.nodes, id)
	return nil
}

func TestNodesWithMembership(t *testing.T) {
	m := &fakeMembers{nodes: map[string]*adminapi.NodeInfo{
		"n1":           {ID: "n1", State: adminapi.NodeUp, SMBAddresses: []string{"127.0.0.1:445"}},
		"n2":           {ID: "n2", State: adminapi.NodeUp},
		apitest.NodeID: {ID: apitest.NodeID, State: adminapi.NodeUp},
	}}
	s := apitest.Start(t, apitest.Options{Members: m})
	tok := apitest.Token
	var nl adminapi.NodeList
	call(t, s.URL, "GET", v1+"/nodes", tok, nil).decode(t, &nl)
	if len(nl.Nodes) != 3 || nl.Nodes[0].Self || !nl.Nodes[2].Self || nl.Nodes[1].SMBAddresses == nil {
		t.Fatalf("nodes = %+v", nl.Nodes)
	}
	expectError(t, call(t, s.URL, "DELETE", v1+"/nodes/n1", tok, nil), 409, adminapi.CodeNodeBusy, "id")
	r := call(t, s.URL, "POST", v1+"/nodes/n1/drain", tok, nil)
	var n adminapi.NodeInfo
	r.decode(t, &n)
	if r.status != 202 || n.State != adminapi.NodeDraining {
		t.Fatalf("drain: %d %s", r.status, r.body)
	}
	if r := call(t, s.URL, "DELETE", v1+"/nodes/n1", tok, nil); r.status != 204 {
		t.Fatalf("remove: %d %s", r.status, r.body)
	}
	expectError(t, call(t, s.URL, "DELETE", v1+"/nodes/n1", tok, nil), 404, adminapi.CodeNodeNotFound, "id")
	expectError(t, call(t, s.URL, "POST", v1+"/nodes/n1/drain", tok, nil), 404, adminapi.CodeNodeNotFound, "id")
	expectError(t, call(t, s.URL, "GET", v1+"/nodes/n1", tok, nil), 404, adminapi.CodeNodeNotFound, "id")
}

func TestShares(t *testing.T) {
	s := apitest.Start(t, apitest.Options{})
	tok := apitest.Token
	ctx := t.Context()

	vms := adminapi.ShareCreate{Name: "VMs", Path: "/csv/vms", Comment: "Hyper-V", ContinuouslyAvailable: true, EncryptData: true,
		Permissions: []adminapi.SharePermission{{Account: "Authenticated Users", Access: "change"}, {Account: "bob", Access: "full", Deny: true}}}
	r := call(t, s.URL, "POST", v1+"/shares", tok, vms)
	if r.status != 201 || r.header.Get("Location") != v1+"/shares/VMs" {
		t.Fatalf("create: %d %v %s", r.status, r.header, r.body)
	}
	var got adminapi.Share
	r.decode(t, &got)
	if !reflect.DeepEqual(got, adminapi.Share(vms)) {
		t.Fatalf("create returned %+v", got)
	}
	bad := adminapi.ShareCreate{Name: "bad", Path: "/p", Permissions: []adminapi.SharePermission{{Account: "bob", Access: "write"}}}
	expectError(t, call(t, s.URL, "POST", v1+"/shares", tok, bad), 400, adminapi.CodeInvalidValue, "permissions")
	stored, err := s.Store.GetShare(ctx, "vms")
	if err != nil || stored.Path != "/csv/vms" || !stored.ContinuouslyAvailable || len(stored.Permissions) != 2 || !stored.Permissions[1].Deny {
		t.Fatalf("stored %+v %v", stored, err)
	}
	// Duplicates, in any case, conflict and change nothing.
	dup := vms
	dup.Name, dup.Path = "vms", "/elsewhere"
	expectError(t, call(t, s.URL, "POST", v1+"/shares", tok, dup), 409, adminapi.CodeShareExists, "name")
	if sh, _ := s.Store.GetShare(ctx, "vms"); sh.Path != "/csv/vms" {
		t.Fatalf("duplicate create overwrote the share: %+v", sh)
	}

	if r := call(t, s.URL, "POST", v1+"/shares", tok, map[string]any{"name": "img", "path": "/csv/img", "readOnly": true, "guest": true}); r.status != 201 {
		t.Fatalf("create img: %d %s", r.status, r.body)
	}
	var sl adminapi.ShareList
	call(t, s.URL, "GET", v1+"/shares", tok, nil).decode(t, &sl)
	if len(sl.Shares) != 2 || sl.Shares[0].Name != "img" || !sl.Shares[0].ReadOnly || sl.Shares[1].Name != "VMs" {
		t.Fatalf("list = %+v", sl)
	}
	r = call(t, s.URL, "GET", v1+"/shares/vMs", tok, nil)
	r.decode(t, &got)
	if r.status != 200 || got.Name != "VMs" {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	// Names with spaces and $ travel escaped in the path.
	if r := call(t, s.URL, "POST", v1+"/shares", tok, map[string]any{"name": "my share$", "path": "/x"}); r.status != 201 || r.header.Get("Location") != v1+"/shares/my%20share$" {
		t.Fatalf("create spaced: %d %v", r.status, r.header.Get("Location"))
	}
	if r := call(t, s.URL, "GET", v1+"/shares/my%20share$", tok, nil); r.status != 200 {
		t.Fatalf("get spaced: %d %s", r.status, r.body)
	}

	// The view follows, so the SMB side would serve the new share.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ch := s.View.Changed()
		if _, ok := s.View.Share("img"); ok {
			break
		}
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
			t.Fatal("view never saw the new share")
		}
	}

	// Update: whole definition; the stored name keeps its spelling.
	upd := adminapi.ShareUpdate{Path: "/csv/vms2", ReadOnly: true}
	r = call(t, s.URL, "PUT", v1+"/shares/vms", tok, upd)
	r.decode(t, &got)
	if r.status != 200 || got.Name != "VMs" || got.Path != "/csv/vms2" || got.ContinuouslyAvailable || !got.ReadOnly || got.Comment != "" {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	if sh, _ := s.Store.GetShare(ctx, "vms"); sh.Path != "/csv/vms2" || sh.Name != "VMs" {
		t.Fatalf("after update: %+v", sh)
	}
	upd.Name = "VMS"
	if r := call(t, s.URL, "PUT", v1+"/shares/vms", tok, upd); r.status != 200 {
		t.Fatalf("update with same name in body: %d %s", r.status, r.body)
	}
	upd.Name = "other"
	expectError(t, call(t, s.URL, "PUT", v1+"/shares/vms", tok, upd), 400, adminapi.CodeInvalidValue, "name")
	expectError(t, call(t, s.URL, "PUT", v1+"/shares/vms", tok, map[string]any{"readOnly": true}), 400, adminapi.CodeMissingField, "path")
	expectError(t, call(t, s.URL, "PUT", v1+"/shares/nope", tok, adminapi.ShareUpdate{Path: "/p"}), 404, adminapi.CodeShareNotFound, "name")
	if _, err := s.Store.GetShare(ctx, "nope"); !errors.Is(err, namespace.ErrNotFound) {
		t.Fatal("update of a missing share created it")
	}

	// Not found and bad names.
	expectError(t, call(t, s.URL, "GET", v1+"/shares/nope", tok, nil), 404, adminapi.CodeShareNotFound, "name")
	expectError(t, call(t, s.URL, "GET", v1+"/shares/a*b", tok, nil), 400, adminapi.CodeInvalidValue, "name")
	expectError(t, call(t, s.URL, "GET", v1+"/shares/IPC$", tok, nil), 400, adminapi.CodeInvalidValue, "name")
	expectError(t, call(t, s.URL, "DELETE", v1+"/shares/a%2Fb", tok, nil), 400, adminapi.CodeInvalidValue, "name")

	// Delete.
	if r := call(t, s.URL, "DELETE", v1+"/shares/VMS", tok, nil); r.status != 204 || len(r.body) != 0 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	expectError(t, call(t, s.URL, "DELETE", v1+"/shares/vms", tok, nil), 404, adminapi.CodeShareNotFound, "name")
	expectError(t, call(t, s.URL, "GET", v1+"/shares/vms", tok, nil), 404, adminapi.CodeShareNotFound, "name")
}

func TestShareBadRequests(t *testing.T) {
	s := apitest.Start(t, apitest.Options{})
	tok := apitest.Token
	long := strings.Repeat("x", namespace.MaxCommentLen+1)
	for _, tc := range []struct {
		body   any
		status int
		code   string
		field  string
	}{
		{`{"name":"s","path":"/p"`, 400, adminapi.CodeMalformedJSON, ""},
		{`{"name":"s",,}`, 400, adminapi.CodeMalformedJSON, ""},
		{``, 400, adminapi.CodeMalformedJSON, ""},
		{`null`, 400, adminapi.CodeMalformedJSON, ""},
		{`[]`, 400, adminapi.CodeMalformedJSON, ""},
		{`"s"`, 400, adminapi.CodeMalformedJSON, ""},
		{`{"name":"s","path":"/p"} {}`, 400, adminapi.CodeMalformedJSON, ""},
		{`{"name":"s","path":"/p","size":1}`, 400, adminapi.CodeUnknownField, "size"},
		{`{"name":"s","path":"/p","ContinuouslyAvailable ":true}`, 400, adminapi.CodeUnknownField, "ContinuouslyAvailable "},
		{`{"name":"s","path":"/p","continuouslyAvailable":"yes"}`, 400, adminapi.CodeInvalidField, "continuouslyAvailable"},
		{`{"name":7,"path":"/p"}`, 400, adminapi.CodeInvalidField, "name"},
		{`{"name":"s","path":["/p"]}`, 400, adminapi.CodeInvalidField, "path"},
		{`{"path":"/p"}`, 400, adminapi.CodeMissingField, "name"},
		{`{"name":"s"}`, 400, adminapi.CodeMissingField, "path"},
		{`{"name":"s","path":"rel/p"}`, 400, adminapi.CodeInvalidValue, "path"},
		{`{"name":"s","path":"/p\u0000x"}`, 400, adminapi.CodeInvalidValue, "path"},
		{`{"name":"a:b","path":"/p"}`, 400, adminapi.CodeInvalidValue, "name"},
		{`{"name":"ipc$","path":"/p"}`, 400, adminapi.CodeInvalidValue, "name"},
		{`{"name":" s","path":"/p"}`, 400, adminapi.CodeInvalidValue, "name"},
		{`{"name":"` + strings.Repeat("n", 81) + `","path":"/p"}`, 400, adminapi.CodeInvalidValue, "name"},
		{`{"name":"s","path":"/p","comment":"` + long + `"}`, 400, adminapi.CodeInvalidValue, "comment"},
		{`{"name":"s","path":"/p","comment":"a\nb"}`, 400, adminapi.CodeInvalidValue, "comment"},
		{`{"name":"s","path":"/p","pad":"` + strings.Repeat("x", adminapi.MaxBodyBytes) + `"}`, 413, adminapi.CodeBodyTooLarge, ""},
	} {
		r := call(t, s.URL, "POST", v1+"/shares", tok, tc.body)
		t.Run("", func(t *testing.T) { expectError(t, r, tc.status, tc.code, tc.field) })
	}
	r := call(t, s.URL, "POST", v1+"/shares", tok, `{"name":"s","path":"/p"}`, withHeader("Content-Type", "text/plain"))
	expectError(t, r, 415, adminapi.CodeUnsupportedMediaType, "")
	// The same decoder guards PUT.
	if err := s.Store.PutShare(t.Context(), namespace.Share{Name: "s", Path: "/p"}); err != nil {
		t.Fatal(err)
	}
	expectError(t, call(t, s.URL, "PUT", v1+"/shares/s", tok, `{"path":"/p","guest":1}`), 400, adminapi.CodeInvalidField, "guest")
	expectError(t, call(t, s.URL, "PUT", v1+"/shares/s", tok, `{"path":"/p","x":1}`), 400, adminapi.CodeUnknownField, "x")
	// A charset parameter is fine.
	r = call(t, s.URL, "PUT", v1+"/shares/s", tok, `{"path":"/q"}`, withHeader("Content-Type", "application/json; charset=utf-8"))
	if r.status != 200 {
		t.Fatalf("charset: %d %s", r.status, r.body)
	}
	// No bad request reached the store.
	if list, _, _ := s.Store.ListShares(t.Context()); len(list) != 1 {
		t.Fatalf("shares after bad requests: %+v", list)
	}
}

func TestUsers(t *testing.T) {
	s := apitest.Start(t, apitest.Options{})
	tok := apitest.Token
	ctx := t.Context()

	r := call(t, s.URL, "POST", v1+"/users", tok, adminapi.UserCreate{Name: "Alice", Password: "s3cret-pw"})
	if r.status != 201 || r.header.Get("Location") != v1+"/users/Alice" {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var u adminapi.User
	r.decode(t, &u)
	if u.Name != "Alice" || u.Created.IsZero() {
		t.Fatalf("created %+v", u)
	}
	if h, err := s.Store.LookupNTHash(ctx, "alice"); err != nil || h != namespace.NTHash("s3cret-pw") {
		t.Fatalf("stored hash: %v", err)
	}
	expectError(t, call(t, s.URL, "POST", v1+"/users", tok, adminapi.UserCreate{Name: "ALICE", Password: "other"}), 409, adminapi.CodeUserExists, "name")
	if h, _ := s.Store.LookupNTHash(ctx, "alice"); h != namespace.NTHash("s3cret-pw") {
		t.Fatal("duplicate create changed the password")
	}
	if r := call(t, s.URL, "POST", v1+"/users", tok, adminapi.UserCreate{Name: "bob", Password: "pw"}); r.status != 201 {
		t.Fatalf("create bob: %d", r.status)
	}

	// Listing and showing never carry a hash or a password.
	h := namespace.NTHash("s3cret-pw")
	for _, p := range []string{"/users", "/users/alice", "/users/BOB"} {
		r := call(t, s.URL, "GET", v1+p, tok, nil)
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", p, r.status, r.body)
		}
		low := strings.ToLower(string(r.body))
		for _, bad := range []string{"hash", "password", "s3cret", hexLower(h[:])} {
			if strings.Contains(low, bad) {
				t.Fatalf("GET %s leaks %q: %s", p, bad, r.body)
			}
		}
	}
	var ul adminapi.UserList
	call(t, s.URL, "GET", v1+"/users", tok, nil).decode(t, &ul)
	if len(ul.Users) != 2 || ul.Users[0].Name != "Alice" || ul.Users[1].Name != "bob" {
		t.Fatalf("list %+v", ul)
	}
	call(t, s.URL, "GET", v1+"/users/ALICE", tok, nil).decode(t, &u)
	if u.Name != "Alice" {
		t.Fatalf("get %+v", u)
	}
	expectError(t, call(t, s.URL, "GET", v1+"/users/carol", tok, nil), 404, adminapi.CodeUserNotFound, "name")
	expectError(t, call(t, s.URL, "GET", v1+"/users/a@b", tok, nil), 400, adminapi.CodeInvalidValue, "name")

	// Password change.
	if r := call(t, s.URL, "PUT", v1+"/users/alice/password", tok, adminapi.PasswordChange{Password: "n3w"}); r.status != 204 {
		t.Fatalf("passwd: %d %s", r.status, r.body)
	}
	if h, _ := s.Store.LookupNTHash(ctx, "alice"); h != namespace.NTHash("n3w") {
		t.Fatal("password not changed")
	}
	expectError(t, call(t, s.URL, "PUT", v1+"/users/carol/password", tok, adminapi.PasswordChange{Password: "x"}), 404, adminapi.CodeUserNotFound, "name")
	expectError(t, call(t, s.URL, "PUT", v1+"/users/alice/password", tok, `{}`), 400, adminapi.CodeMissingField, "password")
	expectError(t, call(t, s.URL, "PUT", v1+"/users/alice/password", tok, `{"password":5}`), 400, adminapi.CodeInvalidField, "password")
	expectError(t, call(t, s.URL, "PUT", v1+"/users/alice/password", tok, `{"password":"x","name":"y"}`), 400, adminapi.CodeUnknownField, "name")
	expectError(t, call(t, s.URL, "PUT", v1+"/users/alice/password", tok, adminapi.PasswordChange{Password: strings.Repeat("p", 257)}), 400, adminapi.CodeInvalidValue, "password")

	// Bad creates.
	for _, tc := range []struct {
		body  string
		code  string
		field string
	}{
		{`{"password":"x"}`, adminapi.CodeMissingField, "name"},
		{`{"name":"carol"}`, adminapi.CodeMissingField, "password"},
		{`{"name":"a/b","password":"x"}`, adminapi.CodeInvalidValue, "name"},
		{`{"name":"...","password":"x"}`, adminapi.CodeInvalidValue, "name"},
		{`{"name":"carol","password":"x","ntHash":"00"}`, adminapi.CodeUnknownField, "ntHash"},
		{`{"name":"carol","password":true}`, adminapi.CodeInvalidField, "password"},
		{`{"name":"carol"`, adminapi.CodeMalformedJSON, ""},
	} {
		expectError(t, call(t, s.URL, "POST", v1+"/users", tok, tc.body), 400, tc.code, tc.field)
	}
	// A 400 for a password never echoes it.
	r = call(t, s.URL, "POST", v1+"/users", tok, `{"name":"carol","password":"`+strings.Repeat("Zq", 200)+`"}`)
	expectError(t, r, 400, adminapi.CodeInvalidValue, "password")
	if strings.Contains(string(r.body), "ZqZq") {
		t.Fatalf("error echoes the password: %s", r.body)
	}

	// Delete.
	if r := call(t, s.URL, "DELETE", v1+"/users/ALICE", tok, nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	expectError(t, call(t, s.URL, "DELETE", v1+"/users/alice", tok, nil), 404, adminapi.CodeUserNotFound, "name")
	if _, err := s.Store.LookupNTHash(ctx, "alice"); !errors.Is(err, namespace.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func hexLower(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestSessionsAndOpenFiles(t *testing.T) {
	s := apitest.Start(t, apitest.Options{})
	tok := apitest.Token
	var sl adminapi.SessionList
	r := call(t, s.URL, "GET", v1+"/sessions", tok, nil)
	r.decode(t, &sl)
	if r.status != 200 || sl.Sessions == nil || len(sl.Sessions) != 0 || !strings.Contains(string(r.body), `"sessions":[]`) {
		t.Fatalf("empty sessions: %d %s", r.status, r.body)
	}
	at := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	s.Sessions.Set([]adminapi.SessionInfo{{
		SessionID: 1<<63 + 5, ClientAddress: "127.0.0.1:50000", User: `SOFS\alice`,
		Dialect: "3.1.1", Signed: true, Encrypted: true, Opens: 1, TreeConnects: 1, ConnectedAt: at,
	}}, []adminapi.OpenFileInfo{{
		FileID: "00000000000000010000000000000002", SessionID: 1<<63 + 5, Share: "vms", Path: `dir\disk.vhdx`,
		ClientAddress: "127.0.0.1:50000", User: `SOFS\alice`, Access: 0x0012019f, Durable: true, Persistent: true, OpenedAt: at,
	}})
	r = call(t, s.URL, "GET", v1+"/sessions", tok, nil)
	r.decode(t, &sl)
	if len(sl.Sessions) != 1 || sl.Sessions[0].SessionID != 1<<63+5 || sl.Sessions[0].Node != apitest.NodeID {
		t.Fatalf("sessions %s", r.body)
	}
	if !strings.Contains(string(r.body), `"sessionId":"9223372036854775813"`) {
		t.Fatalf("session id is not a decimal string: %s", r.body)
	}
	var ol adminapi.OpenFileList
	r = call(t, s.URL, "GET", v1+"/open-files", tok, nil)
	r.decode(t, &ol)
	if r.status != 200 || len(ol.OpenFiles) != 1 || ol.OpenFiles[0].Path != `dir\disk.vhdx` || ol.OpenFiles[0].Node != apitest.NodeID ||
		ol.OpenFiles[0].Access != 0x0012019f {
		t.Fatalf("open files %s", r.body)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	var notReady error
	reg := prometheus.NewRegistry()
	s := apitest.Start(t, apitest.Options{Ready: func() error { return notReady }, Metrics: reg})
	tok := apitest.Token
	r := call(t, s.URL, "GET", "/healthz", "", nil)
	if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"status":"ok"}` {
		t.Fatalf("healthz: %d %s", r.status, r.body)
	}
	r = call(t, s.URL, "GET", "/readyz", "", nil)
	if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"status":"ready"}` {
		t.Fatalf("readyz: %d %s", r.status, r.body)
	}
	notReady = errors.New("etcd lease lost")
	r = call(t, s.URL, "GET", "/readyz", "", nil)
	expectError(t, r, 503, adminapi.CodeNotReady, "")
	if !strings.Contains(r.errDetail(t).Message, "etcd lease lost") {
		t.Fatalf("readyz message %s", r.body)
	}
	// Readiness shows in the node list too.
	var nl adminapi.NodeList
	call(t, s.URL, "GET", v1+"/nodes", tok, nil).decode(t, &nl)
	if nl.Nodes[0].Ready {
		t.Fatal("node reported ready")
	}
	notReady = nil

	call(t, s.URL, "GET", v1+"/shares/nope", tok, nil)
	r = call(t, s.URL, "GET", "/metrics", tok, nil)
	if r.status != 200 {
		t.Fatalf("metrics: %d %s", r.status, r.body)
	}
	for _, want := range []string{
		`sofs_api_requests_total{code="404",route="GET /api/v1/shares/{name}"} 1`,
		`sofs_api_request_duration_seconds_bucket{route="GET /readyz"`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Without a registry /metrics is a 404 with its own code.
	s2 := apitest.Start(t, apitest.Options{})
	expectError(t, call(t, s2.URL, "GET", "/metrics", tok, nil), 404, adminapi.CodeMetricsDisabled, "")
}

// fakeWitness is an in-memory adminapi.Witness.
type fakeWitness struct {
	mu      sync.Mutex
	clients map[string]adminapi.WitnessClient
	nodes   map[string]bool
}

func (f *fakeWitness) Clients(context.Context) ([]adminapi.WitnessClient, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []adminapi.WitnessClient
	for _, c := range f.clients {
		out = append(out, c)
	}
	return out, nil
}

func (f *fakeWitness) Move(_ context.Context, id, node string) (adminapi.WitnessClient, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.clients[id]
	if !ok {
		return c, adminapi.ErrWitnessClientNotFound
	}
	if !f.nodes[node] {
		return c, adminapi.ErrNodeNotFound
	}
	c.MoveTo = node
	f.clients[id] = c
	return c, nil
}

func (f *fakeWitness) MoveShare(_ context.Context, share, client, node string) ([]adminapi.WitnessClient, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.nodes[node] {
		return nil, adminapi.ErrNodeNotFound
	}
	var out []adminapi.WitnessClient
	for id, c := range f.clients {
		if strings.EqualFold(c.Share, share) && (client == "" || strings.EqualFold(c.Client, client)) {
			c.ShareMoveTo = node
			f.clients[id] = c
			out = append(out, c)
		}
	}
	return out, nil
}

func TestWitnessClients(t *testing.T) {
	tok := apitest.Token
	off := apitest.Start(t, apitest.Options{})
	expectError(t, call(t, off.URL, "GET", v1+"/witness/clients", tok, nil), 501, adminapi.CodeNotImplemented, "")

	w := &fakeWitness{nodes: map[string]bool{"n2": true}, clients: map[string]adminapi.WitnessClient{}}
	s := apitest.Start(t, apitest.Options{Witness: w})
	var wl adminapi.WitnessClientList
	r := call(t, s.URL, "GET", v1+"/witness/clients", tok, nil)
	r.decode(t, &wl)
	if r.status != 200 || !strings.Contains(string(r.body), `"clients":[]`) {
		t.Fatalf("empty list: %d %s", r.status, r.body)
	}
	w.clients["h1"] = adminapi.WitnessClient{ID: "h1", Client: "HOST1", Node: "n1", Version: 2, State: "available"}
	r = call(t, s.URL, "POST", v1+"/witness/clients/h1/move", tok, adminapi.WitnessMove{Node: "n2"})
	var c adminapi.WitnessClient
	r.decode(t, &c)
	if r.status != 202 || c.MoveTo != "n2" {
		t.Fatalf("move: %d %s", r.status, r.body)
	}
	expectError(t, call(t, s.URL, "POST", v1+"/witness/clients/nosuch/move", tok, adminapi.WitnessMove{Node: "n2"}), 404, adminapi.CodeWitnessClientNotFound, "id")
	expectError(t, call(t, s.URL, "POST", v1+"/witness/clients/h1/move", tok, adminapi.WitnessMove{Node: "n9"}), 404, adminapi.CodeNodeNotFound, "node")
	expectError(t, call(t, s.URL, "POST", v1+"/witness/clients/h1/move", tok, map[string]string{}), 400, adminapi.CodeMissingField, "node")
	expectError(t, call(t, s.URL, "POST", v1+"/witness/clients/h1/move", tok, map[string]string{"nodes": "n2"}), 400, adminapi.CodeUnknownField, "nodes")
	r = call(t, s.URL, "GET", v1+"/witness/clients", tok, nil)
	r.decode(t, &wl)
	if len(wl.Clients) != 1 || wl.Clients[0].MoveTo != "n2" {
		t.Fatalf("list after move: %s", r.body)
	}

	// Share moves: only registrations for the share (and the client,
	// when given) move; the share must exist.
	if r := call(t, s.URL, "POST", v1+"/shares", tok, adminapi.ShareCreate{Name: "vms", Path: "/csv/vms"}); r.status != 201 {
		t.Fatalf("create share: %d %s", r.status, r.body)
	}
	w.clients["h2"] = adminapi.WitnessClient{ID: "h2", Client: "HOST2", Share: "VMS", Node: "n1", Version: 2}
	w.clients["h3"] = adminapi.WitnessClient{ID: "h3", Client: "HOST3", Share: "vms", Node: "n1", Version: 2}
	r = call(t, s.URL, "POST", v1+"/witness/shares/vms/move", tok, adminapi.WitnessShareMove{Node: "n2", Client: "host2"})
	r.decode(t, &wl)
	if r.status != 202 || len(wl.Clients) != 1 || wl.Clients[0].ID != "h2" || wl.Clients[0].ShareMoveTo != "n2" {
		t.Fatalf("share move for one client: %d %s", r.status, r.body)
	}
	r = call(t, s.URL, "POST", v1+"/witness/shares/vms/move", tok, adminapi.WitnessShareMove{Node: "n2"})
	r.decode(t, &wl)
	if r.status != 202 || len(wl.Clients) != 2 || w.clients["h1"].ShareMoveTo != "" {
		t.Fatalf("share move: %d %s", r.status, r.body)
	}
	expectError(t, call(t, s.URL, "POST", v1+"/witness/shares/nosuch/move", tok, adminapi.WitnessShareMove{Node: "n2"}), 404, adminapi.CodeShareNotFound, "name")
	expectError(t, call(t, s.URL, "POST", v1+"/witness/shares/vms/move", tok, adminapi.WitnessShareMove{Node: "n9"}), 404, adminapi.CodeNodeNotFound, "node")
	expectError(t, call(t, s.URL, "POST", v1+"/witness/shares/vms/move", tok, map[string]string{}), 400, adminapi.CodeMissingField, "node")
	expectError(t, call(t, s.URL, "POST", v1+"/witness/shares/vms/move", tok, adminapi.WitnessShareMove{Node: "n2", Client: strings.Repeat("x", 256)}), 400, adminapi.CodeInvalidValue, "client")
	expectError(t, call(t, off.URL, "POST", v1+"/witness/shares/vms/move", tok, adminapi.WitnessShareMove{Node: "n2"}), 501, adminapi.CodeNotImplemented, "")
}
