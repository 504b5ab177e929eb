package main

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/rs/zerolog"

	"sofs.io/sofs/internal/testetcd"
	"sofs.io/sofs/namespace"
)

func startStore(t *testing.T) *namespace.Store {
	t.Helper()
	return namespace.NewStore(testetcd.Start(t).Client())
}

var passwordLine = regexp.MustCompile(`^Created user "admin" with password ([A-Za-z0-9]{20}) - note it now, it will not be shown again\.\n$`)

func TestFirstStartAdminPassword(t *testing.T) {
	st := startStore(t)
	ctx := t.Context()
	var logs bytes.Buffer
	log := zerolog.New(&logs)

	var out bytes.Buffer
	if err := ensureAdmin(ctx, st, false, &out, log); err != nil {
		t.Fatal(err)
	}
	m := passwordLine.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("stdout = %q, want one password sentence", out.String())
	}
	pw := m[1]
	h, err := st.LookupNTHash(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if h != namespace.NTHash(pw) {
		t.Fatal("printed password does not match the stored hash")
	}
	if bytes.Contains(logs.Bytes(), []byte(pw)) {
		t.Fatal("password written to the log")
	}

	// The second start finds the user and prints nothing.
	out.Reset()
	if err := ensureAdmin(ctx, st, false, &out, log); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Fatalf("second start printed %q", out.String())
	}
	if h2, _ := st.LookupNTHash(ctx, "admin"); h2 != h {
		t.Fatal("second start changed the admin password")
	}

	// Two generated passwords differ.
	st2 := startStore(t)
	out.Reset()
	if err := ensureAdmin(ctx, st2, false, &out, log); err != nil {
		t.Fatal(err)
	}
	if m2 := passwordLine.FindStringSubmatch(out.String()); m2 == nil || m2[1] == pw {
		t.Fatalf("second cluster's password line %q", out.String())
	}
}

func TestNoAdminWhenUsersGivenOrPresent(t *testing.T) {
	st := startStore(t)
	ctx := t.Context()
	var out bytes.Buffer
	log := zerolog.Nop()
	if err := ensureAdmin(ctx, st, true, &out, log); err != nil {
		t.Fatal(err)
	}
	if err := applyUsers(ctx, st, []userSpec{{"test", "test123"}}, log); err != nil {
		t.Fatal(err)
	}
	// Re-applying the same user with another password keeps the first.
	if err := applyUsers(ctx, st, []userSpec{{"TEST", "changed"}}, log); err != nil {
		t.Fatal(err)
	}
	if err := ensureAdmin(ctx, st, false, &out, log); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Fatalf("printed %q although users exist", out.String())
	}
	users, err := st.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || users[0].Name != "test" {
		t.Fatalf("users = %+v, want only test", users)
	}
	if h, _ := st.LookupNTHash(ctx, "test"); h != namespace.NTHash("test123") {
		t.Fatal("existing user's password overwritten")
	}
}
