// Package kerberos runs smbtorture's Kerberos cases against sofs joined to
// a throwaway Samba AD domain. It is a package of its own so that its
// minute of waiting for tickets to expire overlaps with other packages'
// tests instead of lengthening the torture package's long run.
package kerberos

import (
	"context"
	"os"
	"slices"
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
// they skip themselves unless run with Kerberos credentials (-k yes). The
// whole suite runs, so re-authentication, binding and the rest are
// exercised with Kerberos logons too; these must not skip.
var kerberosTests = []string{
	"expire1n", "expire1s", "expire1e", "expire2s", "expire2e", "expire_disconnect",
}

// kerberosBudget bounds the run: the expire cases wait 10 s each for a
// 4-second ticket to end.
const kerberosBudget = 10 * time.Minute

// TestSmbtortureKerberos runs smbtorture's smb2.session suite, with the
// cases that need a KDC, with -k yes (--use-kerberos=required) against
// sofs joined to a throwaway Samba AD domain (integration/addc), and
// compares the results with the same known-failures list as
// TestSmbtorture.
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
			"--option=torture:user2domain="+addc.NetBIOS),
		Env: append(dc.Env(""), addc.HostsEnv(t, dir, target.Addr)...),
	}
	ctx, cancel := context.WithTimeout(context.Background(), kerberosBudget)
	defer cancel()
	sr, err := r.Run(ctx, "smb2.session")
	if err != nil {
		t.Fatal(err)
	}
	kf := knownFailures(t)
	pass := 0
	for _, res := range sr.Results {
		if res.Status.Passed() {
			pass++
		}
		if !res.Status.Passed() || slices.Contains(kerberosTests, strings.TrimPrefix(res.Name, "smb2.session.")) {
			why, _, _ := strings.Cut(strings.TrimSpace(res.Detail), "\n")
			t.Logf("%s: %s %s", res.Name, res.Status, why)
		}
		// A case that needs Kerberos and skipped means the logon did not
		// use it: that is a failure of this test, whatever the list says.
		if slices.Contains(kerberosTests, strings.TrimPrefix(res.Name, "smb2.session.")) && !res.Status.Passed() && !res.Status.Failed() {
			t.Errorf("%s did not run (%s): Kerberos credentials were not used", res.Name, res.Status)
		}
	}
	t.Logf("smb2.session with Kerberos: %d of %d passed", pass, len(sr.Results))
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
