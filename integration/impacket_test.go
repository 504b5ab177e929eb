package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"sofs.io/sofs/integration/harness"
)

// debianPython is the interpreter Debian's python3-impacket is installed
// for; a python3 earlier in PATH (pyenv) would not find the module.
const debianPython = "/usr/bin/python3"

// impacketResult is what testdata/impacket_roundtrip.py prints.
type impacketResult struct {
	Dialect     int      `json:"dialect"`
	Shares      []string `json:"shares"`
	Listing     []string `json:"listing"`
	Size        int64    `json:"size"`
	PutSHA256   string   `json:"put_sha256"`
	GetSHA256   string   `json:"get_sha256"`
	AfterDelete []string `json:"after_delete"`
}

func TestImpacket(t *testing.T) {
	py := harness.RequireTool(t, debianPython)
	if err := exec.Command(py, "-c", "import impacket.smbconnection").Run(); err != nil {
		harness.MissingDependency(t, "python3-impacket for %s: %v", py, err)
	}
	target := harness.FromEnv(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "testdata/impacket_roundtrip.py",
		target.Addr, strconv.Itoa(target.Port), target.Share, target.User, target.Password)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("impacket_roundtrip.py: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	var r impacketResult
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("impacket output: %v\n%s", err, stdout.String())
	}
	// [MS-SMB2] 2.2.4: DialectRevision 0x0300 for SMB 3.0.
	if r.Dialect != 0x0300 {
		t.Errorf("dialect %#x, want 0x0300", r.Dialect)
	}
	for _, want := range []string{target.Share, "IPC$"} {
		if !slices.Contains(r.Shares, want) {
			t.Errorf("listShares %q lacks %q", r.Shares, want)
		}
	}
	if !slices.Contains(r.Listing, "impacket_rt.bin") {
		t.Errorf("listPath after put %q lacks impacket_rt.bin", r.Listing)
	}
	if r.Size != 1<<20 {
		t.Errorf("listPath size %d, want %d", r.Size, 1<<20)
	}
	if r.GetSHA256 != r.PutSHA256 {
		t.Errorf("getFile sha256 %s, putFile sha256 %s", r.GetSHA256, r.PutSHA256)
	}
	if slices.Contains(r.AfterDelete, "impacket_rt.bin") {
		t.Errorf("listPath after deleteFile still has impacket_rt.bin: %q", r.AfterDelete)
	}
}
