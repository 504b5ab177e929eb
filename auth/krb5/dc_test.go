package krb5

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"

	"sofs.io/sofs/integration/addc"
	"sofs.io/sofs/smbserver/secdesc"
)

// TestAcceptFromDomainController runs the acceptor on tickets a real KDC
// (Samba's AD DC) issued, with real PACs: the identity must be the
// directory's, and a PAC changed after the KDC signed it must be refused.
func TestAcceptFromDomainController(t *testing.T) {
	dc := addc.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	keys, err := OpenKeytab(dc.Keytab)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(dc.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	sids := map[string]secdesc.SID{}
	for _, n := range []string{addc.Alice.Name, addc.Bob.Name, addc.Group} {
		s, err := dc.SID(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if sids[n], err = secdesc.ParseSID(s); err != nil {
			t.Fatal(err)
		}
	}
	login := func(acct addc.Account) *client.Client {
		cl := client.NewWithPassword(acct.Name, addc.Realm, acct.Password, cfg, client.DisablePAFXFAST(true))
		if err := cl.Login(); err != nil {
			t.Fatalf("login %s: %v", acct.Name, err)
		}
		t.Cleanup(cl.Destroy)
		return cl
	}
	token := func(cl *client.Client, tkt messages.Ticket, key types.EncryptionKey) []byte {
		tok, err := spnego.NewKRB5TokenAPREQ(cl, tkt, key, []int{gssapi.ContextFlagMutual, gssapi.ContextFlagInteg}, []int{flags.APOptionMutualRequired})
		if err != nil {
			t.Fatal(err)
		}
		b, err := tok.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a := New(Config{Keys: keys})
	alice, bob := login(addc.Alice), login(addc.Bob)

	for _, spn := range addc.ServerSPNs() {
		tkt, key, err := alice.GetServiceTicket(spn)
		if err != nil {
			t.Fatalf("ticket for %s: %v", spn, err)
		}
		res, err := a.Accept(token(alice, tkt, key))
		if err != nil {
			t.Fatalf("%s: %v", spn, err)
		}
		id := res.Identity
		if id == nil {
			t.Fatalf("%s: no PAC identity", spn)
		}
		if id.User != sids[addc.Alice.Name] || !slices.Contains(id.Groups, sids[addc.Group]) || id.Machine {
			t.Errorf("%s: identity %+v; want user %v in group %v", spn, id, sids[addc.Alice.Name], sids[addc.Group])
		}
		if res.ResponseToken == nil || !res.HasMIC() {
			t.Errorf("%s: no AP-REP or no MIC support (key type %d)", spn, res.key.KeyType)
		}
	}

	tkt, key, err := bob.GetServiceTicket("cifs/" + addc.Server)
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Accept(token(bob, tkt, key))
	if err != nil {
		t.Fatal(err)
	}
	if res.Identity.User != sids[addc.Bob.Name] || slices.Contains(res.Identity.Groups, sids[addc.Group]) {
		t.Errorf("bob: identity %+v; must not hold %v", res.Identity, sids[addc.Group])
	}

	// A computer account (a Hyper-V host) is a machine whose primary
	// group is Domain Computers (RID 515).
	hv := login(addc.HyperV)
	hvTkt, hvKey, err := hv.GetServiceTicket("cifs/" + addc.Server)
	if err != nil {
		t.Fatal(err)
	}
	res, err = a.Accept(token(hv, hvTkt, hvKey))
	if err != nil {
		t.Fatal(err)
	}
	if id := res.Identity; !id.Machine || id.PrimaryGroup.String() != dc.DomainSID+"-515" || res.Client != addc.HyperV.Name {
		t.Errorf("computer account: client %q identity %+v", res.Client, id)
	}

	// A ticket for the DC's own service is encrypted in a key this
	// keytab does not hold.
	dcTkt, dcKey, err := bob.GetServiceTicket("host/dc1." + addc.DNSDomain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Accept(token(bob, dcTkt, dcKey)); !errors.Is(err, ErrIntegrity) && !errors.Is(err, ErrNoKey) {
		t.Errorf("ticket for another service: %v, want refusal", err)
	}

	// Tampered PAC: raise bob's RID inside the PAC and re-encrypt the
	// ticket with the service key, as only someone holding that key
	// could; the PAC's server signature no longer verifies.
	tampered := tamperPAC(t, keys, tkt)
	if _, err := a.Accept(token(bob, tampered, key)); !errors.Is(err, ErrPAC) {
		t.Errorf("tampered PAC: %v, want ErrPAC", err)
	}
}

// tamperPAC returns tkt with one byte of its PAC's logon info changed.
func tamperPAC(t *testing.T, keys *KeytabFile, tkt messages.Ticket) messages.Ticket {
	t.Helper()
	skey, err := keys.Key(tkt.SName, tkt.Realm, tkt.EncPart.KVNO, tkt.EncPart.EType)
	if err != nil {
		t.Fatal(err)
	}
	if err := tkt.Decrypt(skey); err != nil {
		t.Fatal(err)
	}
	etp := tkt.DecryptedEncPart
	changed := false
	for i, ad := range etp.AuthorizationData {
		if ad.ADType != adIfRelevant {
			continue
		}
		var inner types.AuthorizationData
		if err := inner.Unmarshal(ad.ADData); err != nil {
			t.Fatal(err)
		}
		for j := range inner {
			if inner[j].ADType == adWin2KPAC {
				p := inner[j].ADData
				// The first buffer's last byte, past the header:
				// inside a buffer that the server signature covers.
				off := int(uint32(p[16]) | uint32(p[17])<<8)
				size := int(uint32(p[12]) | uint32(p[13])<<8)
				p[off+size/2] ^= 0x01
				changed = true
			}
		}
		b, err := asn1.Marshal(inner)
		if err != nil {
			t.Fatal(err)
		}
		etp.AuthorizationData[i].ADData = b
	}
	if !changed {
		t.Fatal("ticket has no PAC")
	}
	out := sealTicket(t, etp, tkt.SName, skey, tkt.EncPart.KVNO)
	out.Realm = tkt.Realm
	// The client's session key is unchanged, so its authenticator still
	// decrypts: only the PAC check can refuse this ticket.
	return out
}
