package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rs/zerolog"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/auth/krb5"
	"sofs.io/sofs/auth/ntlm"
	"sofs.io/sofs/dcerpc"
	"sofs.io/sofs/namespace"
	"sofs.io/sofs/witness"
)

// startWitness opens the witness and endpoint mapper listeners and serves
// them until ctx ends or stop is called; stop waits for the service to
// end.
func startWitness(ctx context.Context, cfg config, st *namespace.Store, view *namespace.View, members *namespace.Members,
	nodeID string, reg *prometheus.Registry, keys krb5.KeySource, log zerolog.Logger) (stop func(), err error) {
	wl, err := net.Listen("tcp", cfg.WitnessListen)
	if err != nil {
		return nil, fmt.Errorf("witness listen: %w", err)
	}
	var el net.Listener
	if cfg.EPMListen != "" {
		if el, err = net.Listen("tcp", cfg.EPMListen); err != nil {
			wl.Close()
			return nil, fmt.Errorf("endpoint mapper listen (port 135 needs root; or set epm-listen): %w", err)
		}
	}
	wlog := log.With().Str("component", "witness").Logger()
	// The witness authenticates RPC clients against the same users as SMB,
	// with the node's NetBIOS name in the challenge.
	name := netbiosName(cfg.NodeName)
	// With ntlm off, NTLM binds are refused here as SMB logons are.
	var acceptor *ntlm.Server
	if cfg.NTLM {
		acceptor = ntlm.NewServer(ntlm.Config{
			NetBIOSDomain: "WORKGROUP", DNSDomain: "workgroup",
			NetBIOSComputer: strings.ToUpper(name), DNSComputer: strings.ToLower(name),
			Users: userSource{view},
		})
	}
	// Kerberos with the node's keytab, as for SMB; an acceptor of its
	// own, so its replay cache is the witness's.
	var kerberos dcerpc.KerberosAcceptor
	if keys != nil {
		kerberos = rpcKerberos{krb5.New(krb5.Config{Keys: keys})}
	}
	svc := witness.New(witness.Config{Store: st, Members: members, NodeID: nodeID, Log: wlog, NTLM: acceptor,
		Kerberos: kerberos, Observer: newWitnessMetrics(reg, st)})
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := svc.Serve(ctx, wl, el); err != nil {
			wlog.Error().Err(err).Msg("witness stopped")
		}
	}()
	ev := wlog.Info().Str("addr", wl.Addr().String())
	if el != nil {
		ev = ev.Str("epm", el.Addr().String())
	}
	ev.Msg("witness listening")
	return func() { cancel(); <-done }, nil
}

// witnessClients publishes the cluster's witness registrations to the admin
// API (Get-SmbWitnessClient, Move-SmbWitnessClient).
type witnessClients struct {
	store   *namespace.Store
	members *namespace.Members
}

var _ adminapi.Witness = witnessClients{}

func (w witnessClients) Clients(ctx context.Context) ([]adminapi.WitnessClient, error) {
	regs, err := w.store.ListWitnessRegistrations(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]adminapi.WitnessClient, 0, len(regs))
	for _, r := range regs {
		out = append(out, witnessClient(r))
	}
	return out, nil
}

func (w witnessClients) Move(ctx context.Context, id, node string) (adminapi.WitnessClient, error) {
	if _, ok := w.members.Node(node); !ok {
		return adminapi.WitnessClient{}, fmt.Errorf("node %s: %w", node, adminapi.ErrNodeNotFound)
	}
	r, err := w.store.MoveWitnessClient(ctx, id, node)
	if errors.Is(err, namespace.ErrNotFound) {
		return adminapi.WitnessClient{}, fmt.Errorf("%s: %w", id, adminapi.ErrWitnessClientNotFound)
	}
	if err != nil {
		return adminapi.WitnessClient{}, err
	}
	return witnessClient(r), nil
}

func (w witnessClients) MoveShare(ctx context.Context, share, client, node string) ([]adminapi.WitnessClient, error) {
	if _, ok := w.members.Node(node); !ok {
		return nil, fmt.Errorf("node %s: %w", node, adminapi.ErrNodeNotFound)
	}
	regs, err := w.store.MoveWitnessShare(ctx, share, client, node)
	if err != nil {
		return nil, err
	}
	out := make([]adminapi.WitnessClient, 0, len(regs))
	for _, r := range regs {
		out = append(out, witnessClient(r))
	}
	return out, nil
}

func witnessClient(r namespace.WitnessRegistration) adminapi.WitnessClient {
	v := 1
	if r.Version == witness.VersionV2 {
		v = 2
	}
	return adminapi.WitnessClient{
		ID: r.ID, Client: r.Client, NetName: r.NetName, Share: r.ShareName, IPAddress: r.IPAddress,
		Node: r.NodeID, Via: r.Via, Version: v, State: r.Reported, MoveTo: r.MoveTo, ShareMoveTo: r.ShareMoveTo, Since: r.Since,
	}
}

// witnessMetrics counts the witness's notifications and waiting calls on
// this node, and reports the cluster's registrations.
type witnessMetrics struct {
	notified *prometheus.CounterVec
	waiting  prometheus.Gauge
}

// registrationsScrapeTimeout bounds the etcd count a scrape of
// sofs_witness_registrations makes.
const registrationsScrapeTimeout = 2 * time.Second

func newWitnessMetrics(reg *prometheus.Registry, st *namespace.Store) *witnessMetrics {
	m := &witnessMetrics{
		notified: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sofs_witness_notifications_total",
			Help: "SMB Witness notifications this node sent, by type (resource_change, client_move, share_move, ip_change).",
		}, []string{"type"}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sofs_witness_waiting_calls",
			Help: "WitnessrAsyncNotify calls waiting on this node.",
		}),
	}
	reg.MustRegister(m.notified, m.waiting, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sofs_witness_registrations",
		Help: "SMB Witness registrations in the cluster (all nodes); -1 when etcd did not answer.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), registrationsScrapeTimeout)
		defer cancel()
		n, err := st.CountWitnessRegistrations(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
	return m
}

func (m *witnessMetrics) Notified(kind string) { m.notified.WithLabelValues(kind).Inc() }
func (m *witnessMetrics) Waiting(delta int)    { m.waiting.Add(float64(delta)) }

// rpcKerberos adapts auth/krb5's acceptor to the DCE/RPC engine, which
// imports no acceptor of its own.
type rpcKerberos struct{ a *krb5.Acceptor }

func (k rpcKerberos) Accept(token []byte) (dcerpc.KerberosContext, error) {
	res, err := k.a.Accept(token)
	if err != nil {
		return nil, err
	}
	return rpcKerberosContext{res}, nil
}

// rpcKerberosContext is a krb5.Result as a dcerpc.KerberosContext.
type rpcKerberosContext struct{ *krb5.Result }

func (c rpcKerberosContext) DCEStyle() bool        { return c.Result.DCEStyle }
func (c rpcKerberosContext) ResponseToken() []byte { return c.Result.ResponseToken }
func (c rpcKerberosContext) Client() string        { return c.Result.Client }
func (c rpcKerberosContext) HasPAC() bool          { return c.Result.Identity != nil }
