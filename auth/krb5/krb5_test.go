package krb5

import (
	"bytes"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// These tests build tickets with gokrb5's KDC-side helpers and a keytab
// made from a password: everything a KDC would do, without a PAC (the
// tests against Samba's AD DC in dc_test.go cover PACs).

const testRealm = "SOFS.TEST"

// staticKeys is a KeySource over an in-memory keytab.
type staticKeys struct{ kt *keytab.Keytab }

func (s staticKeys) Key(sname types.PrincipalName, realm string, kvno int, etype int32) (types.EncryptionKey, error) {
	return lookupKey(s.kt, sname, realm, kvno, etype)
}

// testKeytab holds the computer account SOFS1$ (kvno 2) and nothing else.
func testKeytab(t testing.TB) *keytab.Keytab {
	kt := keytab.New()
	if err := kt.AddEntry("SOFS1$", testRealm, "machine password", time.Now(), 2, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	return kt
}

// ticketFor issues a ticket for spn encrypted in kt's key of account.
func ticketFor(t testing.TB, kt *keytab.Keytab, account, spn string, end time.Time) (messages.Ticket, types.EncryptionKey) {
	t.Helper()
	now := time.Now().UTC()
	sname := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, spn)
	// NewTicket looks the key up under sname; make the keytab entry
	// answer to it by encrypting with the account's key directly.
	key, err := lookupKey(kt, types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, account), testRealm, 0, etypeID.AES256_CTS_HMAC_SHA1_96)
	if err != nil {
		t.Fatal(err)
	}
	skey, err := types.GenerateEncryptionKey(mustEtype(t, etypeID.AES256_CTS_HMAC_SHA1_96))
	if err != nil {
		t.Fatal(err)
	}
	etp := messages.EncTicketPart{
		Flags: types.NewKrbFlags(), Key: skey, CRealm: testRealm,
		CName:    types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "alice"),
		AuthTime: now, StartTime: now, EndTime: end,
	}
	return sealTicket(t, etp, sname, key, 2), skey
}

// sealTicket encrypts etp into a ticket for sname with key.
func sealTicket(t testing.TB, etp messages.EncTicketPart, sname types.PrincipalName, key types.EncryptionKey, kvno int) messages.Ticket {
	t.Helper()
	b, err := asn1.Marshal(etp)
	if err != nil {
		t.Fatal(err)
	}
	b = asn1tools.AddASNAppTag(b, asnAppTag.EncTicketPart)
	ed, err := crypto.GetEncryptedData(b, key, keyusage.KDC_REP_TICKET, kvno)
	if err != nil {
		t.Fatal(err)
	}
	return messages.Ticket{TktVNO: 5, Realm: testRealm, SName: sname, EncPart: ed}
}

func mustEtype(t testing.TB, id int32) etype.EType {
	e, err := crypto.GetEtype(id)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// apReqToken wraps an AP-REQ for tkt as a GSS-API token, with a subkey
// and sequence number when subkey is set, asking for mutual
// authentication.
func apReqToken(t testing.TB, tkt messages.Ticket, skey types.EncryptionKey, subkey bool, ctime time.Time) ([]byte, types.Authenticator) {
	t.Helper()
	return apReqTokenMutual(t, tkt, skey, subkey, true, ctime)
}

// apReqTokenMutual is apReqToken asking for mutual authentication or not.
func apReqTokenMutual(t testing.TB, tkt messages.Ticket, skey types.EncryptionKey, subkey, mutual bool, ctime time.Time) ([]byte, types.Authenticator) {
	t.Helper()
	return apReqTokenFlags(t, tkt, skey, subkey, mutual, 0, ctime)
}

// apReqTokenFlags is apReqTokenMutual with extra GSS-API flags (such as
// DCE style) in the authenticator checksum.
func apReqTokenFlags(t testing.TB, tkt messages.Ticket, skey types.EncryptionKey, subkey, mutual bool, extra uint32, ctime time.Time) ([]byte, types.Authenticator) {
	t.Helper()
	auth, err := types.NewAuthenticator(testRealm, types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	auth.CTime, auth.Cusec = ctime.UTC().Truncate(time.Second), ctime.Nanosecond()/1000
	if subkey {
		if err := auth.GenerateSeqNumberAndSubKey(skey.KeyType, 32); err != nil {
			t.Fatal(err)
		}
	}
	ck := make([]byte, 24)
	ck[0] = 16
	ck[20] = byte(gssapi.ContextFlagInteg)
	if mutual {
		ck[20] |= byte(gssapi.ContextFlagMutual)
	}
	ck[20] |= byte(extra)
	ck[21] |= byte(extra >> 8)
	auth.Cksum = types.Checksum{CksumType: chksumtype.GSSAPI, Checksum: ck}
	req, err := messages.NewAPReq(tkt, skey, auth)
	if err != nil {
		t.Fatal(err)
	}
	if mutual {
		types.SetFlag(&req.APOptions, flags.APOptionMutualRequired)
	}
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	tok := append(append([]byte{}, derKerberos5...), tokAPReq[:]...)
	tok = append(appendHeader(nil, 0x60, len(tok)+len(b)), append(tok, b...)...)
	return tok, auth
}

func newTestAcceptor(kt *keytab.Keytab, now func() time.Time) *Acceptor {
	return New(Config{Keys: staticKeys{kt}, Now: now})
}

func TestAcceptMutualAndReplay(t *testing.T) {
	kt := testKeytab(t)
	tkt, skey := ticketFor(t, kt, "SOFS1$", "cifs/sofs1.sofs.test", time.Now().Add(time.Hour))
	for _, subkey := range []bool{false, true} {
		tok, auth := apReqToken(t, tkt, skey, subkey, time.Now().Add(time.Duration(subkey2int(subkey))*time.Millisecond))
		a := newTestAcceptor(kt, nil)
		res, err := a.Accept(tok)
		if err != nil {
			t.Fatalf("subkey=%v: %v", subkey, err)
		}
		// The AP-REP must decrypt with the ticket's session key and
		// echo the authenticator's time (RFC 4120 3.2.4); its subkey
		// is the session key.
		acc := checkAPRep(t, res.ResponseToken, skey, auth)
		if !bytes.Equal(res.SessionKey, acc.KeyValue) || bytes.Equal(acc.KeyValue, skey.KeyValue) || bytes.Equal(acc.KeyValue, auth.SubKey.KeyValue) {
			t.Errorf("subkey=%v: session key is not a fresh acceptor subkey", subkey)
		}
		if res.Client != "alice" || res.Realm != testRealm || res.Identity != nil {
			t.Errorf("client %q@%q identity %v", res.Client, res.Realm, res.Identity)
		}
		if _, err := a.Accept(tok); !errors.Is(err, ErrReplay) {
			t.Errorf("subkey=%v: replayed token: %v, want ErrReplay", subkey, err)
		}
	}
}

func subkey2int(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkAPRep decodes a GSS AP-REP token as a client would.
func checkAPRep(t *testing.T, tok []byte, skey types.EncryptionKey, auth types.Authenticator) types.EncryptionKey {
	t.Helper()
	pre := append(append([]byte{}, derKerberos5...), tokAPRep[:]...)
	tag, content, rest, err := readHeader(tok)
	if err != nil || tag != 0x60 || len(rest) != 0 || !bytes.HasPrefix(content, pre) {
		t.Fatalf("AP-REP framing: tag %#x err %v", tag, err)
	}
	var rep messages.APRep
	if err := rep.Unmarshal(content[len(pre):]); err != nil {
		t.Fatalf("AP-REP: %v", err)
	}
	plain, err := crypto.DecryptEncPart(rep.EncPart, skey, keyusage.AP_REP_ENCPART)
	if err != nil {
		t.Fatalf("AP-REP decrypt: %v", err)
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(plain); err != nil {
		t.Fatalf("EncAPRepPart: %v", err)
	}
	if !part.CTime.Equal(auth.CTime) || part.Cusec != auth.Cusec || part.SequenceNumber == 0 {
		t.Errorf("EncAPRepPart ctime %v.%d seq %d, want %v.%d", part.CTime, part.Cusec, part.SequenceNumber, auth.CTime, auth.Cusec)
	}
	if part.Subkey.KeyType != skey.KeyType || len(part.Subkey.KeyValue) != len(skey.KeyValue) {
		t.Errorf("acceptor subkey type %d, %d bytes", part.Subkey.KeyType, len(part.Subkey.KeyValue))
	}
	return part.Subkey
}

func TestAcceptRefuses(t *testing.T) {
	kt := testKeytab(t)
	now := time.Now()
	good, skey := ticketFor(t, kt, "SOFS1$", "cifs/sofs1", now.Add(time.Hour))

	// A ticket for another account's service: this keytab has no key
	// that decrypts it.
	other := keytab.New()
	if err := other.AddEntry("OTHER$", testRealm, "other password", now, 2, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	wrong, wkey := ticketFor(t, other, "OTHER$", "cifs/other", now.Add(time.Hour))
	expired, ekey := ticketFor(t, kt, "SOFS1$", "cifs/sofs1", now.Add(-time.Hour))
	badTok, _ := apReqToken(t, good, skey, true, now)
	badTok[len(badTok)-3] ^= 0xff // inside the authenticator's ciphertext

	cases := []struct {
		name string
		tok  []byte
		now  func() time.Time
		want error
	}{
		{"wrong service", first(apReqToken(t, wrong, wkey, true, now)), nil, ErrIntegrity},
		{"expired ticket", first(apReqToken(t, expired, ekey, true, now)), nil, ErrTime},
		{"clock skew", first(apReqToken(t, good, skey, true, now)), func() time.Time { return now.Add(10 * time.Minute) }, ErrTime},
		{"tampered authenticator", badTok, nil, ErrIntegrity},
		{"empty", nil, nil, ErrMalformed},
		{"NTLM", []byte("NTLMSSP\x00\x01\x00\x00\x00"), nil, ErrMalformed},
		{"truncated", first(apReqToken(t, good, skey, true, now))[:40], nil, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := newTestAcceptor(kt, c.now).Accept(c.tok)
			if !errors.Is(err, c.want) {
				t.Errorf("Accept: %v, want %v", err, c.want)
			}
		})
	}

	// A keytab holding only another service's own key (no account key)
	// has nothing for the ticket at all.
	only := keytab.New()
	if err := only.AddEntry("HTTP/web", testRealm, "x", now, 2, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	if _, err := newTestAcceptor(only, nil).Accept(first(apReqToken(t, good, skey, true, now))); !errors.Is(err, ErrNoKey) {
		t.Errorf("no key: %v, want ErrNoKey", err)
	}
}

func first(b []byte, _ types.Authenticator) []byte { return b }

func TestMIC(t *testing.T) {
	kt := testKeytab(t)
	tkt, skey := ticketFor(t, kt, "SOFS1$", "cifs/sofs1", time.Now().Add(time.Hour))
	tok, auth := apReqToken(t, tkt, skey, true, time.Now())
	res, err := newTestAcceptor(kt, nil).Accept(tok)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("mechTypes DER")
	acc := checkAPRep(t, res.ResponseToken, skey, auth)
	cm := gssapi.MICToken{Flags: gssapi.MICTokenFlagAcceptorSubkey, SndSeqNum: uint64(auth.SeqNumber), Payload: msg}
	if err := cm.SetChecksum(acc, keyusage.GSSAPI_INITIATOR_SIGN); err != nil {
		t.Fatal(err)
	}
	mic, _ := cm.Marshal()
	if err := res.VerifyMIC(msg, mic); err != nil {
		t.Errorf("client MIC: %v", err)
	}
	if err := res.VerifyMIC([]byte("other list"), mic); !errors.Is(err, ErrMIC) {
		t.Errorf("MIC over another message: %v, want ErrMIC", err)
	}
	if err := res.VerifyMIC(msg, mic[:10]); !errors.Is(err, ErrMIC) {
		t.Errorf("truncated MIC: %v, want ErrMIC", err)
	}
	sm, err := res.MakeMIC(msg)
	if err != nil {
		t.Fatal(err)
	}
	var st gssapi.MICToken
	if err := st.Unmarshal(sm, true); err != nil {
		t.Fatal(err)
	}
	st.Payload = msg
	if ok, err := st.Verify(acc, keyusage.GSSAPI_ACCEPTOR_SIGN); !ok || st.Flags&gssapi.MICTokenFlagAcceptorSubkey == 0 {
		t.Errorf("server MIC does not verify with the acceptor subkey (flags %#x): %v", st.Flags, err)
	}
	// A MIC keyed with the client's own subkey, which the acceptor
	// subkey replaced, does not verify.
	old := gssapi.MICToken{SndSeqNum: uint64(auth.SeqNumber), Payload: msg}
	if err := old.SetChecksum(auth.SubKey, keyusage.GSSAPI_INITIATOR_SIGN); err != nil {
		t.Fatal(err)
	}
	oldMIC, _ := old.Marshal()
	if err := res.VerifyMIC(msg, oldMIC); !errors.Is(err, ErrMIC) {
		t.Errorf("MIC with the replaced key: %v, want ErrMIC", err)
	}
}

func TestReplayCacheBounded(t *testing.T) {
	c := newReplayCache(time.Minute)
	now := time.Now()
	for i := range maxReplayEntries {
		if err := c.check(strconv.Itoa(i), now); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	if err := c.check("one more", now); !errors.Is(err, ErrReplay) {
		t.Errorf("full cache: %v, want refusal", err)
	}
	// Once the entries have aged out they make room.
	if err := c.check("one more", now.Add(3*time.Minute)); err != nil {
		t.Errorf("after expiry: %v", err)
	}
}

func TestCheckPACLayout(t *testing.T) {
	ok := make([]byte, 8+16+4)
	ok[0] = 1
	ok[8+4] = 4  // size
	ok[8+8] = 24 // offset
	if err := checkPACLayout(ok); err != nil {
		t.Errorf("valid layout: %v", err)
	}
	bad := [][]byte{
		nil,
		{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0},
		func() []byte { b := append([]byte(nil), ok...); b[8+4] = 5; return b }(),
		func() []byte { b := append([]byte(nil), ok...); b[8+15] = 0x80; return b }(),
	}
	for i, b := range bad {
		if err := checkPACLayout(b); !errors.Is(err, ErrPAC) {
			t.Errorf("layout %d: %v, want ErrPAC", i, err)
		}
	}
}

// TestAcceptWithoutMutual: a client that does not ask for mutual
// authentication gets no AP-REP, and the context key is its own subkey
// (or the ticket's session key without one).
func TestAcceptWithoutMutual(t *testing.T) {
	kt := testKeytab(t)
	tkt, skey := ticketFor(t, kt, "SOFS1$", "cifs/sofs1", time.Now().Add(time.Hour))
	for _, subkey := range []bool{false, true} {
		tok, auth := apReqTokenMutual(t, tkt, skey, subkey, false, time.Now().Add(time.Duration(subkey2int(subkey))*time.Millisecond))
		res, err := newTestAcceptor(kt, nil).Accept(tok)
		if err != nil {
			t.Fatal(err)
		}
		want := skey.KeyValue
		if subkey {
			want = auth.SubKey.KeyValue
		}
		if res.ResponseToken != nil || !bytes.Equal(res.SessionKey, want) {
			t.Errorf("subkey=%v: AP-REP %v, session key from the wrong key", subkey, res.ResponseToken != nil)
		}
	}
}
