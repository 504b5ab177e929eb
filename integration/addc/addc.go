// Package addc runs a throwaway Active Directory domain controller for
// tests: Samba's AD DC from Debian's packages, provisioned into a temporary
// directory and serving its KDC (and LDAP when asked) on 127.0.0.1.
//
// Nothing of the machine's Samba or Kerberos configuration is used: the
// provision writes its own smb.conf, private and state directories, and
// clients are pointed at the KDC by a krb5.conf of the DC's own (KRB5_CONFIG)
// that names it by address. Host names never need to resolve: the realm of
// every service name is fixed in [domain_realm], MIT Kerberos is told not
// to canonicalise names through DNS, and SMB clients are given the server's
// address separately (smbclient -I), so the service principal cifs/<name>
// comes from a name nobody looks up.
//
// Only the KDC runs ("server services = kdc"): accounts are created and the
// keytab exported by samba-tool working on the directory database itself,
// so no LDAP server (whose port, 389, cannot be moved) is needed, except
// by tests of directory lookups, which ask for it (Options.LDAP).
package addc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sofs.io/sofs/integration/harness"
	"sofs.io/sofs/internal/testport"
)

// The domain every DC of this package serves. The names are fixed so that
// tests can write ACLs and expectations against them; the passwords are
// throwaway values of a DC that lives for one test.
const (
	Realm        = "SOFS.TEST"
	NetBIOS      = "SOFS"
	DNSDomain    = "sofs.test"
	adminPass    = "Adm1n.Throwaway.Pass"
	machinePass  = "Mach1ne.Throwaway.Pass"
	dcHostName   = "dc1"
	provisionMax = 3 * time.Minute
	// startMax bounds the wait for the KDC's port: samba forks its
	// services within a second or two; on a busy 2-core machine a minute
	// is generous, and a broken start fails the test rather than hang it.
	startMax = time.Minute
	// stopGrace is how long samba gets after SIGTERM before SIGKILL.
	stopGrace = 10 * time.Second
	// toolMax bounds each samba-tool call after the provision.
	toolMax = time.Minute
	// provisionAttempts bounds provision runs: once (of some twenty
	// runs here) samba-tool failed setting the sysvol's ACL with a
	// Python MemoryError on a machine with gigabytes free, and passed
	// when run again.
	provisionAttempts = 2
)

// Account is a domain user the fixture creates.
type Account struct {
	Name     string
	Password string
}

// The fixture's accounts: Alice is a member of Group, Bob is not. Server
// is the computer account of the sofs node, with the SPNs ServerSPNs.
var (
	Alice = Account{"alice", "Al1ce.Throwaway.Pass"}
	Bob   = Account{"bob", "B0b.Throwaway.Pass"}
	// HyperV is the computer account of HyperVHost, logging on as
	// itself as a Hyper-V host does.
	HyperV = Account{strings.ToUpper(HyperVHost) + "$", machinePass}
	// Delegate is a service's computer account (a Hyper-V host's or a
	// management service's, in Windows terms) allowed to delegate to the
	// sofs node's cifs/ SPNs with protocol transition (S4U2Self then
	// S4U2Proxy, [MS-SFU]); created by a DC with Options.LDAP.
	Delegate = Account{"SVC1$", machinePass}
)

const (
	// Group is a domain group whose only member is Alice.
	Group = "vmadmins"
	// Server is the sofs node's host name; its computer account is
	// SOFS1$ and holds the SPNs cifs/ and host/ for the short and the
	// fully qualified name, as a joined Windows file server's does.
	Server = "sofs1"
	// HyperVHost is a second computer account, a client machine (a
	// Hyper-V host) that logs on as itself.
	HyperVHost = "hv1"
)

// ServerSPNs returns the service principal names of the sofs node.
func ServerSPNs() []string {
	var out []string
	for _, svc := range []string{"cifs", "host"} {
		out = append(out, svc+"/"+Server, svc+"/"+Server+"."+DNSDomain)
	}
	return out
}

// DC is a running domain controller.
type DC struct {
	// Dir holds the provision, the KDC's logs, krb5.conf and the keytab.
	Dir string
	// KDC is the address (host:port) of the KDC.
	KDC string
	// Krb5Conf is a krb5.conf that points clients at this KDC.
	Krb5Conf string
	// Keytab holds the keys of the sofs node's computer account.
	Keytab string
	// DomainSID is the domain's SID (S-1-5-21-...).
	DomainSID string

	// LDAP is the DC's LDAP address (host only: Samba serves LDAP on
	// 389 and LDAPS on 636 and cannot move them), empty unless the DC
	// was started with Options.LDAP.
	LDAP string
	// HostName is the DC's fully qualified name, the host part of its
	// SPN ldap/<HostName> and the name in its TLS certificate.
	HostName string

	smbConf string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// Start provisions a domain controller for t, starts its KDC, creates the
// fixture's accounts and exports the keytab of the sofs node. It is
// stopped and removed when t ends. Without Samba's AD DC, its tools or
// root, the test stops through harness.MissingDependency (a failure in CI).
func Start(t testing.TB) *DC {
	t.Helper()
	return StartWith(t, Options{})
}

// Options are the parts of a DC that only some tests need.
type Options struct {
	// LDAP also runs the DC's LDAP server, for tests of name lookups.
	// Samba serves LDAP on 389 and LDAPS on 636 and cannot move them (no
	// setting does), nor bind an address that no interface carries, so
	// such a DC holds 127.0.0.1:389 and :636 for its lifetime, and its
	// KDC takes port 88: one test binary may run one at a time, and
	// shares it among its tests. It also has Delegate, a service account
	// trusted for constrained delegation to the sofs node's cifs/ SPNs.
	LDAP bool
}

// StartWith is Start with opts.
func StartWith(t testing.TB, opts Options) *DC {
	t.Helper()
	for _, tool := range []string{"samba", "samba-tool", "kinit"} {
		harness.RequireTool(t, tool)
	}
	if os.Geteuid() != 0 {
		harness.MissingDependency(t, "Samba's AD DC must run as root")
	}
	dir, err := os.MkdirTemp("", "sofs-addc-")
	if err != nil {
		t.Fatalf("addc: %v", err)
	}
	const host = "127.0.0.1"
	kdcPort := testport.On(t, host)
	if opts.LDAP {
		// Tools with their own Kerberos client (impacket) ask port 88
		// only; the DC that holds LDAP's fixed ports holds this too.
		kdcPort = net.JoinHostPort(host, "88")
	}
	kpasswdPort := testport.On(t, host)
	dc := &DC{Dir: dir, KDC: kdcPort, HostName: dcHostName + "." + DNSDomain}
	if opts.LDAP {
		dc.LDAP = host
	}
	t.Cleanup(func() {
		if err := dc.stop(); err != nil {
			t.Errorf("addc: %v", err)
		}
		if t.Failed() {
			t.Logf("samba output:\n%s", tail(filepath.Join(dir, "samba.out")))
		}
		os.RemoveAll(dir)
	})
	ctx, cancel := context.WithTimeout(context.Background(), provisionMax)
	defer cancel()
	if err := dc.provision(ctx, host, kdcPort, kpasswdPort, opts); err != nil {
		t.Fatalf("addc: %v", err)
	}
	if err := dc.start(ctx); err != nil {
		t.Fatalf("addc: %v", err)
	}
	return dc
}

// provision creates the domain, its accounts, krb5.conf and the keytab.
func (dc *DC) provision(ctx context.Context, host, kdc, kpasswd string, o Options) error {
	_, kdcPort, _ := net.SplitHostPort(kdc)
	_, kpwPort, _ := net.SplitHostPort(kpasswd)
	target := filepath.Join(dc.Dir, "dc")
	dc.smbConf = filepath.Join(target, "etc", "smb.conf")
	opts := map[string]string{
		// Loopback only: the KDC listens on 127.0.0.1 and nowhere else.
		"interfaces":           host,
		"bind interfaces only": "yes",
		"server services":      "kdc",
		"krb5 port":            kdcPort,
		"kpasswd port":         kpwPort,
		// Every path the DC writes is inside Dir, none in /var or /run.
		"log file":                  filepath.Join(dc.Dir, "log.%m"),
		"pid directory":             filepath.Join(target, "run"),
		"ncalrpc dir":               filepath.Join(target, "ncalrpc"),
		"winbindd socket directory": filepath.Join(target, "winbindd"),
	}
	if o.LDAP {
		opts["server services"] = "kdc, ldap"
	}
	args := []string{"domain", "provision", "--targetdir=" + target,
		"--realm=" + Realm, "--domain=" + NetBIOS, "--adminpass=" + adminPass,
		"--server-role=dc", "--dns-backend=NONE", "--host-name=" + dcHostName, "--host-ip=" + host}
	for k, v := range opts {
		args = append(args, "--option="+k+"="+v)
	}
	var out string
	var err error
	for attempt := 1; attempt <= provisionAttempts; attempt++ {
		if out, err = dc.tool(ctx, args...); err == nil {
			break
		}
		// Start again from nothing: a half-made provision cannot be
		// resumed.
		if rerr := os.RemoveAll(target); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	if err != nil {
		return err
	}
	for _, l := range strings.Split(out, "\n") {
		if _, sid, ok := strings.Cut(l, "DOMAIN SID:"); ok {
			dc.DomainSID = strings.TrimSpace(sid)
		}
	}
	if dc.DomainSID == "" {
		return fmt.Errorf("provision printed no domain SID:\n%s", out)
	}
	steps := [][]string{
		{"user", "create", Alice.Name, Alice.Password},
		{"user", "create", Bob.Name, Bob.Password},
		{"group", "add", Group},
		{"group", "addmembers", Group, Alice.Name},
		{"computer", "create", strings.ToUpper(HyperVHost)},
		{"user", "setpassword", strings.ToUpper(HyperVHost) + "$", "--newpassword=" + machinePass},
	}
	if o.LDAP {
		steps = append(steps,
			[]string{"computer", "create", "SVC1", "--service-principal-name=http/svc1." + DNSDomain},
			[]string{"user", "setpassword", Delegate.Name, "--newpassword=" + Delegate.Password},
			// msDS-AllowedToDelegateTo and TRUSTED_TO_AUTH_FOR_DELEGATION
			// (the "use any authentication protocol" choice).
			[]string{"delegation", "add-service", Delegate.Name, "cifs/" + Server},
			[]string{"delegation", "add-service", Delegate.Name, "cifs/" + Server + "." + DNSDomain},
			[]string{"delegation", "for-any-protocol", Delegate.Name, "on"})
		// A Windows DC registers its ldap/ SPNs itself; Samba's DC does
		// it from samba_spnupdate, run by the DNS update service that
		// this DC leaves off.
		steps = append(steps, []string{"spn", "add", "ldap/" + dc.HostName, strings.ToUpper(dcHostName) + "$"})
	}
	create := []string{"computer", "create", strings.ToUpper(Server)}
	for _, spn := range ServerSPNs() {
		create = append(create, "--service-principal-name="+spn)
	}
	// samba-tool computer create leaves the account without keys; a
	// password gives it some, as a domain join would.
	steps = append(steps, create, []string{"user", "setpassword", strings.ToUpper(Server) + "$", "--newpassword=" + machinePass})
	for _, s := range steps {
		sctx, cancel := context.WithTimeout(ctx, toolMax)
		_, err := dc.tool(sctx, append(s, "-s", dc.smbConf)...)
		cancel()
		if err != nil {
			return err
		}
	}
	dc.Keytab = filepath.Join(dc.Dir, "sofs1.keytab")
	if err := dc.ExportKeytab(ctx, dc.Keytab, strings.ToUpper(Server)+"$"); err != nil {
		return err
	}
	dc.Krb5Conf = filepath.Join(dc.Dir, "krb5.conf")
	return os.WriteFile(dc.Krb5Conf, []byte(dc.krb5Conf()), 0o644)
}

// ExportKeytab writes the keys of principal (an account name such as
// SOFS1$) to path with samba-tool domain exportkeytab.
func (dc *DC) ExportKeytab(ctx context.Context, path, principal string) error {
	ctx, cancel := context.WithTimeout(ctx, toolMax)
	defer cancel()
	if _, err := dc.tool(ctx, "domain", "exportkeytab", path, "--principal="+principal, "-s", dc.smbConf); err != nil {
		return err
	}
	// exportkeytab reports success and writes nothing for an account
	// without keys; say so here rather than as a decryption failure later.
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		return fmt.Errorf("exportkeytab %s wrote no keys (%v)", principal, err)
	}
	return nil
}

// krb5Conf is the clients' configuration: this realm only, its KDC by
// address over TCP, and no DNS (neither for the KDC nor to canonicalise
// service host names).
func (dc *DC) krb5Conf() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[libdefaults]\n\tdefault_realm = %s\n\tdns_lookup_kdc = false\n\tdns_lookup_realm = false\n", Realm)
	b.WriteString("\trdns = false\n\tdns_canonicalize_hostname = false\n\tudp_preference_limit = 1\n")
	// Forwardable TGTs, as Windows clients get by default: a service's
	// S4U2Proxy needs its S4U2Self ticket forwardable, which the KDC
	// makes it only from a forwardable TGT.
	b.WriteString("\tforwardable = true\n")
	fmt.Fprintf(&b, "[realms]\n\t%s = {\n\t\tkdc = %s\n\t}\n", Realm, dc.KDC)
	fmt.Fprintf(&b, "[domain_realm]\n\t.%s = %s\n\t%s = %s\n\t%s = %s\n", DNSDomain, Realm, DNSDomain, Realm, Server, Realm)
	return b.String()
}

// tool runs samba-tool.
func (dc *DC) tool(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "samba-tool", args...)
	cmd.Env = dc.Env("")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("samba-tool %s: %w\n%s", strings.Join(args[:2], " "), err, out.String())
	}
	return out.String(), nil
}

// start runs samba in the foreground of its own process group and waits
// until the KDC accepts connections.
func (dc *DC) start(ctx context.Context) error {
	log, err := os.Create(filepath.Join(dc.Dir, "samba.out"))
	if err != nil {
		return err
	}
	defer log.Close()
	// -M single: one process, so stopping it stops everything; -i keeps
	// it in the foreground, attached to this test.
	dc.cmd = exec.Command("samba", "-i", "-M", "single", "-s", dc.smbConf)
	dc.cmd.Env = dc.Env("")
	dc.cmd.Stdout, dc.cmd.Stderr = log, log
	dc.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := dc.cmd.Start(); err != nil {
		return fmt.Errorf("start samba: %w", err)
	}
	dc.exited = make(chan struct{})
	go func() { dc.cmd.Wait(); close(dc.exited) }()
	host, port, _ := net.SplitHostPort(dc.KDC)
	p, _ := strconv.Atoi(port)
	wctx, cancel := context.WithTimeout(ctx, startMax)
	defer cancel()
	if err := harness.WaitForPort(wctx, host, p, dc.exited); err != nil {
		return fmt.Errorf("KDC on %s: %w\n%s", dc.KDC, err, tail(filepath.Join(dc.Dir, "samba.out")))
	}
	if dc.LDAP != "" {
		if err := harness.WaitForPort(wctx, dc.LDAP, 636, dc.exited); err != nil {
			return fmt.Errorf("LDAPS on %s:636: %w\n%s", dc.LDAP, err, tail(filepath.Join(dc.Dir, "samba.out")))
		}
	}
	return nil
}

// stop ends samba: SIGTERM to its process group, SIGKILL after stopGrace.
func (dc *DC) stop() error {
	if dc.cmd == nil || dc.exited == nil {
		return nil
	}
	pg := dc.cmd.Process.Pid
	_ = syscall.Kill(-pg, syscall.SIGTERM)
	select {
	case <-dc.exited:
		return nil
	case <-time.After(stopGrace):
	}
	_ = syscall.Kill(-pg, syscall.SIGKILL)
	<-dc.exited
	return fmt.Errorf("samba pid %d ignored SIGTERM for %v; killed", pg, stopGrace)
}

// Env returns the environment for a Kerberos client of this DC: the
// process environment with KRB5_CONFIG set, and KRB5CCNAME when ccache is
// not empty.
func (dc *DC) Env(ccache string) []string {
	env := make([]string, 0, len(os.Environ())+2)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "KRB5_CONFIG=") && !strings.HasPrefix(e, "KRB5CCNAME=") {
			env = append(env, e)
		}
	}
	if dc.Krb5Conf != "" {
		env = append(env, "KRB5_CONFIG="+dc.Krb5Conf)
	}
	if ccache != "" {
		env = append(env, "KRB5CCNAME=FILE:"+ccache)
	}
	return env
}

// Kinit obtains a ticket-granting ticket for principal (a user name, or
// NAME$ for a computer) into a new credential cache, and returns the
// cache's path.
func (dc *DC) Kinit(ctx context.Context, principal, password string) (string, error) {
	cc := filepath.Join(dc.Dir, "cc."+strings.Trim(principal, "$")+"."+strconv.FormatInt(time.Now().UnixNano(), 36))
	ctx, cancel := context.WithTimeout(ctx, toolMax)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kinit", principal+"@"+Realm)
	cmd.Env = dc.Env(cc)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("kinit %s: %w\n%s", principal, err, out)
	}
	return cc, nil
}

// SID returns the objectSid of the account or group name.
func (dc *DC) SID(ctx context.Context, name string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, toolMax)
	defer cancel()
	kind := "user"
	if strings.EqualFold(name, Group) {
		kind = "group"
	}
	out, err := dc.tool(ctx, kind, "show", name, "--attributes=objectSid", "-s", dc.smbConf)
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "objectSid: "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", errors.New("addc: no objectSid for " + name)
}

// tail returns the end of a log file, for failure messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	const max = 8 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// HostsEnv returns environment variables that make Server's names
// (short and fully qualified) resolve to addr for the program they are
// given to, through nss_wrapper (Debian's libnss-wrapper) and a hosts file
// written to dir; for clients that, unlike smbclient -I, take no address
// apart from the name (smbtorture). The machine's /etc/hosts and DNS are
// not touched.
func HostsEnv(t testing.TB, dir, addr string) []string {
	t.Helper()
	libs, _ := filepath.Glob("/usr/lib/*/libnss_wrapper.so")
	if len(libs) == 0 {
		harness.MissingDependency(t, "libnss_wrapper.so (Debian package libnss-wrapper)")
	}
	hosts := filepath.Join(dir, "hosts")
	line := addr + " " + Server + "." + DNSDomain + " " + Server + "\n"
	if err := os.WriteFile(hosts, []byte(line), 0o644); err != nil {
		t.Fatalf("addc: %v", err)
	}
	return []string{"LD_PRELOAD=" + libs[0], "NSS_WRAPPER_HOSTS=" + hosts}
}
