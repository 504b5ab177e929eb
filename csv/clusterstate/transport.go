package clusterstate

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// The node-to-node channel. Connections are TLS 1.3 (confidentiality; the
// certificates are throwaway ones each process makes at start) and are
// authenticated by the cluster secret: after the handshake each side
// proves it knows the secret with an HMAC over the connection's TLS
// exporter value, which is unique to that connection, so a proof can be
// neither replayed nor relayed by a process that does not know the secret.
// A process without the secret can open a TCP connection and nothing more.

const (
	// authTimeout bounds a new connection's handshake and proof.
	authTimeout = 5 * time.Second
	// dialTimeout bounds connecting to a peer.
	dialTimeout = 3 * time.Second
	// maxInflight bounds the calls one peer may have running on this
	// node at once; beyond it the reader stops reading (backpressure).
	maxInflight   = 1024
	exporterLabel = "EXPERIMENTAL-sofs-openstate-peer"
)

// errAuth reports a peer that failed the secret proof.
var errAuth = errors.New("clusterstate: peer authentication failed")

// handlerFunc serves one call from peer slot from.
type handlerFunc func(ctx context.Context, from uint16, method uint8, body []byte) (any, error)

// transport serves calls from peers and makes calls to them.
type transport struct {
	self   uint16
	secret []byte
	log    zerolog.Logger
	cert   tls.Certificate
	// serverTLS and clientTLS, when the cluster has a CA, make the
	// connection mutual TLS with certificates it issued (Config); nil
	// means throwaway certificates, with identity proven by the secret
	// alone.
	serverTLS, clientTLS *tls.Config
	handle               handlerFunc
	obs                  Observer
	// ctx is the root of the calls served; close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	peers map[uint16]*peerConn // outgoing, by slot
	ln    net.Listener
	conns map[net.Conn]struct{} // incoming
	done  bool
}

func newTransport(self uint16, secret []byte, log zerolog.Logger, h handlerFunc) (*transport, error) {
	if len(secret) < 16 {
		return nil, errors.New("clusterstate: cluster secret shorter than 16 bytes")
	}
	cert, err := selfSigned()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &transport{self: self, secret: secret, log: log, cert: cert, handle: h, ctx: ctx, cancel: cancel,
		peers: make(map[uint16]*peerConn), conns: make(map[net.Conn]struct{})}, nil
}

// selfSigned makes a throwaway P-256 certificate: TLS here provides
// confidentiality; identity is proven by the secret (see above).
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("clusterstate: key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("clusterstate: certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// peerTLS derives the channel's TLS configurations from the cluster CA's:
// the server requires a client certificate the CA issued; the client
// checks the server's chain against the CA but not its host name, since
// peers are found by slot and address in etcd, not by name (the secret
// proof still binds the connection to a member).
func peerTLS(server, client *tls.Config) (*tls.Config, *tls.Config) {
	if server == nil || client == nil {
		return nil, nil
	}
	s := server.Clone()
	s.MinVersion = tls.VersionTLS13
	c := client.Clone()
	c.MinVersion = tls.VersionTLS13
	roots := c.RootCAs
	c.InsecureSkipVerify = true
	c.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errAuth
		}
		certs := make([]*x509.Certificate, len(raw))
		for i, b := range raw {
			cert, err := x509.ParseCertificate(b)
			if err != nil {
				return err
			}
			certs[i] = cert
		}
		inter := x509.NewCertPool()
		for _, cert := range certs[1:] {
			inter.AddCert(cert)
		}
		_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		return err
	}
	return s, c
}

// proof is the HMAC one side sends: role distinguishes the two
// directions, so a peer's proof cannot be reflected back to it.
func (t *transport) proof(cs tls.ConnectionState, role string, slot uint16) ([]byte, error) {
	ekm, err := cs.ExportKeyingMaterial(exporterLabel, nil, 32)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, t.secret)
	m.Write([]byte(role))
	m.Write(ekm)
	m.Write(binary.BigEndian.AppendUint16(nil, slot))
	return m.Sum(nil), nil
}

// hello is the first frame of each direction.
type hello struct {
	Slot  uint16 `json:"slot"`
	Proof []byte `json:"proof"`
}

// serve accepts peers on ln until close.
func (t *transport) serve(ln net.Listener) {
	t.mu.Lock()
	t.ln = ln
	t.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go t.serveConn(c)
	}
}

func (t *transport) serveConn(raw net.Conn) {
	cfg := &tls.Config{Certificates: []tls.Certificate{t.cert}, MinVersion: tls.VersionTLS13}
	if t.serverTLS != nil {
		cfg = t.serverTLS
	}
	tc := tls.Server(raw, cfg)
	defer tc.Close()
	from, err := t.acceptAuth(tc)
	if err != nil {
		ev := t.log.Warn()
		if errors.Is(err, io.EOF) {
			// A connection closed before it said anything: another
			// node's death watch probing this port (cmd/sofsd).
			ev = t.log.Debug()
		}
		ev.Err(err).Str("remote", raw.RemoteAddr().String()).Msg("refused a node-to-node connection")
		return
	}
	t.mu.Lock()
	if t.done {
		t.mu.Unlock()
		return
	}
	t.conns[tc] = struct{}{}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.conns, tc)
		t.mu.Unlock()
	}()
	t.serveCalls(tc, from)
}

// acceptAuth runs the server side of the handshake and proof.
func (t *transport) acceptAuth(tc *tls.Conn) (uint16, error) {
	tc.SetDeadline(time.Now().Add(authTimeout))
	defer tc.SetDeadline(time.Time{})
	if err := tc.Handshake(); err != nil {
		return 0, err
	}
	f, err := readFrame(tc)
	if err != nil {
		return 0, err
	}
	var h hello
	if f.kind != kindCall || f.method != methodHello || json.Unmarshal(f.body, &h) != nil {
		return 0, errAuth
	}
	want, err := t.proof(tc.ConnectionState(), "client", h.Slot)
	if err != nil {
		return 0, err
	}
	if !hmac.Equal(want, h.Proof) {
		return 0, errAuth
	}
	mine, err := t.proof(tc.ConnectionState(), "server", t.self)
	if err != nil {
		return 0, err
	}
	body, _ := json.Marshal(hello{Slot: t.self, Proof: mine})
	if _, err := tc.Write(appendFrame(nil, frame{kind: kindReply, id: f.id, body: body})); err != nil {
		return 0, err
	}
	return h.Slot, nil
}

// serveCalls reads calls from an authenticated peer and answers each on
// its own goroutine; a cancel frame cancels the call's context.
func (t *transport) serveCalls(tc *tls.Conn, from uint16) {
	ctx, cancel := context.WithCancel(t.ctx)
	defer cancel()
	var wmu sync.Mutex
	write := func(f frame) {
		wmu.Lock()
		defer wmu.Unlock()
		if _, err := tc.Write(appendFrame(nil, f)); err != nil {
			tc.Close()
		}
	}
	var mu sync.Mutex
	running := make(map[uint64]context.CancelFunc)
	sem := make(chan struct{}, maxInflight)
	br := bufio.NewReaderSize(tc, 64<<10)
	for {
		f, err := readFrame(br)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				t.log.Debug().Err(err).Uint16("peer", from).Msg("node-to-node connection ended")
			}
			return
		}
		switch f.kind {
		case kindCancel:
			mu.Lock()
			if c := running[f.id]; c != nil {
				c()
			}
			mu.Unlock()
			continue
		case kindCall:
		default:
			t.log.Warn().Uint16("peer", from).Uint8("kind", f.kind).Msg("unexpected frame from peer")
			return
		}
		sem <- struct{}{}
		cctx, ccancel := context.WithCancel(ctx)
		mu.Lock()
		running[f.id] = ccancel
		mu.Unlock()
		body := append([]byte(nil), f.body...)
		go func(id uint64, method uint8) {
			defer func() { <-sem }()
			defer func() {
				mu.Lock()
				delete(running, id)
				mu.Unlock()
				ccancel()
			}()
			resp, err := t.call(cctx, from, method, body)
			if err != nil {
				b, _ := json.Marshal(toWireError(err))
				write(frame{kind: kindFail, id: id, body: b})
				return
			}
			b, err := json.Marshal(resp)
			if err != nil {
				b, _ = json.Marshal(wireError{Code: codeInternal, Msg: err.Error()})
				write(frame{kind: kindFail, id: id, body: b})
				return
			}
			write(frame{kind: kindReply, id: id, body: b})
		}(f.id, f.method)
	}
}

// call runs a handler, turning a panic into an error: a bad message from
// one peer must not stop the node.
func (t *transport) call(ctx context.Context, from uint16, method uint8, body []byte) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			t.log.Error().Interface("panic", p).Uint8("method", method).Msg("node-to-node handler panicked")
			err = fmt.Errorf("clusterstate: handler panic: %v", p)
		}
	}()
	return t.handle(ctx, from, method, body)
}

// close stops serving and drops every connection.
func (t *transport) close() {
	t.cancel()
	t.mu.Lock()
	t.done = true
	ln := t.ln
	peers := t.peers
	t.peers = make(map[uint16]*peerConn)
	conns := t.conns
	t.conns = make(map[net.Conn]struct{})
	t.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for _, p := range peers {
		p.fail(net.ErrClosed)
	}
	for c := range conns {
		c.Close()
	}
}

// dropPeer closes the outgoing connection to slot (the peer left or moved).
func (t *transport) dropPeer(slot uint16) {
	t.mu.Lock()
	p := t.peers[slot]
	delete(t.peers, slot)
	t.mu.Unlock()
	if p != nil {
		p.fail(net.ErrClosed)
	}
}

// peerConn is an outgoing connection to one peer, multiplexing calls.
type peerConn struct {
	slot uint16
	tc   *tls.Conn
	wmu  sync.Mutex
	obs  Observer

	mu      sync.Mutex
	next    uint64
	pending map[uint64]chan frame
	err     error
}

// peer returns the connection to slot at addr, dialling it if needed.
func (t *transport) peer(ctx context.Context, slot uint16, addr string) (*peerConn, error) {
	t.mu.Lock()
	if t.done {
		t.mu.Unlock()
		return nil, net.ErrClosed
	}
	if p := t.peers[slot]; p != nil {
		t.mu.Unlock()
		return p, nil
	}
	t.mu.Unlock()
	d := net.Dialer{Timeout: dialTimeout}
	dctx, cancel := context.WithTimeout(ctx, authTimeout)
	defer cancel()
	raw, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: dial node %d at %s: %v", errPeerLost, slot, addr, err)
	}
	cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13} // identity is the secret proof
	if t.clientTLS != nil {
		cfg = t.clientTLS
	}
	tc := tls.Client(raw, cfg)
	if dl, ok := dctx.Deadline(); ok {
		tc.SetDeadline(dl)
	}
	if err := tc.HandshakeContext(dctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("%w: TLS with node %d: %v", errPeerLost, slot, err)
	}
	mine, err := t.proof(tc.ConnectionState(), "client", t.self)
	if err != nil {
		tc.Close()
		return nil, err
	}
	body, _ := json.Marshal(hello{Slot: t.self, Proof: mine})
	if _, err := tc.Write(appendFrame(nil, frame{kind: kindCall, id: 0, method: methodHello, body: body})); err != nil {
		tc.Close()
		return nil, err
	}
	f, err := readFrame(tc)
	if err != nil {
		tc.Close()
		return nil, fmt.Errorf("%w: node %d: %v", errPeerLost, slot, err)
	}
	var h hello
	want, _ := t.proof(tc.ConnectionState(), "server", slot)
	if f.kind != kindReply || json.Unmarshal(f.body, &h) != nil || h.Slot != slot || !hmac.Equal(want, h.Proof) {
		tc.Close()
		return nil, fmt.Errorf("clusterstate: node %d at %s: %w", slot, addr, errAuth)
	}
	tc.SetDeadline(time.Time{})
	p := &peerConn{slot: slot, tc: tc, pending: make(map[uint64]chan frame), obs: t.obs}
	t.mu.Lock()
	if old := t.peers[slot]; old != nil || t.done {
		t.mu.Unlock()
		tc.Close()
		if old != nil {
			return old, nil
		}
		return nil, net.ErrClosed
	}
	t.peers[slot] = p
	t.mu.Unlock()
	go p.read(t)
	return p, nil
}

func (p *peerConn) read(t *transport) {
	br := bufio.NewReaderSize(p.tc, 64<<10)
	for {
		f, err := readFrame(br)
		if err == nil && f.kind != kindReply && f.kind != kindFail {
			err = fmt.Errorf("%w: kind %d from server", errFrame, f.kind)
		}
		if err != nil {
			t.mu.Lock()
			if t.peers[p.slot] == p {
				delete(t.peers, p.slot)
			}
			t.mu.Unlock()
			p.fail(err)
			return
		}
		f.body = append([]byte(nil), f.body...)
		p.mu.Lock()
		ch := p.pending[f.id]
		delete(p.pending, f.id)
		p.mu.Unlock()
		if ch != nil {
			ch <- f
		}
	}
}

// fail ends every pending call with err and closes the connection.
func (p *peerConn) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	pend := p.pending
	p.pending = make(map[uint64]chan frame)
	p.mu.Unlock()
	p.tc.Close()
	for _, ch := range pend {
		close(ch)
	}
}

// errPeerLost reports a call whose connection ended before its reply.
var errPeerLost = errors.New("clusterstate: connection to node lost")

// do sends one call and waits for its reply (decoded into resp) or ctx.
func (p *peerConn) do(ctx context.Context, method uint8, req, resp any) (err error) {
	if p.obs != nil {
		start := time.Now()
		defer func() { p.obs.Call(methodNames[method], time.Since(start), err) }()
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	ch := make(chan frame, 1)
	p.mu.Lock()
	if p.err != nil {
		p.mu.Unlock()
		return fmt.Errorf("%w: %v", errPeerLost, p.err)
	}
	p.next++
	id := p.next
	p.pending[id] = ch
	p.mu.Unlock()
	p.wmu.Lock()
	_, err = p.tc.Write(appendFrame(nil, frame{kind: kindCall, id: id, method: method, body: body}))
	p.wmu.Unlock()
	if err != nil {
		p.fail(err)
		return fmt.Errorf("%w: %v", errPeerLost, err)
	}
	select {
	case f, ok := <-ch:
		if !ok {
			return errPeerLost
		}
		if f.kind == kindFail {
			var we wireError
			if err := json.Unmarshal(f.body, &we); err != nil {
				return fmt.Errorf("%w: bad error body", errFrame)
			}
			return we.err()
		}
		if resp == nil {
			return nil
		}
		if err := json.Unmarshal(f.body, resp); err != nil {
			return fmt.Errorf("clusterstate: reply to method %d: %w", method, err)
		}
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		delete(p.pending, id)
		p.mu.Unlock()
		p.wmu.Lock()
		p.tc.Write(appendFrame(nil, frame{kind: kindCancel, id: id}))
		p.wmu.Unlock()
		return ctx.Err()
	}
}
