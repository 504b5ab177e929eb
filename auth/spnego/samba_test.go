package spnego_test

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
	"sofs.io/sofs/auth/spnego"
)

// helper is one ntlm_auth helper-protocol session: a request line in, a
// "VERB argument" line out.
type helper struct {
	in  io.WriteCloser
	out *bufio.Reader
}

func (h *helper) call(req string) (verb, arg string, err error) {
	if _, err := io.WriteString(h.in, req+"\n"); err != nil {
		return "", "", err
	}
	line, err := h.out.ReadString('\n')
	if err != nil {
		return "", "", fmt.Errorf("ntlm_auth after %.20q: %w", req, err)
	}
	verb, arg, _ = strings.Cut(strings.TrimSpace(line), " ")
	return verb, arg, nil
}

// TestSambaSPNEGOClient runs Samba's SPNEGO initiator (gensec spnego over
// NTLMSSP, as smbclient uses it) through ntlm_auth's gss-spnego-client
// helper against Decode/EncodeResp and the NTLM acceptor; "AF" means
// Samba accepted the final token. ntlm_auth does not ask for signing, so
// Samba sends neither an NTLM MIC nor a mechListMIC and must get none
// back (the MIC path is covered by the go-smb2 and ntlmtest clients).
// Skipped where ntlm_auth is not installed.
func TestSambaSPNEGOClient(t *testing.T) {
	bin, err := exec.LookPath("ntlm_auth")
	if err != nil {
		// In CI a missing peer is a failure, never a silent skip.
		if os.Getenv("CI") != "" {
			t.Fatal("ntlm_auth not installed (Debian package winbind)")
		}
		t.Skip("ntlm_auth not installed")
	}
	srv := ntlm.NewServer(ntlm.Config{NetBIOSDomain: "SOFS", NetBIOSComputer: "NODE1",
		DNSDomain: "sofs.test", DNSComputer: "node1.sofs.test", Users: ntlmtest.Users{"alice": "S3cret!"}})
	for _, password := range []string{"S3cret!", "wrong"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, bin, "--helper-protocol=gss-spnego-client", "--configfile=/dev/null",
			"--username=alice", "--domain=SOFS", "--password="+password, "--use-cached-creds=no")
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		h := &helper{in: in, out: bufio.NewReader(out)}
		err := sambaLegs(h, srv, password == "S3cret!")
		in.Close()
		_ = cmd.Wait()
		cancel()
		if err != nil {
			t.Errorf("password %q: %v (stderr: %s)", password, err, stderr.String())
		}
	}
}

func sambaLegs(h *helper, srv *ntlm.Server, wantOK bool) error {
	verb, arg, err := h.call("YR")
	if err != nil || verb != "YR" {
		return fmt.Errorf("YR: %s %v", verb, err)
	}
	raw, _ := base64.StdEncoding.DecodeString(arg)
	tok, err := spnego.Decode(raw)
	if err != nil {
		return fmt.Errorf("decode NegTokenInit: %w", err)
	}
	if !tok.Init || len(tok.MechTypes) == 0 || !tok.MechTypes[0].Equal(spnego.OIDNTLMSSP) {
		return fmt.Errorf("NegTokenInit %+v", tok)
	}
	mechTypes := tok.MechTypesDER
	ex := srv.NewExchange()
	chal, err := ex.Negotiate(tok.MechToken)
	if err != nil {
		return err
	}
	reply := spnego.EncodeResp(spnego.AcceptIncomplete, spnego.OIDNTLMSSP, chal, nil)
	verb, arg, err = h.call("TT " + base64.StdEncoding.EncodeToString(reply))
	if err != nil || verb != "KK" {
		return fmt.Errorf("after CHALLENGE: %s %s %v", verb, arg, err)
	}
	raw, _ = base64.StdEncoding.DecodeString(arg)
	if tok, err = spnego.Decode(raw); err != nil {
		return fmt.Errorf("decode NegTokenResp: %w", err)
	}
	res, err := ex.Authenticate(tok.MechToken)
	if !wantOK {
		if !errors.Is(err, ntlm.ErrLogonFailure) {
			return fmt.Errorf("wrong password: err = %v", err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if len(tok.MechListMIC) != 0 {
		if err := ex.VerifyMIC(mechTypes, tok.MechListMIC); err != nil {
			return err
		}
	}
	// As the server core does: ask for a MIC whatever the client sent.
	// Without signing negotiated Samba sends no MIC and fails the logon if
	// it gets one, so MakeMIC must return nil here.
	mic := ex.MakeMIC(mechTypes)
	if len(tok.MechListMIC) == 0 && !res.MIC && mic != nil {
		return errors.New("MakeMIC made a mechListMIC nobody asked for")
	}
	done := spnego.EncodeResp(spnego.AcceptCompleted, nil, nil, mic)
	verb, arg, err = h.call("TT " + base64.StdEncoding.EncodeToString(done))
	if err != nil || verb != "AF" {
		return fmt.Errorf("Samba did not accept the final token: %s %s %v (result %+v)", verb, arg, err, res)
	}
	return nil
}
