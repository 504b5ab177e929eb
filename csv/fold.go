package csv

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// foldKey maps a name to a canonical form such that foldKey(a) ==
// foldKey(b) exactly when strings.EqualFold(a, b) for valid UTF-8: every
// rune is replaced by the smallest rune of its simple case-folding orbit
// (the orbit is what EqualFold compares). It is the key of the per-directory
// case-insensitive name cache.
func foldKey(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		// For ASCII letters the smallest orbit member is the upper case
		// one ('K' < 'k' < U+212A), so upper-casing is the same mapping.
		return strings.ToUpper(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		m := r
		// SimpleFold walks the orbit cyclically; orbits have at most four
		// members, and the bound keeps the loop finite whatever the table.
		for f, n := unicode.SimpleFold(r), 0; f != r && n < 8; f, n = unicode.SimpleFold(f), n+1 {
			if f < m {
				m = f
			}
		}
		b.WriteRune(m)
	}
	return b.String()
}

// equalFold is the comparison rule of case-insensitive lookup.
func equalFold(a, b string) bool { return strings.EqualFold(a, b) }
