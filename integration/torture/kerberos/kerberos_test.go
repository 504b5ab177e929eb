// Package kerberos runs smbtorture's Kerberos cases against sofs joined to
// a throwaway Samba AD domain. It is a package of its own so that its
// minute of waiting for tickets to expire overlaps with other packages'
// tests instead of lengthening the torture package's long run.
package kerberos

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sofs.io/sofs/integration/addc"
	"sofs.io/sofs/integration/harness"
	"sofs.io/sofs/integration/torture"
)

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m))
}

// kerberosTests are smbtorture's smb2.session cases that need Kerberos:
// they skip themselves unless run with Kerberos credentials (-k yes).
var kerberosTests = []string{
	"expire1n", "expire1s", "expire1e", "expire2s", "expire2e", "expire_disconnect",
	"bind_different_user",
	// Not Kerberos-only, but worth running with it: binding a second
	// channel with a Kerberos logon (kerberos.go's binding leg).
	"bind1", "bind2",
}

// kerberosBudget bounds the run: the expire cases wait 10 s each for a
// 4-second ticket to end.
const kerberosBudget = 10 * time.Minute

// TestSmbtortureKerberos runs the smb2.session cases that need a KDC with
// -k yes (--use-kerberos=required) against sofs joined to a throwaway
// Samba AD domain (integration/addc), and compares them with the same
// known-failures list as TestSmbtorture.
func TestSmbtortureKerberos(t *testing.T) {
	bin := harness.RequireTool(t, "smbtorture")
	dc := addc.Start(t)
	opts := torture.SofsOptions(t.TempDir())
	opts.ExtraArgs = append(opts.ExtraArgs, "--keytab", dc.Keytab)
	target := harness.FromEnvWith(t, opts)
	if target.Name != "sofs" {
		t.Skip("the Kerberos cases run against sofs only: the reference smbd is not joined to the test domain")
	}
	dir := t.TempDir()
	list := filepath.Join(dir, "load-list")
	if err := os.WriteFile(list, []byte(strings.Join(kerberosTests, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// smbtorture names the server cifs/sofs1, found at sofs's address
	// through the hosts mapping; the client gets its tickets from the DC.
	ktarget := *target
	ktarget.Addr = addc.Server
	ktarget.User, ktarget.Password = addc.Alice.Name, addc.Alice.Password
	r := &torture.Runner{
		Binary: bin, Target: &ktarget,
		Options: append(torture.DefaultOptions(),
			"--realm="+addc.Realm, "--use-kerberos=required",
			"--option=torture:user2name="+addc.Bob.Name,
			"--option=torture:user2password="+addc.Bob.Password,
			"--option=torture:user2domain="+addc.NetBIOS,
			"--load-list="+list),
		Env: append(dc.Env(""), addc.HostsEnv(t, dir, target.Addr)...),
	}
	ctx, cancel := context.WithTimeout(context.Background(), kerberosBudget)
	defer cancel()
	sr, err := r.Run(ctx, "smb2.session")
	if err != nil {
		t.Fatal(err)
	}
	kf := knownFailures(t)
	ran := 0
	for _, res := range sr.Results {
		why, _, _ := strings.Cut(strings.TrimSpace(res.Detail), "\n")
		t.Logf("%s: %s %s", res.Name, res.Status, why)
		if res.Status.Passed() || res.Status.Failed() {
			ran++
		}
	}
	// A run where Kerberos did not work skips or errors everything; the
	// expire cases passing is what shows tickets were used.
	if ran < len(kerberosTests)-1 {
		t.Errorf("only %d of %d Kerberos cases ran", ran, len(kerberosTests))
	}
	c := torture.Compare(kf, sr.Results)
	for _, res := range c.NewFailures {
		t.Errorf("%s: %s (not in the known-failures list)\n%s", res.Name, res.Status, strings.TrimSpace(res.Detail))
	}
	for _, name := range c.NowPassing {
		t.Logf("%s passes now: it can be removed from the known-failures list", name)
	}
	if t.Failed() {
		out := strings.Split(strings.TrimRight(string(sr.Output), "\n"), "\n")
		t.Logf("smbtorture output (tail):\n%s", strings.Join(out[max(0, len(out)-80):], "\n"))
	}
}

// knownFailures loads the torture package's known-failures list, which
// covers these cases too.
func knownFailures(t *testing.T) torture.KnownFailures {
	t.Helper()
	f, err := os.Open("../known-failures.txt")
	if err != nil {
		t.Fatalf("known failures: %v", err)
	}
	defer f.Close()
	kf, err := torture.ParseKnownFailures(f)
	if err != nil {
		t.Fatal(err)
	}
	return kf
}
