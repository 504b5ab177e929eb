package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// SofsdBinEnv names a prebuilt sofsd binary to use instead of building one
// (handy when iterating on tests, or to test a release build).
const SofsdBinEnv = "SOFSD_BIN"

// sofsdBuild caches the one build of sofsd a test binary makes. It is the
// only package-level state in the harness: building once per process instead
// of once per test saves about a minute per test package on two cores.
var sofsdBuild struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// sofsdBinary returns the path of a sofsd binary, building it on first use.
func sofsdBinary() (string, error) {
	if p := os.Getenv(SofsdBinEnv); p != "" {
		return p, nil
	}
	sofsdBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "sofsd-build-")
		if err != nil {
			sofsdBuild.err = fmt.Errorf("harness: build dir: %w", err)
			return
		}
		sofsdBuild.dir = dir
		sofsdBuild.path, sofsdBuild.err = BuildSofsd(context.Background(), dir)
	})
	return sofsdBuild.path, sofsdBuild.err
}

// Main runs the tests of a package that uses StartSofs and then removes the
// cached sofsd build. Use it as: func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	if sofsdBuild.dir != "" {
		os.RemoveAll(sofsdBuild.dir)
	}
	return code
}

// ModuleRoot returns the directory holding the sofs go.mod, found through
// `go env GOMOD` from the current directory.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("harness: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("harness: not inside the sofs module (GOMOD=%q)", gomod)
	}
	return filepath.Dir(gomod), nil
}

// BuildSofsd builds ./cmd/sofsd of the module into dir and returns the
// binary's path.
func BuildSofsd(ctx context.Context, dir string) (string, error) {
	root, err := ModuleRoot(ctx)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sofsd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/sofsd")
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("harness: go build ./cmd/sofsd: %w\n%s", err, out.String())
	}
	return bin, nil
}
