package krb5

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// clientAPRep is the initiator's DCE-style AP-REP: our AP-REP's times and
// sequence number seq, encrypted in the ticket's session key.
func clientAPRep(t testing.TB, skey types.EncryptionKey, seq uint64) []byte {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	part, err := asn1.MarshalWithParams(struct {
		CTime time.Time `asn1:"generalized,explicit,tag:0"`
		Cusec int       `asn1:"explicit,tag:1"`
		Seq   int64     `asn1:"explicit,tag:3"`
	}{now, 0, int64(seq)}, fmt.Sprintf("application,explicit,tag:%d", tagEncAPRep))
	if err != nil {
		t.Fatal(err)
	}
	ed, err := crypto.GetEncryptedData(part, skey, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := asn1.MarshalWithParams(apRep{PVNO: pvno, MsgType: msgTypeAPRep, EncPart: encryptedData{EType: ed.EType, Cipher: ed.Cipher}},
		fmt.Sprintf("application,explicit,tag:%d", tagAPRep))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDCEStyle checks the DCE-style legs DCE/RPC clients use: the AP-REP
// goes back bare, the client's AP-REP must echo its sequence number and
// decrypt with the ticket's key, and the acceptor's MIC tokens then count
// up from that sequence number under the acceptor subkey.
func TestDCEStyle(t *testing.T) {
	kt := testKeytab(t)
	tkt, skey := ticketFor(t, kt, "SOFS1$", "host/sofs1", time.Now().Add(time.Hour))
	tok, _ := apReqTokenFlags(t, tkt, skey, true, true, gssDCEStyle, time.Now())
	a := newTestAcceptor(kt, nil)
	res, err := a.Accept(tok)
	if err != nil {
		t.Fatal(err)
	}
	if !res.DCEStyle || len(res.ResponseToken) == 0 || res.ResponseToken[0] != 0x6f {
		t.Fatalf("DCE style %v, response % x...; want a bare AP-REP", res.DCEStyle, res.ResponseToken[:min(4, len(res.ResponseToken))])
	}
	var rep messages.APRep
	if err := rep.Unmarshal(res.ResponseToken); err != nil {
		t.Fatal(err)
	}
	if err := res.AcceptDCEReply(clientAPRep(t, skey, res.serverSeq+1)); !errors.Is(err, ErrIntegrity) {
		t.Errorf("AP-REP with another sequence number: %v, want ErrIntegrity", err)
	}
	other := types.EncryptionKey{KeyType: skey.KeyType, KeyValue: make([]byte, len(skey.KeyValue))}
	if err := res.AcceptDCEReply(clientAPRep(t, other, res.serverSeq)); !errors.Is(err, ErrIntegrity) {
		t.Errorf("AP-REP in another key: %v, want ErrIntegrity", err)
	}
	if err := res.AcceptDCEReply([]byte{0x6f, 0x03, 0x30, 0x01, 0x00}); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated AP-REP: %v, want ErrMalformed", err)
	}
	if err := res.AcceptDCEReply(clientAPRep(t, skey, res.serverSeq)); err != nil {
		t.Fatalf("the client's AP-REP: %v", err)
	}
	if err := res.AcceptDCEReply(clientAPRep(t, skey, res.serverSeq)); err == nil {
		t.Error("a second AP-REP was accepted")
	}
	for i := range 2 {
		mic, err := res.Sign([]byte("pdu"))
		if err != nil || len(mic) != res.MICLen() {
			t.Fatalf("Sign: %d bytes (MICLen %d), %v", len(mic), res.MICLen(), err)
		}
		var m gssapi.MICToken
		if err := m.Unmarshal(mic, true); err != nil {
			t.Fatal(err)
		}
		m.Payload = []byte("pdu")
		if ok, err := m.Verify(res.key, keyusage.GSSAPI_ACCEPTOR_SIGN); !ok || m.SndSeqNum != res.serverSeq+uint64(i) ||
			m.Flags&gssapi.MICTokenFlagAcceptorSubkey == 0 {
			t.Errorf("MIC %d: seq %d (want %d), flags %#x, %v", i, m.SndSeqNum, res.serverSeq+uint64(i), m.Flags, err)
		}
	}

	// Without DCE style the context is complete after the AP-REP.
	tok, _ = apReqToken(t, tkt, skey, true, time.Now())
	plain, err := a.Accept(tok)
	if err != nil {
		t.Fatal(err)
	}
	if plain.DCEStyle || plain.AcceptDCEReply(clientAPRep(t, skey, plain.serverSeq)) == nil {
		t.Error("a non-DCE context took a DCE-style AP-REP")
	}
}

// FuzzAcceptDCEReply feeds arbitrary third-leg tokens to a DCE-style
// context: refused with an error, never a panic.
func FuzzAcceptDCEReply(f *testing.F) {
	kt := testKeytab(f)
	tkt, skey := ticketFor(f, kt, "SOFS1$", "host/sofs1", time.Now().Add(time.Hour))
	tok, _ := apReqTokenFlags(f, tkt, skey, true, true, gssDCEStyle, time.Now())
	a := newTestAcceptor(kt, nil)
	res, err := a.Accept(tok)
	if err != nil {
		f.Fatal(err)
	}
	good := clientAPRep(f, skey, res.serverSeq)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &Result{DCEStyle: true, ResponseToken: res.ResponseToken, ticketKey: res.ticketKey, serverSeq: res.serverSeq}
		if r.AcceptDCEReply(b) == nil && !r.dceDone {
			t.Fatal("accepted without completing the context")
		}
	})
}
