package nodejoin_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/internal/testetcd"
	"sofs.io/sofs/namespace"
	"sofs.io/sofs/namespace/clustertls"
	"sofs.io/sofs/namespace/nodejoin"
)

type fakeCluster struct{ names, urls []string }

// EtcdMembers stands in for the member list: the test's etcd is real, but
// the names it checks against are the test's.
func (f fakeCluster) EtcdMembers(context.Context) ([]string, []string, error) {
	return f.names, f.urls, nil
}

// serve runs a join endpoint of a member whose pki directory is dir.
func serve(t *testing.T, dir string, st *namespace.Store) string {
	t.Helper()
	if _, err := clustertls.EnsureNodeCert(dir, "n1", []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	ca, err := clustertls.LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := clustertls.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", b.JoinServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: &nodejoin.Server{
		CA: ca, Tokens: st, Cluster: fakeCluster{names: []string{"n1", "n2"}, urls: []string{"https://127.0.0.1:1", "https://127.0.0.2:1"}},
		Logger: zerolog.New(zerolog.NewTestWriter(t)),
	}, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestJoin(t *testing.T) {
	st := namespace.NewStore(testetcd.Start(t).Client())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	if err := clustertls.NewCA(dir, "test"); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, dir, st)
	ca, err := clustertls.LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := clustertls.NewJoinToken(ca.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateJoinToken(ctx, tok, time.Minute); err != nil {
		t.Fatal(err)
	}

	// A taken name is refused before the token is spent.
	_, _, err = nodejoin.Join(ctx, addr, tok, "n2", nil, false)
	var ref *nodejoin.RefusedError
	if !errors.As(err, &ref) || ref.Code != nodejoin.CodeNameTaken {
		t.Fatalf("join as a member's name: %v, want %s", err, nodejoin.CodeNameTaken)
	}

	key, resp, err := nodejoin.Join(ctx, addr, tok, "n3", []string{"127.0.0.3"}, false)
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	if strings.Join(resp.EtcdClientURLs, ",") != "https://127.0.0.1:1,https://127.0.0.2:1" {
		t.Fatalf("etcd URLs %v", resp.EtcdClientURLs)
	}
	jdir := filepath.Join(t.TempDir(), "pki")
	if err := clustertls.InstallJoined(jdir, resp.CACert, resp.Cert, key); err != nil {
		t.Fatal(err)
	}
	if clustertls.HasCAKey(jdir) {
		t.Fatal("a joined node holds the CA key")
	}
	// The installed certificate is n3's, for its address, from the CA;
	// a start finds it fitting without a CA key.
	if issued, err := clustertls.EnsureNodeCert(jdir, "n3", []string{"127.0.0.3"}); err != nil || issued {
		t.Fatalf("EnsureNodeCert on the joined node: %v %v", issued, err)
	}
	if _, err := clustertls.EnsureNodeCert(jdir, "n3", []string{"127.0.0.9"}); !errors.Is(err, clustertls.ErrNeedsCertificate) {
		t.Fatalf("EnsureNodeCert for a new address without a CA key: %v, want ErrNeedsCertificate", err)
	}
	cert, err := x509.ParseCertificate(resp.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "n3" || cert.IsCA || cert.VerifyHostname("127.0.0.3") != nil {
		t.Fatalf("issued certificate: CN %q CA %v hosts %v", cert.Subject.CommonName, cert.IsCA, cert.IPAddresses)
	}

	// Reuse.
	_, _, err = nodejoin.Join(ctx, addr, tok, "n4", nil, false)
	if !errors.As(err, &ref) || ref.Code != nodejoin.CodeTokenUsed || !ref.TokenProblem() {
		t.Fatalf("reused token: %v, want %s", err, nodejoin.CodeTokenUsed)
	}
	// A guessed secret for a real id.
	guess := tok
	guess.Secret[3] ^= 1
	_, _, err = nodejoin.Join(ctx, addr, guess, "n5", nil, false)
	if !errors.As(err, &ref) || ref.Code != nodejoin.CodeTokenUnknown {
		t.Fatalf("guessed secret: %v, want %s", err, nodejoin.CodeTokenUnknown)
	}
}

// TestJoinRefusesImpostor: an endpoint whose certificate comes from
// another CA (someone in between, or the wrong cluster) never sees the
// request, so never the secret.
func TestJoinRefusesImpostor(t *testing.T) {
	st := namespace.NewStore(testetcd.Start(t).Client())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	real, evil := t.TempDir(), t.TempDir()
	for _, d := range []string{real, evil} {
		if err := clustertls.NewCA(d, "x"); err != nil {
			t.Fatal(err)
		}
	}
	ca, _ := clustertls.LoadCA(real)
	tok, _ := clustertls.NewJoinToken(ca.Hash())
	if _, err := st.CreateJoinToken(ctx, tok, time.Minute); err != nil {
		t.Fatal(err)
	}
	// The impostor records whether any request reached it.
	if _, err := clustertls.EnsureNodeCert(evil, "n1", []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	b, _ := clustertls.Load(evil)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", b.JoinServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	reached := make(chan string, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		buf.ReadFrom(r.Body)
		reached <- buf.String()
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	_, _, err = nodejoin.Join(ctx, ln.Addr().String(), tok, "n3", nil, false)
	if err == nil || !strings.Contains(err.Error(), "does not match the hash") {
		t.Fatalf("join through an impostor: %v, want a CA mismatch", err)
	}
	select {
	case body := <-reached:
		t.Fatalf("the impostor received a request: %s", body)
	default:
	}
	// A plain TCP listener (no TLS) gets no token either.
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := pl.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		n, _ := c.Read(buf)
		got <- buf[:n]
	}()
	if _, _, err := nodejoin.Join(ctx, pl.Addr().String(), tok, "n3", nil, false); err == nil {
		t.Fatal("join through a plain TCP listener succeeded")
	}
	if b := <-got; bytes.Contains(b, []byte(tok.String()[19:51])) {
		t.Fatal("the secret crossed the wire in the clear")
	}
	// The token is still unused: it can join through the real member.
	if err := st.ConsumeJoinToken(ctx, tok.ID, tok.Secret[:], "n3"); err != nil {
		t.Fatalf("token after the impostor attempts: %v", err)
	}
}

// FuzzDecodeRequest: the decoder never panics, and what it accepts has a
// token that prints back, a CSR whose name passes, and a body within the
// cap.
func FuzzDecodeRequest(f *testing.F) {
	tok, _ := clustertls.NewJoinToken([32]byte{9})
	csr, _, err := clustertls.NewCSR("n3", []string{"127.0.0.3"})
	if err != nil {
		f.Fatal(err)
	}
	good, _ := json.Marshal(nodejoin.Request{Token: tok.String(), CSR: csr})
	f.Add(good)
	f.Add([]byte(`{"token":"x","csr":"AAAA"}`))
	f.Add([]byte(`{"token":"` + tok.String() + `","csr":"MIIB","renew":true}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := nodejoin.DecodeRequest(bytes.NewReader(b), nodejoin.ValidNodeName)
		if err != nil {
			return
		}
		if len(b) > nodejoin.MaxRequestSize {
			t.Fatalf("accepted %d bytes", len(b))
		}
		if _, err := clustertls.ParseJoinToken(d.Token.String()); err != nil {
			t.Fatalf("accepted token does not reparse: %v", err)
		}
		if err := nodejoin.ValidNodeName(d.Name); err != nil {
			t.Fatalf("accepted name %q: %v", d.Name, err)
		}
	})
}
