package dcerpc

import (
	"errors"
	"testing"

	"sofs.io/sofs/auth/ntlm"
)

// TestKerberosAuthTypes checks which auth types an association takes and
// that tokens the acceptor refuses, and Kerberos tokens that are not
// AP-REQs, fail the bind. The working Kerberos legs, signing and sealing
// are tested with Samba's rpcclient against a real KDC
// (integration.TestKerberos/witness_RPC).
func TestKerberosAuthTypes(t *testing.T) {
	n := ntlm.NewServer(ntlm.Config{})
	var k KerberosAcceptor = refuseAll{}
	for _, c := range []struct {
		ntlm     *ntlm.Server
		krb      KerberosAcceptor
		authType uint8
		want     bool
	}{
		{n, nil, authTypeNTLM, true}, {n, nil, authTypeSPNEGO, true}, {n, nil, authTypeKerberos, false},
		{nil, k, authTypeNTLM, false}, {nil, k, authTypeSPNEGO, true}, {nil, k, authTypeKerberos, true},
		{nil, nil, authTypeSPNEGO, false}, {n, k, 68, false},
	} {
		a := &assoc{ntlm: c.ntlm, krb5: c.krb}
		if got := a.knowsAuthType(c.authType); got != c.want {
			t.Errorf("ntlm %v krb5 %v: auth type %d accepted %v, want %v", c.ntlm != nil, c.krb != nil, c.authType, got, c.want)
		}
	}
	a := &assoc{krb5: k}
	if _, err := a.authLeg(ptypeBind, verifier{authType: authTypeKerberos, level: authLevelPrivacy, value: []byte{0x6e, 0}}); !errors.Is(err, errAuth) {
		t.Errorf("an AP-REQ the acceptor refuses: %v, want errAuth", err)
	}
	a = &assoc{krb5: k}
	if _, err := a.authLeg(ptypeBind, verifier{authType: authTypeKerberos, level: authLevelIntegrity, value: []byte("NTLMSSP\x00")}); !errors.Is(err, errAuth) {
		t.Errorf("an NTLM token as Kerberos: %v, want errAuth", err)
	}
	a = &assoc{krb5: k}
	if _, err := a.authLeg(ptypeBind, verifier{authType: authTypeSPNEGO, level: authLevelIntegrity, value: []byte{0x60, 0x00}}); !errors.Is(err, errAuth) {
		t.Errorf("SPNEGO without NTLM and without a Kerberos token: %v, want errAuth", err)
	}
}

// refuseAll is a KerberosAcceptor that accepts no token.
type refuseAll struct{}

func (refuseAll) Accept([]byte) (KerberosContext, error) { return nil, errors.New("no keys") }
