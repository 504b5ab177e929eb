package torture

import (
	"os"
	"strings"
)

// SuitesEnv overrides the suites TestSmbtorture runs: a comma-separated
// list of smbtorture test names ("smb2.lock,smb2.oplock").
const SuitesEnv = "SOFS_TORTURE_SUITES"

// SuitesFromEnv returns the suites named by SOFS_TORTURE_SUITES, or
// DefaultSuites when it is unset.
func SuitesFromEnv() []string {
	v := os.Getenv(SuitesEnv)
	if v == "" {
		return DefaultSuites()
	}
	return splitSuites(v)
}

// ClusterSuites returns the suites TestSmbtortureCluster runs through a
// three-node cluster: the ones issue 15 names, whose multi-connection
// tests depend on open state shared across nodes, plus the lock, share
// mode and deny suites.
func ClusterSuites() []string {
	return []string{
		"smb2.oplock", "smb2.durable-open", "smb2.durable-v2-open", "smb2.lease", "smb2.replay",
		"smb2.lock", "smb2.sharemode", "smb2.deny",
	}
}

// ClusterSuitesEnv overrides the suites TestSmbtortureCluster runs, as
// SuitesEnv does for TestSmbtorture.
const ClusterSuitesEnv = "SOFS_TORTURE_CLUSTER_SUITES"

// ClusterSuitesFromEnv returns the suites named by
// SOFS_TORTURE_CLUSTER_SUITES, or ClusterSuites when it is unset.
func ClusterSuitesFromEnv() []string {
	if v := os.Getenv(ClusterSuitesEnv); v != "" {
		return splitSuites(v)
	}
	return ClusterSuites()
}

func splitSuites(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
