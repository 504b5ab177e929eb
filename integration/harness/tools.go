package harness

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in CI (env CI=true), where a missing
// dependency is an error rather than a reason to skip.
func InCI() bool {
	return os.Getenv("CI") == "true"
}

// MissingDependency stops the test because something it needs is absent:
// it fails the test in CI, where the environment is supposed to be complete,
// and skips it elsewhere, so a developer machine without Samba's tools can
// still run the rest.
func MissingDependency(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("missing dependency (CI=true): %s", msg)
	}
	t.Skipf("missing dependency: %s", msg)
}

// RequireTool returns the path of the named executable (a name looked up in
// PATH, or an absolute path), or stops the test through MissingDependency.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		MissingDependency(t, "tool %q: %v", name, err)
	}
	return p
}
