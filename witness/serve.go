package witness

import (
	"context"
	"errors"
	"net"
	"sync"

	"sofs.io/sofs/dcerpc"
)

// Serve serves the witness interface on witnessLn and, if epmLn is not
// nil, the endpoint mapper on epmLn, telling clients that the witness is on
// witnessLn's port. It returns when ctx ends or a listener fails, after
// closing both listeners and ending their connections.
func (s *Service) Serve(ctx context.Context, witnessLn, epmLn net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	serve := func(i int, ln net.Listener, ifaces ...*dcerpc.Interface) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel()
			srv := dcerpc.NewTCPServer(dcerpc.TCPConfig{Interfaces: ifaces, Log: s.cfg.Log, NTLM: s.cfg.NTLM, Kerberos: s.cfg.Kerberos})
			errs[i] = srv.Serve(ctx, ln)
		}()
	}
	// MS-CMRP shares the witness's endpoint, as smbtorture expects both
	// on one binding.
	serve(0, witnessLn, s.Interface(), s.ClusapiInterface())
	if epmLn != nil {
		m := dcerpc.NewEndpointMapper()
		m.Register(Syntax, witnessLn.Addr().(*net.TCPAddr))
		m.Register(ClusapiSyntax, witnessLn.Addr().(*net.TCPAddr))
		serve(1, epmLn, m.Interface())
	}
	wg.Wait()
	return errors.Join(errs...)
}
