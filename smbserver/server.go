// Package smbserver is the SMB2/3 protocol engine of sofs: transport,
// negotiate, authentication, sessions, tree connects, opens and the command
// handlers. It reaches storage only through package csv.
package smbserver

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/auth/krb5"
	"sofs.io/sofs/auth/ntlm"
	"sofs.io/sofs/csv"
)

// Server serves SMB2/3 on any number of listeners.
type Server struct {
	cfg       Config
	log       zerolog.Logger
	bufs      bufPool
	sessions  *sessionTable
	opens     *openTable
	ol        *oplockRegistry // oplock.go
	dh        durableTable    // durable.go
	replays   replayTable     // replay.go
	copies    copyKeys        // fsctl_copy.go
	ntlm      *ntlm.Server
	krb5      *krb5.Acceptor // nil: Kerberos is not offered
	startTime time.Time
	// sessionIDPrefix puts a per-process random value in the top bits of
	// SessionIds so a restarted node does not hand out an id a client still
	// holds from before ([MS-SMB2] 3.3.5.5.1 asks for unique ids).
	sessionIDPrefix uint64

	volMu   sync.Mutex
	volumes map[string]*csv.Volume

	connMu sync.Mutex
	conns  map[*conn]struct{}
	// admission counts unauthenticated connections; limitLog is the
	// sampled logger for connections a limit refuses (hygiene.go).
	admission admission
	limitLog  zerolog.Logger
	wg        sync.WaitGroup
	// slicers take pieces of large READs and signatures off the
	// request's worker when they are idle (readslice.go).
	slicers sliceWorkers
	// refusals counts the lease clock's refusals (fence.go).
	refusals atomic.Uint64
}

// New validates cfg and returns a server ready to Serve.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var pfx [8]byte
	if _, err := rand.Read(pfx[:]); err != nil {
		return nil, fmt.Errorf("smbserver: random: %w", err)
	}
	s := &Server{
		cfg:             cfg,
		log:             cfg.Logger,
		sessions:        newSessionTable(),
		opens:           newOpenTable(cfg.FileIDBase),
		ol:              newOplockRegistry(),
		startTime:       time.Now(),
		sessionIDPrefix: (binary.LittleEndian.Uint64(pfx[:]) &^ 0xFFFFFFFF) &^ (1 << 63),
		volumes:         make(map[string]*csv.Volume),
		conns:           make(map[*conn]struct{}),
		slicers:         sliceWorkers{tasks: make(chan sliceTask)},
		limitLog:        newLimitLog(cfg.Logger),
	}
	s.ntlm = ntlm.NewServer(ntlm.Config{
		NetBIOSDomain:   strings.ToUpper(cfg.Domain),
		NetBIOSComputer: strings.ToUpper(cfg.ServerName),
		DNSDomain:       strings.ToLower(cfg.Domain),
		DNSComputer:     strings.ToLower(cfg.ServerName),
		Users:           cfg.Users,
		AllowGuest:      s.anyGuestShare(),
	})
	if cfg.KerberosKeys != nil {
		s.krb5 = krb5.New(krb5.Config{Keys: cfg.KerberosKeys})
	}
	return s, nil
}

func (s *Server) anyGuestShare() bool {
	for _, sh := range s.cfg.Shares.Shares() {
		if sh.Guest {
			return true
		}
	}
	return false
}

// Serve accepts connections on ln until ctx is cancelled or ln fails. On
// return every connection it accepted has been closed.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer s.wg.Wait()
	// The slice readers end with this Serve however it returns (cancelled
	// before the Wait above, as defers run last first).
	sctx, stopSlicers := context.WithCancel(ctx)
	defer stopSlicers()
	s.slicers.run(sctx, &s.wg)
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				s.closeAll()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.closeAll()
			return fmt.Errorf("smbserver: accept: %w", err)
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
			tc.SetKeepAlive(true)
			tc.SetKeepAlivePeriod(30 * time.Second)
		}
		c := s.newConn(ctx, nc)
		if ok, reason := s.admit(c); !ok {
			s.limited(c, reason)
			nc.Close()
			continue
		}
		c.startLogonTimer()
		s.connMu.Lock()
		s.conns[c] = struct{}{}
		s.connMu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.serve()
		}()
	}
}

func (s *Server) closeAll() {
	s.connMu.Lock()
	for c := range s.conns {
		c.cancel()
	}
	s.connMu.Unlock()
}

// connClosed tears down what a closed connection owned: its sessions,
// their tree connects and opens.
func (s *Server) connClosed(c *conn) {
	s.connMu.Lock()
	delete(s.conns, c)
	s.connMu.Unlock()
	for _, sess := range s.sessions.all() {
		// multichannel.go: a session outlives one of its channels.
		if sess.dropChannel(c) {
			s.connLost(sess) // durable.go: keeps durable opens
		}
	}
}

// logoff closes every open and tree of sess and forgets it.
func (s *Server) logoff(sess *session) {
	sess.mu.Lock()
	opens := make([]*open, 0, len(sess.opens))
	for _, o := range sess.opens {
		opens = append(opens, o)
	}
	sess.opens = make(map[uint64]*open)
	sess.trees = make(map[uint32]*tree)
	sess.state = sessionExpired
	sess.mu.Unlock()
	for _, o := range opens {
		s.closeOpen(o)
	}
	s.sessions.remove(sess.id)
}

// volume returns the csv volume for a share path, opening it once.
func (s *Server) volume(sh Share) (*csv.Volume, error) {
	s.volMu.Lock()
	defer s.volMu.Unlock()
	key := sh.Path
	if sh.ReadOnly {
		key += "\x00ro"
	}
	if v := s.volumes[key]; v != nil {
		return v, nil
	}
	opt := csv.Options{
		ReadOnly: sh.ReadOnly,
		Logger:   s.log,
		// Directory lease breaks started by changes to a child
		// (csv/dirlease.go) go out like any other break (oplock.go).
		ParentBreaks: s.deliverBreaks,
	}
	if s.cfg.MayServe != nil {
		opt.Guard = s.mayServe // fence.go
	}
	if s.cfg.OpenState != nil {
		// One key per backing directory, whatever the share's name or
		// mode: two shares on one directory are one set of files.
		opt.Objects, opt.Locks = s.cfg.OpenState(sh.Path)
		// A cluster's tables also carry change notifications between
		// the nodes.
		if r, ok := opt.Objects.(csv.NotifyRelay); ok {
			opt.Notify = r
		}
		// And the questions about opens that only their node can
		// answer (open objects below a directory, open streams).
		if r, ok := opt.Objects.(csv.RemoteOpens); ok {
			opt.Remote = r
		}
	}
	v, err := csv.OpenVolume(sh.Path, opt)
	if err != nil {
		return nil, fmt.Errorf("open volume for share %q: %w", sh.Name, err)
	}
	s.volumes[key] = v
	return v, nil
}

// Close releases the volumes the server opened. Call it after Serve has
// returned; opens still held by sessions are closed first.
func (s *Server) Close() error {
	for _, sess := range s.sessions.all() {
		s.logoff(sess)
	}
	s.volMu.Lock()
	defer s.volMu.Unlock()
	var first error
	for k, v := range s.volumes {
		if err := v.Close(); err != nil && first == nil {
			first = err
		}
		delete(s.volumes, k)
	}
	return first
}
