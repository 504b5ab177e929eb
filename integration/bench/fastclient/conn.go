// Package fastclient is the benchmark harness's own SMB 3.1.1 client,
// built on the server's wire codecs (smbserver/wire) and cryptography
// (smbserver/smbcrypto), so that the harness is not limited by a client
// library: AES-GMAC signing (AES-CMAC when the server lacks it),
// AES-128-GCM and AES-256-GCM encryption, requests as large as the server
// allows (up to 8 MiB) with multi-credit charges, and many requests in
// flight on one connection, answered in any order.
//
// One Client is one TCP connection with one authenticated session. Any
// number of goroutines may use it at once: each request takes credits and
// MessageIds from a shared window, is written under a short lock, and
// waits for its own response, which a single reader goroutine matches by
// MessageId. Buffers come from size-classed pools. READ data of unsigned,
// unencrypted responses is read from the socket straight into the
// caller's buffer.
//
// Authentication is NTLMv2 with the ntlmtest initiator (raw NTLMSSP
// tokens, which Windows, Samba and sofs accept). It is a measuring tool,
// not a general-purpose client: no DFS, no oplocks or leases, no
// reconnect.
package fastclient

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"sofs.io/sofs/auth/ntlm/ntlmtest"
	"sofs.io/sofs/smbserver/smbcrypto"
	"sofs.io/sofs/smbserver/wire"
)

// Limits of the client, each with its reason.
const (
	// MaxIOSize is the largest READ or WRITE the client sends: 8 MiB, the
	// largest MaxReadSize/MaxWriteSize Windows Server and Samba offer.
	MaxIOSize = 8 << 20
	// maxFrame bounds a received frame: the largest READ response plus
	// headers (the transform header included) and slack. A larger length
	// prefix means a broken stream.
	maxFrame = MaxIOSize + 64<<10
	// creditUnit is the payload one credit pays for ([MS-SMB2] 3.1.5.2).
	creditUnit = 64 << 10
	// dirBufSize is the QUERY_DIRECTORY output buffer (one credit).
	dirBufSize = 64 << 10
	// maxDirRounds bounds the QUERY_DIRECTORY calls of one listing.
	maxDirRounds = 1 << 20
	// headRead is what the reader reads before deciding where the rest of
	// a frame goes: an SMB2 header and the fixed part of a READ response.
	headRead = wire.HeaderSize + 16
)

// Config describes the connection and session to set up.
type Config struct {
	User, Password, Domain string
	// RequireSigning sets SMB2_NEGOTIATE_SIGNING_REQUIRED; requests are
	// then signed even if the server does not require it.
	RequireSigning bool
	// EncryptAll seals every request after session setup, whether or not
	// the server requires encryption.
	EncryptAll bool
	// Ciphers are offered in this order (default AES-128-GCM,
	// AES-256-GCM, AES-128-CCM, AES-256-CCM).
	Ciphers []uint16
	// SigningAlgorithms are offered in this order (default AES-GMAC,
	// AES-CMAC).
	SigningAlgorithms []uint16
	// MaxCredits is the credit balance the client asks to hold (default
	// 1024: 8 requests of 8 MiB, or 1024 small ones, in flight).
	MaxCredits uint16
	// MaxIO caps READ and WRITE sizes below the negotiated maxima
	// (default and upper bound MaxIOSize).
	MaxIO int
	// Timeout bounds each request (default 2 minutes).
	Timeout time.Duration
}

func (c *Config) defaults() {
	if len(c.Ciphers) == 0 {
		c.Ciphers = []uint16{wire.CipherAES128GCM, wire.CipherAES256GCM, wire.CipherAES128CCM, wire.CipherAES256CCM}
	}
	if len(c.SigningAlgorithms) == 0 {
		c.SigningAlgorithms = []uint16{wire.SigningAESGMAC, wire.SigningAESCMAC}
	}
	if c.MaxCredits == 0 {
		c.MaxCredits = 1024
	}
	if c.MaxIO <= 0 || c.MaxIO > MaxIOSize {
		c.MaxIO = MaxIOSize
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Minute
	}
}

// Client is one connection and one session.
type Client struct {
	cfg Config
	// unsignedTreeConnect breaks [MS-SMB2] 3.2.4.1.1 on purpose (tests of
	// the server's 3.3.5.7 check only).
	unsignedTreeConnect bool
	nc                  net.Conn
	br                  *bufio.Reader
	wmu                 sync.Mutex  // serialises writes to nc
	iov                 net.Buffers // guarded by wmu
	// sent and recv count the bytes on the wire.
	sent, recv atomic.Int64
	credits    creditWindow
	bufs       bufPool
	calls      sync.Pool

	pmu         sync.Mutex
	pending     map[uint64]*call
	maxInFlight int // the most requests ever waiting at once
	dead        error
	closed      chan struct{}
	rdone       chan struct{}

	// Fixed after Dial.
	Dialect         uint16
	SigningAlg      uint16 // 0 HMAC, 1 CMAC, 2 GMAC
	Cipher          uint16 // 0 when none was negotiated
	MaxRead         int
	MaxWrite        int
	MaxTransact     int
	serverSignReq   bool
	sessionID       uint64
	signer          smbcrypto.Signer
	enc             smbcrypto.Encryptor
	dec             smbcrypto.Decryptor
	sign            bool // sign requests that are not sealed
	sealSession     bool // the session requires encryption
	sessionReady    atomic.Bool
	preauthSalt     [32]byte
	connPreauth     smbcrypto.PreauthHash
	sessPreauth     smbcrypto.PreauthHash
	negotiatedFlags uint16
}

// call is one request waiting for its response.
type call struct {
	mid    uint64
	charge uint16
	done   chan struct{}
	timer  *time.Timer
	dst    []byte // READ destination for the direct path
	// Set by the reader before done is signalled:
	buf    *[]byte // the plaintext response (pooled), nil on the direct path
	msg    []byte
	hdr    wire.Header
	direct int // bytes read straight into dst
	err    error
	// verify: the response is signed and its signature is checked by the
	// caller's goroutine, not the reader's, so that checking one response
	// overlaps reading the next. A benchmark client that verifies on its
	// reader caps every server at the speed of that one goroutine.
	verify bool
}

// ResponseError is a response whose status is not success.
type ResponseError struct {
	Command wire.Command
	Status  wire.Status
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("fastclient: %v: %v (%#08x)", e.Command, e.Status, uint32(e.Status))
}

// StatusOf returns the NTSTATUS of err when it is a ResponseError.
func StatusOf(err error) (wire.Status, bool) {
	var re *ResponseError
	if errors.As(err, &re) {
		return re.Status, true
	}
	return 0, false
}

var errClosed = errors.New("fastclient: connection closed")

// Dial connects to addr, negotiates 3.1.1 and authenticates.
func Dial(ctx context.Context, addr string, cfg Config) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fastclient: dial %s: %w", addr, err)
	}
	c, err := NewClient(ctx, nc, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// NewClient runs negotiate and session setup over nc (which the Client
// then owns).
func NewClient(ctx context.Context, nc net.Conn, cfg Config) (*Client, error) {
	cfg.defaults()
	c := &Client{cfg: cfg, nc: nc, br: bufio.NewReaderSize(nc, 256<<10),
		pending: make(map[uint64]*call), closed: make(chan struct{}), rdone: make(chan struct{})}
	c.credits.init(cfg.MaxCredits)
	c.calls.New = func() any {
		t := time.NewTimer(time.Hour)
		t.Stop()
		return &call{done: make(chan struct{}, 1), timer: t}
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	go c.readLoop()
	stop := context.AfterFunc(ctx, func() { c.fail(ctx.Err()) })
	defer stop()
	if err := c.negotiate(); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.sessionSetup(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close logs off (best effort) and closes the connection.
func (c *Client) Close() error {
	if c.sessionReady.Load() && c.alive() {
		if cl, err := c.roundTrip(wire.CmdLogoff, 0, 1, &simpleBody{4}, nil, nil, false); err == nil {
			c.release(cl)
		}
	}
	c.fail(errClosed)
	<-c.rdone
	return nil
}

func (c *Client) alive() bool {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	return c.dead == nil
}

// fail closes the connection and fails every request in flight.
func (c *Client) fail(err error) {
	c.pmu.Lock()
	if c.dead != nil {
		c.pmu.Unlock()
		return
	}
	c.dead = err
	close(c.closed)
	pend := c.pending
	c.pending = map[uint64]*call{}
	c.pmu.Unlock()
	c.nc.Close()
	c.credits.fail(err)
	for _, cl := range pend {
		cl.err = err
		cl.done <- struct{}{}
	}
}

// simpleBody is a request body of StructureSize n with zeroed fields
// (LOGOFF, TREE_DISCONNECT: 4).
type simpleBody struct{ n uint16 }

func (b *simpleBody) AppendTo(p []byte) []byte {
	return append(p, byte(b.n), byte(b.n>>8), 0, 0)
}

type appender interface{ AppendTo([]byte) []byte }

// chargeFor is the CreditCharge of a request moving n payload bytes.
func chargeFor(n int) uint16 {
	return uint16(max(1, (n+creditUnit-1)/creditUnit))
}

// roundTrip sends one request and waits for its final response. data is
// WRITE payload sent after the body; dst is a READ destination the reader
// may fill directly. size is the payload the credit charge covers. The
// caller must release the returned call.
func (c *Client) roundTrip(cmd wire.Command, tid uint32, size int, body appender, data [][]byte, dst []byte, sealTree bool) (*call, error) {
	charge := chargeFor(size)
	if c.Dialect == 0 {
		charge = 0 // NEGOTIATE: no credit charge before the dialect is known
	}
	mid, req, err := c.credits.take(max(charge, 1))
	if err != nil {
		return nil, err
	}
	cl := c.calls.Get().(*call)
	cl.mid, cl.charge, cl.dst = mid, max(charge, 1), dst
	cl.buf, cl.msg, cl.direct, cl.err = nil, nil, 0, nil

	seal := c.sessionReady.Load() && c.enc != nil && (sealTree || c.sealSession || c.cfg.EncryptAll)
	// [MS-SMB2] 3.2.4.1.1: on 3.1.1 a TREE_CONNECT is signed even when
	// the session does not sign (it protects the negotiated settings).
	sign := !seal && c.sessionReady.Load() && cmd != wire.CmdSessionSetup && (c.sign || (cmd == wire.CmdTreeConnect && !c.unsignedTreeConnect))
	h := wire.Header{CreditCharge: charge, Command: cmd, Credits: req, MessageID: mid, TreeID: tid, SessionID: c.sessionID}
	dataLen := 0
	for _, d := range data {
		dataLen += len(d)
	}
	// A sealed request is built after room for the frame length and the
	// transform header and sealed where it lies (one copy of the data,
	// into this buffer).
	room := 4
	if seal {
		room += smbcrypto.TransformHeaderSize
	}
	bp := c.bufs.get(room + wire.HeaderSize + 1024 + dataLen + smbcrypto.SealInPlaceRoom)
	b := (*bp)[:room]
	clear(b)
	b = h.AppendTo(b)
	b = body.AppendTo(b)
	if data != nil && (sign || seal) {
		for _, d := range data {
			b = append(b, d...)
		}
		data, dataLen = nil, 0
	}
	msg := b[room:]
	if sign {
		c.signer.Sign(msg)
	}
	if cmd == wire.CmdNegotiate || cmd == wire.CmdSessionSetup {
		c.preauthRequest(cmd, msg)
	}

	c.pmu.Lock()
	if c.dead != nil {
		err := c.dead
		c.pmu.Unlock()
		c.bufs.put(bp)
		c.calls.Put(cl)
		return nil, err
	}
	c.pending[mid] = cl
	c.maxInFlight = max(c.maxInFlight, len(c.pending))
	c.pmu.Unlock()

	var werr error
	if seal {
		var frame []byte
		frame, werr = c.enc.SealInPlace(b[4:], c.sessionID)
		if werr == nil {
			binary.BigEndian.PutUint32(b, uint32(len(frame)))
			werr = c.write(b, nil)
		}
	} else {
		binary.BigEndian.PutUint32(b, uint32(len(msg)+dataLen))
		werr = c.write(b, data)
	}
	*bp = b
	c.bufs.put(bp)
	if werr != nil {
		c.fail(fmt.Errorf("fastclient: send: %w", werr))
	}
	cl.timer.Reset(c.cfg.Timeout)
	select {
	case <-cl.done:
		cl.timer.Stop()
	case <-cl.timer.C:
		c.fail(fmt.Errorf("fastclient: %v (MessageId %d) not answered within %v", cmd, mid, c.cfg.Timeout))
		<-cl.done
	}
	if cl.err == nil && cl.verify && !c.signer.Verify(cl.msg) {
		cl.err = fmt.Errorf("fastclient: %v response signature does not verify", cl.hdr.Command)
	}
	if cl.err != nil {
		err := cl.err
		c.release(cl)
		return nil, err
	}
	return cl, nil
}

// release returns a finished call and its response buffer to the pools.
func (c *Client) release(cl *call) {
	c.bufs.put(cl.buf)
	cl.buf, cl.msg, cl.dst, cl.verify = nil, nil, nil, false
	c.calls.Put(cl)
}

// write sends one frame: head and, when not nil, the WRITE payload after
// it, in one writev.
func (c *Client) write(head []byte, data [][]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if data == nil {
		n, err := c.nc.Write(head)
		c.sent.Add(int64(n))
		return err
	}
	c.iov = append(append(c.iov[:0], head), data...)
	n, err := c.iov.WriteTo(c.nc)
	c.sent.Add(n)
	return err
}

// status returns the response's status as an error (nil for success).
func (cl *call) status() error {
	if st := wire.Status(cl.hdr.Status); st != wire.StatusSuccess {
		return &ResponseError{Command: cl.hdr.Command, Status: st}
	}
	return nil
}

// readLoop reads every frame and hands each response to its call.
func (c *Client) readLoop() {
	defer close(c.rdone)
	var head [4 + headRead]byte
	for {
		if _, err := io.ReadFull(c.br, head[:4]); err != nil {
			c.fail(fmt.Errorf("fastclient: receive: %w", err))
			return
		}
		n := int(binary.BigEndian.Uint32(head[:4]))
		c.recv.Add(int64(n) + 4)
		if n < wire.HeaderSize || n > maxFrame {
			c.fail(fmt.Errorf("fastclient: frame of %d bytes", n))
			return
		}
		if err := c.readFrame(n, head[4:]); err != nil {
			c.fail(err)
			return
		}
	}
}

// readFrame reads one frame of n bytes. Plain READ responses whose call
// has a destination are read straight into it; everything else is read
// into a pooled buffer (and decrypted when sealed).
func (c *Client) readFrame(n int, head []byte) error {
	first := min(n, headRead)
	if _, err := io.ReadFull(c.br, head[:first]); err != nil {
		return fmt.Errorf("fastclient: receive: %w", err)
	}
	if binary.LittleEndian.Uint32(head) != wire.ProtocolID {
		// A transform header (or garbage, which Open rejects).
		// Room after the frame lets it be decrypted in place.
		bp := c.bufs.get(n + smbcrypto.OpenInPlaceRoom)
		b := append((*bp)[:0], head[:first]...)
		b = b[:n]
		if _, err := io.ReadFull(c.br, b[first:]); err != nil {
			return fmt.Errorf("fastclient: receive: %w", err)
		}
		*bp = b
		if !c.sessionReady.Load() || c.dec == nil {
			c.bufs.put(bp)
			return errors.New("fastclient: encrypted frame before keys exist")
		}
		// Decrypted here, in arrival order: an interim response and the
		// final one for the same request must be delivered in that order.
		plain, err := c.dec.OpenInPlace(b)
		if err != nil {
			c.bufs.put(bp)
			return fmt.Errorf("fastclient: decrypt: %w", err)
		}
		return c.deliver(bp, plain, true)
	}
	if first == headRead && c.tryDirect(n, head) {
		return nil
	}
	bp := c.bufs.get(n)
	b := append((*bp)[:0], head[:first]...)
	b = b[:n]
	if _, err := io.ReadFull(c.br, b[first:]); err != nil {
		return fmt.Errorf("fastclient: receive: %w", err)
	}
	*bp = b
	return c.deliver(bp, b, false)
}

// tryDirect handles a successful, unsigned READ response whose call has a
// destination: the data goes from the socket into the caller's buffer. It
// reports false (having read nothing more) when the frame needs the
// general path.
func (c *Client) tryDirect(n int, head []byte) bool {
	h, err := wire.DecodeHeader(head)
	if err != nil || h.Command != wire.CmdRead || h.Status != 0 || h.NextCommand != 0 ||
		h.Flags&wire.FlagSigned != 0 || !c.sessionReady.Load() || c.sign {
		return false
	}
	off := int(head[wire.HeaderSize+2])
	length := int(binary.LittleEndian.Uint32(head[wire.HeaderSize+4:]))
	if off < headRead || off+length > n {
		return false
	}
	c.pmu.Lock()
	cl := c.pending[h.MessageID]
	if cl == nil || cl.dst == nil || length > len(cl.dst) {
		c.pmu.Unlock()
		return false
	}
	delete(c.pending, h.MessageID)
	c.pmu.Unlock()
	err = discard(c.br, off-headRead)
	if err == nil {
		_, err = io.ReadFull(c.br, cl.dst[:length])
	}
	if err == nil {
		err = discard(c.br, n-off-length)
	}
	c.credits.grant(h.Credits, cl.charge)
	cl.hdr, cl.direct, cl.err = h, length, err
	cl.done <- struct{}{}
	if err != nil {
		c.fail(fmt.Errorf("fastclient: receive: %w", err))
	}
	return true
}

func discard(r *bufio.Reader, n int) error {
	if n <= 0 {
		return nil
	}
	_, err := r.Discard(n)
	return err
}

// deliver matches a plaintext response to its call. It owns bp.
func (c *Client) deliver(bp *[]byte, msg []byte, sealed bool) error {
	h, err := wire.DecodeHeader(msg)
	if err != nil {
		c.bufs.put(bp)
		return fmt.Errorf("fastclient: response: %w", err)
	}
	if h.NextCommand != 0 {
		c.bufs.put(bp)
		return errors.New("fastclient: compound response to a single request")
	}
	if h.Flags&wire.FlagServerToRedir == 0 {
		c.bufs.put(bp)
		return errors.New("fastclient: request received from the server")
	}
	if h.MessageID == ^uint64(0) {
		// An oplock or lease break notification; none are requested.
		c.bufs.put(bp)
		return nil
	}
	interim := h.Flags&wire.FlagAsyncCommand != 0 && wire.Status(h.Status) == wire.StatusPending
	c.pmu.Lock()
	cl := c.pending[h.MessageID]
	if cl != nil && !interim {
		delete(c.pending, h.MessageID)
	}
	c.pmu.Unlock()
	if cl == nil {
		c.bufs.put(bp)
		return fmt.Errorf("fastclient: response to unknown MessageId %d", h.MessageID)
	}
	if interim {
		c.credits.grant(h.Credits, 0)
		c.bufs.put(bp)
		return nil
	}
	c.credits.grant(h.Credits, cl.charge)
	// [MS-SMB2] 3.2.5.1.3: a signed response must verify; on a session
	// that signs, an unsigned one (not sealed) is refused. The final
	// SESSION_SETUP response is checked by sessionSetup with the new key.
	// sessionReady orders the reader's use of the session's keys after
	// sessionSetup wrote them.
	if !sealed && h.Command != wire.CmdSessionSetup && h.SessionID != 0 && c.sessionReady.Load() {
		signed := h.Flags&wire.FlagSigned != 0
		if signed {
			cl.verify = true
		} else if c.sign {
			cl.err = fmt.Errorf("fastclient: unsigned %v response on a signed session", h.Command)
		}
	}
	if sealed && h.SessionID != c.sessionID {
		cl.err = fmt.Errorf("fastclient: sealed response for session %#x", h.SessionID)
	}
	cl.hdr, cl.buf, cl.msg = h, bp, msg
	cl.done <- struct{}{}
	return nil
}

// preauthRequest folds a NEGOTIATE or SESSION_SETUP request into the
// preauth integrity hash ([MS-SMB2] 3.2.4.1.1 and 3.2.4.2.3).
func (c *Client) preauthRequest(cmd wire.Command, msg []byte) {
	if cmd == wire.CmdNegotiate {
		c.connPreauth.Update(msg)
	} else {
		c.sessPreauth.Update(msg)
	}
}

// negotiate runs NEGOTIATE for 3.1.1 with preauth integrity (SHA-512),
// encryption and signing capabilities ([MS-SMB2] 3.2.4.2.2.2).
func (c *Client) negotiate() error {
	req := wire.NegotiateRequest{
		SecurityMode: wire.NegotiateSigningEnabled,
		Capabilities: wire.GlobalCapLargeMTU | wire.GlobalCapEncryption,
		Dialects:     []uint16{wire.Dialect311},
	}
	if c.cfg.RequireSigning {
		req.SecurityMode |= wire.NegotiateSigningRequired
	}
	rand.Read(req.ClientGUID[:])
	rand.Read(c.preauthSalt[:])
	req.Contexts = []wire.NegotiateContext{
		{Type: wire.ContextPreauthIntegrity, Data: wire.EncodePreauthIntegrity(wire.PreauthIntegrity{
			HashAlgorithms: []uint16{wire.HashSHA512}, Salt: c.preauthSalt[:]})},
		{Type: wire.ContextEncryption, Data: wire.EncodeEncryptionCapabilities(wire.EncryptionCapabilities{Ciphers: c.cfg.Ciphers})},
		{Type: wire.ContextSigning, Data: encodeU16List(c.cfg.SigningAlgorithms)},
	}
	cl, err := c.roundTrip(wire.CmdNegotiate, 0, 0, &req, nil, nil, false)
	if err != nil {
		return fmt.Errorf("fastclient: negotiate: %w", err)
	}
	defer c.release(cl)
	if err := cl.status(); err != nil {
		return err
	}
	var resp wire.NegotiateResponse
	if err := resp.Decode(cl.msg); err != nil {
		return fmt.Errorf("fastclient: negotiate response: %w", err)
	}
	if resp.DialectRevision != wire.Dialect311 {
		return fmt.Errorf("fastclient: server chose dialect %#04x, want 3.1.1", resp.DialectRevision)
	}
	c.connPreauth.Update(cl.msg)
	c.Dialect = resp.DialectRevision
	c.serverSignReq = resp.SecurityMode&wire.NegotiateSigningRequired != 0
	c.SigningAlg = wire.SigningAESCMAC // without a signing context ([MS-SMB2] 3.2.5.2)
	preauthSeen := false
	for _, x := range resp.Contexts {
		switch x.Type {
		case wire.ContextPreauthIntegrity:
			p, err := wire.DecodePreauthIntegrity(x.Data)
			if err != nil || len(p.HashAlgorithms) != 1 || p.HashAlgorithms[0] != wire.HashSHA512 {
				return fmt.Errorf("fastclient: bad preauth integrity context (%v)", err)
			}
			preauthSeen = true
		case wire.ContextEncryption:
			e, err := wire.DecodeEncryptionCapabilities(x.Data)
			if err != nil || len(e.Ciphers) != 1 {
				return fmt.Errorf("fastclient: bad encryption context (%v)", err)
			}
			c.Cipher = e.Ciphers[0] // 0: the server has no common cipher
		case wire.ContextSigning:
			s, err := wire.DecodeSigningCapabilities(x.Data)
			if err != nil || len(s.SigningAlgorithms) != 1 {
				return fmt.Errorf("fastclient: bad signing context (%v)", err)
			}
			c.SigningAlg = s.SigningAlgorithms[0]
		}
	}
	if !preauthSeen {
		return errors.New("fastclient: 3.1.1 response without a preauth integrity context")
	}
	c.MaxRead = int(min(resp.MaxReadSize, uint32(c.cfg.MaxIO)))
	c.MaxWrite = int(min(resp.MaxWriteSize, uint32(c.cfg.MaxIO)))
	c.MaxTransact = int(min(resp.MaxTransactSize, uint32(c.cfg.MaxIO)))
	if resp.Capabilities&wire.GlobalCapLargeMTU == 0 {
		c.MaxRead, c.MaxWrite, c.MaxTransact = min(c.MaxRead, creditUnit), min(c.MaxWrite, creditUnit), min(c.MaxTransact, creditUnit)
	}
	if c.MaxRead < 4096 || c.MaxWrite < 4096 {
		return fmt.Errorf("fastclient: server's MaxRead %d / MaxWrite %d too small", c.MaxRead, c.MaxWrite)
	}
	return nil
}

func encodeU16List(v []uint16) []byte {
	b := binary.LittleEndian.AppendUint16(nil, uint16(len(v)))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint16(b, x)
	}
	return b
}

// sessionSetup authenticates with NTLMv2 (raw NTLMSSP tokens), derives the
// 3.1.1 keys from the session's preauth hash and checks the signature of
// the final response ([MS-SMB2] 3.2.5.3.1).
func (c *Client) sessionSetup() error {
	nt := ntlmtest.NewClient(c.cfg.User, c.cfg.Domain, c.cfg.Password)
	c.sessPreauth = c.connPreauth
	req := wire.SessionSetupRequest{SecurityMode: wire.NegotiateSigningEnabled, SecurityBuffer: nt.Negotiate()}
	if c.cfg.RequireSigning {
		req.SecurityMode |= wire.NegotiateSigningRequired
	}
	cl, err := c.roundTrip(wire.CmdSessionSetup, 0, 1, &req, nil, nil, false)
	if err != nil {
		return fmt.Errorf("fastclient: session setup: %w", err)
	}
	if st := wire.Status(cl.hdr.Status); st != wire.StatusMoreProcessingRequired {
		c.release(cl)
		return fmt.Errorf("fastclient: session setup 1: %w", &ResponseError{wire.CmdSessionSetup, st})
	}
	c.sessPreauth.Update(cl.msg)
	c.sessionID = cl.hdr.SessionID
	var ss wire.SessionSetupResponse
	if err := ss.Decode(cl.msg); err != nil {
		c.release(cl)
		return fmt.Errorf("fastclient: session setup 1: %w", err)
	}
	auth, key, err := nt.Authenticate(append([]byte(nil), ss.SecurityBuffer...))
	c.release(cl)
	if err != nil {
		return fmt.Errorf("fastclient: NTLM: %w", err)
	}
	req.SecurityBuffer = auth
	cl, err = c.roundTrip(wire.CmdSessionSetup, 0, 1, &req, nil, nil, false)
	if err != nil {
		return fmt.Errorf("fastclient: session setup: %w", err)
	}
	defer c.release(cl)
	if err := cl.status(); err != nil {
		return err
	}
	if err := ss.Decode(cl.msg); err != nil {
		return fmt.Errorf("fastclient: session setup 2: %w", err)
	}
	if ss.SessionFlags&(wire.SessionFlagIsGuest|wire.SessionFlagIsNull) != 0 {
		return fmt.Errorf("fastclient: logged on as guest or anonymous (flags %#x)", ss.SessionFlags)
	}
	keys := smbcrypto.DeriveKeys(c.Dialect, key, c.sessPreauth[:], c.Cipher)
	if c.signer, err = smbcrypto.NewSigner(c.Dialect, c.SigningAlg, keys.Signing); err != nil {
		return err
	}
	if !c.signer.Verify(cl.msg) {
		return errors.New("fastclient: final SESSION_SETUP response not signed with the session key")
	}
	if c.Cipher != 0 {
		if c.enc, err = smbcrypto.NewEncryptor(c.Cipher, keys.ServerIn); err != nil {
			return err
		}
		if c.dec, err = smbcrypto.NewDecryptor(c.Cipher, keys.ServerOut); err != nil {
			return err
		}
	}
	c.sealSession = ss.SessionFlags&wire.SessionFlagEncryptData != 0
	if (c.sealSession || c.cfg.EncryptAll) && c.enc == nil {
		return errors.New("fastclient: encryption needed but no cipher was negotiated")
	}
	c.sign = c.cfg.RequireSigning || c.serverSignReq
	c.negotiatedFlags = ss.SessionFlags
	c.sessionReady.Store(true)
	return nil
}

// Signing reports whether requests are signed (when not sealed).
func (c *Client) Signing() bool { return c.sign }

// WireBytes returns the bytes sent and received on the connection so far.
func (c *Client) WireBytes() (sent, recv int64) { return c.sent.Load(), c.recv.Load() }

// MaxInFlight returns the largest number of requests that were waiting
// for their responses at the same time.
func (c *Client) MaxInFlight() int {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	return c.maxInFlight
}

// Credits returns the credits the client holds now.
func (c *Client) Credits() uint32 { return c.credits.balance() }
