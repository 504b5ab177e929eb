package namespace

import (
	"context"
	"fmt"
	"net"
	"strings"
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
	// The free ports are found by binding and closing, so another
	// test can take one in between: retry a few times on that race.
	var n *etcdnode.Node
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		n, err = etcdnode.Start(ctx, etcdnode.Config{
			Dir:          t.TempDir(),
			ClientURL:    freeAddr(t),
			PeerURL:      freeAddr(t),
			Logger:       zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
			ReadyTimeout: 20 * time.Second,
		})
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
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
