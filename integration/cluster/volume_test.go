package cluster

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	cloudsoda "github.com/cloudsoda/go-smb2"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/integration/harness"
)

// requireMountNamespaces fails under CI=true, and skips elsewhere, unless
// this process may make mount namespaces (root and unshare).
func requireMountNamespaces(t *testing.T) {
	t.Helper()
	_, err := exec.LookPath("unshare")
	if os.Geteuid() == 0 && err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("mount namespaces need root and unshare (euid %d, unshare: %v)", os.Geteuid(), err)
	}
	t.Skipf("mount namespaces need root and unshare (euid %d, unshare: %v)", os.Geteuid(), err)
}

// readyRefused returns the shares n's /readyz says it does not serve.
func readyRefused(t *testing.T, n *harness.ClusterNode) map[string]string {
	t.Helper()
	cl := &http.Client{Timeout: 10 * time.Second}
	resp, err := cl.Get(n.APIURL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st adminapi.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range st.RefusedShares {
		out[r.Name] = r.Reason
	}
	return out
}

// TestVolumeMissingOnOneNode: a named cluster shared volume is registered
// and stamped through n1. n2 runs in its own mount namespace where an
// empty directory is mounted over the volume's path (the shared file
// system not mounted there): n2 reports the volume unverified, refuses the
// volume's share and says so in readiness, while n1 serves that share and
// n2 keeps serving a share that is on no volume.
func TestVolumeMissingOnOneNode(t *testing.T) {
	requireMountNamespaces(t)
	c := newCluster(t)
	vol := filepath.Join(c.csv, "vol1")
	if err := os.MkdirAll(filepath.Join(vol, "vms"), 0o755); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	n1 := c.add("n1", "127.0.0.1", false)
	n2 := c.add("n2", "127.0.0.2", false)
	n2.Wrap = []string{"unshare", "--mount", "--propagation", "private", "--",
		"sh", "-c", `mount --bind "$1" "$2" && shift 2 && exec "$@"`, "sh", empty, vol}
	ic := harness.InitialCluster(n1, n2)
	for _, n := range c.nodes {
		n.Args = []string{"--etcd-initial-cluster", ic}
	}
	c.start(n1, n2)
	c.waitState(n1, "n2", adminapi.NodeUp, upWithin)
	c.createShareAndUser(n1)
	c.mustCtl(n1, "volume", "create", "vol1", "--path", vol)
	if _, err := os.Stat(filepath.Join(vol, ".sofs", "volume.json")); err != nil {
		t.Fatalf("volume not stamped: %v", err)
	}
	c.mustCtl(n1, "share", "create", "vms", "--path", filepath.Join(vol, "vms"))

	volumes := func(n *harness.ClusterNode) map[string]adminapi.VolumeInfo {
		var vl adminapi.VolumeList
		if err := json.Unmarshal(c.mustCtl(n, "volume", "list"), &vl); err != nil {
			t.Fatal(err)
		}
		m := map[string]adminapi.VolumeInfo{}
		for _, v := range vl.Volumes {
			m[v.Name] = v
		}
		return m
	}
	if v := volumes(n1)["vol1"]; !v.Verified {
		t.Fatalf("n1: %+v", v)
	}
	if v := volumes(n2)["vol1"]; v.Verified || v.Problem == "" {
		t.Fatalf("n2 verified a volume it does not have mounted: %+v", v)
	}
	// n2's periodic check picks the new volume and share up.
	deadline := time.Now().Add(30 * time.Second)
	for readyRefused(t, n2)["vms"] == "" && time.Now().Before(deadline) {
		time.Sleep(pollEvery) // polling interval; the loop checks the state
	}
	if reason := readyRefused(t, n2)["vms"]; reason == "" {
		t.Fatal("n2's readiness does not name the refused share vms")
	} else {
		t.Logf("n2 refuses vms: %s", reason)
	}
	if r := readyRefused(t, n1); len(r) != 0 {
		t.Fatalf("n1 refuses %v", r)
	}

	// n1 serves the volume's share; the file lands on the volume.
	sh, done := c.mount(n1, "vms")
	if err := sh.WriteFile("disk.vhdx", []byte("payload"), 0o644); err != nil {
		done()
		t.Fatal(err)
	}
	done()
	if b, err := os.ReadFile(filepath.Join(vol, "vms", "disk.vhdx")); err != nil || string(b) != "payload" {
		t.Fatalf("file written through n1: %q %v", b, err)
	}
	// n2 refuses it: no tree connect, nothing written into its empty
	// mount point.
	d := &cloudsoda.Dialer{
		MaxCreditBalance: 128,
		Negotiator:       cloudsoda.Negotiator{RequireMessageSigning: true},
		Initiator:        &cloudsoda.NTLMInitiator{User: user, Password: password},
	}
	ctx, cancel := contextWithTimeout(smbTimeout)
	defer cancel()
	s, err := d.Dial(ctx, n2.SMBHostPort())
	if err != nil {
		t.Fatal(err)
	}
	if m, err := s.Mount("vms"); err == nil {
		m.Umount()
		s.Logoff()
		t.Fatal("n2 served a share on a volume it has not verified")
	}
	s.Logoff()
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Fatalf("n2 wrote into its empty mount point: %v", entries)
	}
	// n2 serves the share that is on no volume.
	c.writeRead(n2, n1, "not-on-a-volume.bin")
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
