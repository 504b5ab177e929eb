package adminapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"
)

// Server timeouts. Requests are small and handlers bounded by
// storeTimeout, so generous limits still shut out slow-loris clients.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	// ShutdownTimeout bounds Serve's graceful shutdown.
	ShutdownTimeout = 10 * time.Second
)

// ListenConfig says where and how the API listens.
type ListenConfig struct {
	// Addr is host:port, for example 127.0.0.1:4480.
	Addr string
	// CertFile and KeyFile, both or neither, turn on TLS (1.2 or later).
	CertFile, KeyFile string
	Logger            zerolog.Logger
}

// Listen opens the API's listener, with TLS if configured, so the daemon
// can fail at start on a taken port or a bad certificate and log the real
// address before serving. It warns when plain HTTP is reachable from
// other hosts, since the token would cross the network in clear.
func Listen(cfg ListenConfig) (net.Listener, error) {
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, errors.New("adminapi: api-tls-cert and api-tls-key must be given together")
	}
	var tcfg *tls.Config
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("adminapi: tls: %w", err)
		}
		tcfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("adminapi: listen: %w", err)
	}
	if tcfg != nil {
		return tls.NewListener(ln, tcfg), nil
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok && !a.IP.IsLoopback() {
		cfg.Logger.Warn().Str("component", "adminapi").Str("addr", a.String()).
			Msg("admin API served over plain HTTP on a non-loopback address; set api-tls-cert and api-tls-key")
	}
	return ln, nil
}

// Serve serves h on ln until ctx ends, then shuts down gracefully within
// ShutdownTimeout. It returns nil after a requested stop.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log zerolog.Logger) error {
	log = log.With().Str("component", "adminapi").Logger()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          stdlog.New(log, "", 0),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("adminapi: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		log.Warn().Err(err).Msg("admin API did not shut down in time; connections closed")
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("adminapi: serve: %w", err)
	}
	return nil
}
