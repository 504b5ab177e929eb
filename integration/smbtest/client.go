// Package smbtest is a small SMB 3.0.2 client over the project's own wire
// codecs, for tests that must control the protocol exactly: durable and
// persistent handles (DH2Q, DH2C), replays (SMB2_FLAGS_REPLAY_OPERATION,
// ChannelSequence) and many requests in flight on one connection. It
// signs every request after authentication (AES-CMAC) and never
// encrypts. It is test equipment: it trusts the server's framing only as
// far as its bounds checks go, and every wait is bounded by a context.
package smbtest

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"sofs.io/sofs/auth/ntlm/ntlmtest"
	"sofs.io/sofs/smbserver/smbcrypto"
	"sofs.io/sofs/smbserver/wire"
)

// Dialect is the dialect the client negotiates: 3.0.2, the first with
// persistent handles, replay and ChannelSequence, and without negotiate
// contexts or a preauth hash to keep.
const Dialect = 0x0302

const (
	// maxFrame bounds a response frame: the server's 8 MiB I/O size plus
	// headers.
	maxFrame = 9 << 20
	// creditRequest is asked for with every request; enough to keep the
	// tests' windows in flight.
	creditRequest = 64
	// ioTimeout bounds one socket write.
	ioTimeout = 10 * time.Second
	// maxBreaks bounds the queue of unsolicited break notifications kept
	// for the test; later ones are dropped.
	maxBreaks = 64
)

// ErrClosed is returned for requests on a connection that has failed or
// been closed; their outcome on the server is unknown.
var ErrClosed = errors.New("smbtest: connection closed")

// Response is one final response.
type Response struct {
	Header wire.Header
	Msg    []byte // the whole message, header included
}

// Status is the response's NTSTATUS.
func (r Response) Status() wire.Status { return wire.Status(r.Header.Status) }

// Conn is one TCP connection with at most one session.
type Conn struct {
	nc         net.Conn
	ClientGUID [16]byte

	// wmu orders MessageId allocation with the frame writes, as the
	// server requires ([MS-SMB2] 3.3.5.2.3 checks ids against the
	// credit window).
	wmu     sync.Mutex
	nextMID uint64

	mu       sync.Mutex
	credits  int                      // granted and unused
	creditCh chan struct{}            // closed and replaced when credits grow
	pending  map[uint64]chan Response // by MessageId
	interim  map[uint64]chan struct{} // closed at a request's interim response
	err      error                    // why the reader stopped
	done     chan struct{}            // closed when the reader stops
	session  uint64                   // SessionId once authenticated
	signer   smbcrypto.Signer         // nil before authentication
	breaks   chan Response            // unsolicited notifications
	seq      uint16                   // ChannelSequence sent in requests; guarded by wmu
}

// Dial connects to addr and negotiates 3.0.2 with clientGUID (a client
// that reclaims durable handles must use the same one again).
func Dial(ctx context.Context, addr string, clientGUID [16]byte) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("smbtest: dial %s: %w", addr, err)
	}
	c := &Conn{
		nc: nc, ClientGUID: clientGUID,
		credits: 1, creditCh: make(chan struct{}),
		pending: make(map[uint64]chan Response), done: make(chan struct{}),
		breaks: make(chan Response, maxBreaks),
	}
	go c.readLoop()
	req := wire.NegotiateRequest{
		SecurityMode: wire.NegotiateSigningEnabled,
		Capabilities: wire.GlobalCapLeasing | wire.GlobalCapPersistentHandles,
		ClientGUID:   clientGUID,
		Dialects:     []uint16{Dialect},
	}
	resp, err := c.Call(ctx, wire.CmdNegotiate, 0, &req, 0)
	if err == nil && resp.Status() != wire.StatusSuccess {
		err = fmt.Errorf("smbtest: negotiate: %v", resp.Status())
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close closes the connection; requests in flight fail with ErrClosed.
func (c *Conn) Close() error { return c.nc.Close() }

// Done is closed once the connection has failed or been closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Breaks yields unsolicited OPLOCK_BREAK notifications (oplock and lease
// breaks).
func (c *Conn) Breaks() <-chan Response { return c.breaks }

// SetChannelSequence sets the ChannelSequence of later requests
// ([MS-SMB2] 3.2.4.1.1: a client increments it when it fails over to a
// new channel, so the server can tell replays from stale requests).
func (c *Conn) SetChannelSequence(seq uint16) {
	c.wmu.Lock()
	c.seq = seq
	c.wmu.Unlock()
}

// Login authenticates user with NTLMv2 (two SESSION_SETUP legs) and signs
// every later request with the session's key.
func (c *Conn) Login(ctx context.Context, user, password string) error {
	cl := ntlmtest.NewClient(user, "", password)
	req := wire.SessionSetupRequest{SecurityMode: wire.NegotiateSigningEnabled, SecurityBuffer: cl.Negotiate()}
	resp, err := c.Call(ctx, wire.CmdSessionSetup, 0, &req, 0)
	if err != nil {
		return err
	}
	if resp.Status() != wire.StatusMoreProcessingRequired {
		return fmt.Errorf("smbtest: session setup 1: %v", resp.Status())
	}
	var ss wire.SessionSetupResponse
	if err := ss.Decode(resp.Msg); err != nil {
		return fmt.Errorf("smbtest: session setup 1: %w", err)
	}
	auth, key, err := cl.Authenticate(ss.SecurityBuffer)
	if err != nil {
		return fmt.Errorf("smbtest: ntlm: %w", err)
	}
	c.mu.Lock()
	c.session = resp.Header.SessionID
	c.mu.Unlock()
	req.SecurityBuffer = auth
	resp, err = c.Call(ctx, wire.CmdSessionSetup, 0, &req, 0)
	if err != nil {
		return err
	}
	if resp.Status() != wire.StatusSuccess {
		return fmt.Errorf("smbtest: session setup 2: %v", resp.Status())
	}
	sg, err := smbcrypto.NewSigner(Dialect, smbcrypto.SigningAESCMAC, smbcrypto.DeriveKeys(Dialect, key, nil, 0).Signing)
	if err != nil {
		return fmt.Errorf("smbtest: signing key: %w", err)
	}
	// [MS-SMB2] 3.2.5.3.1: the final SESSION_SETUP response is signed
	// with the new session's key; checking it proves both sides agree.
	if !sg.Verify(resp.Msg) {
		return errors.New("smbtest: final SESSION_SETUP response not signed with the session key")
	}
	c.mu.Lock()
	c.signer = sg
	c.mu.Unlock()
	return nil
}

// TreeConnect connects share on the server and returns its TreeId.
func (c *Conn) TreeConnect(ctx context.Context, share string) (uint32, error) {
	host, _, _ := net.SplitHostPort(c.nc.RemoteAddr().String())
	req := wire.TreeConnectRequest{Path: `\\` + host + `\` + share}
	resp, err := c.Call(ctx, wire.CmdTreeConnect, 0, &req, 0)
	if err != nil {
		return 0, err
	}
	if resp.Status() != wire.StatusSuccess {
		return 0, fmt.Errorf("smbtest: tree connect %s: %v", share, resp.Status())
	}
	return resp.Header.TreeID, nil
}

// Appender is a request body.
type Appender interface{ AppendTo([]byte) []byte }

// Pending is a request in flight.
type Pending struct {
	c       *Conn
	MID     uint64
	ch      chan Response
	interim chan struct{}
}

// Interim is closed when the server answers the request with an interim
// STATUS_PENDING response (it went async).
func (p *Pending) Interim() <-chan struct{} { return p.interim }

// Wait returns the final response (interim STATUS_PENDING responses are
// absorbed), or ErrClosed if the connection failed first.
func (p *Pending) Wait(ctx context.Context) (Response, error) {
	select {
	case r := <-p.ch:
		return r, nil
	case <-p.c.done:
		// A response that raced the failure is still in the channel.
		select {
		case r := <-p.ch:
			return r, nil
		default:
		}
		return Response{}, fmt.Errorf("%w: %v", ErrClosed, p.c.readErr())
	case <-ctx.Done():
		return Response{}, fmt.Errorf("smbtest: message %d: %w", p.MID, ctx.Err())
	}
}

// Call sends one request and waits for its final response.
func (c *Conn) Call(ctx context.Context, cmd wire.Command, tid uint32, body Appender, flags wire.HeaderFlags) (Response, error) {
	p, err := c.Send(ctx, cmd, tid, body, flags)
	if err != nil {
		return Response{}, err
	}
	return p.Wait(ctx)
}

// creditCharge is the CreditCharge of a request moving n bytes
// ([MS-SMB2] 3.1.5.2: one credit per 64 KiB).
func creditCharge(n int) int {
	if n <= 0 {
		return 1
	}
	return (n-1)/65536 + 1
}

// Send sends one request with flags added to its header (for example
// wire.FlagReplayOperation) and returns without waiting for the answer.
// It waits, within ctx, for the credits the request needs.
func (c *Conn) Send(ctx context.Context, cmd wire.Command, tid uint32, body Appender, flags wire.HeaderFlags) (*Pending, error) {
	payload := 0
	switch b := body.(type) {
	case *wire.WriteRequest:
		payload = len(b.Data)
	case *wire.ReadRequest:
		payload = int(b.Length)
	}
	charge := creditCharge(payload)
	if err := c.takeCredits(ctx, charge); err != nil {
		return nil, err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	sid, signer := c.session, c.signer
	c.mu.Unlock()
	h := wire.Header{
		Command: cmd, CreditCharge: uint16(charge), Credits: creditRequest,
		MessageID: c.nextMID, SessionID: sid, TreeID: tid, Flags: flags,
		Status: uint32(c.seq), // ChannelSequence in 3.x requests ([MS-SMB2] 2.2.1.2)
	}
	c.nextMID += uint64(charge)
	msg := body.AppendTo(h.AppendTo(nil))
	if signer != nil && cmd != wire.CmdNegotiate {
		signer.Sign(msg)
	}
	p := &Pending{c: c, MID: h.MessageID, ch: make(chan Response, 1), interim: make(chan struct{})}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %v", ErrClosed, err)
	}
	c.pending[h.MessageID] = p.ch
	if c.interim == nil {
		c.interim = make(map[uint64]chan struct{})
	}
	c.interim[h.MessageID] = p.interim
	c.mu.Unlock()
	frame := make([]byte, 4, 4+len(msg))
	binary.BigEndian.PutUint32(frame, uint32(len(msg)))
	frame = append(frame, msg...)
	c.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c.nc.Write(frame); err != nil {
		c.nc.Close() // the reader reports the failure to every waiter
		return nil, fmt.Errorf("%w: send: %v", ErrClosed, err)
	}
	return p, nil
}

// takeCredits waits until n credits are granted and takes them.
func (c *Conn) takeCredits(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return fmt.Errorf("%w: %v", ErrClosed, err)
		}
		if c.credits >= n {
			c.credits -= n
			c.mu.Unlock()
			return nil
		}
		ch := c.creditCh
		c.mu.Unlock()
		select {
		case <-ch:
		case <-c.done:
		case <-ctx.Done():
			return fmt.Errorf("smbtest: waiting for %d credits: %w", n, ctx.Err())
		}
	}
}

func (c *Conn) readErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// readLoop reads response frames until the connection fails, handing
// each final response to its waiter.
func (c *Conn) readLoop() {
	br := bufio.NewReader(c.nc)
	err := c.readFrames(br)
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	close(c.done)
}

func (c *Conn) readFrames(br *bufio.Reader) error {
	var nb [4]byte
	for {
		if _, err := io.ReadFull(br, nb[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(nb[:])
		if n < wire.HeaderSize || n > maxFrame {
			return fmt.Errorf("smbtest: frame of %d bytes", n)
		}
		frame := make([]byte, n)
		if _, err := io.ReadFull(br, frame); err != nil {
			return err
		}
		for len(frame) > 0 {
			h, err := wire.DecodeHeader(frame)
			if err != nil {
				return fmt.Errorf("smbtest: response: %w", err)
			}
			msg := frame
			if h.NextCommand != 0 {
				if h.NextCommand < wire.HeaderSize || int64(h.NextCommand) > int64(len(frame)) {
					return fmt.Errorf("smbtest: NextCommand %d in a %d-byte frame", h.NextCommand, len(frame))
				}
				msg = frame[:h.NextCommand]
			}
			frame = frame[len(msg):]
			c.dispatch(Response{Header: h, Msg: msg})
		}
	}
}

func (c *Conn) dispatch(r Response) {
	h := r.Header
	c.mu.Lock()
	if h.Credits > 0 {
		c.credits += int(h.Credits)
		close(c.creditCh)
		c.creditCh = make(chan struct{})
	}
	if h.MessageID == ^uint64(0) {
		c.mu.Unlock()
		select {
		case c.breaks <- r:
		default:
		}
		return
	}
	if h.IsAsync() && r.Status() == wire.StatusPending {
		if ch := c.interim[h.MessageID]; ch != nil {
			close(ch)
			delete(c.interim, h.MessageID)
		}
		c.mu.Unlock() // interim: the final response comes later
		return
	}
	ch := c.pending[h.MessageID]
	delete(c.pending, h.MessageID)
	delete(c.interim, h.MessageID)
	c.mu.Unlock()
	if ch != nil {
		ch <- r
	}
}
