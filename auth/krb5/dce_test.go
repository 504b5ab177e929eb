package krb5

import (
	"bytes"
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

// dceContext returns an established DCE-style context.
func dceContext(t testing.TB) *Result {
	t.Helper()
	kt := testKeytab(t)
	tkt, skey := ticketFor(t, kt, "SOFS1$", "host/sofs1", time.Now().Add(time.Hour))
	tok, _ := apReqTokenFlags(t, tkt, skey, true, true, gssDCEStyle, time.Now())
	res, err := newTestAcceptor(kt, nil).Accept(tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.AcceptDCEReply(clientAPRep(t, skey, res.serverSeq)); err != nil {
		t.Fatal(err)
	}
	return res
}

// initiatorSeal seals as the client does (its key usage and flags).
func initiatorSeal(t testing.TB, r *Result, signed, data []byte) []byte {
	t.Helper()
	sig, err := r.seal(signed, data, keyusage.GSSAPI_INITIATOR_SEAL, flagSealed|gssapi.MICTokenFlagAcceptorSubkey)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// TestSealDCE checks sealed PDUs: what the client seals is decrypted in
// place, and any change to the encrypted stub, the signed header or
// trailer around it, or the verifier is refused with ErrMIC; the
// server's own sealed PDUs keep the stub's length and carry SealLen
// bytes. (That the layout is the one Samba and Windows use is checked
// with rpcclient in integration.TestKerberos/witness_RPC.)
func TestSealDCE(t *testing.T) {
	res := dceContext(t)
	pdu := []byte("0123456789abcdef" + "stub and pad...." + "trailer!")
	plain := append([]byte(nil), pdu...)
	data := pdu[16:32]
	signed := pdu[:]
	sig := initiatorSeal(t, res, signed, data)
	if len(sig) != res.SealLen() || bytes.Equal(data, plain[16:32]) {
		t.Fatalf("sealed: %d-byte verifier (SealLen %d), stub %q", len(sig), res.SealLen(), data)
	}
	sealed := append([]byte(nil), pdu...)
	if err := res.Unseal(signed, data, sig); err != nil || !bytes.Equal(pdu, plain) {
		t.Fatalf("Unseal: %v, %q", err, pdu)
	}
	for name, change := range map[string]func(p, s []byte){
		"stub":     func(p, s []byte) { p[20] ^= 1 },
		"header":   func(p, s []byte) { p[3] ^= 1 },
		"trailer":  func(p, s []byte) { p[36] ^= 1 },
		"checksum": func(p, s []byte) { s[16+16+16+3] ^= 1 },
		"seq":      func(p, s []byte) { s[15] ^= 1 },
		"rrc":      func(p, s []byte) { s[7]++ },
	} {
		p, s := append([]byte(nil), sealed...), append([]byte(nil), sig...)
		change(p, s)
		if err := res.Unseal(p, p[16:32], s); !errors.Is(err, ErrMIC) {
			t.Errorf("changed %s: %v, want ErrMIC", name, err)
		}
	}
	if err := res.Unseal(sealed, sealed[16:32], sig[:40]); !errors.Is(err, ErrMIC) {
		t.Errorf("short verifier: %v, want ErrMIC", err)
	}
	if err := res.Unseal(sealed, []byte("elsewhere"), sig); !errors.Is(err, ErrMalformed) {
		t.Errorf("data outside the PDU: %v, want ErrMalformed", err)
	}
	// The server's own: acceptor flags, in place, SealLen long.
	out := append([]byte(nil), plain...)
	ssig, err := res.Seal(out, out[16:32])
	if err != nil || len(ssig) != res.SealLen() || ssig[2]&gssapi.MICTokenFlagSentByAcceptor == 0 || bytes.Equal(out[16:32], plain[16:32]) {
		t.Fatalf("Seal: %d bytes, flags %#x, %v", len(ssig), ssig[2], err)
	}
	if err := res.Unseal(out, out[16:32], ssig); err == nil {
		t.Error("the server's own token was taken as the client's")
	}
}

// FuzzUnseal feeds arbitrary verifiers and stubs to Unseal: refused with
// an error, never a panic.
func FuzzUnseal(f *testing.F) {
	res := dceContext(f)
	pdu := []byte("0123456789abcdef" + "stub and pad...." + "trailer!")
	sig := initiatorSeal(f, res, pdu, pdu[16:32])
	f.Add(sig, pdu[16:32])
	f.Add(sig[:20], []byte{})
	f.Fuzz(func(t *testing.T, sig, stub []byte) {
		p := append(append([]byte("0123456789abcdef"), stub...), "trailer!"...)
		_ = res.Unseal(p, p[16:16+len(stub)], sig)
	})
}
