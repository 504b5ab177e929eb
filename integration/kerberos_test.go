package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cloudsoda "github.com/cloudsoda/go-smb2"
	"github.com/cloudsoda/sddl"
	krbclient "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"

	"sofs.io/sofs/integration/addc"
	"sofs.io/sofs/integration/harness"
	"sofs.io/sofs/internal/testport"
)

// kerberosEnv is one sofs node joined to a throwaway Samba AD domain: the
// node's keytab is the computer account SOFS1$'s, and clients reach it as
// "sofs1" (cifs/sofs1) at its loopback address.
type kerberosEnv struct {
	dc     *addc.DC
	target *harness.Target
	// api is the node's admin API URL and tokenFile its token; witness
	// the witness service's address.
	api, tokenFile, witness string
	// cc holds each fixture account's credential cache (kinit).
	cc map[string]string
}

// witnessHost is the loopback address of the Kerberos node's witness and
// endpoint mapper (port 135, which cannot move); no other test uses it.
const witnessHost = "127.0.137.9"

// startKerberos provisions the domain (with its LDAP server, for the
// node's name lookups) and starts sofs with its keytab, pointed at the
// DC's directory.
func startKerberos(t *testing.T, extra ...string) *kerberosEnv {
	t.Helper()
	harness.RequireTool(t, "smbclient")
	dc := addc.StartWith(t, addc.Options{LDAP: true})
	args := []string{"--keytab", dc.Keytab, "--krb5-conf", dc.Krb5Conf,
		"--ldap-url", "ldap://" + dc.LDAP, "--ldap-spn", "ldap/" + dc.HostName}
	api := testport.Loopback(t)
	// rpcclient finds the witness through the endpoint mapper on port
	// 135, so the witness and its mapper get an address of their own.
	wit := testport.On(t, witnessHost)
	args = append(args, "--api-listen", api, "--witness-listen", wit, "--epm-listen", witnessHost+":135")
	p := harness.StartSofsProcess(t, harness.SofsOptions{ExtraArgs: append(args, extra...)})
	e := &kerberosEnv{dc: dc, target: p.Target, cc: map[string]string{},
		api: "http://" + api, tokenFile: filepath.Join(p.Data, "api-token"), witness: wit}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, a := range []addc.Account{addc.Alice, addc.Bob, addc.HyperV} {
		cc, err := dc.Kinit(ctx, a.Name, a.Password)
		if err != nil {
			t.Fatal(err)
		}
		e.cc[a.Name] = cc
	}
	return e
}

// smbclient runs smbclient as user with Kerberos required (no NTLM
// fallback) on the node's share and returns its output and error.
func (e *kerberosEnv) smbclient(ctx context.Context, user string, args ...string) (string, error) {
	return e.smbclientOn(ctx, e.target.Share, user, args...)
}

// smbclientOn is smbclient on share.
func (e *kerberosEnv) smbclientOn(ctx context.Context, share, user string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	base := []string{"//" + addc.Server + "/" + share, "-I", e.target.Addr, "-p", strconv.Itoa(e.target.Port),
		"--use-kerberos=required", "-N", "-d", "0"}
	cmd := exec.CommandContext(ctx, "smbclient", append(base, args...)...)
	cmd.Env = e.dc.Env(e.cc[user])
	out, err := cmd.CombinedOutput()
	if err == nil && strings.Contains(string(out), "NT_STATUS_") {
		err = errors.New("NT_STATUS in output")
	}
	return string(out), err
}

// TestKerberos logs on to sofs with Kerberos tickets from a real KDC
// (Samba's AD DC) with three clients, and checks that a file ACL naming
// only a domain group admits its member and refuses a non-member.
func TestKerberos(t *testing.T) {
	// Shares whose permissions name domain accounts by name, resolved to
	// SIDs through the DC's LDAP when the node starts: a domain group, a
	// deny on the domain's users (Alice and Bob, not the computer
	// HV1$), and a user by UPN.
	byName := map[string]string{
		"grp":  `allow=` + addc.NetBIOS + `\` + addc.Group + `:full`,
		"nodu": `deny=` + addc.NetBIOS + `\Domain Users:read,allow=Everyone:full`,
		"upn":  `allow=` + addc.Bob.Name + `@` + addc.DNSDomain + `:read`,
	}
	var extra []string
	for name, perm := range byName {
		extra = append(extra, "--share", name+"="+filepath.Join(t.TempDir(), name)+","+perm)
	}
	e := startKerberos(t, extra...)
	ctx := context.Background()

	t.Run("share permission by name", func(t *testing.T) {
		for _, c := range []struct {
			share, user string
			allow       bool
		}{
			{"grp", addc.Alice.Name, true}, {"grp", addc.Bob.Name, false},
			{"nodu", addc.Alice.Name, false}, {"nodu", addc.Bob.Name, false}, {"nodu", addc.HyperV.Name, true},
			{"upn", addc.Bob.Name, true}, {"upn", addc.Alice.Name, false},
		} {
			out, err := e.smbclientOn(ctx, c.share, c.user, "-c", "ls")
			switch {
			case c.allow && err != nil:
				t.Errorf("%s on %s (%s): refused: %v\n%s", c.user, c.share, byName[c.share], err, out)
			case !c.allow && (err == nil || !strings.Contains(out, "NT_STATUS_ACCESS_DENIED")):
				t.Errorf("%s on %s (%s): not refused with ACCESS_DENIED: %v\n%s", c.user, c.share, byName[c.share], err, out)
			}
		}
	})

	t.Run("sofsctl share permission by name", func(t *testing.T) {
		// Through the admin API, as an operator would: the name is
		// resolved when the share is saved, the SID shown, and the
		// share admits the group's member only. A name the directory
		// does not know, or a directory that cannot be reached, refuses
		// the save.
		cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		bin, err := harness.BuildSofsctl(cctx, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		ctl := func(api, tokenFile string, args ...string) (string, error) {
			cmd := exec.CommandContext(cctx, bin, append([]string{"--api", api, "--token-file", tokenFile}, args...)...)
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		group := addc.NetBIOS + `\` + addc.Group
		dir := filepath.Join(t.TempDir(), "ctl")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := ctl(e.api, e.tokenFile, "share", "create", "ctl", "--path", dir, "--allow", group+":change"); err != nil {
			t.Fatalf("sofsctl share create --allow %s: %v\n%s", group, err, out)
		}
		want, err := e.dc.SID(cctx, addc.Group)
		if err != nil {
			t.Fatal(err)
		}
		out, err := ctl(e.api, e.tokenFile, "-o", "json", "share", "show", "ctl")
		var sh struct {
			Permissions []struct{ Account, SID string }
		}
		if err != nil || json.Unmarshal([]byte(out), &sh) != nil || len(sh.Permissions) != 1 ||
			sh.Permissions[0].Account != group || sh.Permissions[0].SID != want {
			t.Fatalf("share show: %v, want %s resolved to %s:\n%s", err, group, want, out)
		}
		if o, err := e.smbclientOn(cctx, "ctl", addc.Alice.Name, "-c", "ls"); err != nil {
			t.Errorf("alice (member) on ctl: %v\n%s", err, o)
		}
		if o, err := e.smbclientOn(cctx, "ctl", addc.Bob.Name, "-c", "ls"); err == nil || !strings.Contains(o, "NT_STATUS_ACCESS_DENIED") {
			t.Errorf("bob (not a member) on ctl: not refused with ACCESS_DENIED: %v\n%s", err, o)
		}
		if out, err := ctl(e.api, e.tokenFile, "share", "update", "ctl", "--allow", addc.NetBIOS+`\nosuchuser:read`); err == nil || !strings.Contains(out, "account_not_found") {
			t.Errorf("an unknown account was not refused with account_not_found: %v\n%s", err, out)
		}
		// A second node whose directory is a port nobody listens on.
		down := testport.Loopback(t)
		api2 := testport.Loopback(t)
		p2 := harness.StartSofsProcess(t, harness.SofsOptions{ExtraArgs: []string{"--keytab", e.dc.Keytab, "--krb5-conf", e.dc.Krb5Conf,
			"--ldap-url", "ldap://" + down, "--ldap-spn", "ldap/" + e.dc.HostName, "--api-listen", api2}})
		out, err = ctl("http://"+api2, filepath.Join(p2.Data, "api-token"), "share", "create", "down", "--path", dir, "--allow", group+":read")
		if err == nil || !strings.Contains(out, "directory_unavailable") {
			t.Errorf("share create with the DC unreachable: %v, want directory_unavailable:\n%s", err, out)
		}
		if out, err := ctl("http://"+api2, filepath.Join(p2.Data, "api-token"), "share", "show", "down"); err == nil {
			t.Errorf("a share refused for an unreachable DC was stored:\n%s", out)
		}
		// With the SID the save needs no directory.
		if out, err := ctl("http://"+api2, filepath.Join(p2.Data, "api-token"), "share", "create", "down", "--path", dir, "--allow", want+":read"); err != nil {
			t.Errorf("share create by SID with the DC unreachable: %v\n%s", err, out)
		}
	})

	t.Run("witness RPC", func(t *testing.T) {
		// Samba's rpcclient asks the witness for its interface list with
		// Kerberos (no NTLM fallback), bare (auth type 16) and in SPNEGO
		// (9), at packet integrity and privacy: the DCE-style three legs,
		// then every PDU signed with a MIC token or sealed with a wrap
		// token, each checked by the client as by the server.
		bin := harness.RequireTool(t, "rpcclient")
		hosts := addc.HostsEnv(t, t.TempDir(), witnessHost)
		run := func(user, opts string) (string, error) {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(cctx, bin, "--use-kerberos=required", "-N",
				"ncacn_ip_tcp:"+addc.Server+"["+opts+"]", "-c", "GetInterfaceList")
			cmd.Env = append(e.dc.Env(e.cc[user]), hosts...)
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		for _, opts := range []string{"krb5,sign", "spnego,sign", "sign", "krb5,seal", "spnego,seal", "seal"} {
			out, err := run(addc.Alice.Name, opts)
			if err != nil || !strings.Contains(out, e.target.Addr+" V2") {
				t.Errorf("[%s]: %v\n%s", opts, err, out)
			}
		}
	})

	t.Run("constrained delegation", func(t *testing.T) {
		// SVC1$ gets tickets to cifs/sofs1 in Alice's and Bob's names
		// (S4U2Self, then S4U2Proxy, [MS-SFU] 3.1.5.1, 3.2.5.2) with
		// MIT's kvno; each logs on to sofs as the impersonated user: the
		// PAC is the user's, so the group share admits only Alice and
		// the UPN share only Bob (SVC1$ itself is in neither).
		//
		// impacket's getST.py -impersonate (0.10) would do as well, but
		// against Samba 4.17's KDC its S4U2Self fails with
		// KRB_AP_ERR_INAPP_CKSUM whether given a password or an NT hash
		// (it signs PA-FOR-USER with HMAC-MD5 only); MIT's client also
		// sends PA-S4U-X509-USER and is accepted.
		svc, err := e.dc.Kinit(ctx, addc.Delegate.Name, addc.Delegate.Password)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			user, admits, refuses string
		}{{addc.Alice.Name, "grp", "upn"}, {addc.Bob.Name, "upn", "grp"}} {
			out := filepath.Join(t.TempDir(), "s4u.cc")
			cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			cmd := exec.CommandContext(cctx, "kvno", "-I", c.user, "-P", "--out-cache", "FILE:"+out, "cifs/"+addc.Server)
			cmd.Env = e.dc.Env(svc)
			b, err := cmd.CombinedOutput()
			cancel()
			if err != nil {
				t.Fatalf("kvno -I %s -P cifs/%s as %s: %v\n%s", c.user, addc.Server, addc.Delegate.Name, err, b)
			}
			// The cache holds the delegated ticket and no TGT, so
			// smbclient cannot get a ticket of its own: the logon is
			// the delegated one.
			e.cc["s4u-"+c.user] = out
			if o, err := e.smbclientOn(ctx, c.admits, "s4u-"+c.user, "-c", "ls"); err != nil {
				t.Errorf("delegated %s on %s: %v\n%s", c.user, c.admits, err, o)
			}
			if o, err := e.smbclientOn(ctx, c.refuses, "s4u-"+c.user, "-c", "ls"); err == nil || !strings.Contains(o, "NT_STATUS_ACCESS_DENIED") {
				t.Errorf("delegated %s on %s: not refused with ACCESS_DENIED: %v\n%s", c.user, c.refuses, err, o)
			}
		}
	})

	t.Run("smbclient", func(t *testing.T) {
		dir := t.TempDir()
		data := make([]byte, 3<<20)
		rand.Read(data)
		src, back := filepath.Join(dir, "src"), filepath.Join(dir, "back")
		if err := os.WriteFile(src, data, 0o644); err != nil {
			t.Fatal(err)
		}
		// With an AES-256 cipher the encryption keys come from the whole
		// 32-byte Kerberos key and the signing key from its first 16
		// bytes ([MS-SMB2] 3.3.5.5.3); NTLM's 16-byte keys cannot tell.
		modes := map[string][]string{
			"sign":        {"--client-protection=sign"},
			"encrypt":     {"--client-protection=encrypt"},
			"aes256":      {"--client-protection=encrypt", "--option=client smb3 encryption algorithms=AES-256-GCM"},
			"aes256-sign": {"--client-protection=sign", "--option=client smb3 encryption algorithms=AES-256-CCM"},
		}
		for mode, opts := range modes {
			out, err := e.smbclient(ctx, addc.Alice.Name, append(opts,
				"-c", "put "+src+" krb-"+mode+".bin; ls; get krb-"+mode+".bin "+back)...)
			if err != nil {
				t.Fatalf("%s: %v\n%s", mode, err, out)
			}
			got, err := os.ReadFile(back)
			if err != nil || !bytes.Equal(got, data) || !strings.Contains(out, "krb-"+mode+".bin") {
				t.Errorf("%s: read back %d bytes (%v), listing:\n%s", mode, len(got), err, out)
			}
		}
	})

	t.Run("computer account", func(t *testing.T) {
		// A Hyper-V host logs on as itself (HV1$).
		out, err := e.smbclient(ctx, addc.HyperV.Name, "-c", "ls")
		if err != nil {
			t.Errorf("smbclient as %s: %v\n%s", addc.HyperV.Name, err, out)
		}
	})

	t.Run("impacket", func(t *testing.T) {
		py := harness.RequireTool(t, debianPython)
		if err := exec.Command(py, "-c", "import impacket.smbconnection").Run(); err != nil {
			harness.MissingDependency(t, "python3-impacket: %v", err)
		}
		// impacket takes the service ticket from the cache, so kvno puts
		// one there first (impacket's own KDC client assumes port 88).
		cc := e.cc[addc.Alice.Name]
		kvno := exec.CommandContext(ctx, "kvno", "cifs/"+addc.Server)
		kvno.Env = e.dc.Env(cc)
		if out, err := kvno.CombinedOutput(); err != nil {
			t.Fatalf("kvno: %v\n%s", err, out)
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(cctx, py, "testdata/impacket_kerberos.py", addc.Server, e.target.Addr,
			strconv.Itoa(e.target.Port), e.target.Share, addc.Alice.Name, addc.Realm)
		cmd.Env = append(e.dc.Env(""), "KRB5CCNAME="+cc)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("impacket_kerberos.py: %v\n%s\n%s", err, stdout.String(), stderr.String())
		}
		var r struct {
			User, Put, Get string
			Listing        []string
		}
		if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
			t.Fatalf("impacket output: %v\n%s", err, stdout.String())
		}
		if r.User != addc.Alice.Name || r.Put == "" || r.Put != r.Get || !strings.Contains(strings.Join(r.Listing, " "), "impacket_krb.bin") {
			t.Errorf("impacket: %+v", r)
		}
	})

	t.Run("go-smb2", func(t *testing.T) {
		sess := e.goSession(t, addc.Alice)
		sh, err := sess.Mount(e.target.Share)
		if err != nil {
			t.Fatalf("mount: %v", err)
		}
		defer sh.Umount()
		if err := sh.WriteFile("gosmb2-krb.txt", []byte("kerberos"), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, err := sh.ReadFile("gosmb2-krb.txt"); err != nil || string(b) != "kerberos" {
			t.Errorf("read back %q, %v", b, err)
		}
	})

	t.Run("NTLM off", func(t *testing.T) {
		// A second node with the same keytab that refuses NTLM.
		// Its witness, on an address of its own, must refuse NTLM too.
		const onlyWitnessHost = "127.0.137.10"
		onlyWit := testport.On(t, onlyWitnessHost)
		only := &kerberosEnv{dc: e.dc, cc: e.cc,
			target: harness.StartSofs(t, harness.SofsOptions{ExtraArgs: []string{"--keytab", e.dc.Keytab, "--ntlm=false",
				"--witness-listen", onlyWit, "--epm-listen", onlyWitnessHost + ":135"}})}
		if out, err := only.smbclient(ctx, addc.Alice.Name, "-c", "ls"); err != nil {
			t.Errorf("Kerberos logon with NTLM off: %v\n%s", err, out)
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(cctx, "smbclient", "//"+only.target.Addr+"/"+only.target.Share, "-p", strconv.Itoa(only.target.Port),
			"-U", only.target.User+"%"+only.target.Password, "--use-kerberos=off", "-c", "ls")
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("NTLM logon of %s succeeded with --ntlm=false:\n%s", only.target.User, out)
		}
		rpc := exec.CommandContext(cctx, harness.RequireTool(t, "rpcclient"), "-U", only.target.User+"%"+only.target.Password,
			"--use-kerberos=off", "ncacn_ip_tcp:"+onlyWitnessHost+"[sign]", "-c", "GetInterfaceList")
		if out, err := rpc.CombinedOutput(); err == nil || strings.Contains(string(out), " V2") {
			t.Errorf("NTLM bind to the witness succeeded with --ntlm=false: %v\n%s", err, out)
		}
	})

	t.Run("domain group ACL", func(t *testing.T) {
		group, err := e.dc.SID(ctx, addc.Group)
		if err != nil {
			t.Fatal(err)
		}
		sess := e.goSession(t, addc.Alice)
		sh, err := sess.Mount(e.target.Share)
		if err != nil {
			t.Fatalf("mount: %v", err)
		}
		defer sh.Umount()
		const name = "vmadmins-only.txt"
		if err := sh.WriteFile(name, []byte("for vmadmins"), 0o644); err != nil {
			t.Fatal(err)
		}
		// Only the domain group may read: not the owner, not Everyone.
		sd, err := sddl.FromString("D:P(A;;FA;;;" + group + ")")
		if err != nil {
			t.Fatal(err)
		}
		if err := sh.SetSecurityInfo(name, cloudsoda.DACLSecurityInformation, sd); err != nil {
			t.Fatalf("set DACL: %v", err)
		}
		dir := t.TempDir()
		for _, c := range []struct {
			user  string
			allow bool
		}{{addc.Alice.Name, true}, {addc.Bob.Name, false}} {
			dst := filepath.Join(dir, c.user)
			out, err := e.smbclient(ctx, c.user, "-c", "get "+name+" "+dst)
			if c.allow {
				if b, rerr := os.ReadFile(dst); err != nil || rerr != nil || string(b) != "for vmadmins" {
					t.Errorf("%s (member of %s) cannot read: %v\n%s", c.user, addc.Group, err, out)
				}
			} else if err == nil || !strings.Contains(out, "NT_STATUS_ACCESS_DENIED") {
				t.Errorf("%s (not a member) was not refused with ACCESS_DENIED: %v\n%s", c.user, err, out)
			}
		}
	})
}

// goSession logs acct on with cloudsoda/go-smb2's Kerberos initiator
// (gokrb5 as the client, getting its tickets from the DC itself).
func (e *kerberosEnv) goSession(t *testing.T, acct addc.Account) *cloudsoda.Session {
	t.Helper()
	cfg, err := krbconfig.Load(e.dc.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	cl := krbclient.NewWithPassword(acct.Name, addc.Realm, acct.Password, cfg, krbclient.DisablePAFXFAST(true))
	if err := cl.Login(); err != nil {
		t.Fatalf("kerberos login %s: %v", acct.Name, err)
	}
	t.Cleanup(cl.Destroy)
	ctx, cancel := context.WithTimeout(context.Background(), goClientTimeout)
	t.Cleanup(cancel)
	d := &cloudsoda.Dialer{
		MaxCreditBalance: 128,
		Negotiator:       cloudsoda.Negotiator{RequireMessageSigning: true},
		Initiator:        &cloudsoda.Krb5Initiator{Client: cl, TargetSPN: "cifs/" + addc.Server},
	}
	sess, err := d.Dial(ctx, e.target.HostPort())
	if err != nil {
		t.Fatalf("go-smb2 Kerberos logon as %s: %v", acct.Name, err)
	}
	t.Cleanup(func() { sess.Logoff() })
	return sess
}
