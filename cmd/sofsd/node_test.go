package main

import (
	"os"
	"path/filepath"
	"testing"

	"sofs.io/sofs/namespace"
)

func TestNodeIdentityIsStable(t *testing.T) {
	dir := t.TempDir()
	a, err := loadOrCreateNode(dir, "n1")
	if err != nil {
		t.Fatal(err)
	}
	var g namespace.GUID
	if err := g.UnmarshalText([]byte(a.ID)); err != nil {
		t.Fatalf("id %q: %v", a.ID, err)
	}
	b, err := loadOrCreateNode(dir, "n1")
	if err != nil || b != a {
		t.Fatalf("second load = %+v, %v; want %+v", b, err, a)
	}
	c, err := loadOrCreateNode(dir, "renamed")
	if err != nil || c.ID != a.ID || c.Name != "renamed" {
		t.Fatalf("rename = %+v, %v", c, err)
	}
	if d, _ := loadOrCreateNode(dir, "renamed"); d != c {
		t.Fatalf("rename not persisted: %+v", d)
	}
	if e, _ := loadOrCreateNode(t.TempDir(), "n1"); e.ID == a.ID {
		t.Fatal("two data directories got the same node id")
	}
	if err := os.WriteFile(filepath.Join(dir, nodeFile), []byte(`{"id":"garbage"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateNode(dir, "n1"); err == nil {
		t.Fatal("corrupt node.json accepted")
	}
}
