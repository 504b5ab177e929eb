// Command sofsd is the sofs node daemon: it runs an embedded etcd member
// holding the cluster's namespace, and serves SMB2/3 from it.
package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"sofs.io/sofs/adminapi"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/auth/directory"
	"sofs.io/sofs/auth/krb5"
	"sofs.io/sofs/csv"
	"sofs.io/sofs/csv/clusterstate"
	"sofs.io/sofs/csv/etcdhandles"
	"sofs.io/sofs/namespace"
	"sofs.io/sofs/namespace/etcdnode"
	"sofs.io/sofs/namespace/nodejoin"
	"sofs.io/sofs/smbserver"
	"sofs.io/sofs/smbserver/smbcrypto"
)

// Bounds on start-up and shutdown, so a wedged dependency turns into an
// error exit rather than a process that never ends.
const (
	// etcdReadyTimeout covers replaying a large WAL on a slow disk.
	etcdReadyTimeout = 60 * time.Second
	// shutdownTimeout bounds waiting for connections to close after
	// SIGTERM; service managers typically kill at 30 s or more.
	shutdownTimeout = 20 * time.Second
	// etcdCloseTimeout bounds stopping the embedded member.
	etcdCloseTimeout = 10 * time.Second
)

// Exit codes, documented in the README.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
	// exitDamaged: the embedded etcd member's data (DATA/etcd) is damaged;
	// restarting cannot help, restoring or rejoining does.
	exitDamaged = 3
	// exitStartTimeout: start-up did not finish within start-timeout.
	exitStartTimeout = 4
	// exitFenced: the node lost its place in the cluster (its etcd lease
	// is gone, or the open-state coordinator released its opens), so it
	// must not serve what it held; a restart brings it back clean.
	exitFenced = 5
	// exitJoinRefused: the cluster refused this node's join (the token
	// is unknown, expired or used, or the node name is taken); a new
	// token or name helps, a restart does not.
	exitJoinRefused = 6
)

// startAbandonGrace bounds how long run waits for an abandoned start-up
// (a signal, or the start-up limit) to unwind before it exits anyway:
// etcd's start can block where no context reaches (replaying or repairing
// its log), and SIGTERM must always end the process.
const startAbandonGrace = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default handlers so that a
	// second one kills a shutdown that hangs.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program; it returns the exit code.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) >= 2 && args[0] == "ca" && args[1] == "init" {
		return caInit(args[2:], lookupEnv, stdout, stderr)
	}
	if len(args) >= 2 && args[0] == "cert" && args[1] == "renew" {
		return certRenew(ctx, args[2:], lookupEnv, stdout, stderr)
	}
	args, witness := witnessCommand(args)
	cfg, err := parseConfig(args, lookupEnv, os.Hostname)
	switch {
	case errors.Is(err, errHelp):
		printHelp(stdout)
		return exitOK
	case errors.Is(err, errVersion):
		fmt.Fprintln(stdout, "sofsd", version())
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "sofsd: %v\nRun 'sofsd --help' for usage.\n", err)
		return exitUsage
	}
	log := newLogger(cfg, stderr)
	serveFn := serve
	if witness {
		serveFn = func(ctx context.Context, cfg config, log zerolog.Logger, _ io.Writer, started func()) error {
			return runWitness(ctx, cfg, log, started)
		}
	}
	// serve runs on its own goroutine so that start-up can be abandoned:
	// on a signal, or when it outlasts start-timeout.
	serveCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	started := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- serveFn(serveCtx, cfg, log, stdout, func() { once.Do(func() { close(started) }) })
	}()
	limit := time.NewTimer(cfg.StartTimeout)
	defer limit.Stop()
	select {
	case err := <-done:
		return exitCode(ctx, err, log, stderr)
	case <-started:
		// serve bounds its own shutdown from here on.
		return exitCode(ctx, <-done, log, stderr)
	case <-limit.C:
		log.Error().Dur("start_timeout", cfg.StartTimeout).Msg("start-up did not finish in time; stopping")
		fmt.Fprintf(stderr, "sofsd: start-up did not finish within %s (start-timeout); the log shows the last step reached\n", cfg.StartTimeout)
		cancel()
		awaitAbandoned(done, log)
		return exitStartTimeout
	case <-ctx.Done():
		// A signal during start-up is a requested stop, not a failure.
		awaitAbandoned(done, log)
		log.Info().Msg("stopped during start-up")
		return exitOK
	}
}

// awaitAbandoned waits, up to startAbandonGrace, for an abandoned
// start-up to return, so what it opened is closed when it can be.
func awaitAbandoned(done <-chan error, log zerolog.Logger) {
	t := time.NewTimer(startAbandonGrace)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			log.Debug().Err(err).Msg("abandoned start-up returned")
		}
	case <-t.C:
		log.Warn().Dur("grace", startAbandonGrace).Msg("start-up did not unwind in time; exiting anyway")
	}
}

// exitCode maps serve's result to the process's exit code, telling the
// operator what to do about damaged etcd data.
func exitCode(ctx context.Context, err error, log zerolog.Logger, stderr io.Writer) int {
	var damaged *etcdnode.DataError
	var refused *nodejoin.RefusedError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &refused):
		log.Error().Err(err).Str("code", refused.Code).Msg("join refused")
		fmt.Fprintf(stderr, "sofsd: %v\n", err)
		if refused.TokenProblem() {
			fmt.Fprintf(stderr, "Create a new token on a member (sofsctl token create --ttl 10m) and start this node again with it.\n")
		}
		return exitJoinRefused
	case errors.As(err, &damaged):
		log.Error().Err(err).Str("file", damaged.Path).Msg("etcd data damaged: restore DATA/etcd from a backup, or remove this member and rejoin")
		fmt.Fprintf(stderr, "sofsd: %v\n"+
			"The node cannot start from this data. Restore DATA/etcd from a backup (docs/operations.md, \"Backing up and restoring etcd\"),\n"+
			"or, in a cluster of several members, remove this member (sofsctl node remove), empty DATA/etcd and start it with --etcd-join.\n", damaged)
		return exitDamaged
	case ctx.Err() != nil:
		// A signal during start-up is a requested stop, not a failure.
		log.Info().Err(err).Msg("stopped during start-up")
		return exitOK
	case errors.Is(err, errLeaseLost), errors.Is(err, clusterstate.ErrFenced):
		log.Error().Err(err).Int("exit_code", exitFenced).Msg("fenced for good: exiting so that the node restarts clean")
		fmt.Fprintf(stderr, "sofsd: %v\n"+
			"The node lost its place in the cluster (paused, cut off from etcd, or too slow to renew its lease), so other nodes may hold its open files now.\n"+
			"It stopped serving its open files before the lease could expire. Start it again (a supervisor restarting on failure does); see docs/operations.md, \"When a node fences\".\n", err)
		return exitFenced
	default:
		log.Error().Err(err).Msg("sofsd stopped with an error")
		return exitFail
	}
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func newLogger(cfg config, stderr io.Writer) zerolog.Logger {
	var w io.Writer = stderr
	if cfg.LogFormat == "console" {
		w = zerolog.ConsoleWriter{Out: stderr, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(cfg.LogLevel).With().Timestamp().Str("node", cfg.NodeName).Logger()
}

// serve runs the node until ctx is cancelled, then shuts down in order:
// SMB first (no new work), then the namespace view, then etcd.
// started is called once SMB listens: start-up is over.
func serve(ctx context.Context, cfg config, log zerolog.Logger, stdout io.Writer, started func()) error {
	// A node the open-state coordinator fenced out, or whose etcd lease
	// is gone, stops (and its supervisor starts it again, clean): its
	// opens may belong to another node by now.
	ctx, stopFenced := context.WithCancelCause(ctx)
	defer stopFenced(nil)
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	node, err := loadOrCreateNode(cfg.Data, cfg.NodeName)
	if err != nil {
		return err
	}
	log = log.With().Str("node_id", node.ID).Logger()

	// One registry for the node: etcd round trips and SMB requests are
	// observed from the start; the admin API serves them at /metrics.
	reg := prometheus.NewRegistry()
	etcd, err := openEtcd(ctx, cfg, log, etcdDialOptions(reg)...)
	if err != nil {
		return err
	}
	defer closeBounded(log, "etcd", etcdCloseTimeout, etcd.Close)

	st := namespace.NewStore(etcd.Client())
	cluster, err := st.InitCluster(ctx, "sofs")
	if err != nil {
		return err
	}
	if _, err := startJoinServer(ctx, cfg, st, etcd, log); err != nil {
		return err
	}
	dir, err := newDirectory(cfg, log)
	if err != nil {
		return err
	}
	if err := resolveShareAccounts(ctx, dir, cfg.Shares); err != nil {
		return err
	}
	if err := applyShares(ctx, st, cfg.Shares, cfg.sharePathPolicy(), log); err != nil {
		return err
	}
	if err := applyUsers(ctx, st, cfg.Users, log); err != nil {
		return err
	}
	if err := ensureAdmin(ctx, st, len(cfg.Users) > 0, stdout, log); err != nil {
		return err
	}
	view, err := namespace.NewView(ctx, st, log)
	if err != nil {
		return err
	}
	defer view.Close()
	// Shares on a cluster shared volume are served only while this node
	// sees the volume's identity; checked before SMB serves, then
	// periodically.
	vols := newVolumeChecker(st, log)
	if err := vols.check(ctx); err != nil {
		return fmt.Errorf("volumes: %w", err)
	}
	volCtx, volCancel := context.WithCancel(ctx)
	volDone := make(chan struct{})
	go func() { defer close(volDone); vols.run(volCtx) }()
	defer func() { volCancel(); <-volDone }()
	shares := newShareSource(view, cfg.sharePathPolicy(), vols, log)
	members, err := namespace.NewMembers(ctx, st, log)
	if err != nil {
		return err
	}
	defer members.Close()
	mship := &membership{self: node.ID, store: st, members: members, etcd: etcd}

	// The cluster-wide open state: a slot for this run, the node-to-node
	// listener and the service the volumes' tables go through.
	ostate, err := startOpenState(ctx, cfg, st, reg, log, func() { stopFenced(clusterstate.ErrFenced) })
	if err != nil {
		return err
	}
	defer ostate.node.Close()

	handles := etcdhandles.New(etcd.Client(), namespace.Prefix)
	locator := handleLocator{store: handles, members: members, node: ostate.node, self: cfg.NodeName}
	handles.GuardClaims(locator.aliveKey(st))
	// This node's record writes need its membership on its current lease
	// (the fencing token of the records: csv/etcdhandles GuardWrites).
	handles.GuardWrites(func() (string, int64, error) {
		reg := mship.reg.Load()
		if reg == nil {
			return "", 0, errNotRegistered
		}
		return st.LiveNodeKey(node.ID), int64(reg.Lease()), nil
	})

	var srvRef atomic.Pointer[smbserver.Server]
	smbObs := newSMBMetrics(reg, srvRef.Load)
	var keys krb5.KeySource
	if cfg.Keytab != "" {
		kt, err := krb5.OpenKeytab(cfg.Keytab)
		if err != nil {
			return fmt.Errorf("keytab: %w", err)
		}
		// The operator's check that the right account was exported.
		log.Info().Str("keytab", cfg.Keytab).Strs("principals", kt.Principals()).Bool("ntlm", cfg.NTLM).Msg("Kerberos logons accepted")
		if fi, err := os.Stat(cfg.Keytab); err == nil && fi.Mode().Perm()&0o077 != 0 {
			// Anyone who reads the keytab can forge tickets to this
			// server for any user, with any groups.
			log.Warn().Str("keytab", cfg.Keytab).Str("mode", fi.Mode().Perm().String()).Msg("keytab is readable by others than its owner; chmod 600")
		}
		keys = kt
	}
	srv, err := smbserver.New(smbserver.Config{
		Observer:       smbObs,
		ConnObserver:   smbObs,
		Logger:         log.With().Str("component", "smb").Logger(),
		ServerGUID:     cluster.ServerGUID,
		ServerName:     netbiosName(cfg.NodeName),
		Shares:         shares,
		Users:          userSource{view},
		RequireSigning: cfg.RequireSigning,
		EncryptData:    cfg.Encrypt,
		// Durable and persistent handle records live in etcd under the
		// cluster prefix, owned by this node's name, so they survive a
		// crash of the process (docs/architecture.md, handle persistence).
		HandleStore: handles,
		HandleOwner: cfg.NodeName,
		// FileIds carry this run's slot, so that a handle adopted by
		// another node keeps its FileId there (smbserver/takeover.go).
		FileIDBase:          uint64(ostate.slot) << 48,
		Handles:             locator,
		DisableMultiChannel: !cfg.MultiChannel,
		// Connection hygiene (docs/operations.md, "Connection limits").
		LogonTimeout:                cfg.LogonTimeout,
		FrameTimeout:                cfg.FrameTimeout,
		MaxUnauthenticated:          cfg.MaxUnauthenticated,
		MaxUnauthenticatedPerClient: cfg.MaxUnauthenticatedPerClient,
		KerberosKeys:                keys,
		DisableNTLM:                 !cfg.NTLM,
		// The lease clock: no request, and no system call on a volume,
		// once this node cannot prove it still holds its etcd lease
		// (docs/architecture.md, fencing).
		MayServe: mship.mayServe,
		// Share modes, oplocks and leases, delete pending and byte-range
		// locks are cluster-wide (docs/architecture.md, cluster open state).
		OpenState: func(key string) (csv.ObjectTable, csv.LockTable) {
			t := ostate.node.Table(key)
			return t, t
		},
		CloseAppInstanceElsewhere: ostate.closeAppInstanceElsewhere,
		ExpireSessionElsewhere:    locator.expireSessionElsewhere,
		CopySourceElsewhere:       ostate.copySourceElsewhere,
		AckLeaseElsewhere:         ostate.ackLeaseElsewhere,
		LeaseBreakElsewhere:       ostate.leaseBreakElsewhere,
	})
	if err != nil {
		return fmt.Errorf("smb server: %w", err)
	}
	srvRef.Store(srv)
	ostate.node.SetBreakHandler(srv.DeliverBreaks)
	ostate.serveAppInstanceCasts(srv, log)
	locator.serveYields(srv)
	drain := drainer{m: mship, loc: locator, srv: srv, log: log}
	drain.servePulls()
	ostate.serveCopySources(srv)
	ostate.serveLeaseAcks(srv)
	ostate.serveLeaseBreaks(srv)
	ln, err := net.Listen("tcp", cfg.SMBListen)
	if err != nil {
		srv.Close()
		return fmt.Errorf("smb listen: %w", err)
	}

	// The API stops when serve returns for any reason, not only on a
	// signal, so waiting for it below can never hang.
	apiCtx, apiCancel := context.WithCancel(ctx)
	defer apiCancel()
	// The API lists the open files of every node (Get-SmbOpenFile).
	sessions := clusterSessions{sessionSource: sessionSource{srv}, self: node.ID, node: ostate.node}
	sessions.serveOpenFiles()
	apiDone, apiAddr, err := startAPI(apiCtx, cfg, st, view, sessions, mship, node.ID, reg, dir, shares.refused,
		volumeAdmin{store: st, check: vols, policy: cfg.sharePathPolicy()}, log)
	if err != nil {
		ln.Close()
		srv.Close()
		return err
	}
	// The API's handlers use the store: wait for it before the deferred
	// closes of the view and etcd run.
	defer func() {
		apiCancel()
		if apiDone != nil {
			if err := <-apiDone; err != nil {
				log.Error().Err(err).Msg("admin API stopped with an error")
			}
		}
	}()

	if cfg.DebugListen != "" {
		stop, err := startDebug(apiCtx, cfg.DebugListen, log)
		if err != nil {
			ln.Close()
			srv.Close()
			return err
		}
		defer stop()
	}

	// Join the membership: registered "joining" now, "up" once SMB serves.
	hooks := fenceHooks{func(f bool) {
		if !f {
			log.Warn().Msg("unfenced: the etcd lease is proven again; accepting SMB connections")
			return
		}
		// Clients go elsewhere now instead of after their time-outs.
		n := srv.Fence()
		log.Error().Int("dropped_connections", n).Msg("fenced: no I/O on this node's opens, every SMB connection dropped, " +
			"readiness false, new connections refused until the etcd lease is proven again")
	}}
	rec := namespace.NodeRecord{
		ID: node.ID, Name: cfg.NodeName, SMBAddresses: []string{advertisedAddr(cfg.Advertise, ln.Addr())}, APIAddress: apiAddr,
		Version: version(), State: namespace.NodeJoining, StartedAt: time.Now().UTC(),
		Slot: ostate.slot, PeerAddress: ostate.addr,
	}
	if id := etcd.MemberID(); id != 0 {
		rec.EtcdMember = strconv.FormatUint(id, 16)
	}
	registration, err := st.Register(ctx, rec, namespace.RegisterOptions{
		Logger: log, OnFence: hooks.call,
		OnLost: func(err error) { stopFenced(fmt.Errorf("%w: %w", errLeaseLost, err)) },
	})
	if err != nil {
		ln.Close()
		srv.Close()
		return err
	}
	mship.reg.Store(registration)
	defer func() {
		// Revoking the lease shows the node down at once.
		closeBounded(log, "membership", etcdCloseTimeout, func() error { return registration.Close(context.WithoutCancel(ctx)) })
	}()
	election := st.NewElection(ctx, registration, ostate.slot, log)
	defer election.Close()
	viewCtx, viewCancel := context.WithCancel(ctx)
	viewDone := make(chan struct{})
	go func() { defer close(viewDone); ostate.followViews(viewCtx, members, election, log) }()
	defer func() { viewCancel(); <-viewDone }()

	// Before the SMB port serves: a client reconnecting after a restart
	// must find its handle, and new opens must meet the restored share
	// modes, leases and locks. Restoring goes through the open-state
	// service, so it comes after the node has joined it.
	// Records written before the handle store kept its indexes get them
	// first, so other nodes can find them for reconnects.
	if n, err := handles.Reindex(ctx, cfg.NodeName); err != nil {
		log.Warn().Err(err).Msg("indexing this node's handle records")
	} else if n > 0 {
		log.Info().Int("entries", n).Msg("indexed this node's handle records")
	}
	restored, err := srv.RestoreHandles(ctx)
	if err != nil {
		ln.Close()
		srv.Close()
		return fmt.Errorf("restore handles: %w", err)
	}
	log.Info().Int("restored", restored.Restored).Int("removed", restored.Removed).Int("failed", restored.Failed).Msg("durable handles restored")
	// A node whose process is gone ends at once, not when its lease
	// expires (deathwatch.go).
	deathCtx, deathCancel := context.WithCancel(ctx)
	deathDone := make(chan struct{})
	go func() { defer close(deathDone); watchDeaths(deathCtx, st, members, node.ID, log) }()
	defer func() { deathCancel(); <-deathDone }()
	// Lost nodes' handles: adopted by the survivors, this one included.
	adoptCtx, adoptCancel := context.WithCancel(ctx)
	adoptDone := make(chan struct{})
	go func() { defer close(adoptDone); locator.adoptLost(adoptCtx, srv, log) }()
	defer func() { adoptCancel(); <-adoptDone }()
	drainCtx, drainCancel := context.WithCancel(ctx)
	drainDone := make(chan struct{})
	go func() { defer close(drainDone); drain.run(drainCtx) }()
	defer func() { drainCancel(); <-drainDone }()

	log.Info().Str("addr", ln.Addr().String()).Str("cluster", cluster.Name).
		Stringer("server_guid", cluster.ServerGUID).Int("shares", len(view.Shares())).
		Str("crypto_asm", smbcrypto.Accelerations()).Msg("smb listening")
	if cfg.WitnessListen != "" {
		stop, err := startWitness(ctx, cfg, st, view, members, node.ID, reg, keys, log)
		if err != nil {
			ln.Close()
			srv.Close()
			return err
		}
		defer stop()
	}
	started()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, fencingListener{Listener: ln, admit: mship.admit, log: log}) }()
	if err := registration.SetState(ctx, namespace.NodeUp); err != nil {
		// The lease loop re-registers if etcd is the problem; the state
		// stays "joining" in the records until the next change.
		log.Error().Err(err).Msg("could not record the node as up")
	}
	select {
	case err := <-done:
		cerr := srv.Close()
		if ctx.Err() == nil {
			return fmt.Errorf("smb server: %w", errors.Join(errOr(err, errors.New("stopped unexpectedly")), cerr))
		}
		return errors.Join(err, cerr)
	case <-ctx.Done():
	}
	log.Info().Msg("shutting down")
	t := time.NewTimer(shutdownTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		// Serve has returned, so its volumes can be released.
		cerr := srv.Close()
		if err = errors.Join(err, cerr); err != nil {
			return fmt.Errorf("smb server: %w", err)
		}
	case <-t.C:
		// Leave the stragglers to process exit; etcd still gets closed.
		log.Error().Dur("timeout", shutdownTimeout).Msg("smb connections did not close in time")
		return nil
	}
	log.Info().Msg("smb stopped")
	if cause := context.Cause(ctx); errors.Is(cause, clusterstate.ErrFenced) || errors.Is(cause, errLeaseLost) {
		return cause
	}
	return nil
}

func errOr(err, alt error) error {
	if err != nil {
		return err
	}
	return alt
}

// closeBounded runs closeFn, giving up after timeout.
func closeBounded(log zerolog.Logger, what string, timeout time.Duration, closeFn func() error) {
	done := make(chan error, 1)
	go func() { done <- closeFn() }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			log.Error().Err(err).Str("what", what).Msg("close failed")
		} else {
			log.Info().Str("what", what).Msg("closed")
		}
	case <-t.C:
		log.Error().Str("what", what).Dur("timeout", timeout).Msg("close timed out")
	}
}

// startAPI opens the admin REST API unless it is switched off. The
// returned channel yields Serve's result once ctx is cancelled.
func startAPI(ctx context.Context, cfg config, st *namespace.Store, view *namespace.View, sessions adminapi.SessionSource,
	mship *membership, nodeID string, reg *prometheus.Registry, dir *directory.Resolver, refused func() []adminapi.RefusedShare,
	volumes adminapi.Volumes, log zerolog.Logger) (<-chan error, string, error) {
	if cfg.APIListen == "" {
		log.Info().Msg("admin API disabled")
		return nil, "", nil
	}
	created, err := adminapi.EnsureTokenFile(cfg.APITokenFile)
	if err != nil {
		return nil, "", fmt.Errorf("admin API token: %w", err)
	}
	if created {
		// The token itself is never logged: the file is the secret.
		log.Info().Str("file", cfg.APITokenFile).Msg("created admin API token file")
	}
	tokens, err := adminapi.NewTokenFile(cfg.APITokenFile)
	if err != nil {
		return nil, "", fmt.Errorf("admin API token: %w", err)
	}
	jt, err := newJoinTokens(cfg, st)
	if err != nil {
		return nil, "", err
	}
	var joins adminapi.JoinTokens
	if jt != nil {
		joins = jt
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sofs_node_lease_held",
		Help: "1 while this node holds its etcd membership lease, 0 while it is fenced or not yet registered.",
	}, func() float64 {
		if r := mship.reg.Load(); r != nil && r.Healthy() == nil && r.MayServe() == nil {
			return 1
		}
		return 0
	}))
	apiLog := log.With().Str("component", "api").Logger()
	var accounts adminapi.AccountResolver
	if dir != nil {
		accounts = accountResolver{dir}
	}
	var wit adminapi.Witness
	if cfg.WitnessListen != "" {
		wit = witnessClients{store: st, members: mship.members}
	}
	h, err := adminapi.New(adminapi.Config{
		Witness:    wit,
		Store:      st,
		View:       view,
		Sessions:   sessions,
		Token:      tokens,
		Logger:     apiLog,
		NodeID:     nodeID,
		Members:    mship,
		Ready:      mship.ready,
		Metrics:    reg,
		SharePaths: cfg.sharePathPolicy(),
		Accounts:   accounts,
		JoinTokens: joins,
		// Readiness names the shares this node refuses while it serves
		// the others.
		RefusedShares: refused,
		Volumes:       volumes,
	})
	if err != nil {
		return nil, "", fmt.Errorf("admin API: %w", err)
	}
	ln, err := adminapi.Listen(adminapi.ListenConfig{Addr: cfg.APIListen, CertFile: cfg.APITLSCert, KeyFile: cfg.APITLSKey, Logger: apiLog})
	if err != nil {
		return nil, "", fmt.Errorf("admin API listen: %w", err)
	}
	log.Info().Str("addr", ln.Addr().String()).Bool("tls", cfg.APITLSCert != "").Msg("admin API listening")
	done := make(chan error, 1)
	go func() { done <- adminapi.Serve(ctx, ln, h, apiLog) }()
	return done, ln.Addr().String(), nil
}
