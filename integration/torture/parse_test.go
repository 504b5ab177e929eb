package torture

import (
	"slices"
	"strings"
	"testing"
)

// sampleOutput is smbtorture 4.17 output as printed for smb2.read against
// smbd, trimmed, plus the cases the parser must survive: inline details,
// an error, and a test that never finished.
const sampleOutput = `smbtorture 4.17.12-Debian
Using seed 1795325261
time: 2026-11-22 05:27:41.222888
progress: 5
test: eof
time: 2026-11-22 05:27:41.223127
success: eof
test: position
all_info for '\test9.dat'
	size:           65536
failure: position [
../../source4/torture/smb2/read.c:123: status was NT_STATUS_OK, expected NT_STATUS_END_OF_FILE
]
test: bug14607
skip: bug14607 [
../../source4/torture/smb2/read.c:394: server doesn't support FSCTL_SMBTORTURE_GLOBAL_READ_RESPONSE_BODY_PADDING8
]
test: access
error: access [inline reason]
test: dir
xfail: dir
test: hung
`

func TestParseOutput(t *testing.T) {
	rs, err := ParseOutput(strings.NewReader(sampleOutput), "smb2.read")
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{
		{Name: "smb2.read.eof", Status: Success},
		{Name: "smb2.read.position", Status: Failure, Detail: "../../source4/torture/smb2/read.c:123: status was NT_STATUS_OK, expected NT_STATUS_END_OF_FILE\n"},
		{Name: "smb2.read.bug14607", Status: Skip},
		{Name: "smb2.read.access", Status: Error, Detail: "inline reason"},
		{Name: "smb2.read.dir", Status: XFail},
		{Name: "smb2.read.hung", Status: Error},
	}
	if len(rs) != len(want) {
		t.Fatalf("got %d results %+v, want %d", len(rs), rs, len(want))
	}
	for i, w := range want {
		if rs[i].Name != w.Name || rs[i].Status != w.Status {
			t.Errorf("result %d: %s %s, want %s %s", i, rs[i].Name, rs[i].Status, w.Name, w.Status)
		}
		if w.Detail != "" && w.Status != Skip && rs[i].Detail != w.Detail {
			t.Errorf("result %d detail %q, want %q", i, rs[i].Detail, w.Detail)
		}
	}
}

func TestParseOutputSingleTestSuite(t *testing.T) {
	rs, err := ParseOutput(strings.NewReader("test: connect\nsuccess: connect\n"), "smb2.connect")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Name != "smb2.connect" || rs[0].Status != Success {
		t.Fatalf("got %+v, want one success named smb2.connect", rs)
	}
}

func TestKnownFailuresAndCompare(t *testing.T) {
	const list = `# sofs known failures
smb2.read.position   # EOF handling not done
smb2.session.expire*  # needs a KDC

smb2.read.eof  # fixed already
`
	kf, err := ParseKnownFailures(strings.NewReader(list))
	if err != nil {
		t.Fatal(err)
	}
	rs := []Result{
		{Name: "smb2.read.eof", Status: Success},
		{Name: "smb2.read.position", Status: Failure},
		{Name: "smb2.read.access", Status: Error},
		{Name: "smb2.session.expire1n", Status: Failure},
		{Name: "smb2.read.bug14607", Status: Skip},
	}
	c := Compare(kf, rs)
	if len(c.NewFailures) != 1 || c.NewFailures[0].Name != "smb2.read.access" {
		t.Errorf("new failures %+v, want only smb2.read.access", c.NewFailures)
	}
	if !slices.Equal(c.NowPassing, []string{"smb2.read.eof"}) {
		t.Errorf("now passing %q, want [smb2.read.eof]", c.NowPassing)
	}
	if len(c.Expected) != 2 {
		t.Errorf("expected failures %+v, want position and expire1n", c.Expected)
	}
}

func TestParseKnownFailuresRejects(t *testing.T) {
	for _, bad := range []string{
		"smb2.read.eof\n",                        // no reason
		"smb2.read.eof # a\nsmb2.read.eof # b\n", // duplicate
		"smb2.read[ # bad pattern\n",
		"two names # reason\n",
	} {
		if _, err := ParseKnownFailures(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseKnownFailures(%q) accepted it", bad)
		}
	}
}

func TestBaselineRoundTrip(t *testing.T) {
	rs := []Result{{Name: "smb2.read.eof", Status: Success}, {Name: "smb2.dir.one", Status: Failure}, {Name: "smb2.ioctl.copy-chunk streams", Status: Success}}
	var b strings.Builder
	if err := FormatResults(&b, rs); err != nil {
		t.Fatal(err)
	}
	got, err := ParseBaseline(strings.NewReader("# header\n" + b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, rs) {
		t.Fatalf("round trip %+v, want %+v", got, rs)
	}
	kf := KnownFromBaseline(got)
	if _, ok := kf["smb2.dir.one"]; !ok || len(kf) != 1 {
		t.Fatalf("KnownFromBaseline %v, want only smb2.dir.one", kf)
	}
}

// FuzzParseOutput checks that arbitrary smbtorture output (it echoes
// server-controlled data such as file names and error strings) never makes
// the parser panic, and that every result has a qualified name and a known
// status.
func FuzzParseOutput(f *testing.F) {
	f.Add(sampleOutput, "smb2.read")
	f.Add("test: connect\nsuccess: connect\n", "smb2.connect")
	f.Add("failure: x [\nno end", "s")
	f.Add("success: \nfailure: [\n]\n", "")
	f.Fuzz(func(t *testing.T, out, suite string) {
		rs, err := ParseOutput(strings.NewReader(out), suite)
		if err != nil {
			return
		}
		for _, r := range rs {
			if r.Name == "" || !strings.HasPrefix(r.Name, suite) {
				t.Fatalf("result name %q not qualified by suite %q", r.Name, suite)
			}
			if _, ok := statusOf(string(r.Status)); !ok {
				t.Fatalf("unknown status %q", r.Status)
			}
			if len(r.Detail) > maxDetail+maxLine {
				t.Fatalf("detail of %d bytes exceeds the bound", len(r.Detail))
			}
		}
	})
}

// FuzzParseKnownFailures checks that any accepted list has only usable
// entries: names without blanks, non-empty reasons, valid patterns.
func FuzzParseKnownFailures(f *testing.F) {
	f.Add("smb2.read.eof  # reason\n# comment\n\nsmb2.session.expire* # kdc\n")
	f.Add("x[ # bad\n")
	f.Fuzz(func(t *testing.T, list string) {
		kf, err := ParseKnownFailures(strings.NewReader(list))
		if err != nil {
			return
		}
		for name, reason := range kf {
			if name == "" || strings.ContainsAny(name, " \t") || reason == "" {
				t.Fatalf("accepted bad entry %q -> %q", name, reason)
			}
			kf.Match(name)
		}
	})
}
