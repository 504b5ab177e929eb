package main

import (
	"context"
	"errors"
	"fmt"
	"google.golang.org/grpc"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"github.com/rs/zerolog"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/namespace"
	"sofs.io/sofs/namespace/clustertls"
	"sofs.io/sofs/namespace/etcdnode"
)

// openEtcd starts the embedded member (alone, forming a cluster from
// etcd-initial-cluster, or joining through etcd-join) or connects to the
// external cluster of etcd-endpoints. The embedded member is named after
// the node name, which is what operators write in etcd-initial-cluster.
func openEtcd(ctx context.Context, cfg config, log zerolog.Logger, dial ...grpc.DialOption) (*etcdnode.Node, error) {
	if len(cfg.EtcdEndpoints) > 0 {
		return etcdnode.Connect(ctx, etcdnode.ClientConfig{
			Endpoints: cfg.EtcdEndpoints, CACert: cfg.EtcdCACert, Cert: cfg.EtcdCert, Key: cfg.EtcdKey,
			Logger: log, ReadyTimeout: etcdReadyTimeout, DialOptions: dial,
		})
	}
	tlsDir, joined, err := clusterTLS(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	join := cfg.EtcdJoin
	if len(join) == 0 {
		join = joined
	}
	return etcdnode.Start(ctx, etcdnode.Config{
		TLSDir:         tlsDir,
		Dir:            filepath.Join(cfg.Data, "etcd"),
		Name:           cfg.NodeName,
		ClientURL:      cfg.EtcdClient,
		PeerURL:        cfg.EtcdPeer,
		InitialCluster: cfg.EtcdInitialCluster,
		Join:           join,
		Logger:         log,
		ReadyTimeout:   etcdReadyTimeout,
		DialOptions:    dial,
	})
}

// clusterTLS prepares DATA/pki for an embedded member whose addresses are
// https (the default): it joins with a token (join, join-token) or copies
// the CA from cluster-ca when the directory has none, creates the cluster
// CA when this node is the cluster's first and only member, and issues or
// renews the node's certificate for its etcd addresses. It returns the
// directory, or "" when both addresses are http:// (no TLS, logged as a
// warning), and the etcd client URLs a token join was told to join
// through.
func clusterTLS(ctx context.Context, cfg config, log zerolog.Logger) (string, []string, error) {
	cu, err := etcdnode.ParseURL(cfg.EtcdClient)
	if err != nil {
		return "", nil, err
	}
	pu, err := etcdnode.ParseURL(cfg.EtcdPeer)
	if err != nil {
		return "", nil, err
	}
	if cu.Scheme != "https" && pu.Scheme != "https" {
		log.Warn().Str("client", cu.String()).Str("peer", pu.String()).
			Msg("etcd without TLS: anyone who can reach these addresses can read every user's NT hash and change the cluster; use https (the default)")
		return "", nil, nil
	}
	dir := filepath.Join(cfg.Data, pkiDir)
	etcdDir := filepath.Join(cfg.Data, "etcd")
	hosts := []string{cu.Hostname(), pu.Hostname(), cfg.NodeName}
	var joined []string
	switch {
	case cfg.Join != "" && !clustertls.HasCA(dir):
		if etcdnode.HasData(etcdDir) {
			return "", nil, fmt.Errorf("join: %s holds etcd member data but %s no cluster CA; restore %s from a backup, or empty %s to join afresh", etcdDir, dir, dir, etcdDir)
		}
		if joined, err = joinWithToken(ctx, cfg, dir, hosts, log); err != nil {
			return "", nil, err
		}
	case cfg.Join != "" && !etcdnode.HasData(etcdDir):
		// A join that got its certificate but stopped before its member
		// started: the token is spent, so it resumes from what it saved.
		if joined, err = readJoinURLs(dir); err != nil {
			return "", nil, err
		}
		log.Info().Strs("etcd", joined).Msg("resuming a join: the certificate was fetched before; adding the etcd member")
	case cfg.Join != "":
		log.Info().Msg("member data present: join and join-token ignored")
	}
	if !clustertls.HasCA(dir) && cfg.ClusterCA != "" {
		if err := seedCA(cfg.ClusterCA, dir); err != nil {
			return "", nil, err
		}
		log.Info().Str("from", cfg.ClusterCA).Str("dir", dir).Msg("copied the cluster CA")
	}
	if !clustertls.HasCA(dir) {
		members, err := etcdnode.DataMembers(etcdDir)
		if err != nil {
			return "", nil, err
		}
		forming := !etcdnode.HasData(etcdDir) && (cfg.EtcdInitialCluster != "" || len(cfg.EtcdJoin) > 0)
		if forming || members > 1 {
			return "", nil, fmt.Errorf("no cluster CA in %s: every member needs the same one. Join with a token (join, join-token; 'sofsctl token create' on a member), "+
				"or copy %s and %s from a member's %s (or create them on one node with 'sofsd ca init --data DATA' and copy them to every member) before starting this node, "+
				"or give http:// addresses to run etcd without TLS",
				dir, clustertls.CACertFile, clustertls.CAKeyFile, pkiDir)
		}
		if err := clustertls.NewCA(dir, cfg.NodeName); err != nil {
			return "", nil, err
		}
		log.Info().Str("dir", dir).Msg("created the cluster CA; add nodes with join tokens (sofsctl token create)")
	}
	issued, err := clustertls.EnsureNodeCert(dir, cfg.NodeName, hosts)
	if err != nil {
		if errors.Is(err, clustertls.ErrNeedsCertificate) {
			return "", nil, fmt.Errorf("%w; get a new one with 'sofsd cert renew --data DATA --join HOST:PORT --join-token TOKEN' (docs/operations.md, \"Certificate rotation\")", err)
		}
		return "", nil, err
	}
	if issued {
		log.Info().Str("dir", dir).Strs("hosts", hosts).Msg("issued this node's cluster certificate")
	}
	return dir, joined, nil
}

// seedCA copies the CA certificate and key from src into dir (0700), the
// key last-but-one and the certificate last, since the certificate's
// presence is what marks the CA as there.
func seedCA(src, dir string) error {
	if !clustertls.HasCA(src) {
		return fmt.Errorf("cluster-ca %s holds no %s (yet)", src, clustertls.CACertFile)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cluster CA: %w", err)
	}
	for _, f := range []string{clustertls.CAKeyFile, clustertls.CACertFile} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			return fmt.Errorf("cluster CA: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			return fmt.Errorf("cluster CA: %w", err)
		}
	}
	return nil
}

// runWitness is "sofsd witness": a voting embedded etcd member and nothing
// else, so that two sofs nodes plus a witness keep quorum when any one of
// the three is lost.
func runWitness(ctx context.Context, cfg config, log zerolog.Logger, started func()) error {
	if len(cfg.EtcdEndpoints) > 0 {
		return errors.New("a witness is an embedded etcd member; etcd-endpoints does not apply")
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	node, err := loadOrCreateNode(cfg.Data, cfg.NodeName)
	if err != nil {
		return err
	}
	log = log.With().Str("node_id", node.ID).Str("role", "witness").Logger()
	etcd, err := openEtcd(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeBounded(log, "etcd", etcdCloseTimeout, etcd.Close)
	var apiDone chan error
	if cfg.APIListenSet && cfg.APIListen != "" {
		apiLog := log.With().Str("component", "api").Logger()
		ln, err := adminapi.Listen(adminapi.ListenConfig{Addr: cfg.APIListen, CertFile: cfg.APITLSCert, KeyFile: cfg.APITLSKey, Logger: apiLog})
		if err != nil {
			return fmt.Errorf("health API listen: %w", err)
		}
		log.Info().Str("addr", ln.Addr().String()).Msg("witness health endpoints listening")
		apiDone = make(chan error, 1)
		go func() { apiDone <- adminapi.Serve(ctx, ln, witnessHealth(etcd), apiLog) }()
	}
	log.Info().Str("member", strconv.FormatUint(etcd.MemberID(), 16)).Msg("quorum witness running")
	started()
	<-ctx.Done()
	log.Info().Msg("shutting down")
	if apiDone != nil {
		if err := <-apiDone; err != nil {
			log.Error().Err(err).Msg("health API stopped with an error")
		}
	}
	return nil
}

// witnessHealth serves a witness's only endpoints: GET /healthz (the
// process runs) and GET /readyz (its etcd member knows a leader, so it is
// part of a quorum). Neither needs a token; they reveal nothing else.
func witnessHealth(etcd *etcdnode.Node) http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, code int, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, body+"\n")
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusOK, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !etcd.HasLeader() {
			reply(w, http.StatusServiceUnavailable, `{"error":{"code":"not_ready","message":"not ready: the etcd member has no leader"}}`)
			return
		}
		reply(w, http.StatusOK, `{"status":"ready"}`)
	})
	return mux
}

// witnessCommand strips a leading "witness" argument.
func witnessCommand(args []string) ([]string, bool) {
	if len(args) > 0 && args[0] == "witness" {
		return args[1:], true
	}
	return args, false
}

// membership is the node's view of the cluster for the admin API: it
// implements adminapi.Members and adminapi.NodeController over the
// namespace membership records, and readiness over the node's lease.
type membership struct {
	self    string
	store   *namespace.Store
	members *namespace.Members
	etcd    *etcdnode.Node
	reg     atomic.Pointer[namespace.Registration]
}

var (
	_ adminapi.Members        = (*membership)(nil)
	_ adminapi.NodeController = (*membership)(nil)
)

func (m *membership) info(n namespace.NodeStatus) adminapi.NodeInfo {
	ni := adminapi.NodeInfo{
		ID: n.ID, Name: n.Name, State: n.State, SMBAddresses: n.SMBAddresses,
		APIAddress: n.APIAddress, Version: n.Version,
		Ready: n.Live && n.State == namespace.NodeUp,
	}
	if !n.StartedAt.IsZero() {
		t := n.StartedAt
		ni.StartedAt = &t
	}
	if n.ID == m.self {
		ni.Ready = m.ready() == nil
	}
	return ni
}

func (m *membership) Nodes(context.Context) ([]adminapi.NodeInfo, error) {
	list := m.members.Nodes()
	out := make([]adminapi.NodeInfo, 0, len(list))
	for _, n := range list {
		out = append(out, m.info(n))
	}
	return out, nil
}

func (m *membership) Node(_ context.Context, id string) (adminapi.NodeInfo, error) {
	n, ok := m.members.Node(id)
	if !ok {
		return adminapi.NodeInfo{}, fmt.Errorf("node %q: %w", id, adminapi.ErrNodeNotFound)
	}
	return m.info(n), nil
}

func mapNodeErr(err error) error {
	switch {
	case errors.Is(err, namespace.ErrNotFound):
		return fmt.Errorf("%w: %w", adminapi.ErrNodeNotFound, err)
	case errors.Is(err, namespace.ErrBusy):
		return fmt.Errorf("%w: %w", adminapi.ErrNodeBusy, err)
	}
	return err
}

// Drain records the drain; the node's clients are moved by the witness
// service once it exists.
func (m *membership) Drain(ctx context.Context, id string) error {
	return mapNodeErr(m.store.DrainNode(ctx, id))
}

// Remove forgets a down node and removes its embedded etcd member, so the
// quorum is computed over the nodes that remain.
func (m *membership) Remove(ctx context.Context, id string) error {
	rec, err := m.store.RemoveNode(ctx, id)
	if err != nil {
		return mapNodeErr(err)
	}
	if rec.EtcdMember == "" {
		return nil
	}
	mid, err := strconv.ParseUint(rec.EtcdMember, 16, 64)
	if err != nil {
		return fmt.Errorf("node %s: etcd member id %q: %w", id, rec.EtcdMember, err)
	}
	if _, err := m.etcd.Client().MemberRemove(ctx, mid); err != nil && !errors.Is(err, rpctypes.ErrMemberNotFound) {
		return fmt.Errorf("node %s removed, but not its etcd member %s: %w", id, rec.EtcdMember, err)
	}
	return nil
}

// ready is the node's readiness: registered, holding its lease, and not
// draining.
func (m *membership) ready() error {
	reg := m.reg.Load()
	if reg == nil {
		return errors.New("starting: not registered in the cluster yet")
	}
	if err := reg.Healthy(); err != nil {
		return err
	}
	// The clock runs out before the renewal goroutine notices.
	if err := reg.MayServe(); err != nil {
		return err
	}
	if m.draining(reg) {
		return errDraining
	}
	return nil
}

var errDraining = errors.New("draining")

// draining reports whether an operator drains this node. A drain may come
// from any node: the watched view has it first.
func (m *membership) draining(reg *namespace.Registration) bool {
	n, ok := m.members.Node(m.self)
	return reg.Record().State == namespace.NodeDraining || ok && n.State == namespace.NodeDraining
}

// admit decides whether a new SMB connection may start here: not while
// the node is fenced, and not while it drains (its clients are to go
// elsewhere; those it has keep their connections until they move).
func (m *membership) admit() error {
	if err := m.mayServe(); err != nil {
		return err
	}
	if reg := m.reg.Load(); reg != nil && m.draining(reg) {
		return errDraining
	}
	return nil
}

// errNotRegistered is the lease clock's answer before the node holds a
// lease at all.
var errNotRegistered = errors.New("not registered in the cluster yet: no etcd lease")

// errLeaseLost ends a node whose etcd lease is gone (etcd answered
// lease-not-found): another node may have taken its opens over, so it
// must never serve them again; it exits with exitFenced and its
// supervisor starts it clean.
var errLeaseLost = errors.New("this node's etcd lease is gone")

// mayServe is the node's lease clock (namespace.Registration.MayServe):
// the SMB server asks it before and after every request and before every
// system call on the cluster shared volume.
func (m *membership) mayServe() error {
	reg := m.reg.Load()
	if reg == nil {
		return errNotRegistered
	}
	return reg.MayServe()
}

// fenceHooks are told when the node loses (true) or regains (false) its
// etcd lease, on the registration's goroutine. They need not stop I/O:
// the lease clock (membership.mayServe) already refuses it.
type fenceHooks []func(fenced bool)

func (h fenceHooks) call(fenced bool) {
	for _, f := range h {
		f(fenced)
	}
}

// fencingListener refuses new SMB connections while admit says no (the
// node is fenced or draining): it accepts and at once closes them, so
// clients try another node instead of starting work here. When the node
// fences, the connections it let in before are dropped by the fence hook
// (smbserver.Server.Fence), and any request they still send is refused by
// the lease clock.
type fencingListener struct {
	net.Listener
	admit func() error
	log   zerolog.Logger
}

func (l fencingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return c, err
		}
		why := l.admit()
		if why == nil {
			return c, nil
		}
		l.log.Warn().Err(why).Str("client", c.RemoteAddr().String()).Msg("refused a new SMB connection")
		c.Close()
	}
}

// caInit is "sofsd ca init --data DATA": it creates a cluster CA in
// DATA/pki for members that form a cluster together
// (etcd-initial-cluster), which must all hold the same CA before their
// first start.
func caInit(args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, lookupEnv, os.Hostname)
	if err != nil {
		fmt.Fprintf(stderr, "sofsd ca init: %v\n", err)
		return exitUsage
	}
	dir := filepath.Join(cfg.Data, pkiDir)
	existed := clustertls.HasCA(dir)
	if !existed {
		if err := clustertls.NewCA(dir, cfg.NodeName); err != nil {
			fmt.Fprintf(stderr, "sofsd ca init: %s: %v\n", dir, err)
			return exitFail
		}
	}
	ca, err := clustertls.LoadCA(dir)
	if err != nil {
		fmt.Fprintf(stderr, "sofsd ca init: %v\n", err)
		return exitFail
	}
	verb := "created"
	if existed {
		// Idempotent, so a deployment can run it before every start.
		verb = "kept the existing"
	}
	fmt.Fprintf(stdout, "%s cluster CA in %s (SHA-256 %s)\ncopy %s and %s to DATA/%s of every member before its first start\n",
		verb, dir, clustertls.Fingerprint(ca.Cert), clustertls.CACertFile, clustertls.CAKeyFile, pkiDir)
	return exitOK
}
