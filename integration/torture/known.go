package torture

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// KnownFailures maps a test name, or a path.Match pattern such as
// "smb2.session.expire*", to the reason it is expected to fail.
type KnownFailures map[string]string

// ParseKnownFailures reads a known-failures list: one entry per line,
// "suite.subtest  # reason", blank lines and lines starting with "#"
// ignored. A reason is required, so that every entry says why it exists.
func ParseKnownFailures(r io.Reader) (KnownFailures, error) {
	kf := KnownFailures{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, _ := strings.Cut(line, "#")
		name, reason = strings.TrimSpace(name), strings.TrimSpace(reason)
		if name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("torture: known failures line %d: bad test name %q", n, name)
		}
		if reason == "" {
			return nil, fmt.Errorf("torture: known failures line %d: %s has no \"# reason\"", n, name)
		}
		if _, err := path.Match(name, ""); err != nil {
			return nil, fmt.Errorf("torture: known failures line %d: pattern %q: %w", n, name, err)
		}
		if _, dup := kf[name]; dup {
			return nil, fmt.Errorf("torture: known failures line %d: %s listed twice", n, name)
		}
		kf[name] = reason
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("torture: read known failures: %w", err)
	}
	return kf, nil
}

// Match returns the entry that covers name (exactly or by pattern) and
// whether there is one.
func (kf KnownFailures) Match(name string) (string, bool) {
	if _, ok := kf[name]; ok {
		return name, true
	}
	for p := range kf {
		if ok, _ := path.Match(p, name); ok {
			return p, true
		}
	}
	return "", false
}

// Comparison is the verdict of a run against a known-failures list.
type Comparison struct {
	// NewFailures failed and are not listed: each one fails CI.
	NewFailures []Result
	// NowPassing are listed by exact name but passed: the list can shrink.
	NowPassing []string
	// Expected failed and are listed.
	Expected []Result
}

// Compare classifies results against kf. Only exact-name entries are
// reported as now passing; a pattern covers a family of tests of which
// some may legitimately pass.
func Compare(kf KnownFailures, rs []Result) Comparison {
	var c Comparison
	for _, r := range rs {
		switch {
		case r.Status.Failed():
			if _, ok := kf.Match(r.Name); ok {
				c.Expected = append(c.Expected, r)
			} else {
				c.NewFailures = append(c.NewFailures, r)
			}
		case r.Status.Passed():
			if _, ok := kf[r.Name]; ok {
				c.NowPassing = append(c.NowPassing, r.Name)
			}
		}
	}
	sort.Strings(c.NowPassing)
	return c
}

// KnownFromBaseline turns a baseline (results of a reference run) into a
// known-failures list: every test that failed there is expected to fail.
func KnownFromBaseline(rs []Result) KnownFailures {
	kf := KnownFailures{}
	for _, r := range rs {
		if r.Status.Failed() {
			kf[r.Name] = "fails against the reference smbd too (samba-baseline.txt)"
		}
	}
	return kf
}

// ParseBaseline reads "name  status" lines as FormatResults writes them.
func ParseBaseline(r io.Reader) ([]Result, error) {
	var rs []Result
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// The status is the last field; the name may hold a space
		// (smbtorture's "smb2.ioctl.copy-chunk streams").
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("torture: baseline line %d: want \"name status\", got %q", n, line)
		}
		st, ok := statusOf(f[len(f)-1])
		if !ok {
			return nil, fmt.Errorf("torture: baseline line %d: unknown status %q", n, f[len(f)-1])
		}
		rs = append(rs, Result{Name: strings.Join(f[:len(f)-1], " "), Status: st})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("torture: read baseline: %w", err)
	}
	return rs, nil
}
