// Package etcdnode runs the embedded single-member etcd that a one-node
// sofs cluster keeps its namespace and open-file state in, and hands out a
// client to it.
package etcdnode

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// Defaults for Config.
const (
	DefaultClientURL = "http://127.0.0.1:2379"
	DefaultPeerURL   = "http://127.0.0.1:2380"
	// DefaultReadyTimeout covers a cold start that replays a large WAL on
	// a slow disk; a healthy single member is ready in about a second.
	DefaultReadyTimeout = 60 * time.Second
	// dialTimeout bounds the client's first connection to the member,
	// which is already serving by the time it is dialled.
	dialTimeout = 5 * time.Second
)

// Config configures the embedded member.
type Config struct {
	// Dir holds the member's data (WAL and snapshots); created if missing.
	Dir string
	// Name is the member name; "sofs" if empty.
	Name string
	// ClientURL and PeerURL are where the member listens, as URLs or as
	// host:port (then http is assumed).
	ClientURL string
	PeerURL   string
	Logger    zerolog.Logger
	// ReadyTimeout bounds the wait for the member to serve.
	ReadyTimeout time.Duration
}

// Node is a running embedded etcd member and a client connected to it.
type Node struct {
	closing *atomic.Bool
	etcd    *embed.Etcd
	client  *clientv3.Client
	url     string
}

// ParseURL accepts a URL or host:port and returns an http(s) or unix URL.
func ParseURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("empty address")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", s, err)
	}
	switch u.Scheme {
	case "http", "https", "unix", "unixs":
	default:
		return nil, fmt.Errorf("address %q: scheme %q is not http, https, unix or unixs", s, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("address %q: no host", s)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("address %q: a path is not allowed", s)
	}
	return u, nil
}

// Start starts the member and waits, up to ReadyTimeout or until ctx ends,
// until it serves; then it connects a client.
func Start(ctx context.Context, c Config) (*Node, error) {
	if c.Dir == "" {
		return nil, errors.New("etcdnode: Config.Dir is empty")
	}
	if c.Name == "" {
		c.Name = "sofs"
	}
	if c.ClientURL == "" {
		c.ClientURL = DefaultClientURL
	}
	if c.PeerURL == "" {
		c.PeerURL = DefaultPeerURL
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	cu, err := ParseURL(c.ClientURL)
	if err != nil {
		return nil, fmt.Errorf("etcdnode: client %w", err)
	}
	pu, err := ParseURL(c.PeerURL)
	if err != nil {
		return nil, fmt.Errorf("etcdnode: peer %w", err)
	}
	log := c.Logger.With().Str("component", "etcd").Logger()
	closing := new(atomic.Bool)
	zl := newZapLogger(log, closing)
	// etcd wants its data private: it holds every user's NT hash.
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("etcdnode: %w", err)
	}
	if err := os.Chmod(c.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("etcdnode: %w", err)
	}

	cfg := embed.NewConfig()
	cfg.Name = c.Name
	cfg.Dir = c.Dir
	cfg.ListenClientUrls = []url.URL{*cu}
	cfg.AdvertiseClientUrls = []url.URL{*cu}
	cfg.ListenPeerUrls = []url.URL{*pu}
	cfg.AdvertisePeerUrls = []url.URL{*pu}
	// InitialCluster only matters on the first start; afterwards the
	// member's identity comes from its data directory.
	cfg.InitialCluster = c.Name + "=" + pu.String()
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zl)
	// The namespace and open-file state churn keys; without compaction the
	// backend grows until it hits its quota and etcd refuses writes.
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = "1h"
	// The REST gateway would be a second, unauthenticated API on the
	// client port; sofs has its own admin API.
	cfg.EnableGRPCGateway = false
	// etcd warns about any apply slower than 100 ms; on a shared or
	// virtual disk every fsync can take that long, and a warning per write
	// drowns the log. A second is slow enough to be worth an operator's eye.
	cfg.WarningApplyDuration = time.Second
	cfg.WarningUnaryRequestDuration = time.Second

	e, err := embed.StartEtcd(cfg)
	stop := func() {
		closing.Store(true)
		e.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("etcdnode: start member in %s: %w", c.Dir, err)
	}
	t := time.NewTimer(c.ReadyTimeout)
	defer t.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		stop()
		return nil, fmt.Errorf("etcdnode: member failed while starting: %w", err)
	case <-t.C:
		stop()
		return nil, fmt.Errorf("etcdnode: member not ready after %s", c.ReadyTimeout)
	case <-ctx.Done():
		stop()
		return nil, fmt.Errorf("etcdnode: waiting for member: %w", ctx.Err())
	}
	endpoint := cu.String()
	if len(e.Clients) > 0 && (cu.Scheme == "http" || cu.Scheme == "https") {
		// The listener's real address, in case the port was 0.
		endpoint = cu.Scheme + "://" + e.Clients[0].Addr().String()
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{endpoint},
		DialTimeout: dialTimeout,
		Logger:      zl,
		Context:     context.WithoutCancel(ctx),
	})
	if err != nil {
		stop()
		return nil, fmt.Errorf("etcdnode: connect client to %s: %w", endpoint, err)
	}
	log.Info().Str("dir", c.Dir).Str("client", endpoint).Str("peer", pu.String()).Msg("embedded etcd ready")
	return &Node{closing: closing, etcd: e, client: cli, url: endpoint}, nil
}

// Client returns a client connected to the member. Node owns it: do not
// close it.
func (n *Node) Client() *clientv3.Client { return n.client }

// ClientURL returns the URL the member serves clients on.
func (n *Node) ClientURL() string { return n.url }

// Close closes the client and stops the member, which syncs its WAL.
func (n *Node) Close() error {
	err := n.client.Close()
	n.closing.Store(true)
	n.etcd.Close()
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("etcdnode: close client: %w", err)
	}
	return nil
}
