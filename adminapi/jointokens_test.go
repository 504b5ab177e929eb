package adminapi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/adminapi/apitest"
)

type fakeJoinTokens struct{ ttls []time.Duration }

func (f *fakeJoinTokens) CreateJoinToken(_ context.Context, ttl time.Duration) (adminapi.JoinToken, error) {
	f.ttls = append(f.ttls, ttl)
	return adminapi.JoinToken{Token: fmt.Sprintf("sofs1.tok%d", len(f.ttls)), ID: "0a1b2c3d4e5f", Expires: time.Unix(0, 0).Add(ttl).UTC()}, nil
}

// TestCreateJoinToken: the route needs the admin token, checks the ttl
// and passes it on; without a token source it answers 501.
func TestCreateJoinToken(t *testing.T) {
	f := &fakeJoinTokens{}
	s := apitest.Start(t, apitest.Options{JoinTokens: f})
	path := v1 + "/join-tokens"
	expectError(t, call(t, s.URL, "POST", path, "", map[string]any{"ttl": "10m"}), 401, adminapi.CodeUnauthorized, "")
	expectError(t, call(t, s.URL, "POST", path, "wrong", nil), 401, adminapi.CodeUnauthorized, "")
	for _, bad := range []string{"0s", "500ms", "25h", "-1m", "ten minutes"} {
		expectError(t, call(t, s.URL, "POST", path, apitest.Token, map[string]any{"ttl": bad}), 400, adminapi.CodeInvalidValue, "ttl")
	}
	expectError(t, call(t, s.URL, "POST", path, apitest.Token, map[string]any{"ttl": "1m", "uses": 5}), 400, adminapi.CodeUnknownField, "uses")
	if len(f.ttls) != 0 {
		t.Fatalf("refused requests created tokens: %v", f.ttls)
	}
	r := call(t, s.URL, "POST", path, apitest.Token, map[string]any{"ttl": "10m"})
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var jt adminapi.JoinToken
	r.decode(t, &jt)
	if jt.Token != "sofs1.tok1" || len(f.ttls) != 1 || f.ttls[0] != 10*time.Minute {
		t.Fatalf("created %+v with ttls %v", jt, f.ttls)
	}
	// An empty body takes the default.
	if r := call(t, s.URL, "POST", path, apitest.Token, nil); r.status != 201 || f.ttls[1] != adminapi.DefaultJoinTokenTTL {
		t.Fatalf("empty body: %d %s, ttls %v", r.status, r.body, f.ttls)
	}

	off := apitest.Start(t, apitest.Options{})
	expectError(t, call(t, off.URL, "POST", path, apitest.Token, nil), 501, adminapi.CodeNotImplemented, "")
}
