package addc

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestDomainController checks the fixture a Kerberos test relies on: the
// KDC issues tickets for the right password only, and a service ticket for
// the sofs node's SPN decrypts with the exported keytab.
func TestDomainController(t *testing.T) {
	dc := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := dc.Kinit(ctx, Bob.Name, "wrong"+Bob.Password); err == nil {
		t.Fatal("kinit with a wrong password succeeded")
	}
	cc, err := dc.Kinit(ctx, Alice.Name, Alice.Password)
	if err != nil {
		t.Fatal(err)
	}
	for _, spn := range ServerSPNs() {
		// kvno -k decrypts the service ticket with the keytab.
		cmd := exec.CommandContext(ctx, "kvno", "-k", dc.Keytab, spn)
		cmd.Env = dc.Env(cc)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "keytab entry valid") {
			t.Errorf("kvno -k %s: %v\n%s", spn, err, out)
		}
	}
	if !strings.HasPrefix(dc.DomainSID, "S-1-5-21-") {
		t.Errorf("domain SID %q", dc.DomainSID)
	}
	sid, err := dc.SID(ctx, Group)
	if err != nil || !strings.HasPrefix(sid, dc.DomainSID+"-") {
		t.Errorf("group SID %q, %v", sid, err)
	}
}
