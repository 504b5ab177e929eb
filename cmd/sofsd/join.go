package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/namespace"
	"sofs.io/sofs/namespace/clustertls"
	"sofs.io/sofs/namespace/etcdnode"
	"sofs.io/sofs/namespace/nodejoin"
)

// joinTimeout bounds fetching the certificate from the join endpoint.
const joinTimeout = 30 * time.Second

// joinURLsFile keeps, beside the certificates a join fetched, the etcd
// client URLs it was told to join through: a node stopped between the
// two steps resumes without its spent token.
const joinURLsFile = "etcd-join"

// joinWithToken fetches this node's certificate and the cluster CA from
// the join endpoint cfg.Join with cfg.JoinToken and installs them in dir.
// It returns the etcd client URLs to join through. A refusal is a
// *nodejoin.RefusedError (exit code exitJoinRefused).
func joinWithToken(ctx context.Context, cfg config, dir string, hosts []string, log zerolog.Logger) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	log.Info().Str("join", cfg.Join).Str("token", cfg.JoinToken.ID).Msg("joining the cluster with a join token")
	key, resp, err := nodejoin.Join(ctx, cfg.Join, cfg.JoinToken, cfg.NodeName, hosts, false)
	if err != nil {
		return nil, fmt.Errorf("join through %s: %w", cfg.Join, err)
	}
	if len(resp.EtcdClientURLs) == 0 {
		return nil, fmt.Errorf("join through %s: the cluster named no etcd members", cfg.Join)
	}
	for _, u := range resp.EtcdClientURLs {
		if _, err := etcdnode.ParseURL(u); err != nil || strings.ContainsAny(u, ",\n") {
			return nil, fmt.Errorf("join through %s: etcd member URL %q: unusable", cfg.Join, u)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, joinURLsFile), []byte(strings.Join(resp.EtcdClientURLs, ",")+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	if err := clustertls.InstallJoined(dir, resp.CACert, resp.Cert, key); err != nil {
		return nil, err
	}
	log.Info().Strs("etcd", resp.EtcdClientURLs).Str("dir", dir).Msg("received this node's certificate and the cluster CA")
	return resp.EtcdClientURLs, nil
}

// readJoinURLs reads what joinWithToken saved.
func readJoinURLs(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, joinURLsFile))
	if err != nil {
		return nil, fmt.Errorf("join: the certificates are there but not the etcd members to join through: %w", err)
	}
	var out []string
	for _, u := range strings.Split(strings.TrimSpace(string(b)), ",") {
		if _, err := etcdnode.ParseURL(u); err != nil {
			return nil, fmt.Errorf("join: %s: %w", filepath.Join(dir, joinURLsFile), err)
		}
		out = append(out, u)
	}
	return out, nil
}

// startJoinServer serves the join endpoint on cfg.JoinListen when this
// node holds the CA key; it stops when ctx ends. It returns the address,
// or "" when the endpoint is not served.
func startJoinServer(ctx context.Context, cfg config, st *namespace.Store, etcd *etcdnode.Node, log zerolog.Logger) (string, error) {
	dir := filepath.Join(cfg.Data, pkiDir)
	if cfg.JoinListen == "" {
		return "", nil
	}
	if !clustertls.HasCAKey(dir) {
		log.Info().Msg("join endpoint not served: this node holds no CA key (it joined with a token); joins go through a node that does")
		return "", nil
	}
	ca, err := clustertls.LoadCA(dir)
	if err != nil {
		return "", fmt.Errorf("join endpoint: %w", err)
	}
	b, err := clustertls.Load(dir)
	if errors.Is(err, fs.ErrNotExist) {
		// A CA but no certificate of its own: the node uses an external
		// etcd without TLS, and a join (which adds an etcd member) has
		// nothing to join.
		log.Info().Msg("join endpoint not served: this node has no node certificate (external etcd without TLS)")
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("join endpoint: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.JoinListen)
	if err != nil {
		return "", fmt.Errorf("join endpoint listen: %w", err)
	}
	jlog := log.With().Str("component", "join").Logger()
	srv := &http.Server{
		Handler:           &nodejoin.Server{CA: ca, Tokens: st, Cluster: etcdMembers{etcd}, Logger: jlog},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		// TLS handshake failures (scanners, impostors) are noise at
		// debug level, not raw lines on stderr.
		ErrorLog: stdlog.New(jlog.Level(zerolog.DebugLevel), "", 0),
	}
	go func() {
		if err := srv.Serve(tls.NewListener(ln, b.JoinServerConfig())); err != nil && !errors.Is(err, http.ErrServerClosed) {
			jlog.Error().Err(err).Msg("join endpoint stopped")
		}
	}()
	context.AfterFunc(ctx, func() { srv.Close() })
	jlog.Info().Str("addr", ln.Addr().String()).Str("ca_sha256", clustertls.Fingerprint(ca.Cert)).Msg("join endpoint listening")
	return ln.Addr().String(), nil
}

// etcdMembers lists the embedded cluster's members for the join endpoint.
type etcdMembers struct{ etcd *etcdnode.Node }

func (m etcdMembers) EtcdMembers(ctx context.Context) (names, urls []string, err error) {
	resp, err := m.etcd.Client().MemberList(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("member list: %w", err)
	}
	for _, mb := range resp.Members {
		if mb.Name != "" {
			names = append(names, mb.Name)
		}
		urls = append(urls, mb.ClientURLs...)
	}
	return names, urls, nil
}

// joinTokens creates join tokens for the admin API: a token pins this
// cluster's CA certificate, which every member holds.
type joinTokens struct {
	store  *namespace.Store
	caHash [32]byte
}

func newJoinTokens(cfg config, st *namespace.Store) (*joinTokens, error) {
	dir := filepath.Join(cfg.Data, pkiDir)
	if len(cfg.EtcdEndpoints) > 0 || !clustertls.HasCA(dir) {
		return nil, nil
	}
	b, err := clustertls.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("join tokens: %w", err)
	}
	return &joinTokens{store: st, caHash: clustertls.HashDER(b.CA.Raw)}, nil
}

func (j *joinTokens) CreateJoinToken(ctx context.Context, ttl time.Duration) (adminapi.JoinToken, error) {
	tok, err := clustertls.NewJoinToken(j.caHash)
	if err != nil {
		return adminapi.JoinToken{}, err
	}
	exp, err := j.store.CreateJoinToken(ctx, tok, ttl)
	if errors.Is(err, namespace.ErrInvalidName) {
		return adminapi.JoinToken{}, fmt.Errorf("%w: %w", adminapi.ErrInvalidJoinTokenTTL, err)
	}
	if err != nil {
		return adminapi.JoinToken{}, err
	}
	return adminapi.JoinToken{Token: tok.String(), ID: tok.ID, Expires: exp, CAHash: fmt.Sprintf("%x", j.caHash)}, nil
}
