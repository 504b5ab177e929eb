package csv

import (
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	long := strings.Repeat("a", 256)
	tests := []struct {
		in   string
		want []string
		err  error
	}{
		{"", nil, nil},
		{"a", []string{"a"}, nil},
		{`a\b\c.txt`, []string{"a", "b", "c.txt"}, nil},
		{`dir\file::$DATA`, []string{"dir", "file"}, nil},
		{`file::$data`, []string{"file"}, nil},
		{"ünïcödé名前", []string{"ünïcödé名前"}, nil},
		{"trailing dot.", []string{"trailing dot."}, nil},
		{"CONSOLE", []string{"CONSOLE"}, nil},
		{"COM0", []string{"COM0"}, nil},
		{`\a`, nil, ErrInvalidName},
		{`a\`, nil, ErrInvalidName},
		{`a\\b`, nil, ErrInvalidName},
		{`..`, nil, ErrInvalidName},
		{`a\..\..\etc`, nil, ErrInvalidName},
		{`.`, nil, ErrInvalidName},
		{`a\.\b`, nil, ErrInvalidName},
		{"/etc/passwd", nil, ErrInvalidName},
		{"a/b", nil, ErrInvalidName},
		{"a\x00b", nil, ErrInvalidName},
		{"a\x1fb", nil, ErrInvalidName},
		{"a\x7fb", nil, ErrInvalidName},
		{"\xff\xfe", nil, ErrInvalidName},
		{`a*`, nil, ErrInvalidName},
		{`a?`, nil, ErrInvalidName},
		{`<a>`, nil, ErrInvalidName},
		{`a|b`, nil, ErrInvalidName},
		{`"a"`, nil, ErrInvalidName},
		{"CON", nil, ErrInvalidName},
		{"nul.txt", nil, ErrInvalidName},
		{`dir\Aux`, nil, ErrInvalidName},
		{"com1", nil, ErrInvalidName},
		{"LPT9.tar.gz", nil, ErrInvalidName},
		{"prn .x", nil, ErrInvalidName},
		{"file:stream", nil, ErrStreamsUnsupported},
		{"file:stream:$DATA", nil, ErrStreamsUnsupported},
		{`C:\windows`, nil, ErrInvalidName},
		{`a:b\c`, nil, ErrInvalidName},
		{long, nil, ErrNameTooLong},
		{strings.Repeat(`abcdefg\`, 4096) + "x", nil, ErrNameTooLong},
	}
	for _, tt := range tests {
		got, err := parsePath(tt.in)
		wantErr(t, "parsePath("+tt.in+")", err, tt.err)
		if tt.err == nil && strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("parsePath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if _, err := parsePath(strings.Repeat("a", 255)); err != nil {
		t.Errorf("255-byte component refused: %v", err)
	}
}

func TestFoldKey(t *testing.T) {
	pairs := []struct {
		a, b string
		eq   bool
	}{
		{"foo", "FOO", true},
		{"Straße", "STRAßE", true},
		{"kelvin", "\u212aelvin", true}, // KELVIN SIGN folds to k
		{"ǅ", "ǆ", true},
		{"Σίσυφος", "ΣΊΣΥΦΟΣ", true},
		{"foo", "fo0", false},
		{"a", "á", false},
	}
	for _, p := range pairs {
		if got := foldKey(p.a) == foldKey(p.b); got != p.eq || got != equalFold(p.a, p.b) {
			t.Errorf("foldKey(%q)==foldKey(%q) = %v, want %v (EqualFold %v)", p.a, p.b, got, p.eq, equalFold(p.a, p.b))
		}
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"", "a", `a\b`, `..\x`, "CON", "f::$DATA", "a:b", "a\x00", "Ü", `a\\b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		comps, err := parsePath(p)
		if err != nil {
			return
		}
		for _, c := range comps {
			if c == "" || c == "." || c == ".." || strings.ContainsAny(c, "/\\:*?\"<>|\x00") || len(c) > maxComponentBytes {
				t.Fatalf("parsePath(%q) accepted component %q", p, c)
			}
		}
		for i := 0; i < len(comps); i++ {
			for j := 0; j < len(comps[i]); j++ {
				if comps[i][j] < 0x20 {
					t.Fatalf("parsePath(%q) accepted control character", p)
				}
			}
		}
	})
}
