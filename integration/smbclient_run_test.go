package integration

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"sofs.io/sofs/integration/harness"
)

// smbclientMode is one client-protection setting of the matrix.
type smbclientMode string

const (
	modeSign    smbclientMode = "sign"
	modeEncrypt smbclientMode = "encrypt"
)

// smbclient runs the smbclient binary against one target with a fixed
// dialect (min = max protocol, so a server that negotiates anything else
// fails the test) and protection mode.
type smbclient struct {
	bin     string
	target  *harness.Target
	dialect string
	mode    smbclientMode
}

// smbclientTimeout bounds one invocation; the largest is the big transfer,
// which at a pessimistic 20 MB/s with encryption takes under a minute per GiB.
func smbclientTimeout(bigMB int) time.Duration {
	return 2*time.Minute + time.Duration(bigMB)*200*time.Millisecond
}

// baseArgs are the connection options every invocation shares. smbclient
// 4.17 has --client-protection=sign|encrypt, which both requires the
// protection and fails the connection if the server cannot provide it.
func (c *smbclient) baseArgs() []string {
	return []string{
		"-p", strconv.Itoa(c.target.Port),
		"-U", c.target.User + "%" + c.target.Password,
		"-m", c.dialect,
		"--option=client min protocol=" + c.dialect,
		"--client-protection=" + string(c.mode),
		// Debug level 0 keeps stdout to command output and errors.
		"-d", "0",
	}
}

// run executes smbclient with the share and the given -c command string and
// returns combined output. It fails the test on a non-zero exit or on an
// NT_STATUS error in the output: smbclient sometimes prints an error yet
// exits 0 (for example when a later command in the string succeeds).
func (c *smbclient) run(t *testing.T, timeout time.Duration, cmds string) string {
	t.Helper()
	out, err := c.exec(timeout, append([]string{c.target.UNC()}, append(c.baseArgs(), "-c", cmds)...))
	if err != nil {
		t.Fatalf("smbclient %s %s -c %q: %v\n%s", c.dialect, c.mode, cmds, err, out)
	}
	if m := ntStatus.FindString(out); m != "" {
		t.Fatalf("smbclient %s %s -c %q: %s\n%s", c.dialect, c.mode, cmds, m, out)
	}
	return out
}

// ntStatus matches an NTSTATUS error name as smbclient prints it.
var ntStatus = regexp.MustCompile(`NT_STATUS_[A-Z_]+`)

func (c *smbclient) exec(timeout time.Duration, args []string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// No stdin: smbclient must never wait for a password prompt.
	cmd.Stdin = nil
	err := cmd.Run()
	return out.String(), err
}

// listShares runs smbclient -L and returns the share names it printed.
func (c *smbclient) listShares(t *testing.T) []string {
	t.Helper()
	args := append([]string{"-L", "//" + c.target.Addr}, c.baseArgs()...)
	out, err := c.exec(time.Minute, args)
	if err != nil {
		t.Fatalf("smbclient -L %s %s: %v\n%s", c.dialect, c.mode, err, out)
	}
	return parseShareList(out)
}

// shareLine matches a row of smbclient -L's share table:
// "\tName       Type      Comment".
var shareLine = regexp.MustCompile(`^\t(\S.*?)\s+(Disk|IPC|Printer)(\s.*)?$`)

// parseShareList extracts share names from smbclient -L output.
func parseShareList(out string) []string {
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if m := shareLine.FindStringSubmatch(strings.TrimRight(line, "\r")); m != nil {
			names = append(names, m[1])
		}
	}
	return names
}

// lsEntry is one line of smbclient's ls output.
type lsEntry struct {
	Name  string
	Attrs string
	Size  int64
}

// lsLine matches smbclient's directory listing line: two spaces, the name
// (which may contain spaces), attribute letters (possibly none), the size and
// a ctime-style date. Anchoring on the date at the end keeps names with
// spaces or digits intact.
var lsLine = regexp.MustCompile(`^  (.+?)\s+([DAHSRNnaiCOEGP]*)\s+(\d+)\s+\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$`)

// parseLs extracts the entries of smbclient ls output, without "." and "..".
func parseLs(out string) []lsEntry {
	var es []lsEntry
	for _, line := range strings.Split(out, "\n") {
		m := lsLine.FindStringSubmatch(strings.TrimRight(line, "\r"))
		if m == nil || m[1] == "." || m[1] == ".." {
			continue
		}
		size, err := strconv.ParseInt(m[3], 10, 64)
		if err != nil {
			continue
		}
		es = append(es, lsEntry{Name: m[1], Attrs: m[2], Size: size})
	}
	return es
}
