package main

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"sofs.io/sofs/internal/testport"
)

// expectClosed fails unless the server closes c within limit.
func expectClosed(t *testing.T, c net.Conn, limit time.Duration, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(limit))
	_, err := c.Read(make([]byte, 64))
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("%s: read %v, want the server to close it within %s", what, err, limit)
	}
}

// expectOpen fails if the server has closed c.
func expectOpen(t *testing.T, c net.Conn, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err := c.Read(make([]byte, 64))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%s: read %v, want it still open", what, err)
	}
}

func dialSMB(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestHygieneSettings: the connection limits set through sofsd (a config
// file in one run, flags in the other) reach the SMB server. Each check
// would fail with the defaults (30 s timeouts, caps of 512 and 64).
func TestHygieneSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	bin := buildSofsd(t)
	start := func(extra ...string) string {
		t.Helper()
		data := filepath.Join(t.TempDir(), "data")
		smb := testport.Loopback(t)
		args := append([]string{"--data", data, "--smb-listen", smb, "--etcd-client-listen", testport.Loopback(t),
			"--etcd-peer-listen", testport.Loopback(t), "--api-listen", "off", "--peer-listen", "127.0.0.1:0",
			"--node-name", "hygiene", "--user", "test:test123"}, extra...)
		d := startDaemon(t, bin, args...)
		d.waitReady(t)
		t.Cleanup(func() { d.stop(t) })
		return smb
	}

	// From the config file: one unauthenticated connection on the node,
	// two seconds to log on.
	cfgFile := filepath.Join(t.TempDir(), "sofs.yaml")
	if err := os.WriteFile(cfgFile, []byte("logon-timeout: 2s\nmax-unauthenticated: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	smb := start("--config", cfgFile)
	c1 := dialSMB(t, smb)
	expectOpen(t, c1, "first connection")
	c2 := dialSMB(t, smb)
	expectClosed(t, c2, 10*time.Second, "second unauthenticated connection over max-unauthenticated 1")
	// c1 was accepted first: had c2 been closed by its logon timeout, c1
	// would be closed already.
	expectOpen(t, c1, "first connection after the second was refused")
	expectClosed(t, c1, 10*time.Second, "idle connection past logon-timeout 2s")

	// From flags: two per client, frames must arrive within 1 s, a long
	// logon timeout so that only the other limits can act.
	smb = start("--logon-timeout", "60s", "--frame-timeout", "1s", "--max-unauthenticated-per-client", "2")
	a, b := dialSMB(t, smb), dialSMB(t, smb)
	expectOpen(t, a, "first of two")
	expectOpen(t, b, "second of two")
	third := dialSMB(t, smb)
	expectClosed(t, third, 10*time.Second, "third connection from one address over max-unauthenticated-per-client 2")
	// a starts a 1000-byte frame (direct TCP header, [MS-SMB2] 2.1) and
	// sends 10 bytes of it.
	if _, err := a.Write([]byte{0, 0, 0x03, 0xe8, 0xfe, 'S', 'M', 'B', 0, 0, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, a, 15*time.Second, "connection trickling a frame past frame-timeout 1s")
	expectOpen(t, b, "idle connection between frames (no frame started, logon-timeout 60s)")
}
