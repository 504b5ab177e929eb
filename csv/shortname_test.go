package csv

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestShortName(t *testing.T) {
	for _, name := range []string{"", "A.TXT", "readme.md", "MAKEFILE", "x~1.c", "12345678.123"} {
		if s := ShortName(name); s != "" {
			t.Errorf("ShortName(%q) = %q, want none (already 8.3)", name, s)
		}
	}
	for _, name := range []string{"torture_search.txt", "a b.txt", "name.html", "123456789", ".profile", "x.y.z", "é.txt", "a+b", "...."} {
		s := ShortName(name)
		if !is83(s) || !strings.Contains(s, "~") || s != strings.ToUpper(s) {
			t.Errorf("ShortName(%q) = %q: not an upper-case mangled 8.3 name", name, s)
		}
		if s2 := ShortName(strings.ToUpper(name)); s2 != s {
			t.Errorf("ShortName differs by case: %q vs %q", s, s2)
		}
	}
	if s := ShortName("torture_search.txt"); !strings.HasPrefix(s, "TO~") || !strings.HasSuffix(s, ".TXT") || len(s) != 12 {
		t.Errorf("ShortName(torture_search.txt) = %q, want TO~xxxxx.TXT", s)
	}
}

// TestOpenByShortName: a short name is accepted wherever a path component
// is, as on NTFS, and resolves to the long name on disk.
func TestOpenByShortName(t *testing.T) {
	v, root := newVolume(t, Options{})
	h, _ := open(t, v, OpenRequest{Path: "Long Directory Name", Disposition: Create, Directory: true})
	closeH(t, h)
	writeFile(t, filepath.Join(root, "Long Directory Name", "some long file.txt"), "data")
	dir, file := ShortName("Long Directory Name"), ShortName("some long file.txt")
	h, act := open(t, v, OpenRequest{Path: strings.ToLower(dir) + `\` + file, Disposition: Open})
	if act != Opened || h.Path() != `Long Directory Name\some long file.txt` {
		t.Fatalf("open by short name: %v %q", act, h.Path())
	}
	closeH(t, h)
	// Creating a name equal to an existing short name collides with it.
	_, _, err := v.Open(context.Background(), OpenRequest{Path: dir, Disposition: Create, Directory: true})
	wantErr(t, "create over a short name", err, ErrExists)
	// A name that merely looks like a short name is an ordinary name.
	h, act = open(t, v, OpenRequest{Path: "AB~CDXYZ.TXT", Disposition: OpenIf})
	if act != Created {
		t.Fatalf("create AB~CDXYZ.TXT: %v", act)
	}
	closeH(t, h)
}

func TestMayBeShortName(t *testing.T) {
	for name, want := range map[string]bool{"TO~1AZ00.TXT": true, "a~b9z1a": true, "_~00000.c": true, "ABC~1234.TXT": false,
		"AB~123.TXT": false, "~ABCDE.TXT": false, "AB~1-234": false, "long name~abc.txt": false} {
		if got := mayBeShortName(name); got != want {
			t.Errorf("mayBeShortName(%q) = %v", name, got)
		}
	}
	for _, name := range []string{"torture_search.txt", "x.y.z", "é.txt", "a b c d e f"} {
		if s := ShortName(name); !mayBeShortName(s) {
			t.Errorf("ShortName(%q) = %q is not recognised", name, s)
		}
	}
}
