// Package adminapi is the sofs admin REST API: cluster, nodes, shares,
// users, sessions and open files under /api/v1, plus /healthz, /readyz and
// /metrics. It is a plain net/http handler; the daemon owns the listener
// and TLS. docs/api/openapi.yaml describes every route, and a test keeps
// the two in step.
package adminapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"sofs.io/sofs/namespace"
)

// Prefix is the path prefix of the versioned API.
const Prefix = "/api/v1"

// storeTimeout bounds every call into the cluster store, so an etcd that
// has lost quorum turns into a 503 instead of a request that hangs.
const storeTimeout = 10 * time.Second

// Config configures the API handler.
type Config struct {
	// Store reads and changes shares, users and the cluster record.
	// Required.
	Store *namespace.Store
	// View is this node's live namespace view; optional (it only feeds
	// the revision in GET /cluster).
	View *namespace.View
	// Sessions publishes this node's SMB sessions and opens; nil means
	// empty lists.
	Sessions SessionSource
	// Members lists the cluster's nodes; nil means this node only. If it
	// also implements NodeController, drain and remove work; otherwise
	// they answer 501.
	Members Members
	// Token supplies the accepted bearer tokens. Required.
	Token  TokenSource
	Logger zerolog.Logger
	// NodeID is this node's id.
	NodeID string
	// Ready reports readiness for GET /readyz; nil means always ready.
	Ready func() error
	// Witness lists and moves witness clients; nil answers 501.
	Witness Witness
	// Metrics is the registry served at GET /metrics; the API registers
	// its own request metrics in it. Nil disables /metrics (404).
	Metrics *prometheus.Registry
	// SharePaths is this node's rule for share paths (its data directory
	// and private files); a share that breaks it is refused with a 400
	// naming "path". The zero value checks only the path's form and the
	// system directories (namespace.CheckSharePath).
	SharePaths namespace.SharePathPolicy
	// Accounts resolves domain account names in share permissions to
	// SIDs when a share is saved; nil refuses such names unless the
	// request gives their SID.
	Accounts AccountResolver
	// JoinTokens creates join tokens; nil answers 501.
	JoinTokens JoinTokens
	// RefusedShares lists the shares this node does not serve, for GET
	// /readyz; nil means none.
	RefusedShares func() []RefusedShare
	// Volumes registers and lists cluster shared volumes; nil answers 501.
	Volumes Volumes
}

// AccountResolver looks up the SID of a domain account name (DOMAIN\name
// or name@domain). Its errors wrap ErrAccountNotFound when the directory
// has no such account and ErrDirectoryUnavailable when it could not be
// asked.
type AccountResolver interface {
	LookupSID(ctx context.Context, account string) (string, error)
}

// The errors an AccountResolver's failures wrap.
var (
	ErrAccountNotFound      = errors.New("no such account")
	ErrDirectoryUnavailable = errors.New("directory unavailable")
)

// route is one registered endpoint.
type route struct {
	method, path string
	public       bool // no token needed
	h            func(*api, http.ResponseWriter, *http.Request) *apiError
}

// routes is every endpoint; the spec test checks it against openapi.yaml.
var routes = []route{
	{"GET", "/healthz", true, (*api).healthz},
	{"GET", "/readyz", true, (*api).readyz},
	{"GET", "/metrics", false, nil}, // set up in New: promhttp
	{"GET", Prefix + "/cluster", false, (*api).getCluster},
	{"GET", Prefix + "/nodes", false, (*api).listNodes},
	{"GET", Prefix + "/nodes/{id}", false, (*api).getNode},
	{"POST", Prefix + "/nodes/{id}/drain", false, (*api).drainNode},
	{"DELETE", Prefix + "/nodes/{id}", false, (*api).removeNode},
	{"GET", Prefix + "/shares", false, (*api).listShares},
	{"POST", Prefix + "/shares", false, (*api).createShare},
	{"GET", Prefix + "/shares/{name}", false, (*api).getShare},
	{"PUT", Prefix + "/shares/{name}", false, (*api).updateShare},
	{"DELETE", Prefix + "/shares/{name}", false, (*api).deleteShare},
	{"GET", Prefix + "/users", false, (*api).listUsers},
	{"POST", Prefix + "/users", false, (*api).createUser},
	{"GET", Prefix + "/users/{name}", false, (*api).getUser},
	{"DELETE", Prefix + "/users/{name}", false, (*api).deleteUser},
	{"PUT", Prefix + "/users/{name}/password", false, (*api).setPassword},
	{"GET", Prefix + "/sessions", false, (*api).listSessions},
	{"GET", Prefix + "/open-files", false, (*api).listOpenFiles},
	{"GET", Prefix + "/witness/clients", false, (*api).listWitnessClients},
	{"POST", Prefix + "/witness/clients/{id}/move", false, (*api).moveWitnessClient},
	{"POST", Prefix + "/witness/shares/{name}/move", false, (*api).moveWitnessShare},
	{"POST", Prefix + "/join-tokens", false, (*api).createJoinToken},
	{"GET", Prefix + "/volumes", false, (*api).listVolumes},
	{"POST", Prefix + "/volumes", false, (*api).createVolume},
}

// backend is the part of *namespace.Store the handlers use; an interface
// so the fuzz target can run the handlers over an in-memory fake.
type backend interface {
	Cluster(ctx context.Context) (namespace.Cluster, error)
	ListShares(ctx context.Context) ([]namespace.Share, []namespace.RefusedShare, error)
	GetShare(ctx context.Context, name string) (namespace.Share, error)
	PutShare(ctx context.Context, sh namespace.Share) error
	DeleteShare(ctx context.Context, name string) error
	ListUsers(ctx context.Context) ([]namespace.User, error)
	PutUser(ctx context.Context, name, password string) error
	SetPassword(ctx context.Context, name, password string) error
	DeleteUser(ctx context.Context, name string) error
}

type api struct {
	store    backend
	view     *namespace.View
	sessions SessionSource
	members  Members
	witness  Witness
	tokens   TokenSource
	log      zerolog.Logger
	nodeID   string
	ready    func() error
	// sharePaths is Config.SharePaths.
	sharePaths namespace.SharePathPolicy
	accounts   AccountResolver
	joinTokens JoinTokens
	refused    func() []RefusedShare
	volumes    Volumes

	mux     *http.ServeMux
	metrics *httpMetrics // nil without a registry
	// createMu serialises this node's check-then-put share creation; see
	// createShare.
	createMu chanMutex
}

// New returns the API handler.
func New(cfg Config) (http.Handler, error) {
	if cfg.Store == nil {
		return nil, errors.New("adminapi: Config.Store is nil")
	}
	return newAPI(cfg, cfg.Store)
}

func newAPI(cfg Config, store backend) (http.Handler, error) {
	if cfg.Token == nil {
		return nil, errors.New("adminapi: Config.Token is nil; the API never runs without authentication")
	}
	a := &api{
		store:      store,
		view:       cfg.View,
		sessions:   cfg.Sessions,
		members:    cfg.Members,
		witness:    cfg.Witness,
		tokens:     cfg.Token,
		log:        cfg.Logger.With().Str("component", "adminapi").Logger(),
		nodeID:     cfg.NodeID,
		ready:      cfg.Ready,
		sharePaths: cfg.SharePaths,
		accounts:   cfg.Accounts,
		joinTokens: cfg.JoinTokens,
		refused:    cfg.RefusedShares,
		volumes:    cfg.Volumes,
		mux:        http.NewServeMux(),
		createMu:   make(chanMutex, 1),
	}
	var metricsHandler http.Handler
	if cfg.Metrics != nil {
		m, err := newHTTPMetrics(cfg.Metrics)
		if err != nil {
			return nil, err
		}
		a.metrics = m
		metricsHandler = promhttpHandler(cfg.Metrics, a.log)
	}
	for _, rt := range routes {
		var h http.Handler
		switch {
		case rt.h != nil:
			fn := rt.h
			h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if e := fn(a, w, r); e != nil {
					a.fail(w, r, e)
				}
			})
		case rt.path == "/metrics" && metricsHandler != nil:
			h = metricsHandler
		case rt.path == "/metrics":
			h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				a.fail(w, r, errorf(http.StatusNotFound, CodeMetricsDisabled, "", "metrics are not enabled on this node"))
			})
		default:
			return nil, fmt.Errorf("adminapi: route %s %s has no handler", rt.method, rt.path)
		}
		if !rt.public {
			h = a.authenticate(h)
		}
		a.mux.Handle(rt.method+" "+rt.path, h)
	}
	a.mux.Handle("/", a.authenticate(http.HandlerFunc(a.noRoute)))
	return a, nil
}

// chanMutex is a mutex that a waiter can give up on when its context ends.
type chanMutex chan struct{}

func (m chanMutex) lock(ctx context.Context) error {
	select {
	case m <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m chanMutex) unlock() { <-m }

// ServeHTTP is the outermost layer: body cap, panic recovery, metrics and
// the request log.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	r.Body = http.MaxBytesReader(rec, r.Body, MaxBodyBytes)
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			a.log.Error().Str("method", r.Method).Str("path", r.URL.Path).Interface("panic", p).Msg("handler panicked")
			if rec.status == 0 {
				writeError(rec, &apiError{status: http.StatusInternalServerError, code: CodeInternal, msg: "internal error; see the node's log"})
			}
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		pattern := r.Pattern
		if pattern == "" || pattern == "/" {
			pattern = "unmatched"
		}
		d := time.Since(start)
		if a.metrics != nil {
			a.metrics.observe(pattern, status, d, rec.bytes)
		}
		ev := a.log.Debug()
		switch {
		case status >= 500 && status != http.StatusNotImplemented:
			ev = a.log.Error()
		case status >= 400:
			ev = a.log.Info()
		}
		ev.Str("method", r.Method).Str("route", pattern).Str("path", r.URL.Path).Int("status", status).
			Dur("duration", d).Str("remote", r.RemoteAddr).Msg("api request")
	}()
	a.mux.ServeHTTP(rec, r)
}

// statusRecorder remembers the status and size of a response.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// authenticate admits requests carrying one of the current tokens.
func (a *api) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		scheme, tok, ok := cutScheme(h)
		switch {
		case h == "":
			a.fail(w, r, errorf(http.StatusUnauthorized, CodeUnauthorized, "", "missing Authorization: Bearer token"))
			return
		case !ok || scheme != "bearer" || tok == "":
			a.fail(w, r, errorf(http.StatusUnauthorized, CodeUnauthorized, "", "Authorization header is not a Bearer token"))
			return
		case !tokenMatches(tok, a.tokens.Current()):
			a.fail(w, r, errorf(http.StatusUnauthorized, CodeUnauthorized, "", "invalid token"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cutScheme splits "Bearer xyz" into a lower-cased scheme and the
// credentials (RFC 9110 11.4: the scheme is case-insensitive).
func cutScheme(h string) (scheme, cred string, ok bool) {
	for i := 0; i < len(h); i++ {
		if h[i] == ' ' {
			s := h[:i]
			rest := h[i+1:]
			for len(rest) > 0 && rest[0] == ' ' {
				rest = rest[1:]
			}
			return lowerASCII(s), rest, true
		}
	}
	return "", "", false
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// noRoute answers requests no route matches: 405 if the path exists with
// other methods, 404 otherwise, both in the API's JSON error form.
func (a *api) noRoute(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := a.mux.Handler(probe); p != "" && p != "/" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		allow := allowed[0]
		for _, m := range allowed[1:] {
			allow += ", " + m
		}
		w.Header().Set("Allow", allow)
		a.fail(w, r, errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "", "method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow))
		return
	}
	a.fail(w, r, errorf(http.StatusNotFound, CodeNotFound, "", "no endpoint %s", r.URL.Path))
}

// fail writes e, logging the cause of server-side failures.
func (a *api) fail(w http.ResponseWriter, r *http.Request, e *apiError) {
	if e.status >= 500 && e.cause != nil {
		a.log.Error().Err(e.cause).Str("method", r.Method).Str("path", r.URL.Path).Str("code", e.code).Msg("api request failed")
	}
	writeError(w, e)
}

// storeCtx bounds a store call made for r.
func storeCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), storeTimeout)
}
