package fscc

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The DOS wildcards of [MS-FSA] 2.1.4.4, which Windows clients put in
// QUERY_DIRECTORY patterns when they translate "*." and "?" forms.
const (
	dosStar = '<' // DOS_STAR: zero or more characters up to the final '.'
	dosQM   = '>' // DOS_QM: one character, or none at a '.' or the end
	dosDot  = '"' // DOS_DOT: a '.', or nothing at the end of the name
)

// HasWildcards reports whether pattern contains any of the wildcard
// characters * ? < > " ([MS-FSA] 2.1.4.3).
func HasWildcards(pattern string) bool {
	return strings.ContainsAny(pattern, `*?<>"`)
}

// Pattern is a compiled [MS-FSA] 2.1.4.4 expression, for matching one
// QUERY_DIRECTORY pattern against many names.
type Pattern struct {
	expr []rune // upper-cased, runs of '*' collapsed
	raw  string
	all  bool // "*" or "*.*": matches every non-empty name
	// min is the number of name characters the expression must consume
	// (literals and '?'), for rejecting short names at once.
	min int
}

// Compile prepares pattern for matching. Consecutive '*' are collapsed
// (they match the same names as one), which also keeps the matcher's
// state count proportional to the meaningful part of the expression.
func Compile(pattern string) Pattern {
	p := Pattern{raw: pattern, all: pattern == "*" || pattern == "*.*"}
	p.expr = make([]rune, 0, len(pattern))
	for _, r := range pattern {
		if r == '*' && len(p.expr) > 0 && p.expr[len(p.expr)-1] == '*' {
			continue
		}
		switch r {
		case '*', dosStar, dosQM, dosDot:
		default:
			p.min++
			r = unicode.ToUpper(r)
		}
		p.expr = append(p.expr, r)
	}
	return p
}

// Match reports whether name matches pattern, case-insensitively, by
// the rules of [MS-FSA] 2.1.4.4:
//
//   - an empty pattern matches only the empty name, and the empty name
//     only the empty pattern;
//   - "*" and "*.*" match every name, with or without a dot (the
//     special case Windows applies before wildcard matching);
//   - '*' matches zero or more characters and '?' exactly one;
//   - '<' (DOS_STAR) matches zero or more characters but never consumes
//     the final '.' of the name;
//   - '>' (DOS_QM) matches one character other than '.', or nothing when
//     the name is at a '.' or at its end;
//   - '"' (DOS_DOT) matches a '.', or nothing at the end of the name.
//
// Matching simulates the expression as a nondeterministic automaton, one
// state per expression position, so it takes O(len(pattern)·len(name))
// time whatever the pattern; backtracking would be exponential in the
// number of stars.
func Match(pattern, name string) bool {
	p := Compile(pattern)
	return p.Match(name)
}

// Match reports whether name matches the compiled pattern (see the
// package-level Match for the rules).
func (p *Pattern) Match(name string) bool {
	switch {
	case name == "":
		return p.raw == ""
	case p.raw == "":
		return false
	case p.all:
		return true
	}
	if p.min > utf8.RuneCountInString(name) {
		return false
	}
	n := len(p.expr)
	cur := make([]bool, n+1)
	next := make([]bool, n+1)
	lastDot := strings.LastIndexByte(name, '.')
	cur[0] = true
	p.closure(cur, name, 0)
	for i := 0; i < len(name); {
		c, size := utf8.DecodeRuneInString(name[i:])
		uc := unicode.ToUpper(c)
		clear(next)
		alive := false
		for s := 0; s < n; s++ {
			if !cur[s] {
				continue
			}
			switch e := p.expr[s]; e {
			case '*':
				next[s] = true
			case dosStar:
				// Stay unless this is the name's final '.', which
				// the rest of the expression must match.
				if c != '.' || i < lastDot {
					next[s] = true
				}
			case '?':
				next[s+1] = true
			case dosQM:
				if c != '.' {
					next[s+1] = true
				}
			case dosDot:
				if c == '.' {
					next[s+1] = true
				}
			default:
				if e == uc {
					next[s+1] = true
				}
			}
		}
		i += size
		for _, v := range next {
			if v {
				alive = true
				break
			}
		}
		if !alive {
			return false
		}
		p.closure(next, name, i)
		cur, next = next, cur
	}
	return cur[n]
}

// closure adds the states reachable without consuming a character when
// the name is at byte offset i. Every such move goes from one position
// to the next, so one forward pass is enough.
func (p *Pattern) closure(states []bool, name string, i int) {
	end := i == len(name)
	for s, e := range p.expr {
		if !states[s] {
			continue
		}
		switch e {
		case '*', dosStar:
			states[s+1] = true
		case dosQM:
			if end || name[i] == '.' {
				states[s+1] = true
			}
		case dosDot:
			if end {
				states[s+1] = true
			}
		}
	}
}
