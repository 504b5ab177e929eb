// Package apitest runs a real admin API over a real embedded etcd for
// tests: the API's own, sofsctl's, and the daemon's.
package apitest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/internal/testetcd"
	"sofs.io/sofs/namespace"
)

// Token is the bearer token the test server accepts unless Options.Token
// says otherwise.
const Token = "test-token-0123456789"

// NodeID is the test server's node id.
const NodeID = "node-test-1"

// Options adjusts the server Start runs. The zero value is fine.
type Options struct {
	Token    adminapi.TokenSource // default: StaticTokens{Token}
	Members  adminapi.Members
	Ready    func() error
	Metrics  *prometheus.Registry
	Sessions adminapi.SessionSource // default: a *Sessions
	Witness  adminapi.Witness
	// JoinTokens creates join tokens; nil answers 501.
	JoinTokens adminapi.JoinTokens
	// RefusedShares feeds GET /readyz.
	RefusedShares func() []adminapi.RefusedShare
	// Volumes manages cluster shared volumes; nil answers 501.
	Volumes adminapi.Volumes
	// SharePaths is the node's share path policy (adminapi.Config).
	SharePaths namespace.SharePathPolicy
	// Accounts resolves domain account names (adminapi.Config).
	Accounts adminapi.AccountResolver
}

// Server is a running test API.
type Server struct {
	URL      string
	Store    *namespace.Store
	View     *namespace.View
	Sessions *Sessions // nil if Options.Sessions was given
	// Handler is the API handler HTTP serves, for serving it elsewhere too.
	Handler http.Handler
	HTTP    *httptest.Server
}

// Start starts an embedded etcd in a temporary directory, creates the
// cluster record, and serves the API on a loopback httptest server. All of
// it stops when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	st := namespace.NewStore(testetcd.Start(t).Client())
	if _, err := st.InitCluster(ctx, "sofs-test"); err != nil {
		t.Fatal(err)
	}
	view, err := namespace.NewView(ctx, st, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(view.Close)

	s := &Server{Store: st, View: view}
	cfg := adminapi.Config{
		Store:         st,
		View:          view,
		Sessions:      o.Sessions,
		Members:       o.Members,
		Token:         o.Token,
		Logger:        log,
		NodeID:        NodeID,
		Ready:         o.Ready,
		Metrics:       o.Metrics,
		Witness:       o.Witness,
		JoinTokens:    o.JoinTokens,
		RefusedShares: o.RefusedShares,
		Volumes:       o.Volumes,
		SharePaths:    o.SharePaths,
		Accounts:      o.Accounts,
	}
	if cfg.Token == nil {
		cfg.Token = adminapi.StaticTokens{Token}
	}
	if cfg.Sessions == nil {
		s.Sessions = &Sessions{}
		cfg.Sessions = s.Sessions
	}
	h, err := adminapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Handler = h
	s.HTTP = httptest.NewServer(h)
	t.Cleanup(s.HTTP.Close)
	s.URL = s.HTTP.URL
	return s
}

// Sessions is a settable adminapi.SessionSource.
type Sessions struct {
	mu       sync.Mutex
	sessions []adminapi.SessionInfo
	opens    []adminapi.OpenFileInfo
}

// Set replaces what the source reports.
func (s *Sessions) Set(sessions []adminapi.SessionInfo, opens []adminapi.OpenFileInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions, s.opens = sessions, opens
}

// Sessions implements adminapi.SessionSource.
func (s *Sessions) Sessions() []adminapi.SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]adminapi.SessionInfo(nil), s.sessions...)
}

// OpenFiles implements adminapi.SessionSource.
func (s *Sessions) OpenFiles() []adminapi.OpenFileInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]adminapi.OpenFileInfo(nil), s.opens...)
}
