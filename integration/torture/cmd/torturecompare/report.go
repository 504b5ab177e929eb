package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	"sofs.io/sofs/integration/torture"
)

// count returns passed and non-skipped totals.
func count(rs []torture.Result) (pass, total int) {
	for _, r := range rs {
		if r.Status.Passed() {
			pass++
		}
		if r.Status.Passed() || r.Status.Failed() {
			total++
		}
	}
	return pass, total
}

func writeBaseline(path, bin string, suites []string, c *column) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	defer f.Close()
	ver, _ := exec.Command(bin, "--version").Output()
	fmt.Fprintf(f, "# smbtorture results against the reference smbd (samba-ref.sh), written by torturecompare.\n")
	// --version prints a banner line and a version line; keep the last,
	// so the header stays one comment line whatever the build prints.
	vlines := strings.Split(strings.TrimSpace(string(ver)), "\n")
	fmt.Fprintf(f, "# %s, options: %s\n", strings.TrimSpace(vlines[len(vlines)-1]), strings.Join(torture.DefaultOptions(), " "))
	fmt.Fprintf(f, "# Format: suite.subtest  status (success, failure, error, skip, xfail, uxsuccess).\n")
	for _, s := range suites {
		if err := torture.FormatResults(f, c.results[s]); err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
	}
	return f.Close()
}

func writeReport(w io.Writer, suites []string, cols []*column) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# smbtorture conformance: sofs and Samba side by side\n\n")
	fmt.Fprintf(&b, "Generated %s by `go run ./integration/torture/cmd/torturecompare`. ", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Each suite runs against a fresh server; options: `%s`. ", strings.Join(torture.DefaultOptions(), " "))
	fmt.Fprintf(&b, "\"subtests\" counts the distinct subtests seen (skips excluded); a pass column reads passed/ran.\n\n")
	for _, c := range cols {
		if c.err != nil {
			fmt.Fprintf(&b, "- %s: not run (%s)\n", c.name, firstLine(c.err.Error()))
		}
	}
	b.WriteString("\n| suite | subtests |")
	for _, c := range cols {
		fmt.Fprintf(&b, " %s pass |", c.name)
	}
	b.WriteString("\n| --- | ---: |")
	for range cols {
		b.WriteString(" ---: |")
	}
	b.WriteString("\n")
	for _, s := range suites {
		names := map[string]bool{}
		for _, c := range cols {
			for _, r := range c.results[s] {
				if r.Status.Passed() || r.Status.Failed() {
					names[r.Name] = true
				}
			}
		}
		fmt.Fprintf(&b, "| %s | %d |", s, len(names))
		for _, c := range cols {
			if c.err != nil {
				b.WriteString(" n/a |")
				continue
			}
			pass, total := count(c.results[s])
			fmt.Fprintf(&b, " %d/%d |", pass, total)
		}
		b.WriteString("\n")
	}
	writeDiffs(&b, suites, cols)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeDiffs lists every subtest whose status differs between columns.
// Columns of servers that did not run are left out: every test would differ.
func writeDiffs(b *strings.Builder, suites []string, all []*column) {
	var cols []*column
	for _, c := range all {
		if c.err == nil {
			cols = append(cols, c)
		}
	}
	if len(cols) < 2 {
		return
	}
	status := make([]map[string]torture.Status, len(cols))
	seen := map[string]bool{}
	for i, c := range cols {
		status[i] = map[string]torture.Status{}
		for _, s := range suites {
			for _, r := range c.results[s] {
				status[i][r.Name] = r.Status
				seen[r.Name] = true
			}
		}
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(b, "\n## Subtests with different results\n\n| subtest |")
	for _, c := range cols {
		fmt.Fprintf(b, " %s |", c.name)
	}
	b.WriteString("\n| --- |")
	for range cols {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	rows := 0
	for _, n := range names {
		first, same := status[0][n], true
		for i := range cols {
			if status[i][n] != first {
				same = false
			}
		}
		if same {
			continue
		}
		rows++
		fmt.Fprintf(b, "| %s |", n)
		for i := range cols {
			st := string(status[i][n])
			if st == "" {
				st = "-"
			}
			fmt.Fprintf(b, " %s |", st)
		}
		b.WriteString("\n")
	}
	if rows == 0 {
		b.WriteString("| (none) |" + strings.Repeat(" |", len(cols)) + "\n")
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
