package namespace

import (
	"strings"
	"testing"
)

func TestCheckSharePath(t *testing.T) {
	for _, tc := range []struct {
		path string
		want string // "" accepts; else a piece of the error
	}{
		{"/srv/vms", ""},
		{"/csv/vms", ""},
		{"/mnt/csv/share", ""},
		{"/var/lib/sofs-csv/share", ""},
		{"/home/alice/share", ""},
		{"/tmp/sofs/share", ""},
		{"", "empty"},
		{"srv/vms", "not absolute"},
		{"./srv", "not absolute"},
		{"/", "root directory"},
		{"//", "not clean"},
		{"/srv/x/../../etc", "not clean"},
		{"/srv/x/../../../etc", "not clean"},
		{"/srv/./vms", "not clean"},
		{"/srv//vms", "not clean"},
		{"/srv/vms/", "not clean"},
		{"/srv/..", "not clean"},
		{"/etc", "system directory /etc"},
		{"/etc/samba", "system directory /etc"},
		{"/proc", "system directory /proc"},
		{"/proc/1/root", "system directory /proc"},
		{"/sys/kernel", "system directory /sys"},
		{"/dev", "system directory /dev"},
		{"/dev/shm", "system directory /dev"},
		{"/boot", "system directory /boot"},
		{"/usr/local/share", "system directory /usr"},
		{"/bin", "system directory /bin"},
		{"/sbin", "system directory /sbin"},
		{"/lib", "system directory /lib"},
		{"/lib64", "system directory /lib64"},
		{"/root", "system directory /root"},
		{"/root/x", "system directory /root"},
		{"/run/user", "system directory /run"},
		{"/var", "system directory /var"},
		{"/var/lib", "system directory /var/lib"},
		{"/var/run/x", "system directory /var/run"},
		{"/var/lib/etcd/member", "system directory /var/lib/etcd"},
		{"/home", "system directory /home"},
		{"/tmp", "system directory /tmp"},
		{"/srv", "system directory /srv"},
		{"/mnt", "system directory /mnt"},
	} {
		err := CheckSharePath(tc.path)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckSharePath(%q) = %v, want nil", tc.path, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("CheckSharePath(%q) = %v, want an error with %q", tc.path, err, tc.want)
		}
	}
}

func TestSharePathPolicy(t *testing.T) {
	pol := SharePathPolicy{
		DataDir: "/tmp/sofs",
		Private: []string{"/tmp/sofs/etcd", "/tmp/sofs/api-token", "/tmp/sofs/node.json", "/srv/keys/api.key", "relative-ignored", ""},
	}
	for _, tc := range []struct {
		path string
		want string
	}{
		{"/tmp/sofs/share", ""},       // the quick start
		{"/tmp/sofs/etcd-backup", ""}, // a sibling whose name starts like a private one
		{"/tmp/sofsx", ""},
		{"/srv/keysx", ""},
		{"/tmp/sofs", "data directory"},
		{"/tmp", "system directory /tmp"}, // CheckSharePath still applies
		{"/tmp/sofs/etcd", "private file /tmp/sofs/etcd"},
		{"/tmp/sofs/etcd/member/wal", "private file /tmp/sofs/etcd"},
		{"/tmp/sofs/api-token", "private file"},
		{"/tmp/sofs/node.json", "private file"},
		{"/srv/keys", "private file /srv/keys/api.key"},
		{"/srv/keys/api.key", "private file"},
		{"/tmp/sofs/share/../etcd", "not clean"},
	} {
		err := pol.Check(tc.path)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Check(%q) = %v, want nil", tc.path, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Check(%q) = %v, want an error with %q", tc.path, err, tc.want)
		}
	}
	// A data directory on a deeper path refuses every directory above it.
	deep := SharePathPolicy{DataDir: "/srv/nodes/n1/data"}
	for _, p := range []string{"/srv/nodes", "/srv/nodes/n1", "/srv/nodes/n1/data"} {
		if err := deep.Check(p); err == nil {
			t.Errorf("Check(%q) with data %s accepted", p, deep.DataDir)
		}
	}
	if err := deep.Check("/srv/nodes/n2"); err != nil {
		t.Errorf("a sibling of the data directory: %v", err)
	}
}

// A share stored before the check (or written to etcd by hand) on an
// unsafe path is refused when read back, so no node serves it.
func TestDecodeShareRefusesUnsafePath(t *testing.T) {
	for _, p := range []string{"/", "/etc", "/srv/x/../../etc"} {
		if _, err := decodeShare([]byte(`{"name":"s","path":"` + p + `"}`)); err == nil {
			t.Errorf("decodeShare accepted path %q", p)
		}
	}
}
