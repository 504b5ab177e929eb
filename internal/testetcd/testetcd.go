// Package testetcd runs a real single-member etcd for a test.
package testetcd

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/internal/testport"
	"sofs.io/sofs/namespace/etcdnode"
)

// startTimeout bounds the member's start; a 2-core machine running the
// whole suite at once can take seconds to elect a leader.
const startTimeout = 30 * time.Second

// Start runs an embedded etcd member in a temporary directory on reserved
// loopback ports. It stops when the test ends, and a failure to stop is a
// test error: a member that cannot close cleanly would hide leaks.
func Start(t testing.TB) *etcdnode.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	n, err := etcdnode.Start(ctx, etcdnode.Config{
		Dir:          t.TempDir(),
		ClientURL:    testport.Loopback(t),
		PeerURL:      testport.Loopback(t),
		Logger:       zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		ReadyTimeout: startTimeout,
	})
	if err != nil {
		t.Fatalf("testetcd: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("testetcd: close: %v", err)
		}
	})
	return n
}
