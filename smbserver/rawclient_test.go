package smbserver

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"sofs.io/sofs/auth/ntlm/ntlmtest"
	"sofs.io/sofs/smbserver/smbcrypto"
	"sofs.io/sofs/smbserver/wire"
)

// rawConn is a minimal SMB2 client over one TCP connection for tests that
// need to control the protocol exactly: compounds, signing of individual
// messages, CANCEL, and reading responses frame by frame. It speaks 2.1 and
// 3.0.2 (no negotiate contexts, no preauth hash) and never encrypts.
type rawConn struct {
	t       testing.TB
	nc      net.Conn
	br      *bufio.Reader
	mid     uint64
	dialect uint16
	// serverCaps are the NEGOTIATE response's Capabilities.
	serverCaps uint32
}

// rawSession is an authenticated session seen from the client.
type rawSession struct {
	id     uint64
	signer smbcrypto.Signer
}

type appender interface{ AppendTo([]byte) []byte }

func dialRaw(t testing.TB, addr string, dialect uint16) *rawConn {
	t.Helper()
	var g [16]byte
	rand.Read(g[:])
	return dialRawGUID(t, addr, dialect, g)
}

// dialRawGUID is dialRaw with a given ClientGuid (the connections of one
// multichannel client share it).
func dialRawGUID(t testing.TB, addr string, dialect uint16, clientGUID [16]byte) *rawConn {
	t.Helper()
	return dialRawCaps(t, addr, dialect, clientGUID, 0)
}

// dialRawCaps is dialRawGUID offering capabilities in the NEGOTIATE.
func dialRawCaps(t testing.TB, addr string, dialect uint16, clientGUID [16]byte, caps uint32) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &rawConn{t: t, nc: nc, br: bufio.NewReader(nc), dialect: dialect}
	req := wire.NegotiateRequest{SecurityMode: wire.NegotiateSigningEnabled, Dialects: []uint16{dialect}, ClientGUID: clientGUID, Capabilities: caps}
	resp := c.roundTrip(nil, c.header(wire.CmdNegotiate, 0, 0), &req)
	if st := status(resp); st != wire.StatusSuccess {
		t.Fatalf("negotiate: %v", st)
	}
	var nr wire.NegotiateResponse
	if err := nr.Decode(resp); err != nil {
		t.Fatal(err)
	}
	c.serverCaps = nr.Capabilities
	return c
}

// header returns a sync request header with the next MessageId.
func (c *rawConn) header(cmd wire.Command, sid uint64, tid uint32) wire.Header {
	h := wire.Header{Command: cmd, CreditCharge: 1, Credits: 64, MessageID: c.mid, SessionID: sid, TreeID: tid}
	c.mid++
	return h
}

// message builds one request message.
func message(h wire.Header, body appender) []byte {
	return body.AppendTo(h.AppendTo(nil))
}

// send writes msgs as one compound frame, signing each with signer when it
// is not nil.
func (c *rawConn) send(signer smbcrypto.Signer, msgs ...[]byte) {
	c.t.Helper()
	var frame []byte
	for i, m := range msgs {
		m = append([]byte(nil), m...)
		if i < len(msgs)-1 {
			for len(m)%8 != 0 {
				m = append(m, 0)
			}
			binary.LittleEndian.PutUint32(m[wire.OffNextCommand:], uint32(len(m)))
		}
		if signer != nil {
			signer.Sign(m)
		}
		frame = append(frame, m...)
	}
	var nb [4]byte
	binary.BigEndian.PutUint32(nb[:], uint32(len(frame)))
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.nc.Write(append(nb[:], frame...)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// recvFrame reads one frame and splits it into its messages.
func (c *rawConn) recvFrame() [][]byte {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var nb [4]byte
	if _, err := io.ReadFull(c.br, nb[:]); err != nil {
		c.t.Fatalf("recv: %v", err)
	}
	frame := make([]byte, binary.BigEndian.Uint32(nb[:]))
	if _, err := io.ReadFull(c.br, frame); err != nil {
		c.t.Fatalf("recv: %v", err)
	}
	var msgs [][]byte
	for {
		h, err := wire.DecodeHeader(frame)
		if err != nil {
			c.t.Fatalf("response header: %v", err)
		}
		if h.NextCommand == 0 {
			return append(msgs, frame)
		}
		msgs = append(msgs, frame[:h.NextCommand])
		frame = frame[h.NextCommand:]
	}
}

// recvOne reads a frame that must hold exactly one message.
func (c *rawConn) recvOne() []byte {
	c.t.Helper()
	msgs := c.recvFrame()
	if len(msgs) != 1 {
		c.t.Fatalf("frame holds %d responses, want 1", len(msgs))
	}
	return msgs[0]
}

func (c *rawConn) roundTrip(signer smbcrypto.Signer, h wire.Header, body appender) []byte {
	c.t.Helper()
	c.send(signer, message(h, body))
	return c.recvOne()
}

func hdrOf(t testing.TB, msg []byte) wire.Header {
	t.Helper()
	h, err := wire.DecodeHeader(msg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func status(msg []byte) wire.Status {
	return wire.Status(binary.LittleEndian.Uint32(msg[wire.OffStatus:]))
}

// login authenticates user with raw NTLMSSP tokens and returns the session
// with its signing key.
func (c *rawConn) login(user, pass string) *rawSession {
	c.t.Helper()
	cl := ntlmtest.NewClient(user, "", pass)
	req := wire.SessionSetupRequest{SecurityMode: wire.NegotiateSigningEnabled, SecurityBuffer: cl.Negotiate()}
	resp := c.roundTrip(nil, c.header(wire.CmdSessionSetup, 0, 0), &req)
	if st := status(resp); st != wire.StatusMoreProcessingRequired {
		c.t.Fatalf("session setup 1: %v", st)
	}
	var ss wire.SessionSetupResponse
	if err := ss.Decode(resp); err != nil {
		c.t.Fatal(err)
	}
	sid := hdrOf(c.t, resp).SessionID
	auth, key, err := cl.Authenticate(ss.SecurityBuffer)
	if err != nil {
		c.t.Fatal(err)
	}
	req.SecurityBuffer = auth
	resp = c.roundTrip(nil, c.header(wire.CmdSessionSetup, sid, 0), &req)
	if st := status(resp); st != wire.StatusSuccess {
		c.t.Fatalf("session setup 2: %v", st)
	}
	alg := smbcrypto.SigningHMACSHA256
	if c.dialect >= Dialect300 {
		alg = smbcrypto.SigningAESCMAC
	}
	sg, err := smbcrypto.NewSigner(c.dialect, alg, smbcrypto.DeriveKeys(c.dialect, key, nil, 0).Signing)
	if err != nil {
		c.t.Fatal(err)
	}
	if !sg.Verify(resp) {
		c.t.Fatal("final SESSION_SETUP response not signed with the session key")
	}
	return &rawSession{id: sid, signer: sg}
}

func (c *rawConn) treeConnect(s *rawSession, share string) uint32 {
	c.t.Helper()
	req := wire.TreeConnectRequest{Path: `\\127.0.0.1\` + share}
	resp := c.roundTrip(s.signer, c.header(wire.CmdTreeConnect, s.id, 0), &req)
	if st := status(resp); st != wire.StatusSuccess {
		c.t.Fatalf("tree connect: %v", st)
	}
	return hdrOf(c.t, resp).TreeID
}

// create opens name (a directory when dir is set), creating it if needed.
func (c *rawConn) create(s *rawSession, tid uint32, name string, dir bool) wire.FileID {
	c.t.Helper()
	resp := c.roundTrip(s.signer, c.header(wire.CmdCreate, s.id, tid), createReq(name, dir))
	if st := status(resp); st != wire.StatusSuccess {
		c.t.Fatalf("create %q: %v", name, st)
	}
	var cr wire.CreateResponse
	if err := cr.Decode(resp); err != nil {
		c.t.Fatal(err)
	}
	return cr.FileID
}

func createReq(name string, dir bool) *wire.CreateRequest {
	req := &wire.CreateRequest{
		ImpersonationLevel: 2,
		DesiredAccess:      0x001F01FF,
		ShareAccess:        7,
		CreateDisposition:  3, // FILE_OPEN_IF
		Name:               name,
		FileAttributes:     0x80,
	}
	if dir {
		req.CreateOptions = 1 // FILE_DIRECTORY_FILE
		req.FileAttributes = 0x10
	}
	return req
}

// expect checks a response's command and status.
func expect(t testing.TB, msg []byte, cmd wire.Command, st wire.Status) wire.Header {
	t.Helper()
	h := hdrOf(t, msg)
	if h.Command != cmd || wire.Status(h.Status) != st {
		t.Fatalf("got %v %v (%#x), want %v %v", h.Command, wire.Status(h.Status), h.Status, cmd, st)
	}
	return h
}

func ntlmtestClient(user, pass string) *ntlmtest.Client { return ntlmtest.NewClient(user, "", pass) }
