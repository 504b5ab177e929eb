package harness

import (
	"net"
	"os"
	"strconv"
	"testing"
)

// Target describes one SMB server under test.
type Target struct {
	// Name is "sofs" or "samba"; tests use it to pick per-target expectations.
	Name string
	// Addr is the loopback address the server listens on, without port.
	Addr string
	// Port is the server's SMB (direct TCP) port.
	Port int
	// Share is the name of a read/write share.
	Share string
	// User and Password are NTLM credentials valid on the server.
	User     string
	Password string
	// ShareDir is the directory that backs Share on disk, so tests can
	// create fixtures quickly and check what the server really stored.
	ShareDir string
}

// HostPort returns "addr:port", the form net.Dial takes.
func (t *Target) HostPort() string {
	return net.JoinHostPort(t.Addr, strconv.Itoa(t.Port))
}

// UNC returns the share as "//addr/share", the form smbclient and
// smbtorture take.
func (t *Target) UNC() string {
	return "//" + t.Addr + "/" + t.Share
}

// TargetEnv is the environment variable that selects the server FromEnv
// starts: "sofs" (the default) or "samba".
const TargetEnv = "SOFS_TEST_TARGET"

// FromEnv starts the server named by SOFS_TEST_TARGET (sofs when unset) with
// default options and returns it; the server is stopped when t ends.
func FromEnv(t testing.TB) *Target {
	t.Helper()
	return FromEnvWith(t, SofsOptions{})
}

// FromEnvWith is FromEnv with the options sofs runs with; the reference
// smbd ignores them.
func FromEnvWith(t testing.TB, opts SofsOptions) *Target {
	t.Helper()
	switch name := os.Getenv(TargetEnv); name {
	case "", "sofs":
		return StartSofs(t, opts)
	case "samba":
		return StartSambaRef(t)
	default:
		t.Fatalf("harness: %s=%q: want sofs or samba", TargetEnv, name)
		return nil
	}
}
