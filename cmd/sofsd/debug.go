package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/rs/zerolog"
)

// startDebug serves Go's profiling endpoints (/debug/pprof/...) on a
// loopback address, for measuring the server under real load. It is off
// unless --debug-listen is set. The handlers are registered on a private
// mux so that nothing else in the process can add to it. The returned
// stop closes the listener and waits for the server to end.
func startDebug(ctx context.Context, addr string, log zerolog.Logger) (stop func(), err error) {
	stop, _, err = startDebugAddr(ctx, addr, log)
	return stop, err
}

// startDebugAddr is startDebug that also returns the address bound.
func startDebugAddr(ctx context.Context, addr string, log zerolog.Logger) (stop func(), bound string, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("debug listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("debug endpoint stopped")
		}
	}()
	log.Warn().Str("addr", ln.Addr().String()).Msg("debug endpoint (pprof) listening; unauthenticated")
	return func() {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_ = hs.Shutdown(context.WithoutCancel(ctx))
		<-done
	}, ln.Addr().String(), nil
}
