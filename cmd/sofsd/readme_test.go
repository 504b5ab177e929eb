package main

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeListsEverySetting keeps the README's configuration table true:
// every setting in the table behind --help must have a row.
func TestReadmeListsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, s := range settings {
		if !strings.Contains(readme, "| "+s.name+" | `--"+s.name+"`") {
			t.Errorf("README.md has no configuration row for %q", s.name)
		}
	}
}
