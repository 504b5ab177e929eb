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
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
