package bench

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// settle writes back the dirty pages of the file system under dir and
// waits for it, so that a workload does not pay for the write-back of
// the ones before it. Without it, copychunk (which runs after about
// 2.5 GiB of writes) scattered by 3-4 times between runs of either
// server (docs/performance.md, "After: aligned READ data"). It is not
// timed: both servers' runs start from the same clean page cache.
func settle(dir string) (time.Duration, error) {
	start := time.Now()
	d, err := os.Open(dir)
	if err != nil {
		return 0, fmt.Errorf("bench: settle: %w", err)
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return 0, fmt.Errorf("bench: settle: syncfs %s: %w", dir, err)
	}
	return time.Since(start), nil
}
