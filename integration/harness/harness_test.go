package harness

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSofsOptionsArgs(t *testing.T) {
	yes := true
	o := SofsOptions{CA: true, EncryptShare: true, EncryptAll: true, RequireSigning: &yes, LogLevel: "debug"}
	got := strings.Join(o.args("/d", "/s", 1, 2, 3), " ")
	want := "--data /d --smb-listen 127.0.0.1:1 --share share=/s,ca,encrypt --user test:test123 " +
		"--require-signing=true --encrypt --etcd-client-listen 127.0.0.1:2 --etcd-peer-listen 127.0.0.1:3 --api-listen 127.0.0.1:0 --peer-listen 127.0.0.1:0 --log-level debug"
	if got != want {
		t.Fatalf("args:\n got %s\nwant %s", got, want)
	}
	plain := strings.Join(SofsOptions{Share: "vms"}.args("/d", "/s", 1, 2, 3), " ")
	if plain != "--data /d --smb-listen 127.0.0.1:1 --share vms=/s --user test:test123 --etcd-client-listen 127.0.0.1:2 --etcd-peer-listen 127.0.0.1:3 --api-listen 127.0.0.1:0 --peer-listen 127.0.0.1:0" {
		t.Fatalf("plain args: %s", plain)
	}
}

func TestParseKV(t *testing.T) {
	kv := parseKV([]byte("port=4488\nsharedir=/tmp/samba-ref.4488/share\nnoise\nuser=test%test123\n"))
	if kv["port"] != "4488" || kv["sharedir"] != "/tmp/samba-ref.4488/share" || kv["user"] != "test%test123" {
		t.Fatalf("parseKV: %v", kv)
	}
}

func TestWaitForPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := WaitForPort(context.Background(), "127.0.0.1", port, nil); err != nil {
		t.Fatalf("open port: %v", err)
	}
	l.Close()
	// A closed port with the process already gone must fail at once, not
	// after the whole polling budget.
	stop := make(chan struct{})
	close(stop)
	start := time.Now()
	if err := WaitForPort(context.Background(), "127.0.0.1", port, stop); err == nil {
		t.Fatal("closed port: no error")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("closed port with exited process took %v", d)
	}
}

// fakeSofsd is a stand-in for sofsd: it records its arguments in the data
// directory and listens on the --smb-listen address until killed.
const fakeSofsd = `#!/bin/bash
set -eu
data= listen=
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift ;;
    --smb-listen) listen=$2; shift ;;
  esac
  shift
done
echo "$0 started" >&2
printf '%s\n' "$listen" > "$data/listen"
exec /usr/bin/python3 -c '
import socket, sys, time
h, p = sys.argv[1].rsplit(":", 1)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((h, int(p))); s.listen(5)
while True:
    c, _ = s.accept(); c.close()
' "$listen"
`

func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sofsd")
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStartSofsFakeBinary(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3 for the fake server")
	}
	t.Setenv(SofsdBinEnv, writeScript(t, fakeSofsd))
	var target *Target
	t.Run("run", func(t *testing.T) {
		target = StartSofs(t, SofsOptions{})
		c, err := net.Dial("tcp", target.HostPort())
		if err != nil {
			t.Fatalf("dial started server: %v", err)
		}
		c.Close()
		if fi, err := os.Stat(target.ShareDir); err != nil || !fi.IsDir() {
			t.Fatalf("share dir: %v", err)
		}
		b, err := os.ReadFile(filepath.Join(filepath.Dir(target.ShareDir), "data", "listen"))
		if err != nil || strings.TrimSpace(string(b)) != "127.0.0.1:"+strconv.Itoa(target.Port) {
			t.Fatalf("fake saw --smb-listen %q (err %v), want port %d", b, err, target.Port)
		}
		if target.Name != "sofs" || target.Share != "share" || target.User != "test" || target.Password != "test123" {
			t.Fatalf("target %+v", target)
		}
	})
	// The subtest's cleanup stopped the server: the port must be closed.
	if c, err := net.DialTimeout("tcp", target.HostPort(), time.Second); err == nil {
		c.Close()
		t.Fatalf("server still accepting on %s after cleanup", target.HostPort())
	}
}

func TestLaunchSofsExitsEarly(t *testing.T) {
	t.Setenv(SofsdBinEnv, writeScript(t, "#!/bin/sh\necho 'fatal: bad flag' >&2\nexit 3\n"))
	start := time.Now()
	p, err := LaunchSofs(context.Background(), SofsOptions{Dir: t.TempDir()})
	if err == nil {
		p.Stop()
		t.Fatal("LaunchSofs succeeded with a binary that exits")
	}
	if !strings.Contains(err.Error(), "fatal: bad flag") {
		t.Fatalf("error lacks the server's stderr: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("early exit noticed only after %v", d)
	}
}

func TestStartSambaRef(t *testing.T) {
	if err := SambaRefUsable(context.Background()); err != nil {
		MissingDependency(t, "%v", err)
	}
	target := StartSambaRef(t)
	if target.Port < sambaPortMin || target.Port >= sambaPortMin+sambaPortSpan {
		t.Fatalf("port %d outside %d-%d", target.Port, sambaPortMin, sambaPortMin+sambaPortSpan-1)
	}
	if fi, err := os.Stat(target.ShareDir); err != nil || !fi.IsDir() {
		t.Fatalf("share dir %q: %v", target.ShareDir, err)
	}
	c, err := net.Dial("tcp", target.HostPort())
	if err != nil {
		t.Fatalf("dial smbd: %v", err)
	}
	c.Close()
}

func TestRequireTool(t *testing.T) {
	if p := RequireTool(t, "sh"); !filepath.IsAbs(p) {
		t.Fatalf("RequireTool(sh) = %q, want an absolute path", p)
	}
	// Outside CI a missing tool skips the test rather than failing it.
	t.Setenv("CI", "")
	var inner *testing.T
	t.Run("missing", func(t *testing.T) {
		inner = t
		RequireTool(t, "sofs-no-such-tool")
		t.Error("RequireTool returned for a missing tool")
	})
	if !inner.Skipped() {
		t.Fatal("missing tool did not skip the test")
	}
}

// TestLaunchSofsRetriesTakenPort: when the first start loses the port race
// (the server reports "address already in use"), LaunchSofs tries again on
// new ports with a fresh data directory.
func TestLaunchSofsRetriesTakenPort(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3 for the fake server")
	}
	racy := strings.Replace(fakeSofsd, `echo "$0 started" >&2`,
		`case "$data" in */data) echo 'listen tcp: bind: address already in use' >&2; exit 1 ;; esac`, 1)
	t.Setenv(SofsdBinEnv, writeScript(t, racy))
	p, err := LaunchSofs(context.Background(), SofsOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("LaunchSofs did not retry: %v", err)
	}
	defer p.Stop()
	if _, err := os.Stat(filepath.Join(p.Dir, "data.2", "listen")); err != nil {
		t.Fatalf("second attempt did not use data.2: %v", err)
	}
}
