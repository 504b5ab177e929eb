package smbserver

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"sofs.io/sofs/auth/ntlm/ntlmtest"
	"sofs.io/sofs/smbserver/smbcrypto"
	"sofs.io/sofs/smbserver/wire"
)

// fsClient is a minimal raw SMB 2.1 client for tests of the file
// handlers: it sends exactly the fields a test sets (create options,
// contexts, offsets a library client would refuse to send) and returns
// the status and body of each response. It signs every request after
// SESSION_SETUP with HMAC-SHA256 ([MS-SMB2] 3.1.4.1) and does not verify
// response signatures.
type fsClient struct {
	t      *testing.T
	nc     net.Conn
	mid    uint64
	sid    uint64
	tid    uint32
	signer smbcrypto.Signer
}

const fsDialect = 0x0210

// dialFS connects to ts, authenticates as test/test123 and connects to
// the share.
func dialFS(t *testing.T, ts *testServer) *fsClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &fsClient{t: t, nc: nc}
	neg := wire.NegotiateRequest{SecurityMode: 1, Dialects: []uint16{fsDialect}}
	if h, _ := c.call(wire.CmdNegotiate, neg.AppendTo); wire.Status(h.Status) != wire.StatusSuccess {
		t.Fatalf("NEGOTIATE: %#x", h.Status)
	}
	cl := ntlmtest.NewClient("test", "", "test123")
	ss := wire.SessionSetupRequest{SecurityMode: 1, SecurityBuffer: fsSpnegoInit(cl.Negotiate())}
	h, msg := c.call(wire.CmdSessionSetup, ss.AppendTo)
	if wire.Status(h.Status) != wire.StatusMoreProcessingRequired {
		t.Fatalf("SESSION_SETUP 1: %#x", h.Status)
	}
	c.sid = h.SessionID
	var sr wire.SessionSetupResponse
	if err := sr.Decode(msg); err != nil {
		t.Fatal(err)
	}
	challenge := fsSpnegoToken(t, sr.SecurityBuffer)
	auth, key, err := cl.Authenticate(challenge)
	if err != nil {
		t.Fatal(err)
	}
	ss = wire.SessionSetupRequest{SecurityMode: 1, SecurityBuffer: fsSpnegoResp(auth)}
	if h, _ := c.call(wire.CmdSessionSetup, ss.AppendTo); wire.Status(h.Status) != wire.StatusSuccess {
		t.Fatalf("SESSION_SETUP 2: %#x", h.Status)
	}
	if c.signer, err = smbcrypto.NewSigner(fsDialect, 0, key); err != nil {
		t.Fatal(err)
	}
	tc := wire.TreeConnectRequest{Path: `\\127.0.0.1\share`}
	h, _ = c.call(wire.CmdTreeConnect, tc.AppendTo)
	if wire.Status(h.Status) != wire.StatusSuccess {
		t.Fatalf("TREE_CONNECT: %#x", h.Status)
	}
	c.tid = h.TreeID
	return c
}

// call sends one request whose body body appends, and returns the final
// response (interim STATUS_PENDING responses are skipped).
func (c *fsClient) call(cmd wire.Command, body func([]byte) []byte) (wire.Header, []byte) {
	c.t.Helper()
	h := wire.Header{CreditCharge: 1, Command: cmd, Credits: 64, MessageID: c.mid, TreeID: c.tid, SessionID: c.sid}
	c.mid++
	if c.signer != nil {
		h.Flags |= wire.FlagSigned
	}
	msg := body(h.AppendTo(make([]byte, 0, 256)))
	if c.signer != nil {
		c.signer.Sign(msg)
	}
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(msg)))
	c.nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(append(frame, msg...)); err != nil {
		c.t.Fatalf("%v: write: %v", cmd, err)
	}
	for range 8 {
		var lenb [4]byte
		if _, err := io.ReadFull(c.nc, lenb[:]); err != nil {
			c.t.Fatalf("%v: read: %v", cmd, err)
		}
		resp := make([]byte, binary.BigEndian.Uint32(lenb[:]))
		if _, err := io.ReadFull(c.nc, resp); err != nil {
			c.t.Fatalf("%v: read: %v", cmd, err)
		}
		rh, err := wire.DecodeHeader(resp)
		if err != nil {
			c.t.Fatalf("%v: %v", cmd, err)
		}
		if wire.Status(rh.Status) == wire.StatusPending && rh.IsAsync() {
			continue
		}
		return rh, resp
	}
	c.t.Fatalf("%v: no final response", cmd)
	return wire.Header{}, nil
}

// create sends req and returns the status and, on success, the response.
func (c *fsClient) create(req wire.CreateRequest) (wire.Status, wire.CreateResponse) {
	c.t.Helper()
	if req.ImpersonationLevel == 0 {
		req.ImpersonationLevel = 2
	}
	if req.ShareAccess == 0 {
		req.ShareAccess = 7
	}
	h, msg := c.call(wire.CmdCreate, req.AppendTo)
	var resp wire.CreateResponse
	if wire.Status(h.Status) == wire.StatusSuccess {
		if err := resp.Decode(msg); err != nil {
			c.t.Fatal(err)
		}
	}
	return wire.Status(h.Status), resp
}

// mustCreate is create that fails the test on an error status.
func (c *fsClient) mustCreate(req wire.CreateRequest) wire.CreateResponse {
	c.t.Helper()
	st, resp := c.create(req)
	if st != wire.StatusSuccess {
		c.t.Fatalf("create %q: %#x", req.Name, uint32(st))
	}
	return resp
}

func (c *fsClient) close(id wire.FileID) {
	c.t.Helper()
	req := wire.CloseRequest{FileID: id}
	if h, _ := c.call(wire.CmdClose, req.AppendTo); wire.Status(h.Status) != wire.StatusSuccess {
		c.t.Fatalf("close: %#x", h.Status)
	}
}

func (c *fsClient) read(id wire.FileID, off uint64, n uint32) (wire.Status, []byte) {
	c.t.Helper()
	req := wire.ReadRequest{FileID: id, Offset: off, Length: n}
	h, msg := c.call(wire.CmdRead, req.AppendTo)
	var resp wire.ReadResponse
	if wire.Status(h.Status) == wire.StatusSuccess {
		if err := resp.Decode(msg); err != nil {
			c.t.Fatal(err)
		}
	}
	return wire.Status(h.Status), resp.Data
}

func (c *fsClient) write(id wire.FileID, off uint64, data []byte) wire.Status {
	c.t.Helper()
	req := wire.WriteRequest{FileID: id, Offset: off, Data: data}
	h, _ := c.call(wire.CmdWrite, req.AppendTo)
	return wire.Status(h.Status)
}

func (c *fsClient) queryInfo(id wire.FileID, infoType, class uint8, addl uint32) (wire.Status, []byte) {
	c.t.Helper()
	req := wire.QueryInfoRequest{InfoType: infoType, FileInfoClass: class, OutputBufferLength: 65536, AdditionalInformation: addl, FileID: id}
	h, msg := c.call(wire.CmdQueryInfo, req.AppendTo)
	var resp wire.QueryInfoResponse
	if wire.Status(h.Status) == wire.StatusSuccess {
		if err := resp.Decode(msg); err != nil {
			c.t.Fatal(err)
		}
	}
	return wire.Status(h.Status), resp.Buffer
}

func (c *fsClient) setInfo(id wire.FileID, infoType, class uint8, buf []byte) wire.Status {
	c.t.Helper()
	req := wire.SetInfoRequest{InfoType: infoType, FileInfoClass: class, Buffer: buf, FileID: id}
	h, _ := c.call(wire.CmdSetInfo, req.AppendTo)
	return wire.Status(h.Status)
}

func (c *fsClient) queryDir(id wire.FileID, class, flags uint8, pattern string, max uint32) (wire.Status, []byte) {
	c.t.Helper()
	req := wire.QueryDirectoryRequest{FileInformationClass: class, Flags: flags, FileID: id, FileName: pattern, OutputBufferLength: max}
	h, msg := c.call(wire.CmdQueryDirectory, req.AppendTo)
	var resp wire.QueryDirectoryResponse
	if wire.Status(h.Status) == wire.StatusSuccess {
		if err := resp.Decode(msg); err != nil {
			c.t.Fatal(err)
		}
	}
	return wire.Status(h.Status), resp.Buffer
}

// fsSpnegoInit wraps an NTLM NEGOTIATE in a GSS NegTokenInit offering
// only NTLMSSP ([MS-SPNG], RFC 4178).
func fsSpnegoInit(negotiate []byte) []byte {
	mechTypes := []byte{0x30, 0x0c, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a}
	body := append(fsTLV(0xa0, mechTypes), fsTLV(0xa2, fsTLV(0x04, negotiate))...)
	spnegoOID := []byte{0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02}
	return fsTLV(0x60, append(spnegoOID, fsTLV(0xa0, fsTLV(0x30, body))...))
}

// fsSpnegoResp wraps an NTLM AUTHENTICATE in a NegTokenResp without a
// mechListMIC (which is optional when the NTLM MIC protects the exchange).
func fsSpnegoResp(auth []byte) []byte {
	return fsTLV(0xa1, fsTLV(0x30, fsTLV(0xa2, fsTLV(0x04, auth))))
}

// fsSpnegoToken extracts the responseToken [2] of a NegTokenResp.
func fsSpnegoToken(t *testing.T, b []byte) []byte {
	t.Helper()
	_, b = fsReadTLV(t, b) // [1] NegTokenResp
	_, b = fsReadTLV(t, b) // SEQUENCE
	for len(b) > 0 {
		tag, content := fsReadTLV(t, b)
		hdr := len(b) - fsRest(t, b)
		if tag == 0xa2 {
			_, tok := fsReadTLV(t, content)
			return tok
		}
		b = b[hdr:]
	}
	t.Fatal("no responseToken in NegTokenResp")
	return nil
}

func fsTLV(tag byte, c []byte) []byte {
	switch n := len(c); {
	case n < 0x80:
		return append([]byte{tag, byte(n)}, c...)
	case n < 0x100:
		return append([]byte{tag, 0x81, byte(n)}, c...)
	default:
		return append([]byte{tag, 0x82, byte(n >> 8), byte(n)}, c...)
	}
}

// fsReadTLV returns the tag and content of the DER element at the start
// of b.
func fsReadTLV(t *testing.T, b []byte) (byte, []byte) {
	t.Helper()
	if len(b) < 2 {
		t.Fatal("short DER")
	}
	n, off := int(b[1]), 2
	if n&0x80 != 0 {
		k := n & 0x7f
		n, off = 0, 2+k
		for i := 0; i < k; i++ {
			n = n<<8 | int(b[2+i])
		}
	}
	if off+n > len(b) {
		t.Fatal("DER length past end")
	}
	return b[0], b[off : off+n]
}

// fsRest returns how many bytes follow the DER element at the start of b.
func fsRest(t *testing.T, b []byte) int {
	_, c := fsReadTLV(t, b)
	end := len(c) + (cap(b) - cap(c)) // offset of content end from b's start
	return len(b) - end
}
