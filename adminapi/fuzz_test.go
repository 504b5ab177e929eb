package adminapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/namespace"
)

// memStore is an in-memory adminapi.Backend with the store's semantics
// (case-insensitive names, ErrNotFound, ErrExists), so the fuzz target
// can run the real handlers without etcd. fail, when set, is returned by
// every call.
type memStore struct {
	mu     sync.Mutex
	shares map[string]namespace.Share
	users  map[string]namespace.User
	fail   error
}

func newMemStore() *memStore {
	return &memStore{shares: map[string]namespace.Share{}, users: map[string]namespace.User{}}
}

func (m *memStore) Cluster(context.Context) (namespace.Cluster, error) {
	if m.fail != nil {
		return namespace.Cluster{}, m.fail
	}
	return namespace.Cluster{Name: "mem"}, nil
}

func (m *memStore) ListShares(context.Context) ([]namespace.Share, []namespace.RefusedShare, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, nil, m.fail
	}
	var out []namespace.Share
	for _, s := range m.shares {
		out = append(out, s)
	}
	return out, nil, nil
}

func (m *memStore) GetShare(_ context.Context, name string) (namespace.Share, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return namespace.Share{}, m.fail
	}
	if err := namespace.ValidateShareName(name); err != nil {
		return namespace.Share{}, err
	}
	s, ok := m.shares[strings.ToLower(name)]
	if !ok {
		return namespace.Share{}, namespace.ErrNotFound
	}
	return s, nil
}

func (m *memStore) PutShare(_ context.Context, sh namespace.Share) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if err := sh.Validate(); err != nil {
		return err
	}
	m.shares[strings.ToLower(sh.Name)] = sh
	return nil
}

func (m *memStore) DeleteShare(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if _, ok := m.shares[strings.ToLower(name)]; !ok {
		return namespace.ErrNotFound
	}
	delete(m.shares, strings.ToLower(name))
	return nil
}

func (m *memStore) ListUsers(context.Context) ([]namespace.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	var out []namespace.User
	for _, u := range m.users {
		out = append(out, u)
	}
	return out, nil
}

func (m *memStore) PutUser(_ context.Context, name, pw string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if err := namespace.ValidateUserName(name); err != nil {
		return err
	}
	if err := namespace.ValidatePassword(pw); err != nil {
		return err
	}
	if _, ok := m.users[strings.ToLower(name)]; ok {
		return namespace.ErrExists
	}
	m.users[strings.ToLower(name)] = namespace.User{Name: name, Created: time.Unix(0, 0).UTC()}
	return nil
}

func (m *memStore) SetPassword(_ context.Context, name, pw string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if err := namespace.ValidatePassword(pw); err != nil {
		return err
	}
	if _, ok := m.users[strings.ToLower(name)]; !ok {
		return namespace.ErrNotFound
	}
	return nil
}

func (m *memStore) DeleteUser(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if _, ok := m.users[strings.ToLower(name)]; !ok {
		return namespace.ErrNotFound
	}
	delete(m.users, strings.ToLower(name))
	return nil
}

var _ adminapi.Backend = (*memStore)(nil)

// panicky is a SessionSource that panics.
type panicky struct{}

func (panicky) Sessions() []adminapi.SessionInfo   { panic("boom") }
func (panicky) OpenFiles() []adminapi.OpenFileInfo { panic("boom") }

func memHandler(t testing.TB, m *memStore, sessions adminapi.SessionSource) http.Handler {
	h, err := adminapi.NewWithBackend(adminapi.Config{
		Token:    adminapi.StaticTokens{"tok"},
		Logger:   zerolog.Nop(),
		NodeID:   "n1",
		Sessions: sessions,
	}, m)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func serve(h http.Handler, method, target string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestServerSideFailures(t *testing.T) {
	m := newMemStore()
	h := memHandler(t, m, panicky{})
	check := func(rec *httptest.ResponseRecorder, status int, code string) {
		t.Helper()
		var b adminapi.ErrorBody
		if rec.Code != status || json.Unmarshal(rec.Body.Bytes(), &b) != nil || b.Error.Code != code {
			t.Fatalf("got %d %s, want %d %s", rec.Code, rec.Body, status, code)
		}
	}
	// A panic becomes a JSON 500 and the server keeps going.
	check(serve(h, "GET", "/api/v1/sessions", nil), 500, adminapi.CodeInternal)
	// An etcd that does not answer is a 503; other store failures are
	// 500s whose message does not leak the cause.
	m.fail = fmt.Errorf("get share: %w", context.DeadlineExceeded)
	check(serve(h, "GET", "/api/v1/shares/x", nil), 503, adminapi.CodeStoreUnavailable)
	m.fail = errors.New("etcdserver: secret detail")
	rec := serve(h, "POST", "/api/v1/shares", []byte(`{"name":"x","path":"/x"}`))
	check(rec, 500, adminapi.CodeInternal)
	if strings.Contains(rec.Body.String(), "secret detail") {
		t.Fatalf("500 leaks the cause: %s", rec.Body)
	}
	// Bad input is still a 400 while the store is down: it never gets
	// that far.
	check(serve(h, "POST", "/api/v1/shares", []byte(`{"name":"x"}`)), 400, adminapi.CodeMissingField)
}

// FuzzRequests drives the whole handler (routing, auth, body cap,
// decoding, validation, handlers) over an in-memory store with arbitrary
// methods, paths and bodies. The store never fails, so any 5xx or a
// non-JSON error is a bug in how the API treats client input.
func FuzzRequests(f *testing.F) {
	f.Add(uint8(1), "shares", "", []byte(`{"name":"s","path":"/p"}`))
	f.Add(uint8(2), "shares/", "s", []byte(`{"path":"/p","readOnly":true}`))
	f.Add(uint8(1), "users", "", []byte(`{"name":"u","password":"p"}`))
	f.Add(uint8(2), "users/", "u/password", []byte(`{"password":"p"}`))
	f.Add(uint8(3), "nodes/", "n1", []byte(nil))
	f.Add(uint8(1), "nodes/", "n1/drain", []byte(nil))
	f.Add(uint8(0), "cluster", "", []byte(nil))
	f.Add(uint8(1), "shares", "", []byte(`{"name":"s","path":"/p","comment":"\u0000"}`))
	f.Add(uint8(1), "shares", "", []byte(`{"name":"s","path":"/p"}{`))
	f.Add(uint8(2), "shares/", "%2e%2e", []byte(`{"name":1e999}`))
	methods := []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}
	m := newMemStore()
	h := memHandler(f, m, nil)
	f.Fuzz(func(t *testing.T, mi uint8, base, rest string, body []byte) {
		u, err := url.Parse("/api/v1/" + base + rest)
		if err != nil || u.Host != "" || u.Scheme != "" || u.Opaque != "" {
			return
		}
		req := &http.Request{
			Method: methods[int(mi)%len(methods)], URL: u, RequestURI: u.RequestURI(),
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Host: "example",
			Header: http.Header{"Authorization": {"Bearer tok"}, "Content-Type": {"application/json"}},
			Body:   http.NoBody, ContentLength: int64(len(body)),
		}
		if len(body) > 0 {
			req.Body = nopCloser{bytes.NewReader(body)}
		}
		req = req.WithContext(context.Background())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusNotImplemented { // 501: drain and remove without membership
			t.Fatalf("%s %s %q: %d %s", req.Method, u, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && req.Method != "HEAD" {
			var b adminapi.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Error.Code == "" {
				t.Fatalf("%s %s: %d with body %q", req.Method, u, rec.Code, rec.Body)
			}
		}
	})
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// FuzzDecoders checks the request decoders directly: they never panic,
// reject only with 400, 413 or 415, and whatever they accept is valid for
// the store.
func FuzzDecoders(f *testing.F) {
	for _, s := range []string{
		`{"name":"s","path":"/p","comment":"c","continuouslyAvailable":true,"encryptData":true,"readOnly":true,"guest":true}`,
		`{"name":"u","password":"p"}`, `{"password":"p"}`, `{"path":"/p","name":"S"}`,
		`{"name":"\ud800","path":"/\u0000"}`, `{"name":null}`, `{"name":"s","path":"/p","path":"rel"}`,
		`  {}  `, `{`, `[1]`, ``, `{"name":"s","path":"/p"} x`,
	} {
		f.Add([]byte(s))
	}
	ok := func(t *testing.T, status int) {
		if status != 0 && status != 400 && status != 413 && status != 415 {
			t.Fatalf("status %d", status)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sh, e := adminapi.DecodeShareCreate(b)
		ok(t, adminapi.ErrStatus(e))
		if e == nil {
			if err := sh.Validate(); err != nil {
				t.Fatalf("accepted invalid share %+v: %v", sh, err)
			}
		}
		sh, e = adminapi.DecodeShareUpdate(b, "share")
		ok(t, adminapi.ErrStatus(e))
		if e == nil {
			if err := sh.Validate(); err != nil || sh.Name != "share" {
				t.Fatalf("accepted invalid share %+v: %v", sh, err)
			}
		}
		u, e := adminapi.DecodeUserCreate(b)
		ok(t, adminapi.ErrStatus(e))
		if e == nil {
			if namespace.ValidateUserName(u.Name) != nil || namespace.ValidatePassword(u.Password) != nil {
				t.Fatalf("accepted invalid user %q", u.Name)
			}
		}
		p, e := adminapi.DecodePasswordChange(b)
		ok(t, adminapi.ErrStatus(e))
		if e == nil && namespace.ValidatePassword(p.Password) != nil {
			t.Fatal("accepted invalid password")
		}
	})
}
