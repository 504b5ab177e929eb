// Package etcdnode runs the embedded etcd member a sofs node (or quorum
// witness) keeps the cluster's namespace and open-file state in, and hands
// out a client to it; or, with Connect, a client to an external etcd
// cluster.
//
// An embedded member starts in one of three ways, chosen on its first start
// only (once Dir holds member data, the member restarts from it and the
// bootstrap settings are ignored):
//   - alone: a new one-member cluster (Config.InitialCluster and Join
//     empty);
//   - forming: a new cluster from Config.InitialCluster, "name=peerURL,...",
//     started on every listed member at about the same time;
//   - joining: Config.Join names client URLs of a running cluster; the
//     member adds itself with MemberAdd and starts as an existing-cluster
//     member.
package etcdnode

import (
	"context"
	"errors"
	"fmt"
	"google.golang.org/grpc"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"sofs.io/sofs/namespace/clustertls"
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
	// InitialCluster, "name=peerURL,...", forms a new multi-member cluster
	// on first start; it must list Name with PeerURL. Empty means a
	// one-member cluster (unless Join is set).
	InitialCluster string
	// Join lists client URLs of a running cluster this member joins on
	// first start. It excludes InitialCluster.
	Join   []string
	Logger zerolog.Logger
	// ReadyTimeout bounds the wait for the member to serve.
	ReadyTimeout time.Duration
	// DialOptions are added to the node's client connection (for example
	// an interceptor counting etcd round trips).
	DialOptions []grpc.DialOption
	// TLSDir is a clustertls directory (DATA/pki) holding the cluster CA
	// and this node's certificate. An https ClientURL or PeerURL then
	// serves TLS with that certificate and accepts only clients with a
	// certificate from the cluster CA (mutual TLS), and the node's own
	// client and a join present the node's certificate. Required when
	// either URL is https.
	TLSDir string
}

// Node is a running embedded etcd member and a client connected to it.
type Node struct {
	closing *atomic.Bool
	etcd    *embed.Etcd
	client  *clientv3.Client
	url     string
	// memberID is the embedded member's id; 0 for an external cluster.
	memberID uint64
	closed   atomic.Bool
}

// HasData reports whether dir holds an etcd member's data (its WAL): such a
// member restarts from it, ignoring the bootstrap settings.
func HasData(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, "member", "wal"))
	return err == nil && st.IsDir()
}

// ParseInitialCluster parses "name=peerURL,..." into names and URLs, in
// order. Names must be unique and non-empty; URLs are normalised as
// ParseURL does.
func ParseInitialCluster(s string) (names []string, urls []string, err error) {
	seen := map[string]bool{}
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		name, u, ok := strings.Cut(e, "=")
		if !ok || name == "" {
			return nil, nil, fmt.Errorf("initial cluster entry %q: want name=peerURL", e)
		}
		if seen[name] {
			return nil, nil, fmt.Errorf("initial cluster: member %q listed twice", name)
		}
		seen[name] = true
		pu, err := ParseURL(u)
		if err != nil {
			return nil, nil, fmt.Errorf("initial cluster member %q: %w", name, err)
		}
		names = append(names, name)
		urls = append(urls, pu.String())
	}
	return names, urls, nil
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
	if c.InitialCluster != "" && len(c.Join) > 0 {
		return nil, errors.New("etcdnode: InitialCluster and Join are exclusive")
	}
	var tb *clustertls.Bundle
	if cu.Scheme == "https" || pu.Scheme == "https" || c.TLSDir != "" {
		if c.TLSDir == "" {
			return nil, errors.New("etcdnode: https URLs need Config.TLSDir, the cluster's certificates")
		}
		if tb, err = clustertls.Load(c.TLSDir); err != nil {
			return nil, fmt.Errorf("etcdnode: %w", err)
		}
	}
	log := c.Logger.With().Str("component", "etcd").Logger()
	closing := new(atomic.Bool)
	zl := newZapLogger(log, closing)
	restart := HasData(c.Dir)
	if restart {
		// Damage etcd meets with a panic or a hang is refused here with
		// the file's name; see CheckData.
		if err := CheckData(c.Dir); err != nil {
			return nil, err
		}
	}
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
	if tb != nil {
		// Mutual TLS: the member presents the node certificate and
		// requires one from the cluster CA of every client and peer.
		ti := transport.TLSInfo{
			CertFile: tb.Paths.Cert(), KeyFile: tb.Paths.Key(), TrustedCAFile: tb.Paths.CACert(),
			ClientCertAuth: true,
		}
		if cu.Scheme == "https" {
			cfg.ClientTLSInfo = ti
		}
		if pu.Scheme == "https" {
			cfg.PeerTLSInfo = ti
		}
	}
	// The bootstrap settings only matter on the first start; afterwards
	// the member's identity and peers come from its data directory, and a
	// self-consistent one-entry InitialCluster keeps the config valid.
	cfg.InitialCluster = c.Name + "=" + pu.String()
	cfg.ClusterState = embed.ClusterStateFlagNew
	switch {
	case restart:
		if c.InitialCluster != "" || len(c.Join) > 0 {
			log.Info().Str("dir", c.Dir).Msg("member data present: restarting from it; initial-cluster and join settings ignored")
		}
	case c.InitialCluster != "":
		names, urls, err := ParseInitialCluster(c.InitialCluster)
		if err != nil {
			return nil, fmt.Errorf("etcdnode: %w", err)
		}
		found := false
		for i, n := range names {
			if n == c.Name {
				if urls[i] != pu.String() {
					return nil, fmt.Errorf("etcdnode: initial cluster gives member %q peer URL %s, but this member's peer URL is %s", n, urls[i], pu)
				}
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("etcdnode: initial cluster %q does not list this member %q", c.InitialCluster, c.Name)
		}
		cfg.InitialCluster = c.InitialCluster
	case len(c.Join) > 0:
		ic, err := addMember(ctx, c.Join, c.Name, pu.String(), tb, zl, log)
		if err != nil {
			return nil, err
		}
		cfg.InitialCluster = ic
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
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

	e, err := startEtcd(cfg, restart)
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
	cc := clientv3.Config{
		Endpoints:   []string{endpoint},
		DialTimeout: dialTimeout,
		Logger:      zl,
		Context:     context.WithoutCancel(ctx),
		DialOptions: c.DialOptions,
	}
	if cu.Scheme == "https" {
		cc.TLS = tb.ClientConfig()
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		stop()
		return nil, fmt.Errorf("etcdnode: connect client to %s: %w", endpoint, err)
	}
	id := uint64(e.Server.MemberID())
	log.Info().Str("dir", c.Dir).Str("client", endpoint).Str("peer", pu.String()).
		Str("member", fmt.Sprintf("%x", id)).Bool("restart", restart).Msg("embedded etcd ready")
	return &Node{closing: closing, etcd: e, client: cli, url: endpoint, memberID: id}, nil
}

// startEtcd is embed.StartEtcd with a panic on the calling goroutine
// (raft restarting from a log it cannot use, for one) turned into an
// error: a *DataError when the member restarts from existing data, whose
// damage CheckData did not recognise.
func startEtcd(cfg *embed.Config, restart bool) (e *embed.Etcd, err error) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		e = nil
		if restart {
			err = &DataError{Path: cfg.Dir, Problem: fmt.Sprintf("etcd could not start from it: %v", p)}
			return
		}
		err = fmt.Errorf("etcdnode: etcd panicked starting a new member in %s: %v", cfg.Dir, p)
	}()
	return embed.StartEtcd(cfg)
}

// joinTimeout bounds the MemberAdd through an existing cluster.
const joinTimeout = 15 * time.Second

// addMember adds this member (name, peerURL) to the cluster reachable at
// endpoints and returns the initial-cluster string to start it with. If a
// member with peerURL was added before but never started (a crash between
// MemberAdd and the first start), it is reused.
func addMember(ctx context.Context, endpoints []string, name, peerURL string, tb *clustertls.Bundle, zl *zap.Logger, log zerolog.Logger) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	eps := make([]string, 0, len(endpoints))
	for _, ep := range endpoints {
		u, err := ParseURL(ep)
		if err != nil {
			return "", fmt.Errorf("etcdnode: join %w", err)
		}
		eps = append(eps, u.String())
	}
	cc := clientv3.Config{Endpoints: eps, DialTimeout: dialTimeout, Logger: zl, Context: ctx}
	if tb != nil {
		cc.TLS = tb.ClientConfig()
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return "", fmt.Errorf("etcdnode: join: connect to %v: %w", eps, err)
	}
	defer cli.Close()
	list, err := cli.MemberList(ctx)
	if err != nil {
		return "", fmt.Errorf("etcdnode: join: list members through %v: %w", eps, err)
	}
	var selfID uint64
	members := list.Members
	for _, m := range members {
		for _, u := range m.PeerURLs {
			if u != peerURL {
				continue
			}
			if m.Name != "" {
				return "", fmt.Errorf("etcdnode: join: the cluster already has a started member %q (%x) with peer URL %s; "+
					"remove it first (sofsctl node remove, or etcdctl member remove) or restore this node's data directory", m.Name, m.ID, peerURL)
			}
			selfID = m.ID
			log.Warn().Str("member", fmt.Sprintf("%x", m.ID)).Msg("reusing a member added earlier that never started")
		}
	}
	if selfID == 0 {
		resp, err := memberAdd(ctx, cli, peerURL, log)
		if err != nil {
			return "", fmt.Errorf("etcdnode: join: add member with peer URL %s through %v: %w", peerURL, eps, err)
		}
		selfID, members = resp.Member.ID, resp.Members
		log.Info().Str("member", fmt.Sprintf("%x", selfID)).Strs("through", eps).Msg("added this member to the existing cluster")
	}
	var parts []string
	for _, m := range members {
		n := m.Name
		switch {
		case m.ID == selfID:
			n = name
		case n == "":
			// Another member added but not yet started: etcd still wants
			// every member's peer URLs listed, under any unique name.
			n = fmt.Sprintf("unstarted-%x", m.ID)
		}
		for _, u := range m.PeerURLs {
			parts = append(parts, n+"="+u)
		}
	}
	return strings.Join(parts, ","), nil
}

// memberAdd adds peerURL as a voting member. etcd refuses a membership
// change as "unhealthy cluster" until its leader has been connected to a
// quorum for a few seconds (a cluster that has just started, or just lost
// a member), which is a reason to wait, not to fail: it retries that
// refusal until ctx ends.
func memberAdd(ctx context.Context, cli *clientv3.Client, peerURL string, log zerolog.Logger) (*clientv3.MemberAddResponse, error) {
	backoff := 250 * time.Millisecond
	for {
		resp, err := cli.MemberAdd(ctx, []string{peerURL})
		if err == nil || !errors.Is(rpctypes.Error(err), rpctypes.ErrUnhealthy) {
			return resp, err
		}
		log.Info().Err(err).Dur("retry_in", backoff).Msg("the cluster refuses new members until it has been healthy for a while; retrying")
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (still refused when the join timed out: %w)", err, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// ClientConfig configures a client of an external etcd cluster.
type ClientConfig struct {
	// Endpoints are the cluster's client URLs (or host:port).
	Endpoints []string
	// CACert, Cert and Key are PEM files: the CA to trust, and a client
	// certificate with its key; all optional.
	CACert, Cert, Key string
	Logger            zerolog.Logger
	// ReadyTimeout bounds the first successful round trip.
	ReadyTimeout time.Duration
	// DialOptions are added to the client connection.
	DialOptions []grpc.DialOption
}

// Connect returns a Node that is only a client of an external cluster: it
// checks the cluster answers (a member list) before returning.
func Connect(ctx context.Context, c ClientConfig) (*Node, error) {
	if len(c.Endpoints) == 0 {
		return nil, errors.New("etcdnode: no endpoints")
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	if (c.Cert == "") != (c.Key == "") {
		return nil, errors.New("etcdnode: client certificate and key must be given together")
	}
	eps := make([]string, 0, len(c.Endpoints))
	secure := false
	for _, ep := range c.Endpoints {
		u, err := ParseURL(ep)
		if err != nil {
			return nil, fmt.Errorf("etcdnode: endpoint %w", err)
		}
		if u.Scheme == "https" || u.Scheme == "unixs" {
			secure = true
		}
		eps = append(eps, u.String())
	}
	log := c.Logger.With().Str("component", "etcd").Logger()
	closing := new(atomic.Bool)
	zl := newZapLogger(log, closing)
	cc := clientv3.Config{Endpoints: eps, DialTimeout: dialTimeout, Logger: zl, Context: context.WithoutCancel(ctx), DialOptions: c.DialOptions}
	if secure || c.CACert != "" || c.Cert != "" {
		ti := transport.TLSInfo{CertFile: c.Cert, KeyFile: c.Key, TrustedCAFile: c.CACert}
		tc, err := ti.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("etcdnode: TLS: %w", err)
		}
		cc.TLS = tc
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("etcdnode: connect to %v: %w", eps, err)
	}
	rctx, cancel := context.WithTimeout(ctx, c.ReadyTimeout)
	defer cancel()
	// Retry the first round trip: the cluster may still be electing a
	// leader when its nodes start together.
	var lerr error
	for attempt := 0; ; attempt++ {
		actx, acancel := context.WithTimeout(rctx, dialTimeout)
		_, lerr = cli.Get(actx, "health-probe", clientv3.WithCountOnly())
		acancel()
		if lerr == nil {
			break
		}
		if rctx.Err() != nil {
			closing.Store(true)
			cli.Close()
			return nil, fmt.Errorf("etcdnode: external etcd %v not answering within %s: %w", eps, c.ReadyTimeout, lerr)
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-rctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	log.Info().Strs("endpoints", eps).Bool("tls", cc.TLS != nil).Msg("connected to external etcd")
	return &Node{closing: closing, client: cli, url: eps[0]}, nil
}

// MemberID returns the embedded member's id, or 0 for an external cluster.
func (n *Node) MemberID() uint64 { return n.memberID }

// HasLeader reports whether the embedded member knows a leader (false for
// an external cluster): a member without one cannot serve.
func (n *Node) HasLeader() bool { return n.etcd != nil && n.etcd.Server.Leader() != 0 }

// Embedded reports whether the node runs an embedded member.
func (n *Node) Embedded() bool { return n.etcd != nil }

// Client returns a client connected to the member. Node owns it: do not
// close it.
func (n *Node) Client() *clientv3.Client { return n.client }

// ClientURL returns the URL the member serves clients on.
func (n *Node) ClientURL() string { return n.url }

// Close closes the client and stops the member, which syncs its WAL. Only
// the first call does anything.
func (n *Node) Close() error {
	if n.closed.Swap(true) {
		return nil
	}
	err := n.client.Close()
	n.closing.Store(true)
	if n.etcd != nil {
		n.etcd.Close()
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("etcdnode: close client: %w", err)
	}
	return nil
}
