package harness

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SambaRefScriptEnv overrides where samba-ref.sh is found.
const SambaRefScriptEnv = "SOFS_SAMBA_REF"

// defaultSambaRefScript is where the project's shared tools live on the
// build machines.
const defaultSambaRefScript = "/work/shared/tools/samba-ref.sh"

// Ports for reference servers are drawn from 4400-4599 (the brief's range,
// clear of 445, of the kernel's ephemeral range and of the range FreePort
// draws from for sofs), and a start is retried a bounded number of times
// if another process took the port.
const (
	sambaPortMin      = 4400
	sambaPortSpan     = 200
	sambaStartRetries = 5
)

// SambaRef is a running reference smbd started by LaunchSambaRef.
type SambaRef struct {
	Target *Target
	// LogDir is smbd's log directory (removed by Stop).
	LogDir string
	script string
	env    []string
}

// findSambaRefScript locates samba-ref.sh: $SOFS_SAMBA_REF, the shared
// tools directory, or ../shared/tools next to the module root.
func findSambaRefScript(ctx context.Context) (string, error) {
	cands := []string{os.Getenv(SambaRefScriptEnv), defaultSambaRefScript}
	if root, err := ModuleRoot(ctx); err == nil {
		cands = append(cands, filepath.Join(root, "..", "shared", "tools", "samba-ref.sh"))
	}
	for _, c := range cands {
		if c == "" {
			continue
		}
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() {
			return c, nil
		}
	}
	return "", fmt.Errorf("harness: samba-ref.sh not found (set %s)", SambaRefScriptEnv)
}

// SambaRefUsable reports why the reference server cannot run here, or nil:
// samba-ref.sh must exist, smbd must be installed, and we must be root.
func SambaRefUsable(ctx context.Context) error {
	if _, err := findSambaRefScript(ctx); err != nil {
		return err
	}
	if _, err := exec.LookPath("smbd"); err != nil {
		return fmt.Errorf("harness: smbd: %w", err)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("harness: samba-ref.sh must run as root")
	}
	return nil
}

// LaunchSambaRef starts a throwaway smbd through samba-ref.sh on a random
// free port in 4400-4599. extraEnv (KEY=VALUE) is passed to the script, for
// example SAMBA_REF_TORTURE_HOOKS=1. The caller must Stop it.
func LaunchSambaRef(ctx context.Context, extraEnv ...string) (*SambaRef, error) {
	if err := SambaRefUsable(ctx); err != nil {
		return nil, err
	}
	script, _ := findSambaRefScript(ctx)
	var lastErr error
	for range sambaStartRetries {
		port := sambaPortMin + rand.IntN(sambaPortSpan)
		if !portIsFree(loopback, port) {
			continue
		}
		env := append(os.Environ(), "SAMBA_REF_PORT="+strconv.Itoa(port), "SAMBA_REF_ADDR="+loopback)
		env = append(env, extraEnv...)
		r := &SambaRef{script: script, env: env}
		out, err := r.run(ctx, "start")
		if err != nil {
			lastErr = err
			continue
		}
		kv := parseKV(out)
		r.LogDir = kv["logdir"]
		r.Target = &Target{
			Name: "samba", Addr: loopback, Port: port, Share: "share",
			User: defaultUser, Password: defaultPassword, ShareDir: kv["sharedir"],
		}
		if r.Target.ShareDir == "" {
			_, _ = r.run(context.Background(), "stop")
			return nil, fmt.Errorf("harness: samba-ref.sh start printed no sharedir:\n%s", out)
		}
		return r, nil
	}
	return nil, fmt.Errorf("harness: samba-ref.sh start failed %d times: %w", sambaStartRetries, lastErr)
}

// run runs samba-ref.sh with one verb and returns its stdout.
func (r *SambaRef) run(ctx context.Context, verb string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "bash", r.script, verb)
	cmd.Env = r.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("harness: samba-ref.sh %s: %w\n%s%s", verb, err, stdout.String(), stderr.String())
	}
	return stdout.Bytes(), nil
}

// sambaStopTimeout bounds samba-ref.sh stop, which itself waits at most 5 s
// for smbd before SIGKILL.
const sambaStopTimeout = 30 * time.Second

// Stop stops smbd and removes its instance directory.
func (r *SambaRef) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), sambaStopTimeout)
	defer cancel()
	_, err := r.run(ctx, "stop")
	return err
}

// StartSambaRef starts the reference smbd for the test and stops it when t
// ends. Without samba-ref.sh, smbd or root it stops the test through
// MissingDependency.
func StartSambaRef(t testing.TB) *Target {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := SambaRefUsable(ctx); err != nil {
		MissingDependency(t, "reference Samba: %v", err)
	}
	r, err := LaunchSambaRef(ctx)
	if err != nil {
		t.Fatalf("start samba: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() && r.LogDir != "" {
			t.Logf("smbd log (%s):\n%s", r.LogDir, tailFile(filepath.Join(r.LogDir, "log.smbd")))
		}
		if err := r.Stop(); err != nil {
			t.Errorf("stop samba: %v", err)
		}
	})
	return r.Target
}

// parseKV reads the key=value lines samba-ref.sh start prints.
func parseKV(b []byte) map[string]string {
	kv := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return kv
}
