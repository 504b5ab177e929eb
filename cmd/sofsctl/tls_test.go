package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/adminapi/apitest"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, returning
// their paths.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sofs test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestTLS serves the API the way sofsd does (adminapi.Listen and Serve)
// with a certificate, and talks to it with --cacert.
func TestTLS(t *testing.T) {
	s := apitest.Start(t, apitest.Options{})
	cert, key := selfSigned(t)
	log := zerolog.New(zerolog.NewTestWriter(t))
	if _, err := adminapi.Listen(adminapi.ListenConfig{Addr: "127.0.0.1:0", CertFile: cert, Logger: log}); err == nil {
		t.Fatal("Listen with a certificate but no key succeeded")
	}
	if _, err := adminapi.Listen(adminapi.ListenConfig{Addr: "127.0.0.1:0", CertFile: key, KeyFile: key, Logger: log}); err == nil {
		t.Fatal("Listen with a bad certificate succeeded")
	}
	ln, err := adminapi.Listen(adminapi.ListenConfig{Addr: "127.0.0.1:0", CertFile: cert, KeyFile: key, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- adminapi.Serve(ctx, ln, s.Handler, log) }()
	url := "https://" + ln.Addr().String()

	expect(t, sofsctl(t, url, tokenEnv, "", "cluster", "--cacert", cert), 0, "sofs-test")
	expect(t, sofsctl(t, url, map[string]string{"SOFS_TOKEN": apitest.Token, "SOFS_CACERT": cert}, "", "share", "list"), 0)
	r := sofsctl(t, url, tokenEnv, "", "cluster")
	expect(t, r, 1)
	if !strings.Contains(r.stderr, "certificate") {
		t.Fatalf("stderr %q", r.stderr)
	}
	expect(t, sofsctl(t, url, tokenEnv, "", "cluster", "--cacert", key), 2)
	// Plain HTTP to the TLS port is refused by the server, not a crash.
	expect(t, sofsctl(t, "http://"+ln.Addr().String(), tokenEnv, "", "cluster"), 1)

	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
	expect(t, sofsctl(t, url, tokenEnv, "", "cluster", "--cacert", cert), 1)
}
