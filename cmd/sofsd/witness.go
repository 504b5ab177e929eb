package main

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/rs/zerolog"

	"sofs.io/sofs/auth/ntlm"
	"sofs.io/sofs/namespace"
	"sofs.io/sofs/witness"
)

// startWitness opens the witness and endpoint mapper listeners and serves
// them until ctx ends or stop is called; stop waits for the service to
// end.
func startWitness(ctx context.Context, cfg config, st *namespace.Store, view *namespace.View, members *namespace.Members, nodeID string, log zerolog.Logger) (stop func(), err error) {
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
	acceptor := ntlm.NewServer(ntlm.Config{
		NetBIOSDomain: "WORKGROUP", DNSDomain: "workgroup",
		NetBIOSComputer: strings.ToUpper(name), DNSComputer: strings.ToLower(name),
		Users: userSource{view},
	})
	svc := witness.New(witness.Config{Store: st, Members: members, NodeID: nodeID, Log: wlog, NTLM: acceptor})
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
