package namespace

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"sofs.io/sofs/namespace/etcdnode"
)

// freeAddr returns a 127.0.0.1 port nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startEtcd runs a real single-member etcd in a temporary directory and
// returns a client to it; both stop when the test ends.
func startEtcd(t *testing.T) *clientv3.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := etcdnode.Start(ctx, etcdnode.Config{
		Dir:          t.TempDir(),
		ClientURL:    freeAddr(t),
		PeerURL:      freeAddr(t),
		Logger:       zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		ReadyTimeout: 20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Error(err)
		}
	})
	return n.Client()
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
