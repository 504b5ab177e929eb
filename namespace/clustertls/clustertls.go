// Package clustertls is the cluster's certificate authority and each
// node's certificate: mutual TLS for the embedded etcd members (peer and
// client traffic), sofsd witness, and any node-to-node channel. A process
// without a certificate issued by the cluster's CA can neither connect to
// a member nor be accepted by one.
//
// Everything lives in one directory, DATA/pki on a node:
//
//	ca.crt    the cluster CA's certificate (PEM)
//	ca.key    its private key (PEM, mode 0600); held by the node that
//	          created the CA and those it was copied to, which can issue
//	          certificates; a node that joined with a token has none
//	node.crt  this node's certificate, signed by the CA, valid for server
//	          and client authentication, naming the node's addresses
//	node.key  its private key (PEM, mode 0600)
//
// The first node creates the CA (NewCA); the others receive ca.crt and
// ca.key before their first start, or join with a token (jointoken.go,
// csr.go) and receive ca.crt and a certificate for a key they made.
// EnsureNodeCert issues or renews the node's certificate at every start
// where the CA key is present, and checks it where it is not. The package depends on nothing else
// in sofs, so any transport can use it.
package clustertls

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// DirName is the directory inside a node's data directory that holds the
// files below.
const DirName = "pki"

// File names inside the directory.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
	CertFile   = "node.crt"
	KeyFile    = "node.key"
)

// Lifetimes. The CA outlives any plausible cluster generation; node
// certificates are short enough that a stolen one expires, and are renewed
// at start when less than renewBefore remains, so a node restarted at
// least once every eleven months never serves with an expired one.
const (
	caLifetime   = 20 * 365 * 24 * time.Hour
	certLifetime = 365 * 24 * time.Hour
	renewBefore  = 30 * 24 * time.Hour
	// clockSkew backdates NotBefore so a peer whose clock is a little
	// behind accepts a certificate issued a moment ago.
	clockSkew = 5 * time.Minute
)

// Paths names the files of one directory.
type Paths struct{ Dir string }

func (p Paths) CACert() string { return filepath.Join(p.Dir, CACertFile) }
func (p Paths) CAKey() string  { return filepath.Join(p.Dir, CAKeyFile) }
func (p Paths) Cert() string   { return filepath.Join(p.Dir, CertFile) }
func (p Paths) Key() string    { return filepath.Join(p.Dir, KeyFile) }

// HasCA reports whether dir holds a CA certificate.
func HasCA(dir string) bool {
	_, err := os.Stat(Paths{dir}.CACert())
	return err == nil
}

// ErrCAExists is returned by NewCA when dir already holds a CA.
var ErrCAExists = errors.New("clustertls: the directory already holds a CA")

// NewCA creates a new cluster CA in dir (created 0700 if missing).
func NewCA(dir, clusterName string) error {
	if HasCA(dir) {
		return ErrCAExists
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("clustertls: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("clustertls: CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "sofs cluster CA " + clusterName, Organization: []string{"sofs"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caLifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("clustertls: CA certificate: %w", err)
	}
	p := Paths{dir}
	// The key first: a crash between the two leaves no CA certificate
	// without its key (HasCA looks at the certificate).
	if err := writeKey(p.CAKey(), key); err != nil {
		return err
	}
	return writePEM(p.CACert(), "CERTIFICATE", der, 0o644)
}

// CA is a loaded certificate authority that can issue node certificates.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// LoadCA reads the CA certificate and key of dir.
func LoadCA(dir string) (*CA, error) {
	p := Paths{dir}
	cert, err := readCert(p.CACert())
	if err != nil {
		return nil, err
	}
	key, err := readKey(p.CAKey())
	if err != nil {
		return nil, err
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("clustertls: %s does not belong to %s", p.CAKey(), p.CACert())
	}
	return &CA{Cert: cert, key: key}, nil
}

// Issue creates a certificate for a node named name, valid for server and
// client authentication on hosts (IP addresses or DNS names), for the
// public key pub.
func (ca *CA) Issue(name string, hosts []string, pub *ecdsa.PublicKey) ([]byte, error) {
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"sofs"}},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(certLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("clustertls: issue certificate for %s: %w", name, err)
	}
	return der, nil
}

// DefaultHosts are names every node certificate carries, so loopback
// connections (the node's own etcd client, a witness's health check)
// verify.
var DefaultHosts = []string{"127.0.0.1", "::1", "localhost"}

// EnsureNodeCert makes sure dir holds a node certificate for name that the
// CA in dir signed, that covers hosts (plus DefaultHosts), and that is
// valid for at least 30 more days; otherwise it issues a new one with a
// new key. It reports whether it issued.
//
// A node that joined with a token holds no CA key and cannot issue: for it
// EnsureNodeCert only checks the certificate it was given, and fails with
// ErrNeedsCertificate when that no longer fits (a new address, or less
// than 30 days left), naming what to do.
func EnsureNodeCert(dir, name string, hosts []string) (bool, error) {
	want := append(slices.Clone(DefaultHosts), hosts...)
	slices.Sort(want)
	want = slices.Compact(want)
	p := Paths{dir}
	if !HasCAKey(dir) {
		caCert, err := readCert(p.CACert())
		if err != nil {
			return false, err
		}
		cert, err := readCert(p.Cert())
		if err != nil {
			return false, fmt.Errorf("%w: %v", ErrNeedsCertificate, err)
		}
		if err := certProblem(cert, caCert, name, want); err != nil {
			return false, fmt.Errorf("%w: %s: %v", ErrNeedsCertificate, p.Cert(), err)
		}
		if _, err := tls.LoadX509KeyPair(p.Cert(), p.Key()); err != nil {
			return false, fmt.Errorf("%w: %v", ErrNeedsCertificate, err)
		}
		return false, nil
	}
	ca, err := LoadCA(dir)
	if err != nil {
		return false, err
	}
	if cert, err := readCert(p.Cert()); err == nil && certFits(cert, ca, name, want) {
		if _, err := tls.LoadX509KeyPair(p.Cert(), p.Key()); err == nil {
			return false, nil
		}
	}
	return true, issueNodeCert(p, ca, name, want)
}

// RenewNodeCert issues this node a new certificate with a new key, now,
// whatever the old one's state: the rotation 'sofsd cert renew' does on a
// node holding the CA key. A running node's listeners and clients present
// it on their next connection. It returns the new certificate.
func RenewNodeCert(dir, name string, hosts []string) (*x509.Certificate, error) {
	ca, err := LoadCA(dir)
	if err != nil {
		return nil, err
	}
	want := append(slices.Clone(DefaultHosts), hosts...)
	slices.Sort(want)
	want = slices.Compact(want)
	p := Paths{dir}
	if err := issueNodeCert(p, ca, name, want); err != nil {
		return nil, err
	}
	return readCert(p.Cert())
}

func issueNodeCert(p Paths, ca *CA, name string, hosts []string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("clustertls: node key: %w", err)
	}
	der, err := ca.Issue(name, hosts, &key.PublicKey)
	if err != nil {
		return err
	}
	return replaceNodeCert(p, der, key)
}

// replaceNodeCert writes a node's certificate and key under temporary
// names and renames them, the key first, so a crash leaves the old pair
// or the new one, and a reader that sees the new certificate finds its
// key (reloader).
func replaceNodeCert(p Paths, der []byte, key *ecdsa.PrivateKey) error {
	if err := writeKey(p.Key()+".new", key); err != nil {
		return err
	}
	if err := writePEM(p.Cert()+".new", "CERTIFICATE", der, 0o644); err != nil {
		return err
	}
	if err := os.Rename(p.Key()+".new", p.Key()); err != nil {
		return fmt.Errorf("clustertls: %w", err)
	}
	if err := os.Rename(p.Cert()+".new", p.Cert()); err != nil {
		return fmt.Errorf("clustertls: %w", err)
	}
	return nil
}

// InstallRenewed replaces the node certificate of dir with certDER, for
// key, which a member issued ('sofsd cert renew' on a node without the CA
// key). It refuses a certificate the CA in dir did not issue or that is
// not for key.
func InstallRenewed(dir string, certDER []byte, key *ecdsa.PrivateKey) (*x509.Certificate, error) {
	p := Paths{dir}
	ca, err := readCert(p.CACert())
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, fmt.Errorf("clustertls: renewed certificate: %w", err)
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return nil, fmt.Errorf("clustertls: renewed certificate is not from this node's CA: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("clustertls: renewed certificate is not for this node's new key")
	}
	return cert, replaceNodeCert(p, certDER, key)
}

// ErrNeedsCertificate is returned by EnsureNodeCert on a node without the
// CA key whose certificate no longer fits: it needs a new one from a
// member that holds the key ('sofsd cert renew' with a join token).
var ErrNeedsCertificate = errors.New("clustertls: this node needs a new certificate and holds no CA key to issue one")

// certFits says whether cert is name's, signed by ca, covers hosts and
// has more than renewBefore left.
func certFits(cert *x509.Certificate, ca *CA, name string, hosts []string) bool {
	return certProblem(cert, ca.Cert, name, hosts) == nil
}

// certProblem says why cert is not a usable certificate of node name
// issued by ca for hosts with more than renewBefore left, or nil.
func certProblem(cert, ca *x509.Certificate, name string, hosts []string) error {
	if cert.Subject.CommonName != name {
		return fmt.Errorf("issued to %q, not %q", cert.Subject.CommonName, name)
	}
	if left := time.Until(cert.NotAfter); left < renewBefore {
		return fmt.Errorf("expires %s (renewed when less than %s remain)", cert.NotAfter.UTC().Format(time.RFC3339), renewBefore)
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return fmt.Errorf("not issued by the cluster CA: %v", err)
	}
	for _, h := range hosts {
		if err := cert.VerifyHostname(h); err != nil {
			return fmt.Errorf("does not name %s", h)
		}
	}
	return nil
}

// Bundle is what a node needs for mutual TLS: its certificate and key,
// and the CA to verify peers with.
type Bundle struct {
	Paths Paths
	// Cert is the node certificate as loaded; ServerConfig and
	// ClientConfig present the current one (see reloader).
	Cert tls.Certificate
	Pool *x509.CertPool
	// CA is the cluster CA's certificate.
	CA *x509.Certificate

	reload *reloader
}

// reloader hands out the node certificate on disk, rereading it when the
// certificate file changes, so a renewal ('sofsd cert renew') reaches
// every new connection without a restart, as etcd's own listeners reread
// theirs. A pair that does not load (caught between the key's rename and
// the certificate's) keeps the previous one until the next change.
type reloader struct {
	paths Paths
	mu    sync.Mutex
	cert  *tls.Certificate
	mod   time.Time
	size  int64
}

func (r *reloader) get() (*tls.Certificate, error) {
	st, err := os.Stat(r.paths.Cert())
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil && (!st.ModTime().Equal(r.mod) || st.Size() != r.size) {
		if kp, err := tls.LoadX509KeyPair(r.paths.Cert(), r.paths.Key()); err == nil {
			r.cert, r.mod, r.size = &kp, st.ModTime(), st.Size()
		}
	}
	return r.cert, nil
}

// Load reads the node certificate and CA certificate of dir.
func Load(dir string) (*Bundle, error) {
	p := Paths{dir}
	ca, err := readCert(p.CACert())
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(p.Cert())
	if err != nil {
		return nil, fmt.Errorf("clustertls: node certificate in %s: %w", dir, err)
	}
	kp, err := tls.LoadX509KeyPair(p.Cert(), p.Key())
	if err != nil {
		return nil, fmt.Errorf("clustertls: node certificate in %s: %w", dir, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	r := &reloader{paths: p, cert: &kp, mod: st.ModTime(), size: st.Size()}
	return &Bundle{Paths: p, Cert: kp, Pool: pool, CA: ca, reload: r}, nil
}

// LoadNode reads the bundle of the node whose data directory is dataDir
// (DATA/pki): what a node-to-node transport calls to get ServerConfig and
// ClientConfig.
func LoadNode(dataDir string) (*Bundle, error) {
	return Load(filepath.Join(dataDir, DirName))
}

// ServerConfig is the TLS configuration of a node's listener: it presents
// the node certificate and accepts only clients with a certificate the
// cluster CA issued.
func (b *Bundle) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return b.current() },
		ClientAuth:     tls.RequireAndVerifyClientCert,
		ClientCAs:      b.Pool,
	}
}

// ClientConfig is the TLS configuration for connecting to another node:
// it presents the node certificate and trusts only servers the cluster CA
// issued a certificate to, for the host dialled (set ServerName when
// dialling by a name other than the address).
func (b *Bundle) ClientConfig() *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return b.current() },
		RootCAs:              b.Pool,
	}
}

// current is the node certificate to present now.
func (b *Bundle) current() (*tls.Certificate, error) {
	if b.reload == nil {
		return &b.Cert, nil
	}
	return b.reload.get()
}

// Fingerprint is the hex SHA-256 of a certificate's DER bytes, for
// showing and pinning a CA.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand does not fail on Linux; a certificate without a
		// unique serial would be worse than stopping.
		panic("clustertls: random serial: " + err.Error())
	}
	return n
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("clustertls: %w", err)
	}
	return writePEM(path, "PRIVATE KEY", der, 0o600)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	var buf bytes.Buffer
	if err := pem.Encode(&buf, &pem.Block{Type: typ, Bytes: der}); err != nil {
		return fmt.Errorf("clustertls: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("clustertls: %w", err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("clustertls: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("clustertls: sync %s: %w", path, err)
	}
	return f.Close()
}

func readPEM(path, typ string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("clustertls: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != typ {
		return nil, fmt.Errorf("clustertls: %s holds no PEM %s", path, typ)
	}
	return blk.Bytes, nil
}

func readCert(path string) (*x509.Certificate, error) {
	der, err := readPEM(path, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("clustertls: %s: %w", path, err)
	}
	return c, nil
}

func readKey(path string) (*ecdsa.PrivateKey, error) {
	der, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("clustertls: %s: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("clustertls: %s is not an ECDSA key", path)
	}
	return ek, nil
}
