package directory

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

func testKey(t testing.TB) types.EncryptionKey {
	k := make([]byte, 32)
	rand.Read(k)
	return types.EncryptionKey{KeyType: 18, KeyValue: k} // aes256-cts-hmac-sha1-96
}

// acceptorToken is a wrap token as the DC sends it: integrity only, from
// the acceptor, under its subkey, its body rotated right by rrc.
func acceptorToken(t testing.TB, key types.EncryptionKey, payload []byte, rrc int) []byte {
	t.Helper()
	wt := gssapi.WrapToken{Flags: flagSentByAcc | flagAcceptorSubkey, EC: 12, SndSeqNum: 7, Payload: payload}
	if err := wt.SetCheckSum(key, keyusage.GSSAPI_ACCEPTOR_SEAL); err != nil {
		t.Fatal(err)
	}
	b, err := wt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if rrc > 0 {
		body := b[wrapHeader:]
		r := len(body) - rrc%len(body)
		b = append(append(append([]byte(nil), b[:wrapHeader]...), body[r:]...), body[:r]...)
		binary.BigEndian.PutUint16(b[6:8], uint16(rrc))
	}
	return b
}

// TestUnwrap checks the DC's wrap tokens: accepted with the right key
// (rotated or not), refused when changed, cut short, sealed, sent by the
// initiator, or checked with another key.
func TestUnwrap(t *testing.T) {
	key := testKey(t)
	payload := []byte("\x07\x00\x10\x00")
	for _, rrc := range []int{0, 12, 28, 1000} {
		got, err := unwrap(acceptorToken(t, key, payload, rrc), key)
		if err != nil || !bytes.Equal(got, payload) {
			t.Errorf("rrc %d: %q, %v", rrc, got, err)
		}
	}
	good := acceptorToken(t, key, payload, 0)
	bad := map[string][]byte{"short": good[:10], "empty": nil}
	flip := append([]byte(nil), good...)
	flip[wrapHeader] ^= 1
	bad["changed payload"] = flip
	seq := append([]byte(nil), good...)
	seq[15] ^= 1
	bad["changed sequence number"] = seq
	sealed := append([]byte(nil), good...)
	sealed[2] |= flagSealed
	bad["sealed"] = sealed
	fromInit := append([]byte(nil), good...)
	fromInit[2] &^= flagSentByAcc
	bad["from the initiator"] = fromInit
	ec := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(ec[4:6], 0xFFFF)
	bad["checksum longer than the token"] = ec
	for name, b := range bad {
		if _, err := unwrap(b, key); !errors.Is(err, errWrap) {
			t.Errorf("%s: %v, want errWrap", name, err)
		}
	}
	if _, err := unwrap(good, testKey(t)); !errors.Is(err, errWrap) {
		t.Errorf("another key: %v, want errWrap", err)
	}
}

// TestSASLConn checks the layer under go-ldap: plain before activation;
// after it, what is written goes out as length-prefixed initiator tokens
// and what the DC sends in several buffers is read back unwrapped, and an
// oversized or forged buffer is an error, not a hang or an allocation.
func TestSASLConn(t *testing.T) {
	key := testKey(t)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := &saslConn{Conn: a}
	c.arm(key, true)
	go func() {
		c.Write([]byte("plain"))
		c.activate()
		c.Write([]byte("wrapped request"))
	}()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(b, buf); err != nil || string(buf) != "plain" {
		t.Fatalf("plain write: %q %v", buf, err)
	}
	var n [4]byte
	if _, err := io.ReadFull(b, n[:]); err != nil {
		t.Fatal(err)
	}
	tok := make([]byte, binary.BigEndian.Uint32(n[:]))
	if _, err := io.ReadFull(b, tok); err != nil {
		t.Fatal(err)
	}
	var wt gssapi.WrapToken
	if err := wt.Unmarshal(tok, false); err != nil || string(wt.Payload) != "wrapped request" || wt.Flags != flagAcceptorSubkey {
		t.Fatalf("written token %+v %v", wt, err)
	}
	if ok, err := wt.Verify(key, keyusage.GSSAPI_INITIATOR_SEAL); !ok {
		t.Fatalf("written token's checksum: %v", err)
	}

	go func() {
		for _, p := range []string{"first ", "second"} {
			tok := acceptorToken(t, key, []byte(p), 0)
			b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(tok))))
			b.Write(tok)
		}
		b.Write(binary.BigEndian.AppendUint32(nil, maxWrapped+1))
	}()
	got := make([]byte, len("first second"))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "first second" {
		t.Fatalf("read %q, %v", got, err)
	}
	if _, err := c.Read(got); !errors.Is(err, errWrap) {
		t.Fatalf("oversized buffer: %v, want errWrap", err)
	}
}

// FuzzUnwrap checks that no token from the wire panics unwrap, and that
// one it accepts verifies under the key (never by accident of parsing).
func FuzzUnwrap(f *testing.F) {
	key := types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{1}, 32)}
	f.Add(acceptorToken(f, key, []byte("\x07\x00\x10\x00"), 0))
	f.Add(acceptorToken(f, key, []byte("x"), 28))
	f.Add([]byte{5, 4, 1, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := unwrap(b, key)
		if err == nil && len(p) > len(b) {
			t.Fatalf("payload of %d bytes from a token of %d", len(p), len(b))
		}
	})
}
