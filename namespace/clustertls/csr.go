package clustertls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"time"
)

// MaxCSRHosts bounds the addresses one node certificate may name: a node
// has a few (loopback, its etcd and peer addresses, its name), and a
// request for hundreds is not a node's.
const MaxCSRHosts = 32

// MaxCSRSize bounds a certificate request's DER bytes; a P-256 request
// naming MaxCSRHosts long DNS names stays well below it.
const MaxCSRSize = 16 << 10

// NewCSR creates a key and a certificate request for a node named name on
// hosts (plus DefaultHosts). The key stays with the caller: only the
// request travels.
func NewCSR(name string, hosts []string) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("clustertls: node key: %w", err)
	}
	want := append(slices.Clone(DefaultHosts), hosts...)
	slices.Sort(want)
	want = slices.Compact(want)
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: name, Organization: []string{"sofs"}}}
	for _, h := range want {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, nil, fmt.Errorf("clustertls: certificate request: %w", err)
	}
	return der, key, nil
}

// ParseCSR parses and checks a node's certificate request: well formed,
// signed by the key it carries (so the requester holds that key), an
// ECDSA P-256 key, a common name and at most MaxCSRHosts addresses. It
// returns the request; the common name is the node name.
func ParseCSR(der []byte) (*x509.CertificateRequest, error) {
	if len(der) == 0 || len(der) > MaxCSRSize {
		return nil, fmt.Errorf("clustertls: certificate request of %d bytes (want 1 to %d)", len(der), MaxCSRSize)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("clustertls: certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("clustertls: certificate request signature: %w", err)
	}
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("clustertls: certificate request key is not ECDSA P-256")
	}
	if csr.Subject.CommonName == "" {
		return nil, errors.New("clustertls: certificate request names no node")
	}
	if n := len(csr.IPAddresses) + len(csr.DNSNames); n > MaxCSRHosts {
		return nil, fmt.Errorf("clustertls: certificate request names %d addresses (at most %d)", n, MaxCSRHosts)
	}
	if len(csr.EmailAddresses) > 0 || len(csr.URIs) > 0 {
		return nil, errors.New("clustertls: certificate request names e-mail addresses or URIs; a node certificate has neither")
	}
	return csr, nil
}

// SignCSR issues a node certificate for a request ParseCSR accepted: the
// request's common name and addresses, a node certificate's lifetime and
// usages. Nothing else the request asks for (extensions, CA status) is
// copied.
func (ca *CA) SignCSR(csr *x509.CertificateRequest) ([]byte, error) {
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("clustertls: certificate request key is not ECDSA")
	}
	hosts := make([]string, 0, len(csr.IPAddresses)+len(csr.DNSNames))
	for _, ip := range csr.IPAddresses {
		hosts = append(hosts, ip.String())
	}
	hosts = append(hosts, csr.DNSNames...)
	return ca.Issue(csr.Subject.CommonName, hosts, pub)
}

// HasCAKey reports whether dir holds the CA's private key, so this node
// can issue certificates. A node that joined with a token holds only the
// CA certificate.
func HasCAKey(dir string) bool {
	_, err := os.Stat(Paths{dir}.CAKey())
	return err == nil
}

// InstallJoined writes what a join brought into dir (created 0700): the
// CA certificate, the node's certificate and its key. The CA certificate
// goes last, since its presence is what marks the directory as set up
// (HasCA). It refuses a certificate that is not for key or not issued by
// the CA.
func InstallJoined(dir string, caDER, certDER []byte, key *ecdsa.PrivateKey) error {
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return fmt.Errorf("clustertls: CA certificate from the cluster: %w", err)
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return fmt.Errorf("clustertls: node certificate from the cluster: %w", err)
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return fmt.Errorf("clustertls: node certificate from the cluster is not the CA's: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return errors.New("clustertls: node certificate from the cluster is not for this node's key")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("clustertls: %w", err)
	}
	p := Paths{dir}
	if err := writeKey(p.Key(), key); err != nil {
		return err
	}
	if err := writePEM(p.Cert(), "CERTIFICATE", certDER, 0o644); err != nil {
		return err
	}
	return writePEM(p.CACert(), "CERTIFICATE", caDER, 0o644)
}

// JoinServerConfig is the TLS configuration of a node's join endpoint: it
// presents the node certificate followed by the CA certificate, so the
// joining node can check the chain against the hash in its token, and
// asks for no client certificate (the joiner has none yet; its token
// authenticates it, inside this channel).
func (b *Bundle) JoinServerConfig() *tls.Config {
	cert := b.Cert
	cert.Certificate = append(slices.Clone(cert.Certificate), b.CA.Raw)
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}
}

// PinnedClientConfig is the TLS configuration of a joining node: it trusts
// a server only if the chain it presents contains a CA certificate whose
// SHA-256 is caHash and the server's certificate was issued by that CA
// for server authentication. Host names are not checked: the pinned CA
// issues certificates only to the cluster's members.
func PinnedClientConfig(caHash [32]byte) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// Verification is VerifyPeerCertificate's, against the pin
		// rather than the system roots.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyPinned(raw, caHash, time.Now())
		},
	}
}

// verifyPinned checks a server chain against a pinned CA hash.
func verifyPinned(raw [][]byte, caHash [32]byte, now time.Time) error {
	if len(raw) < 2 {
		return errors.New("clustertls: the server sent no CA certificate with its own; it is not a sofs join endpoint")
	}
	var ca *x509.Certificate
	for _, r := range raw[1:] {
		if HashDER(r) == caHash {
			c, err := x509.ParseCertificate(r)
			if err != nil {
				return fmt.Errorf("clustertls: server's CA certificate: %w", err)
			}
			ca = c
			break
		}
	}
	if ca == nil {
		return errors.New("clustertls: the server's CA does not match the hash in the join token: not this cluster, or someone in between")
	}
	leaf, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return fmt.Errorf("clustertls: server certificate: %w", err)
	}
	if leaf.IsCA {
		return errors.New("clustertls: the server presents a CA certificate as its own; want a node certificate")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return fmt.Errorf("clustertls: server certificate is not from the pinned CA: %w", err)
	}
	return nil
}
