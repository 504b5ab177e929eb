package ntlm_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"sofs.io/sofs/auth/ntlm"
	"sofs.io/sofs/auth/ntlm/ntlmtest"
)

// sambaClient drives Samba's NTLMSSP initiator through ntlm_auth's
// ntlmssp-client-1 helper protocol (one request line, one reply line).
type sambaClient struct {
	in  io.WriteCloser
	out *bufio.Reader
}

func (c *sambaClient) call(req string) (string, string, error) {
	if _, err := io.WriteString(c.in, req+"\n"); err != nil {
		return "", "", err
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		return "", "", fmt.Errorf("ntlm_auth after %q: %w", req, err)
	}
	verb, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	return verb, arg, nil
}

// TestSambaClient authenticates Samba's own NTLMSSP client (the code in
// smbclient) against the acceptor and checks that both sides agree on the
// session key. Samba upper-cases the domain it sends and, without the
// GENSEC new-SPNEGO feature ntlm_auth does not ask for, sends no MIC. It
// is skipped where ntlm_auth is not installed.
func TestSambaClient(t *testing.T) {
	bin, err := exec.LookPath("ntlm_auth")
	if err != nil {
		// In CI a missing peer is a failure, never a silent skip.
		if os.Getenv("CI") != "" {
			t.Fatal("ntlm_auth not installed (Debian package winbind)")
		}
		t.Skip("ntlm_auth not installed")
	}
	srv := ntlm.NewServer(ntlm.Config{
		NetBIOSDomain: "SOFS", NetBIOSComputer: "NODE1", DNSDomain: "sofs.test", DNSComputer: "node1.sofs.test",
		Users: ntlmtest.Users{"alice": "S3cret!"},
	})
	for _, tc := range []struct {
		domain, password string
		ok               bool
	}{{"SOFS", "S3cret!", true}, {"sofs", "S3cret!", true}, {"SOFS", "nope", false}} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, bin, "--helper-protocol=ntlmssp-client-1", "--configfile=/dev/null",
			"--username=alice", "--domain="+tc.domain, "--password="+tc.password,
			"--use-cached-creds=no", "--workstation=SAMBACLIENT")
		in, _ := cmd.StdinPipe()
		outp, _ := cmd.StdoutPipe()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		c := &sambaClient{in: in, out: bufio.NewReader(outp)}
		err := func() error {
			verb, neg64, err := c.call("YR")
			if err != nil || verb != "YR" {
				return fmt.Errorf("YR: %s %v", verb, err)
			}
			neg, _ := base64.StdEncoding.DecodeString(neg64)
			ex := srv.NewExchange()
			chal, err := ex.Negotiate(neg)
			if err != nil {
				return err
			}
			verb, auth64, err := c.call("TT " + base64.StdEncoding.EncodeToString(chal))
			if err != nil || (verb != "KK" && verb != "AF") {
				return fmt.Errorf("TT: %s %s %v", verb, auth64, err)
			}
			auth, _ := base64.StdEncoding.DecodeString(auth64)
			res, err := ex.Authenticate(auth)
			if !tc.ok {
				if !errors.Is(err, ntlm.ErrLogonFailure) {
					return fmt.Errorf("wrong password: err = %v", err)
				}
				return nil
			}
			if err != nil {
				return err
			}
			verb, key64, err := c.call("GK")
			if err != nil || verb != "GK" {
				return fmt.Errorf("GK: %s %s %v", verb, key64, err)
			}
			key, _ := base64.StdEncoding.DecodeString(key64)
			if !bytes.Equal(key, res.SessionKey) {
				return fmt.Errorf("session keys differ: samba %x, ours %x", key, res.SessionKey)
			}
			if res.User != "alice" || !strings.EqualFold(res.Domain, tc.domain) || res.Workstation != "SAMBACLIENT" {
				return fmt.Errorf("result %+v", res)
			}
			return nil
		}()
		in.Close()
		_ = cmd.Wait()
		cancel()
		if err != nil {
			t.Errorf("domain %q password %q: %v (stderr: %s)", tc.domain, tc.password, err, stderr.String())
		}
	}
}
