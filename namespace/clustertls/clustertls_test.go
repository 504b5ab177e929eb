package clustertls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func newNode(t *testing.T, caDir string, name string) *Bundle {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{CACertFile, CAKeyFile} {
		b, err := os.ReadFile(filepath.Join(caDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := EnsureNodeCert(dir, name, []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	b, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCAAndNodeCert(t *testing.T) {
	dir := t.TempDir()
	if err := NewCA(dir, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := NewCA(dir, "c1"); !errors.Is(err, ErrCAExists) {
		t.Fatalf("second NewCA: %v", err)
	}
	for _, f := range []string{CAKeyFile} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, st.Mode(), err)
		}
	}
	issued, err := EnsureNodeCert(dir, "n1", []string{"10.0.0.1", "n1.example"})
	if err != nil || !issued {
		t.Fatalf("first EnsureNodeCert: %v %v", issued, err)
	}
	if issued, err := EnsureNodeCert(dir, "n1", []string{"n1.example", "10.0.0.1"}); err != nil || issued {
		t.Fatalf("unchanged EnsureNodeCert reissued: %v %v", issued, err)
	}
	// A new address needs a new certificate.
	if issued, err := EnsureNodeCert(dir, "n1", []string{"10.0.0.2"}); err != nil || !issued {
		t.Fatalf("EnsureNodeCert with a new address: %v %v", issued, err)
	}
	b, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	leaf := b.Cert.Leaf
	if leaf == nil {
		t.Fatal("no leaf")
	}
	if _, err := leaf.Verify(x509VerifyOpts(b)); err != nil {
		t.Fatalf("node certificate does not verify against the CA: %v", err)
	}
	for _, h := range []string{"10.0.0.2", "127.0.0.1", "localhost"} {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("certificate does not cover %s: %v", h, err)
		}
	}
	if time.Until(leaf.NotAfter) < 300*24*time.Hour {
		t.Errorf("certificate expires %v", leaf.NotAfter)
	}
}

// handshake runs a TLS server with srv and a client with cli over
// loopback and returns the client's and the server's errors.
func handshake(t *testing.T, srv, cli *tls.Config) (clientErr, serverErr error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := c.(*tls.Conn).Handshake(); err != nil {
			done <- err
			return
		}
		_, err = c.Write([]byte("ok"))
		done <- err
	}()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), cli)
	if err == nil {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		// With TLS 1.3 a client certificate is checked after the
		// client's handshake returns; the first read reports it.
		_, err = io.ReadFull(c, make([]byte, 2))
		c.Close()
	}
	return err, <-done
}

func TestMutualTLS(t *testing.T) {
	caDir := t.TempDir()
	if err := NewCA(caDir, "c1"); err != nil {
		t.Fatal(err)
	}
	otherCA := t.TempDir()
	if err := NewCA(otherCA, "c2"); err != nil {
		t.Fatal(err)
	}
	n1, n2 := newNode(t, caDir, "n1"), newNode(t, caDir, "n2")
	stranger := newNode(t, otherCA, "x")

	if cerr, serr := handshake(t, n1.ServerConfig(), n2.ClientConfig()); cerr != nil || serr != nil {
		t.Fatalf("two members: client %v, server %v", cerr, serr)
	}
	noCert := &tls.Config{RootCAs: n2.Pool, MinVersion: tls.VersionTLS12}
	if cerr, serr := handshake(t, n1.ServerConfig(), noCert); cerr == nil || serr == nil {
		t.Fatalf("client without a certificate accepted: client %v, server %v", cerr, serr)
	}
	foreign := stranger.ClientConfig()
	foreign.RootCAs = n1.Pool // trusts the cluster, but its certificate is not the cluster's
	if cerr, serr := handshake(t, n1.ServerConfig(), foreign); cerr == nil || serr == nil {
		t.Fatalf("client with another CA's certificate accepted: client %v, server %v", cerr, serr)
	}
	if cerr, _ := handshake(t, stranger.ServerConfig(), n1.ClientConfig()); cerr == nil {
		t.Fatal("member trusted a server with another CA's certificate")
	}
}

func x509VerifyOpts(b *Bundle) x509.VerifyOptions {
	return x509.VerifyOptions{Roots: b.Pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}
}

func TestLoadNode(t *testing.T) {
	data := t.TempDir()
	pki := filepath.Join(data, DirName)
	if err := NewCA(pki, "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureNodeCert(pki, "n1", nil); err != nil {
		t.Fatal(err)
	}
	b, err := LoadNode(data)
	if err != nil {
		t.Fatal(err)
	}
	if b.Cert.Leaf.Subject.CommonName != "n1" || b.ServerConfig().ClientAuth != tls.RequireAndVerifyClientCert {
		t.Fatalf("bundle %+v", b.Cert.Leaf.Subject)
	}
	if _, err := LoadNode(t.TempDir()); err == nil {
		t.Fatal("LoadNode of a data directory without pki succeeded")
	}
}

// TestRenewReachesNewConnections: after RenewNodeCert, a bundle loaded
// before it presents the new certificate on the next handshake, as server
// and as client, and the old key is no longer used.
func TestRenewReachesNewConnections(t *testing.T) {
	dir := t.TempDir()
	if err := NewCA(dir, "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureNodeCert(dir, "n1", []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	b, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	peer := newNode(t, dir, "n2")
	// handshake returns the serials the server and the client presented.
	handshake := func() (server, client string) {
		t.Helper()
		c1, c2 := net.Pipe()
		defer c1.Close()
		defer c2.Close()
		srv := tls.Server(c1, b.ServerConfig())
		cc := peer.ClientConfig()
		cc.ServerName = "127.0.0.1"
		cli := tls.Client(c2, cc)
		errc := make(chan error, 1)
		go func() { errc <- srv.Handshake() }()
		if err := cli.Handshake(); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		server = cli.ConnectionState().PeerCertificates[0].SerialNumber.String()
		// And b as a client, to peer's server.
		d1, d2 := net.Pipe()
		defer d1.Close()
		defer d2.Close()
		ps := tls.Server(d1, peer.ServerConfig())
		bc := b.ClientConfig()
		bc.ServerName = "127.0.0.1"
		bcli := tls.Client(d2, bc)
		go func() { errc <- bcli.Handshake() }()
		if err := ps.Handshake(); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		client = ps.ConnectionState().PeerCertificates[0].SerialNumber.String()
		return server, client
	}
	s1, c1 := handshake()
	if s1 != b.Cert.Leaf.SerialNumber.String() || c1 != s1 {
		t.Fatalf("before renewal: server %s client %s, want %s", s1, c1, b.Cert.Leaf.SerialNumber)
	}
	cert, err := RenewNodeCert(dir, "n1", []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	s2, c2 := handshake()
	if want := cert.SerialNumber.String(); s2 != want || c2 != want || want == s1 {
		t.Fatalf("after renewal: server %s client %s, want the new %s (old %s)", s2, c2, want, s1)
	}
}
