package smbserver

import (
	"strings"
	"testing"
)

func TestSessionAndOpenFileViews(t *testing.T) {
	ts := startServer(t, nil)
	fs, err := ts.mount(t, "test", "test123")
	if err != nil {
		t.Fatal(err)
	}
	f, err := fs.Create(`held.txt`)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sessions := ts.srv.Sessions()
	if len(sessions) != 1 {
		t.Fatalf("%d sessions, want 1: %+v", len(sessions), sessions)
	}
	s := sessions[0]
	if !strings.EqualFold(s.User[strings.LastIndex(s.User, `\`)+1:], "test") || !s.Signed || s.TreeConnects != 1 || s.Opens < 1 || s.ConnectedAt.IsZero() || s.ClientAddress == "" {
		t.Fatalf("unexpected session view %+v", s)
	}
	var found bool
	for _, o := range ts.srv.OpenFiles() {
		if o.Path == "held.txt" && o.Share == "share" && o.SessionID == s.SessionID && o.Access != 0 {
			found = true
		}
	}
	if !found {
		t.Fatalf("held.txt not among open files %+v", ts.srv.OpenFiles())
	}
	f.Close()
	for _, o := range ts.srv.OpenFiles() {
		if o.Path == "held.txt" {
			t.Fatalf("closed file still listed: %+v", o)
		}
	}
}
