package torture

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Status is the outcome of one smbtorture subtest, as its subunit-style
// output names it.
type Status string

// The statuses smbtorture reports. Error is also used for a test that
// started but never reported (crash or timeout) and for a suite that
// produced no results at all.
const (
	Success   Status = "success"
	Failure   Status = "failure"
	Error     Status = "error"
	Skip      Status = "skip"
	XFail     Status = "xfail"
	UXSuccess Status = "uxsuccess"
)

// Failed reports whether s counts against conformance.
func (s Status) Failed() bool {
	return s == Failure || s == Error || s == UXSuccess
}

// Passed reports whether s counts as a pass.
func (s Status) Passed() bool {
	return s == Success || s == XFail
}

// Result is one subtest's outcome.
type Result struct {
	// Name is the full test name, "smb2.read.eof"; a suite that is a
	// single test (smb2.connect) is named by the suite alone.
	Name   string
	Status Status
	// Detail is smbtorture's explanation (the bracketed block), if any.
	Detail string
}

// maxDetail bounds the explanation kept per result; smbtorture's are a few
// lines, and a runaway block must not grow memory without limit.
const maxDetail = 4 << 10

// maxLine bounds one output line. smbtorture prints file dumps and hex
// blobs; longer lines are cut, which is harmless because result lines are short.
const maxLine = 1 << 20

// ParseOutput reads smbtorture's default (subunit v1 text) output for one
// suite and returns the results in order. It understands "test:",
// "success:", "failure:", "error:", "skip:", "xfail:" and "uxsuccess:"
// lines, each optionally followed by a "[" ... "]" detail block (or with
// the detail inline in brackets), and ignores everything else. A test that
// started without a result is reported as Error.
func ParseOutput(r io.Reader, suite string) ([]Result, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var (
		results []Result
		open    = map[string]bool{} // started, no result yet
		order   []string            // start order, to report unfinished tests stably
		inBlock bool
		detail  strings.Builder
	)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if inBlock {
			if line == "]" {
				inBlock = false
				results[len(results)-1].Detail = detail.String()
				detail.Reset()
				continue
			}
			if detail.Len() < maxDetail {
				detail.WriteString(line)
				detail.WriteByte('\n')
			}
			continue
		}
		kw, rest, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		if kw == "test" {
			name := strings.TrimSpace(rest)
			if name != "" && !open[name] {
				open[name] = true
				order = append(order, name)
			}
			continue
		}
		st, ok := statusOf(kw)
		if !ok {
			continue
		}
		name, d, block := splitDetail(rest)
		if name == "" {
			continue
		}
		delete(open, name)
		results = append(results, Result{Name: name, Status: st, Detail: d})
		inBlock = block
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("torture: read %s output: %w", suite, err)
	}
	if inBlock {
		results[len(results)-1].Detail = detail.String()
	}
	for _, name := range order {
		if open[name] {
			results = append(results, Result{Name: name, Status: Error, Detail: "started but reported no result (crash or timeout)"})
		}
	}
	return qualify(results, suite), nil
}

// statusOf maps an output keyword to a Status. "successful" and "failed"
// are subunit v1 synonyms smbtorture does not use today but may.
func statusOf(kw string) (Status, bool) {
	switch kw {
	case "success", "successful":
		return Success, true
	case "failure", "failed":
		return Failure, true
	case "error":
		return Error, true
	case "skip":
		return Skip, true
	case "xfail":
		return XFail, true
	case "uxsuccess":
		return UXSuccess, true
	}
	return "", false
}

// splitDetail splits "name", "name [" or "name [inline detail]" into the
// name, an inline detail and whether a multi-line block follows.
func splitDetail(rest string) (name, detail string, block bool) {
	rest = strings.TrimSpace(rest)
	i := strings.Index(rest, " [")
	if i < 0 {
		return rest, "", false
	}
	name, tail := rest[:i], strings.TrimSpace(rest[i+2:])
	if strings.HasSuffix(tail, "]") {
		return name, strings.TrimSuffix(tail, "]"), false
	}
	return name, tail, tail == ""
}

// qualify turns subtest names into full names. smbtorture prints names
// relative to the suite it was given; a suite that is one test prints that
// test's own name, which is the suite's last component.
func qualify(rs []Result, suite string) []Result {
	last := suite[strings.LastIndexByte(suite, '.')+1:]
	if len(rs) == 1 && rs[0].Name == last {
		rs[0].Name = suite
		return rs
	}
	for i := range rs {
		rs[i].Name = suite + "." + rs[i].Name
	}
	return rs
}

// FormatResults writes results as "name  status" lines, the baseline format.
func FormatResults(w io.Writer, rs []Result) error {
	var b bytes.Buffer
	for _, r := range rs {
		fmt.Fprintf(&b, "%s  %s\n", r.Name, r.Status)
	}
	_, err := w.Write(b.Bytes())
	return err
}
