package fscc

import (
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

var matchCases = []struct {
	pattern, name string
	want          bool
}{
	// [MS-FSA] 2.1.4.4 part 1: empty strings and the match-all forms.
	{"", "", true},
	{"", "a", false},
	{"*", "", false},
	{"a", "", false},
	{"*", "anything.txt", true},
	{"*", ".", true},
	{"*", "..", true},
	{"*.*", "noext", true},
	{"*.*", "a.b", true},
	{"*.*", ".hidden", true},
	// Plain characters, case-insensitive.
	{"abc", "abc", true},
	{"abc", "ABC", true},
	{"ABC", "abd", false},
	{"abc", "abcd", false},
	{"abcd", "abc", false},
	{"école", "ÉCOLE", true},
	{"straße", "STRASSE", false}, // no multi-character folding, as Windows
	// '*' and '?'.
	{"*.txt", "a.txt", true},
	{"*.txt", "A.TXT", true},
	{"*.txt", ".txt", true},
	{"*.txt", "a.txt.bak", false},
	{"*.txt", "atxt", false},
	{"a*", "abc", true},
	{"a*", "bac", false},
	{"*b*", "abc", true},
	{"a*c", "ac", true},
	{"a*c", "abbbc", true},
	{"a*c", "abbbd", false},
	{"a?c", "abc", true},
	{"a?c", "a.c", true},
	{"a?c", "ac", false},
	{"???", "ab", false},
	{"?", "é", true},
	{"*.", "abc", false},
	{"*.", "abc.", true},
	{"**a**", "bab", true},
	{"*a*a*a*a*b", "aaaaab", true},
	{"*a*a*a*a*b", "aaaab", true},
	{"*a*a*a*a*b", "aaab", false},
	// DOS_STAR '<': never eats the final '.'.
	{"<.txt", "a.b.txt", true},
	{"<.txt", "a.txt", true},
	{"<.txt", "atxt", false},
	{"<", "abc", true},
	{"<", "a.b", false},
	{"<", "abc.", false},
	{"a<", "a", true},
	{`<"*`, "abc", true}, // what Windows sends for "*.*"
	{`<"*`, "a.b", true},
	{`<"*`, "a.b.c", true},
	{`<"`, "abc", true}, // what Windows sends for "*.": no extension
	{`<"`, "abc.", true},
	{`<"`, "a.b", false},
	{`<.<`, "a.b", true},
	{`<.<`, "ab", false},
	// DOS_QM '>': one non-dot character, or nothing at '.' or the end.
	{">", "a", true},
	{">", "ab", false},
	{">", "", false},
	{">>>", "ab", true},
	{">>>", "abc", true},
	{">>>", "abcd", false},
	{">>>", "a.b", false},
	{">>>.txt", "ab.txt", true},
	{">>>.txt", "abcd.txt", false},
	{"a>b", "axb", true},
	{"a>b", "ab", false},
	{"a>b", "a.b", false},
	// "????????.???" as Windows sends it.
	{`>>>>>>>>">>>`, "abcdefgh.ijk", true},
	{`>>>>>>>>">>>`, "abc", true},
	{`>>>>>>>>">>>`, "a.b", true},
	{`>>>>>>>>">>>`, "abcdefghi", false},
	{`>>>>>>>>">>>`, "abcdefgh.ijkl", false},
	// DOS_DOT '"': a '.' or nothing at the end.
	{`a"`, "a", true},
	{`a"`, "a.", true},
	{`a"`, "ab", false},
	{`a"b`, "a.b", true},
	{`a"b`, "ab", false},
	{`a"*`, "a", true},
	{`a"*`, "a.xyz", true},
}

func TestMatchTable(t *testing.T) {
	for _, c := range matchCases {
		if got := Match(c.pattern, c.name); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
		if got := refMatch(c.pattern, c.name); got != c.want {
			t.Errorf("reference Match(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
	// A compiled pattern is reusable.
	p := Compile("*.TXT")
	for _, n := range []string{"a.txt", "b.txt", "c.txt"} {
		if !p.Match(n) {
			t.Errorf("compiled pattern failed on %q", n)
		}
	}
}

func TestHasWildcards(t *testing.T) {
	for s, want := range map[string]bool{
		"abc": false, "": false, "a*": true, "a?": true, "<": true, ">": true, `"`: true, "a.b": false,
	} {
		if HasWildcards(s) != want {
			t.Errorf("HasWildcards(%q) != %v", s, want)
		}
	}
}

func TestMatchNotExponential(t *testing.T) {
	name := strings.Repeat("a", 250)
	patterns := []string{
		"*a*a*a*a*a*a*a*b",
		strings.Repeat("*a", 120) + "*b",
		strings.Repeat("<a", 120) + "<b",
		strings.Repeat("?*", 200) + "b",
	}
	start := time.Now()
	for _, p := range patterns {
		if Match(p, name) {
			t.Errorf("%q matched a name without b", p[:16])
		}
	}
	// Backtracking needs billions of steps here; the automaton needs
	// about len(pattern)·len(name) = 10^5 per pattern.
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("matching took %v", d)
	}
	if !Match(strings.Repeat("*a", 120)+"*", name) {
		t.Error("120 a's must match 250 a's")
	}
}

// refMatch is a direct recursive transcription of the [MS-FSA] 2.1.4.4
// rules, exponential but obviously right, used to check the automaton on
// small inputs.
func refMatch(pattern, name string) bool {
	switch {
	case name == "":
		return pattern == ""
	case pattern == "":
		return false
	case pattern == "*" || pattern == "*.*":
		return true
	}
	p, n := []rune(pattern), []rune(name)
	lastDot := -1
	for i, r := range n {
		if r == '.' {
			lastDot = i
		}
	}
	var rec func(pi, ni int) bool
	rec = func(pi, ni int) bool {
		if pi == len(p) {
			return ni == len(n)
		}
		end := ni == len(n)
		switch p[pi] {
		case '*':
			return rec(pi+1, ni) || (!end && rec(pi, ni+1))
		case '<':
			return rec(pi+1, ni) || (!end && (n[ni] != '.' || ni < lastDot) && rec(pi, ni+1))
		case '?':
			return !end && rec(pi+1, ni+1)
		case '>':
			if end || n[ni] == '.' {
				return rec(pi+1, ni)
			}
			return rec(pi+1, ni+1)
		case '"':
			if end {
				return rec(pi+1, ni)
			}
			return n[ni] == '.' && rec(pi+1, ni+1)
		}
		return !end && unicode.ToUpper(p[pi]) == unicode.ToUpper(n[ni]) && rec(pi+1, ni+1)
	}
	return rec(0, 0)
}

// smallEnough bounds the inputs refMatch is run on in the fuzzer.
func smallEnough(pattern, name string) bool {
	return utf8.RuneCountInString(pattern) <= 10 && utf8.RuneCountInString(name) <= 12
}
