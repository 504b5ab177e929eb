package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"sofs.io/sofs/internal/testport"
	"sofs.io/sofs/namespace/etcdnode"
)

// startExternalEtcd runs a three-member etcd cluster in the test process
// (go.etcd.io/etcd/server/v3/embed, through etcdnode) on 127.0.0.1-3 and
// returns its client URLs, comma-separated.
func startExternalEtcd(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var cfgs []etcdnode.Config
	var ic, eps []string
	for i := 1; i <= 3; i++ {
		addr := fmt.Sprintf("127.0.0.%d", i)
		c := etcdnode.Config{
			Dir: t.TempDir(), Name: fmt.Sprintf("etcd%d", i),
			ClientURL: "http://" + testport.On(t, addr), PeerURL: "http://" + testport.On(t, addr),
			Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel), ReadyTimeout: startTimeout,
		}
		cfgs = append(cfgs, c)
		ic = append(ic, c.Name+"="+c.PeerURL)
		eps = append(eps, c.ClientURL)
	}
	nodes := make([]*etcdnode.Node, len(cfgs))
	errs := make([]error, len(cfgs))
	var wg sync.WaitGroup
	for i := range cfgs {
		cfgs[i].InitialCluster = strings.Join(ic, ",")
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = etcdnode.Start(ctx, cfgs[i])
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, n := range nodes {
			if n != nil {
				n.Close()
			}
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("external etcd member %d: %v", i+1, err)
		}
	}
	return strings.Join(eps, ",")
}
