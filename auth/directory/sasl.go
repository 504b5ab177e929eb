package directory

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// SASL GSSAPI security layers (RFC 4752 3.3): the bit masks of the first
// octet the server offers and the client chooses.
const (
	layerNone      = 0x01
	layerIntegrity = 0x02
)

// Wrap token framing (RFC 4121 4.2.6.2).
const (
	wrapHeader         = 16
	flagSentByAcc      = 0x01
	flagSealed         = 0x02
	flagAcceptorSubkey = 0x04
	// maxWrapped bounds one SASL buffer from the DC, and is the receive
	// size this client announces: a lookup's answer is one entry of one
	// attribute, a few hundred bytes; 1 MiB leaves room for referrals.
	maxWrapped = 1 << 20
)

// errWrap is wrapped by every refusal of a wrap token from the DC.
var errWrap = errors.New("bad SASL wrap token")

// saslClient is the GSSAPI side of a SASL bind (RFC 4752) that asks for
// the integrity layer: a DC that requires LDAP signing (Samba's default)
// refuses a bind without one on a connection without TLS. It implements
// go-ldap's GSSAPIClient; the layer itself is saslConn.
type saslClient struct {
	kc   *client.Client
	conn *saslConn
	// key is the session key of the service ticket; subkey the
	// acceptor's subkey from its AP-REP, which the wrap tokens use
	// when it is there ([RFC 4121] 2).
	key, subkey types.EncryptionKey
}

func (c *saslClient) InitSecContext(target string, token []byte) ([]byte, bool, error) {
	return c.InitSecContextWithOptions(target, token, nil)
}

func (c *saslClient) InitSecContextWithOptions(target string, token []byte, opts []int) ([]byte, bool, error) {
	if token == nil {
		tkt, key, err := c.kc.GetServiceTicket(target)
		if err != nil {
			return nil, false, err
		}
		c.key = key
		flags := []int{gssapi.ContextFlagInteg, gssapi.ContextFlagMutual}
		req, err := spnego.NewKRB5TokenAPREQ(c.kc, tkt, key, flags, opts)
		if err != nil {
			return nil, false, err
		}
		out, err := req.Marshal()
		return out, true, err
	}
	var rep spnego.KRB5Token
	if err := rep.Unmarshal(token); err != nil {
		return nil, false, fmt.Errorf("DC's GSSAPI reply: %w", err)
	}
	if rep.IsKRBError() {
		return nil, false, rep.KRBError
	}
	if !rep.IsAPRep() {
		return nil, false, errors.New("DC's GSSAPI reply is not an AP-REP")
	}
	plain, err := crypto.DecryptEncPart(rep.APRep.EncPart, c.key, keyusage.AP_REP_ENCPART)
	if err != nil {
		// Only the DC holding the service key can make this: mutual
		// authentication fails here.
		return nil, false, fmt.Errorf("DC's AP-REP: %w", err)
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(plain); err != nil {
		return nil, false, fmt.Errorf("DC's AP-REP: %w", err)
	}
	c.subkey = part.Subkey
	// The context is complete; the next token is the SASL negotiation.
	return []byte{}, false, nil
}

// NegotiateSaslAuth reads the layers the DC offers and chooses
// integrity; from the end of the bind on, saslConn wraps the connection.
func (c *saslClient) NegotiateSaslAuth(token []byte, authzid string) ([]byte, error) {
	key := c.wrapKey()
	offer, err := unwrap(token, key)
	if err != nil {
		return nil, err
	}
	if len(offer) != 4 {
		return nil, fmt.Errorf("%w: security layer offer of %d bytes", errWrap, len(offer))
	}
	if offer[0]&layerIntegrity == 0 {
		return nil, fmt.Errorf("the DC offers no integrity layer (layers %#x)", offer[0])
	}
	choice := make([]byte, 4, 4+len(authzid))
	binary.BigEndian.PutUint32(choice, maxWrapped)
	choice[0] = layerIntegrity
	choice = append(choice, authzid...)
	c.conn.arm(key, c.subkey.KeyType != 0)
	return c.conn.wrap(choice)
}

func (c *saslClient) DeleteSecContext() error { return nil }

func (c *saslClient) wrapKey() types.EncryptionKey {
	if c.subkey.KeyType != 0 {
		return c.subkey
	}
	return c.key
}

// unwrap checks a wrap token from the acceptor, integrity only, and
// returns its payload. A token whose checksum does not verify with key
// was not made by the DC (or was changed on the way) and is refused.
func unwrap(b []byte, key types.EncryptionKey) ([]byte, error) {
	if len(b) < wrapHeader {
		return nil, fmt.Errorf("%w: %d bytes", errWrap, len(b))
	}
	if b[0] != 0x05 || b[1] != 0x04 || b[3] != 0xFF {
		return nil, fmt.Errorf("%w: header % x", errWrap, b[:4])
	}
	flags := b[2]
	if flags&flagSentByAcc == 0 || flags&flagSealed != 0 {
		// Sealed tokens would mean the DC chose confidentiality, which
		// this client never asks for.
		return nil, fmt.Errorf("%w: flags %#x", errWrap, flags)
	}
	ec := int(binary.BigEndian.Uint16(b[4:6]))
	rrc := int(binary.BigEndian.Uint16(b[6:8]))
	body := b[wrapHeader:]
	if ec > len(body) {
		return nil, fmt.Errorf("%w: checksum of %d bytes in %d", errWrap, ec, len(body))
	}
	if rrc != 0 && len(body) > 0 {
		// The sender rotated the body right by RRC ([RFC 4121]
		// 4.2.5); undo it.
		r := rrc % len(body)
		body = append(append([]byte(nil), body[r:]...), body[:r]...)
	}
	wt := gssapi.WrapToken{
		Flags: flags, EC: uint16(ec), SndSeqNum: binary.BigEndian.Uint64(b[8:16]),
		Payload: body[:len(body)-ec], CheckSum: body[len(body)-ec:],
	}
	if ok, err := wt.Verify(key, keyusage.GSSAPI_ACCEPTOR_SEAL); !ok || err != nil {
		return nil, fmt.Errorf("%w: checksum: %v", errWrap, err)
	}
	return wt.Payload, nil
}

// saslConn is the SASL security layer under go-ldap: raw until the bind
// completes, then every buffer each way is a 4-byte length and a wrap
// token ([RFC 4422] 3.7, [RFC 4752] 3.3).
type saslConn struct {
	net.Conn

	// key wraps and unwraps once the layer is chosen; subkey says it is
	// the acceptor's subkey (flagged in every token). active is set when
	// the bind has succeeded: the bind response itself is plain.
	key    types.EncryptionKey
	subkey bool
	active atomic.Bool

	wmu sync.Mutex
	seq uint64

	rmu     sync.Mutex
	pending []byte // unwrapped bytes not yet read
	raw     []byte // wrapped bytes read ahead of a whole buffer
}

// arm sets the key of the layer, before the token that chooses it.
func (c *saslConn) arm(key types.EncryptionKey, subkey bool) {
	c.key, c.subkey = key, subkey
}

// activate switches to wrapped buffers; called once the bind has
// succeeded, before any other request is written.
func (c *saslConn) activate() { c.active.Store(true) }

// wrap makes a wrap token of p, integrity only, from the initiator.
func (c *saslConn) wrap(p []byte) ([]byte, error) {
	et, err := crypto.GetEtype(c.key.KeyType)
	if err != nil {
		return nil, err
	}
	c.wmu.Lock()
	seq := c.seq
	c.seq++
	c.wmu.Unlock()
	flags := byte(0)
	if c.subkey {
		flags = flagAcceptorSubkey
	}
	wt := gssapi.WrapToken{Flags: flags, EC: uint16(et.GetHMACBitLength() / 8), SndSeqNum: seq, Payload: p}
	if err := wt.SetCheckSum(c.key, keyusage.GSSAPI_INITIATOR_SEAL); err != nil {
		return nil, err
	}
	return wt.Marshal()
}

func (c *saslConn) Write(p []byte) (int, error) {
	if !c.active.Load() {
		return c.Conn.Write(p)
	}
	tok, err := c.wrap(p)
	if err != nil {
		return 0, err
	}
	buf := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(tok)), uint32(len(tok)))
	buf = append(buf, tok...)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.Conn.Write(buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *saslConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.pending) == 0 {
		if !c.active.Load() && len(c.raw) == 0 {
			// go-ldap's reader may sit here, in plain mode, from
			// before the bind ended; what it gets after activation
			// is wrapped, so the mode is decided when data arrives.
			buf := make([]byte, len(p))
			n, err := c.Conn.Read(buf)
			if !c.active.Load() {
				copy(p, buf[:n])
				return n, err
			}
			c.raw = append(c.raw, buf[:n]...)
			if err != nil && n == 0 {
				return 0, err
			}
			continue
		}
		if err := c.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// fill reads one whole SASL buffer and unwraps it into pending.
func (c *saslConn) fill() error {
	if err := c.readRaw(4); err != nil {
		return err
	}
	n := int(binary.BigEndian.Uint32(c.raw[:4]))
	if n > maxWrapped {
		return fmt.Errorf("%w: SASL buffer of %d bytes, more than %d", errWrap, n, maxWrapped)
	}
	if err := c.readRaw(4 + n); err != nil {
		return err
	}
	plain, err := unwrap(c.raw[4:4+n], c.key)
	if err != nil {
		return err
	}
	c.raw = c.raw[4+n:]
	c.pending = plain
	return nil
}

// readRaw reads until raw holds n bytes.
func (c *saslConn) readRaw(n int) error {
	for len(c.raw) < n {
		buf := make([]byte, max(n-len(c.raw), 4096))
		m, err := c.Conn.Read(buf)
		c.raw = append(c.raw, buf[:m]...)
		if err != nil {
			if errors.Is(err, io.EOF) && len(c.raw) >= n {
				break
			}
			return err
		}
	}
	return nil
}
