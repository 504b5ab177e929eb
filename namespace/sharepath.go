package namespace

import (
	"fmt"
	"path"
	"strings"
)

// A share exposes its directory tree to every user the share admits, so a
// share path decides what SMB clients can read and write on every node.
// Two checks keep that inside what an operator meant to publish:
//
//   - CheckSharePath, which every stored share passes (Share.Validate), is
//     a pure check of the path's form: absolute, clean (so "/srv/x/../../etc"
//     cannot pose as a directory under /srv), not "/", and not one of the
//     host's system directories listed below.
//   - SharePathPolicy adds what only a node knows: its data directory and
//     its private files (etcd's data, the admin token, certificates). The
//     admin API, the --share flag and the daemon's share source apply it;
//     the daemon also applies it to shares another node created, because
//     data directories may differ between nodes.

// systemTrees are directories whose whole tree belongs to the operating
// system: configuration and secrets (/etc, /root), kernel interfaces
// (/proc, /sys, /dev, /run), boot files and installed software. A share
// on them, above them or inside them is refused.
var systemTrees = []string{
	"/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32",
	"/proc", "/root", "/run", "/sbin", "/sys", "/usr",
	"/var/run", "/var/lock", "/var/lib/dpkg", "/var/lib/apt", "/var/lib/etcd",
}

// systemDirs are directories that are refused themselves but whose
// subdirectories are ordinary places for shares (/srv/vms, /mnt/csv,
// /var/lib/sofs-csv, /home/alice). Sharing them whole would publish every
// tenant's data (/home, /var/lib) or scratch space (/tmp).
var systemDirs = []string{
	"/home", "/media", "/mnt", "/opt", "/srv", "/tmp", "/var", "/var/cache",
	"/var/lib", "/var/log", "/var/spool", "/var/tmp",
}

// SystemPaths returns the directories CheckSharePath refuses: trees are
// refused with everything inside them, dirs only themselves. Both are
// also refused as anything above them. For documentation and tests.
func SystemPaths() (trees, dirs []string) {
	return append([]string(nil), systemTrees...), append([]string(nil), systemDirs...)
}

// within reports whether p is dir or inside it; both must be clean and
// absolute.
func within(p, dir string) bool {
	if dir == "/" {
		return true
	}
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// CheckSharePath reports why p cannot be a share's path on any node, or
// nil. The error names the rule p breaks.
func CheckSharePath(p string) error {
	if p == "" {
		return fmt.Errorf("path is empty")
	}
	// The path names a directory on the cluster shared volume, mounted at
	// the same place on every node, so only absolute paths make sense.
	if !path.IsAbs(p) {
		return fmt.Errorf("path %q is not absolute", p)
	}
	// Every other check compares strings, so the path must already be in
	// its one canonical form: a "..", "." or doubled slash could otherwise
	// carry a path past them.
	if c := path.Clean(p); c != p {
		return fmt.Errorf("path %q is not clean (its clean form is %q)", p, c)
	}
	if p == "/" {
		return fmt.Errorf("path %q is the root directory", p)
	}
	for _, t := range systemTrees {
		if within(p, t) || within(t, p) {
			return fmt.Errorf("path %q is or holds the system directory %s", p, t)
		}
	}
	for _, d := range systemDirs {
		if p == d || within(d, p) {
			return fmt.Errorf("path %q is or holds the system directory %s; use a directory inside it", p, d)
		}
	}
	return nil
}

// SharePathPolicy is one node's rule for share paths: CheckSharePath plus
// the node's own files. The zero value applies CheckSharePath only.
type SharePathPolicy struct {
	// DataDir is the node's data directory. A share may not be it or
	// anything above it; a share strictly inside it is allowed (the quick
	// start puts one at DATA/share) unless it meets a Private path.
	DataDir string
	// Private are files and directories no share may be, hold or be
	// inside: DATA/etcd, DATA/api-token, DATA/node.json, the node's
	// certificates and keys, an api-token-file kept elsewhere.
	Private []string
}

// Check reports why p cannot be a share's path on this node, or nil.
func (pol SharePathPolicy) Check(p string) error {
	if err := CheckSharePath(p); err != nil {
		return err
	}
	if d := cleanAbs(pol.DataDir); d != "" && within(d, p) {
		return fmt.Errorf("path %q is or holds the node's data directory %s", p, d)
	}
	for _, f := range pol.Private {
		f = cleanAbs(f)
		if f == "" {
			continue
		}
		if within(p, f) || within(f, p) {
			return fmt.Errorf("path %q is, holds or is inside the node's private file %s", p, f)
		}
	}
	return nil
}

// cleanAbs returns the clean form of an absolute path, or "" for an empty
// or relative one (a policy built from unset settings).
func cleanAbs(p string) string {
	if p == "" || !path.IsAbs(p) {
		return ""
	}
	return path.Clean(p)
}
