package namespace

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"sofs.io/sofs/internal/testetcd"
)

// startEtcd runs a real single-member etcd in a temporary directory and
// returns a client to it; both stop when the test ends.
func startEtcd(t *testing.T) *clientv3.Client {
	t.Helper()
	return testetcd.Start(t).Client()
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitView waits, through the view's change notifications, until cond
// holds, failing after limit.
func waitView(t *testing.T, v *View, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		ch := v.Changed() // taken before the check so no change is missed
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("view did not reach %s within %s", what, limit)
		}
	}
}

func share(name string) Share {
	return Share{Name: name, Path: fmt.Sprintf("/srv/%s", name)}
}
