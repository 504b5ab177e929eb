package main

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/internal/testport"
	"sofs.io/sofs/namespace/clustertls"
)

// waitExit waits up to bound for d to exit and returns its exit code.
func (d *daemon) waitExit(t *testing.T, bound time.Duration) int {
	t.Helper()
	timer := time.NewTimer(bound)
	defer timer.Stop()
	select {
	case <-d.exited:
	case <-timer.C:
		t.Fatalf("sofsd still running after %s", bound)
	}
	var ee *exec.ExitError
	switch {
	case d.err == nil:
		return 0
	case errors.As(d.err, &ee):
		return ee.ExitCode()
	default:
		t.Fatal(d.err)
		return -1
	}
}

func nodeArgs(t *testing.T, data string) []string {
	return []string{
		"--data", data, "--smb-listen", testport.Loopback(t),
		"--etcd-client-listen", testport.Loopback(t), "--etcd-peer-listen", testport.Loopback(t),
		"--api-listen", "off", "--node-name", "damaged", "--user", "test:test123",
	}
}

// TestDamagedEtcdData: the three damaged data directories of issue 18 (a
// 0-byte WAL, a garbage backend database, a WAL cut to 1 KiB) each stop
// sofsd at once with exit code 3 and a message naming the file and the
// remedy, not a panic, a hang or a start on lost data.
func TestDamagedEtcdData(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	bin := buildSofsd(t)
	good := filepath.Join(t.TempDir(), "data")
	d := startDaemon(t, bin, nodeArgs(t, good)...)
	d.waitReady(t)
	d.stop(t)
	walDir := filepath.Join("etcd", "member", "wal")
	wals, err := filepath.Glob(filepath.Join(good, walDir, "*.wal"))
	if err != nil || len(wals) != 1 {
		t.Fatalf("WAL files %v %v", wals, err)
	}
	walName := filepath.Base(wals[0])

	for _, tc := range []struct {
		name   string
		file   string // relative to the data directory
		damage func(path string) error
		// want: the message says one of these (a WAL cut at a record
		// boundary is a clean log that lost its tail, found against what
		// the database applied; one cut inside a record is cut short).
		want []string
	}{
		{"empty WAL", filepath.Join(walDir, walName), func(p string) error { return os.Truncate(p, 0) }, []string{"empty (0 bytes)"}},
		{"garbage db", filepath.Join("etcd", "member", "snap", "db"), func(p string) error {
			junk := make([]byte, 64<<10)
			for i := range junk {
				junk[i] = byte(i*7 + 3)
			}
			return os.WriteFile(p, junk, 0o600)
		}, []string{"not a readable bbolt database"}},
		{"WAL cut to 1 KiB", filepath.Join(walDir, walName), func(p string) error { return os.Truncate(p, 1024) }, []string{"cut short", "lost its tail"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			if err := os.CopyFS(data, os.DirFS(good)); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(data, tc.file)
			if err := tc.damage(path); err != nil {
				t.Fatal(err)
			}
			d := startDaemon(t, bin, append(nodeArgs(t, data), "--start-timeout", "45s")...)
			if code := d.waitExit(t, startBound); code != exitDamaged {
				t.Fatalf("exit code %d, want %d (damaged data)", code, exitDamaged)
			}
			out := d.log()
			// The message names the damaged file, or for a log that lost
			// its tail the WAL directory holding it.
			if !strings.Contains(out, path) && !strings.Contains(out, filepath.Dir(path)+" ") {
				t.Errorf("stderr names neither %s nor its directory", path)
			}
			said := false
			for _, w := range tc.want {
				said = said || strings.Contains(out, w)
			}
			if !said {
				t.Errorf("stderr says none of %q", tc.want)
			}
			for _, want := range []string{"Restore DATA/etcd from a backup", "--etcd-join"} {
				if !strings.Contains(out, want) {
					t.Errorf("stderr does not say %q", want)
				}
			}
			if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
				t.Errorf("stderr shows a panic")
			}
			select {
			case <-d.ready:
				t.Error("sofsd served SMB from damaged data")
			default:
			}
		})
	}
}

// blackHole accepts TCP connections and never answers: a peer that hangs
// a start-up. Each accepted connection is reported on the channel.
func blackHole(t *testing.T) (string, <-chan struct{}) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 16)
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String(), accepted
}

// joiningData returns a data directory holding a cluster CA, as a node
// about to join must have.
func joiningData(t *testing.T) string {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	if err := clustertls.NewCA(filepath.Join(data, pkiDir), "test"); err != nil {
		t.Fatal(err)
	}
	return data
}

// TestStartTimeout: a start-up that hangs (joining through a peer that
// never answers) ends at start-timeout with exit code 4.
func TestStartTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	bin := buildSofsd(t)
	hole, _ := blackHole(t)
	d := startDaemon(t, bin, append(nodeArgs(t, joiningData(t)),
		"--etcd-join", "https://"+hole, "--start-timeout", "2s")...)
	if code := d.waitExit(t, startBound); code != exitStartTimeout {
		t.Fatalf("exit code %d, want %d (start-up time limit)", code, exitStartTimeout)
	}
	if !strings.Contains(d.log(), "start-up did not finish within 2s") {
		t.Error("stderr does not name the start-up limit")
	}
}

// TestSIGTERMDuringStart: SIGTERM while start-up hangs ends the process
// promptly with exit code 0, long before the start-up limit.
func TestSIGTERMDuringStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	bin := buildSofsd(t)
	hole, accepted := blackHole(t)
	d := startDaemon(t, bin, append(nodeArgs(t, joiningData(t)),
		"--etcd-join", "https://"+hole, "--start-timeout", "10m")...)
	select {
	case <-accepted: // sofsd is inside the hanging join
	case <-d.exited:
		t.Fatalf("sofsd exited before joining: %v", d.err)
	case <-time.After(startBound):
		t.Fatal("sofsd never dialled the join endpoint")
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := d.waitExit(t, stopBound); code != exitOK {
		t.Fatalf("exit code %d after SIGTERM during start-up, want 0", code)
	}
}

// TestCAInit: "sofsd ca init" creates the cluster CA once, and a member
// that forms a cluster without one is refused with what to do.
func TestCAInit(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	var out, errOut strings.Builder
	if code := run(t.Context(), []string{"ca", "init", "--data", data}, envOf(nil), &out, &errOut); code != exitOK {
		t.Fatalf("ca init: exit %d: %s", code, errOut.String())
	}
	if !clustertls.HasCA(filepath.Join(data, pkiDir)) || !strings.Contains(out.String(), "SHA-256") {
		t.Fatalf("no CA after ca init: %s", out.String())
	}
	caBefore, err := os.ReadFile(filepath.Join(data, pkiDir, clustertls.CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run(t.Context(), []string{"ca", "init", "--data", data}, envOf(nil), &out, &errOut); code != exitOK || !strings.Contains(out.String(), "kept") {
		t.Fatalf("second ca init: exit %d, %s", code, out.String())
	}
	if caAfter, _ := os.ReadFile(filepath.Join(data, pkiDir, clustertls.CAKeyFile)); string(caAfter) != string(caBefore) {
		t.Fatal("second ca init replaced the CA")
	}

	// --cluster-ca seeds a forming member's DATA/pki with that CA.
	seeded := filepath.Join(t.TempDir(), "data")
	cfg, err := parseConfig([]string{"--data", seeded, "--node-name", "n2", "--cluster-ca", filepath.Join(data, pkiDir),
		"--etcd-initial-cluster", "n1=127.0.0.1:1,n2=127.0.0.1:2380"}, envOf(nil), host)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := clusterTLS(t.Context(), cfg, zerolog.Nop()); err != nil {
		t.Fatalf("clusterTLS with --cluster-ca: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(seeded, pkiDir, clustertls.CAKeyFile)); string(got) != string(caBefore) {
		t.Fatal("--cluster-ca did not copy the CA")
	}

	lone := filepath.Join(t.TempDir(), "data")
	errOut.Reset()
	peer := testport.Loopback(t)
	code := run(t.Context(), []string{"--data", lone, "--node-name", "n1", "--api-listen", "off", "--smb-listen", testport.Loopback(t),
		"--etcd-client-listen", testport.Loopback(t), "--etcd-peer-listen", peer,
		"--etcd-initial-cluster", "n1=" + peer + ",n2=127.0.0.1:1"}, envOf(nil), &out, &errOut)
	if code != exitFail || !strings.Contains(errOut.String(), "no cluster CA") || !strings.Contains(errOut.String(), "sofsd ca init") {
		t.Fatalf("forming without a CA: exit %d, stderr %s", code, errOut.String())
	}
}
