package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/adminapi/apitest"
	"sofs.io/sofs/namespace"
)

type result struct {
	code           int
	stdout, stderr string
}

// sofsctl runs the command in-process against api with env (plus
// SOFS_API) and stdin.
func sofsctl(t *testing.T, api string, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	lookup := func(k string) (string, bool) {
		if k == "SOFS_API" && api != "" {
			if _, ok := env[k]; !ok {
				return api, true
			}
		}
		v, ok := env[k]
		return v, ok
	}
	var out, errb bytes.Buffer
	code := run(args, lookup, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

var tokenEnv = map[string]string{"SOFS_TOKEN": apitest.Token}

func expect(t *testing.T, r result, code int, stdoutHas ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range stdoutHas {
		if !strings.Contains(r.stdout, s) {
			t.Fatalf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
}

func TestShareCommands(t *testing.T) {
	s := apitest.Start(t, apitest.Options{})
	ctx := t.Context()
	run := func(stdin string, args ...string) result { return sofsctl(t, s.URL, tokenEnv, stdin, args...) }

	expect(t, run("", "share", "create", "vms", "--path", "/csv/vms", "--ca", "--encrypt", "--comment", "Hyper-V"), 0, "share vms created")
	sh, err := s.Store.GetShare(ctx, "vms")
	if err != nil || !sh.ContinuouslyAvailable || !sh.EncryptData || sh.Comment != "Hyper-V" || sh.ReadOnly {
		t.Fatalf("stored %+v %v", sh, err)
	}
	// Flags before the name, globals after the command.
	expect(t, run("", "share", "create", "--path=/csv/img", "--readonly", "--guest", "images", "-o", "json"), 0, `"name": "images"`)
	expect(t, run("", "share", "create", "--path=/csv/team", "--allow", "Everyone:read", "--deny", "bob:full", "--allow", "alice:change", "team"), 0, "created")
	expect(t, run("", "share", "show", "team"), 0, "deny bob: full; allow Everyone: read; allow alice: change")
	expect(t, run("", "share", "update", "team", "--allow", "Everyone:full", "--abe"), 0, "updated")
	expect(t, run("", "share", "show", "team"), 0, "allow Everyone: full", "Access-based enum:       yes")
	expect(t, run("", "share", "create", "--path=/p", "--allow", "nocolon", "bad"), 2)
	expect(t, run("", "share", "delete", "team"), 0)
	// A duplicate is an API error: exit 1, message on stderr.
	r := run("", "share", "create", "VMS", "--path", "/x")
	expect(t, r, 1)
	if !strings.Contains(r.stderr, "share_exists") {
		t.Fatalf("stderr %q", r.stderr)
	}
	// A bad value names the field.
	r = run("", "share", "create", "rel", "--path", "relative")
	expect(t, r, 1)
	if !strings.Contains(r.stderr, "field path") || !strings.Contains(r.stderr, "invalid_value") {
		t.Fatalf("stderr %q", r.stderr)
	}

	r = run("", "share", "list")
	expect(t, r, 0, "NAME", "images", "/csv/img", "vms", "Hyper-V")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "images") || !strings.HasPrefix(lines[2], "vms") {
		t.Fatalf("table:\n%s", r.stdout)
	}
	r = run("", "-o", "json", "share", "list")
	expect(t, r, 0)
	var sl adminapi.ShareList
	if err := json.Unmarshal([]byte(r.stdout), &sl); err != nil || len(sl.Shares) != 2 {
		t.Fatalf("json list %q: %v", r.stdout, err)
	}
	expect(t, run("", "share", "show", "VMs"), 0, "Path:", "/csv/vms", "Continuously available:  yes")

	// update changes only what is given.
	expect(t, run("", "share", "update", "vms", "--readonly", "--ca=false"), 0, "share vms updated")
	sh, _ = s.Store.GetShare(ctx, "vms")
	if !sh.ReadOnly || sh.ContinuouslyAvailable || !sh.EncryptData || sh.Path != "/csv/vms" || sh.Comment != "Hyper-V" {
		t.Fatalf("after update %+v", sh)
	}
	expect(t, run("", "share", "update", "vms"), 2)
	expect(t, run("", "share", "update", "nope", "--guest"), 4)

	expect(t, run("", "share", "delete", "vms"), 0, "share vms deleted")
	if _, err := s.Store.GetShare(ctx, "vms"); !errors.Is(err, namespace.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	expect(t, run("", "share", "delete", "vms"), 4)
	expect(t, run("", "share", "show", "vms"), 4)
	// Names that need escaping survive the trip.
	expect(t, run("", "share", "create", "my share$", "--path", "/x"), 0)
	expect(t, run("", "share", "show", "my share$"), 0, "my share$")
	expect(t, run("", "share", "delete", "-o", "json", "my share$"), 0)
	// A name the server rejects is an API error, not "not found".
	expect(t, run("", "share", "show", "a*b"), 1)
	// Missing --path is caught before any request.
	expect(t, run("", "share", "create", "x"), 2)
}

func TestUserCommands(t *testing.T) {
	s := apitest.Start(t, apitest.Options{})
	ctx := t.Context()
	run := func(stdin string, args ...string) result { return sofsctl(t, s.URL, tokenEnv, stdin, args...) }

	expect(t, run("s3cret\n", "user", "create", "alice", "--password-stdin"), 0, "user alice created")
	if h, _ := s.Store.LookupNTHash(ctx, "alice"); h != namespace.NTHash("s3cret") {
		t.Fatal("password from stdin not stored")
	}
	expect(t, run("", "user", "create", "bob", "--password", "pw"), 0)
	expect(t, run("x\n", "user", "create", "bob", "--password-stdin"), 1)
	expect(t, run("", "user", "create", "carol"), 2)
	expect(t, run("", "user", "create", "carol", "--password-stdin"), 2)
	expect(t, run("x", "user", "create", "carol", "--password-stdin", "--password", "y"), 2)

	r := run("", "user", "list")
	expect(t, r, 0, "NAME", "alice", "bob")
	r = run("", "user", "list", "-o", "json")
	if strings.Contains(strings.ToLower(r.stdout), "hash") || strings.Contains(r.stdout, "s3cret") {
		t.Fatalf("user list leaks: %s", r.stdout)
	}
	expect(t, run("n3w\r\n", "user", "passwd", "ALICE", "--password-stdin"), 0, "password of user ALICE changed")
	if h, _ := s.Store.LookupNTHash(ctx, "alice"); h != namespace.NTHash("n3w") {
		t.Fatal("password not changed (or CR kept)")
	}
	expect(t, run("x\n", "user", "passwd", "nobody", "--password-stdin"), 4)
	expect(t, run("", "user", "delete", "bob"), 0, "user bob deleted")
	expect(t, run("", "user", "delete", "bob"), 4)
}

func TestClusterNodeSessionCommands(t *testing.T) {
	s := apitest.Start(t, apitest.Options{})
	run := func(args ...string) result { return sofsctl(t, s.URL, tokenEnv, "", args...) }

	expect(t, run("cluster"), 0, "sofs-test", "Server GUID:", apitest.NodeID)
	expect(t, run("cluster", "show", "-o", "json"), 0, `"serverGuid"`)
	expect(t, run("node", "list"), 0, "ID", apitest.NodeID+" *", "up")
	expect(t, run("node", "show", apitest.NodeID), 0, "This node:", "yes")
	expect(t, run("node", "show", "other"), 4)
	r := run("node", "drain", apitest.NodeID)
	expect(t, r, 1)
	if !strings.Contains(r.stderr, "not_implemented") {
		t.Fatalf("drain stderr %q", r.stderr)
	}
	expect(t, run("node", "remove", apitest.NodeID), 1)

	expect(t, run("session", "list"), 0, "SESSION ID")
	at := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	s.Sessions.Set([]adminapi.SessionInfo{{
		SessionID: 1<<63 + 5, ClientAddress: "127.0.0.1:50000", User: `SOFS\alice`,
		Dialect: "3.1.1", Signed: true, Opens: 1, ConnectedAt: at,
	}}, []adminapi.OpenFileInfo{{
		FileID: "0000000000000001ffffffff00000002", SessionID: 1<<63 + 5, Share: "vms", Path: "dir\\disk.vhdx",
		User: `SOFS\alice`, Access: 0x0012019f, Persistent: true, OpenedAt: at,
	}})
	expect(t, run("session", "list"), 0, "9223372036854775813", `SOFS\alice`, "3.1.1", apitest.NodeID)
	expect(t, run("openfile", "list"), 0, `dir\disk.vhdx`, "RW (0x0012019f)", "persistent")
	r = run("open-files", "list", "-o", "json")
	expect(t, r, 0, `"sessionId": "9223372036854775813"`)
}

func TestAuthAndUsageExitCodes(t *testing.T) {
	s := apitest.Start(t, apitest.Options{})
	// Wrong or missing token.
	r := sofsctl(t, s.URL, map[string]string{"SOFS_TOKEN": "wrong"}, "", "share", "list")
	expect(t, r, 3)
	if !strings.Contains(r.stderr, "unauthorized") {
		t.Fatalf("stderr %q", r.stderr)
	}
	r = sofsctl(t, s.URL, map[string]string{"SOFS_TOKEN": "wrong"}, "", "share", "list", "-o", "json")
	expect(t, r, 3)
	if !strings.Contains(r.stderr, `"code": "unauthorized"`) {
		t.Fatalf("json error on stderr %q", r.stderr)
	}
	expect(t, sofsctl(t, s.URL, nil, "", "share", "list"), 2)
	// --token beats SOFS_TOKEN; --token-file works.
	expect(t, sofsctl(t, s.URL, map[string]string{"SOFS_TOKEN": "wrong"}, "", "--token", apitest.Token, "share", "list"), 0)
	tf := filepath.Join(t.TempDir(), "api-token")
	if err := os.WriteFile(tf, []byte("# sofs admin token\n"+apitest.Token+"\nnext-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	expect(t, sofsctl(t, s.URL, nil, "", "share", "list", "--token-file", tf), 0)
	expect(t, sofsctl(t, s.URL, map[string]string{"SOFS_TOKEN_FILE": tf}, "", "share", "list"), 0)
	expect(t, sofsctl(t, s.URL, nil, "", "share", "list", "--token-file", tf+".missing"), 2)
	// --api overrides SOFS_API.
	expect(t, sofsctl(t, "http://127.0.0.1:1", tokenEnv, "", "--api", s.URL, "cluster"), 0)

	// Usage errors.
	for _, args := range [][]string{
		{}, {"bogus"}, {"share"}, {"share", "frob"}, {"share", "show"}, {"share", "show", "a", "b"},
		{"share", "list", "extra"}, {"share", "list", "-o", "yaml"}, {"share", "list", "--nope"},
		{"user", "delete"}, {"node", "show"}, {"cluster", "extra"}, {"share", "list", "--api", "ftp://x"},
		{"share", "show", ""}, {"share", "list", "--timeout", "0s"},
	} {
		r := sofsctl(t, s.URL, tokenEnv, "", args...)
		if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "--help") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	for _, args := range [][]string{{"--help"}, {"help"}, {"share", "-h"}, {"share", "list", "--help"}} {
		r := sofsctl(t, s.URL, tokenEnv, "", args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Exit codes") {
			t.Errorf("%q: exit %d, stdout %q", args, r.code, r.stdout)
		}
	}

	// A server that is not there is exit 1.
	s.HTTP.Close()
	r = sofsctl(t, s.URL, tokenEnv, "", "cluster")
	expect(t, r, 1)
	if !strings.Contains(r.stderr, "refused") {
		t.Fatalf("stderr %q", r.stderr)
	}
}

// shareMoveWitness is an adminapi.Witness with one registration for share
// vms; it records the share moves asked of it.
type shareMoveWitness struct {
	adminapi.Witness
	moved []string
}

func (w *shareMoveWitness) MoveShare(_ context.Context, share, client, node string) ([]adminapi.WitnessClient, error) {
	if node != "n2" {
		return nil, adminapi.ErrNodeNotFound
	}
	w.moved = append(w.moved, share+"/"+client+"->"+node)
	return []adminapi.WitnessClient{{ID: "h1", Client: "HOST1", Share: share, ShareMoveTo: node}}, nil
}

func TestWitnessMoveShare(t *testing.T) {
	w := &shareMoveWitness{}
	s := apitest.Start(t, apitest.Options{Witness: w})
	run := func(args ...string) result { return sofsctl(t, s.URL, tokenEnv, "", args...) }
	expect(t, run("share", "create", "vms", "--path", "/csv/vms"), 0)
	expect(t, run("witness", "move-share", "vms", "--node", "n2", "--client", "HOST1"), 0, "1 witness client(s) of share vms asked to move it to node n2: h1")
	if len(w.moved) != 1 || w.moved[0] != "vms/HOST1->n2" {
		t.Fatalf("moves asked: %q", w.moved)
	}
	expect(t, run("witness", "move-share", "vms"), 2)
	expect(t, run("witness", "move-share", "nosuch", "--node", "n2"), 4)
	expect(t, run("witness", "move-share", "vms", "--node", "n9"), 4)
}

// TestRefusedShareCommands: a stored share whose path is refused shows in
// share list as REFUSED with its reason, share show exits 1 with the
// reason, and share update --path repairs it.
func TestRefusedShareCommands(t *testing.T) {
	s := apitest.Start(t, apitest.Options{})
	run := func(args ...string) result { return sofsctl(t, s.URL, tokenEnv, "", args...) }
	expect(t, run("share", "create", "good", "--path", "/csv/good"), 0)
	if _, err := s.Store.Client().Put(t.Context(), namespace.Prefix+"shares/old", `{"name":"old","path":"/etc"}`); err != nil {
		t.Fatal(err)
	}
	expect(t, run("share", "list"), 0, "good", "old", "REFUSED", "system directory /etc")
	r := run("share", "show", "old")
	if r.code != 1 || !strings.Contains(r.stderr, "share_refused") {
		t.Fatalf("share show of a refused share: %+v", r)
	}
	expect(t, run("share", "update", "old", "--path", "/csv/old"), 0, "updated")
	expect(t, run("share", "show", "old"), 0, "/csv/old")
	if r := run("share", "list"); strings.Contains(r.stdout, "REFUSED") {
		t.Fatalf("still refused after the update:\n%s", r.stdout)
	}
}

type fakeTokens struct{}

func (fakeTokens) CreateJoinToken(_ context.Context, ttl time.Duration) (adminapi.JoinToken, error) {
	return adminapi.JoinToken{Token: "sofs1.tok-" + ttl.String(), ID: "0a1b2c3d4e5f", Expires: time.Now().Add(ttl)}, nil
}

// TestTokenCreate: the token alone on stdout, the ttl passed on.
func TestTokenCreate(t *testing.T) {
	s := apitest.Start(t, apitest.Options{JoinTokens: fakeTokens{}})
	r := sofsctl(t, s.URL, tokenEnv, "", "token", "create", "--ttl", "10m")
	expect(t, r, 0)
	if r.stdout != "sofs1.tok-10m0s\n" {
		t.Fatalf("stdout %q, want the token alone", r.stdout)
	}
	expect(t, sofsctl(t, s.URL, tokenEnv, "", "token", "create", "--ttl", "48h"), 1)
	expect(t, sofsctl(t, s.URL, map[string]string{"SOFS_TOKEN": "wrong"}, "", "token", "create"), 3)
}
