package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/internal/testetcd"
	"sofs.io/sofs/namespace"
)

// TestShareSourceRefusesPrivatePaths: a share another node stored (its
// own data directory differs, so its policy let the path through) on
// this node's data directory or etcd files is neither served nor listed
// here, while a share inside the data directory is.
func TestShareSourceRefusesPrivatePaths(t *testing.T) {
	data := t.TempDir()
	cfg := config{Data: data, APITokenFile: filepath.Join(data, "api-token")}
	st := namespace.NewStore(testetcd.Start(t).Client())
	ctx := t.Context()
	for _, sh := range []namespace.Share{
		{Name: "good", Path: filepath.Join(data, "share")},
		{Name: "etcd", Path: filepath.Join(data, "etcd")},
		{Name: "token", Path: filepath.Join(data, "api-token")},
		{Name: "data", Path: data},
	} {
		if err := st.PutShare(ctx, sh); err != nil {
			t.Fatal(err)
		}
	}
	log := zerolog.New(zerolog.NewTestWriter(t))
	view, err := namespace.NewView(ctx, st, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(view.Close)
	src := newShareSource(view, cfg.sharePathPolicy(), nil, log)
	if _, ok := src.Share("good"); !ok {
		t.Fatal("share inside the data directory not served")
	}
	for _, name := range []string{"etcd", "token", "data"} {
		if sh, ok := src.Share(name); ok {
			t.Errorf("share %s on %s served", name, sh.Path)
		}
	}
	if list := src.Shares(); len(list) != 1 || list[0].Name != "good" {
		t.Errorf("Shares() = %+v, want only good", list)
	}
	// Readiness names every refused share and why: the node's own
	// refusals here, and a record the cluster-wide rule refuses.
	if _, err := st.Client().Put(ctx, namespace.Prefix+"shares/etc", `{"name":"etc","path":"/etc"}`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(view.RefusedShares()) == 0 && time.Now().Before(deadline) {
		select {
		case <-view.Changed():
		case <-time.After(time.Until(deadline)):
		}
	}
	got := map[string]string{}
	for _, r := range src.refused() {
		got[r.Name] = r.Reason
	}
	if len(got) != 4 || !strings.Contains(got["etc"], "system directory") || !strings.Contains(got["etcd"], "refused on this node") ||
		got["token"] == "" || got["data"] == "" {
		t.Errorf("refused() = %v", got)
	}
}

// TestApplySharesResolvesLinks: a --share path that is a symbolic link to
// a private directory passes the string check but is refused once
// resolved, and is not stored.
func TestApplySharesResolvesLinks(t *testing.T) {
	data := t.TempDir()
	cfg := config{Data: data}
	if err := os.MkdirAll(filepath.Join(data, "etcd"), 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "innocent")
	if err := os.Symlink(filepath.Join(data, "etcd"), link); err != nil {
		t.Fatal(err)
	}
	st := namespace.NewStore(testetcd.Start(t).Client())
	log := zerolog.New(zerolog.NewTestWriter(t))
	err := applyShares(t.Context(), st, []namespace.Share{{Name: "s", Path: link}}, cfg.sharePathPolicy(), log)
	if err == nil || !strings.Contains(err.Error(), "private file") {
		t.Fatalf("applyShares through a link to DATA/etcd: %v", err)
	}
	if _, err := st.GetShare(t.Context(), "s"); err == nil {
		t.Fatal("refused share stored")
	}
}
