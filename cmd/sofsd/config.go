package main

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/namespace"
	"sofs.io/sofs/namespace/clustertls"
	"sofs.io/sofs/namespace/etcdnode"
)

// config is sofsd's validated configuration.
type config struct {
	Data      string
	SMBListen string
	// Advertise is the IP or IP:port recorded as this node's SMB address;
	// "" means the listener's address.
	Advertise string
	// WitnessListen and EPMListen are "" when off.
	WitnessListen  string
	EPMListen      string
	Shares         []namespace.Share
	Users          []userSpec
	RequireSigning bool
	Encrypt        bool
	MultiChannel   bool
	// Connection hygiene limits (smbserver/hygiene.go).
	LogonTimeout                time.Duration
	FrameTimeout                time.Duration
	MaxUnauthenticated          int
	MaxUnauthenticatedPerClient int
	// Keytab is the Kerberos keytab file; "" when Kerberos is off.
	Keytab string
	// NTLM accepts NTLM logons.
	NTLM bool
	// LDAPURL, LDAPCA, LDAPSPN, LDAPDomain and Krb5Conf configure the
	// directory that resolves domain account names (directory.go);
	// LDAPURL is "" when there is none.
	LDAPURL    string
	LDAPCA     string
	LDAPSPN    string
	LDAPDomain string
	Krb5Conf   string
	NodeName   string
	EtcdClient string
	EtcdPeer   string
	// EtcdInitialCluster, EtcdJoin and EtcdEndpoints choose how the node
	// reaches etcd; see settings.go.
	EtcdInitialCluster string
	EtcdJoin           []string
	EtcdEndpoints      []string
	// ClusterCA is a directory with ca.crt and ca.key copied into
	// DATA/pki when it has no CA (clusterTLS).
	ClusterCA  string
	EtcdCACert string
	EtcdCert   string
	EtcdKey    string
	// Join is a member's join endpoint (host:port) and JoinToken the token
	// to join with; "" and the zero token when not joining.
	Join      string
	JoinToken clustertls.JoinToken
	// JoinListen is this node's join endpoint; "" when off.
	JoinListen string
	// PeerListen is the open-state service's node-to-node address.
	PeerListen string
	APIListen  string // "" when the API is off
	// APIListenSet is true when api-listen was given (a witness serves
	// its health endpoints only then).
	APIListenSet bool
	APITokenFile string
	APITLSCert   string
	APITLSKey    string
	// DebugListen is the loopback address of the pprof endpoint; "" when
	// off.
	DebugListen string
	LogLevel    zerolog.Level
	LogFormat   string
	// StartTimeout bounds start-up (run exits with exitStartTimeout).
	StartTimeout time.Duration
}

// userSpec is a --user NAME:PASSWORD.
type userSpec struct {
	Name     string
	Password string
}

// parseConfig reads flags, environment and config file into a validated
// config. Every error is a usage error.
func parseConfig(args []string, lookupEnv func(string) (string, bool), hostname func() (string, error)) (config, error) {
	raw, err := gather(args, lookupEnv)
	if err != nil {
		return config{}, err
	}
	get := func(name string) string {
		if v := raw[name]; len(v) > 0 {
			return v[len(v)-1]
		}
		s, _ := lookupSetting(name)
		return s.def
	}
	var c config
	var errs []error
	bad := func(name string, err error) { errs = append(errs, fmt.Errorf("--%s: %w", name, err)) }

	if c.Data = get("data"); c.Data == "" {
		bad("data", fmt.Errorf("required (or set %s)", envName("data")))
	} else if c.Data, err = filepath.Abs(c.Data); err != nil {
		bad("data", err)
	}
	c.SMBListen = get("smb-listen")
	if err := checkHostPort(c.SMBListen); err != nil {
		bad("smb-listen", err)
	}
	if c.Advertise = get("advertise"); raw["advertise"] == nil {
		c.Advertise = ""
	} else if err := checkAdvertise(c.Advertise); err != nil {
		bad("advertise", err)
	}
	if c.WitnessListen = get("witness-listen"); c.WitnessListen == "off" {
		c.WitnessListen = ""
	} else if err := checkHostPort(c.WitnessListen); err != nil {
		bad("witness-listen", err)
	}
	if c.EPMListen = get("epm-listen"); c.EPMListen == "off" || c.WitnessListen == "" {
		c.EPMListen = ""
	} else if err := checkHostPort(c.EPMListen); err != nil {
		bad("epm-listen", err)
	}
	seen := map[string]bool{}
	for _, spec := range raw["share"] {
		sh, err := parseShareSpec(spec)
		if err != nil {
			bad("share", err)
			continue
		}
		if k := strings.ToLower(sh.Name); seen[k] {
			bad("share", fmt.Errorf("share %q given twice", sh.Name))
		} else {
			seen[k] = true
		}
		c.Shares = append(c.Shares, sh)
	}
	seen = map[string]bool{}
	for _, spec := range raw["user"] {
		u, err := parseUserSpec(spec)
		if err != nil {
			bad("user", err)
			continue
		}
		if k := strings.ToLower(u.Name); seen[k] {
			bad("user", fmt.Errorf("user %q given twice", u.Name))
		} else {
			seen[k] = true
		}
		c.Users = append(c.Users, u)
	}
	for name, dst := range map[string]*bool{"require-signing": &c.RequireSigning, "encrypt": &c.Encrypt, "multichannel": &c.MultiChannel, "ntlm": &c.NTLM} {
		v, err := strconv.ParseBool(get(name))
		if err != nil {
			bad(name, fmt.Errorf("%q is not true or false", get(name)))
		}
		*dst = v
	}
	for name, dst := range map[string]*time.Duration{"logon-timeout": &c.LogonTimeout, "frame-timeout": &c.FrameTimeout} {
		d, err := time.ParseDuration(get(name))
		if err != nil || d < time.Second || d > time.Hour {
			bad(name, fmt.Errorf("%q is not a duration from 1s to 1h (like 30s or 2m)", get(name)))
		}
		*dst = d
	}
	for name, dst := range map[string]*int{"max-unauthenticated": &c.MaxUnauthenticated, "max-unauthenticated-per-client": &c.MaxUnauthenticatedPerClient} {
		n, err := strconv.Atoi(get(name))
		if err != nil || n < 1 || n > maxConnLimit {
			bad(name, fmt.Errorf("%q is not a number from 1 to %d", get(name), maxConnLimit))
		}
		*dst = n
	}
	if c.Keytab = get("keytab"); c.Keytab != "" {
		if c.Keytab, err = filepath.Abs(c.Keytab); err != nil {
			bad("keytab", err)
		}
	}
	c.LDAPURL, c.LDAPCA, c.LDAPSPN, c.LDAPDomain, c.Krb5Conf = get("ldap-url"), get("ldap-ca"), get("ldap-spn"), get("ldap-domain"), get("krb5-conf")
	if c.LDAPURL != "" && c.Keytab == "" {
		bad("ldap-url", errors.New("needs a keytab: the node binds to the directory as its computer account"))
	}
	if !c.NTLM && c.Keytab == "" {
		bad("ntlm", errors.New("false needs a keytab: no one could log on"))
	}
	c.NodeName = get("node-name")
	if raw["node-name"] == nil {
		if c.NodeName, err = hostname(); err != nil {
			bad("node-name", fmt.Errorf("no host name to default to: %w", err))
		}
	}
	if err := checkNodeName(c.NodeName); err != nil {
		bad("node-name", err)
	}
	// An embedded member's addresses without a scheme are https: mutual
	// TLS from the cluster CA unless an operator writes http:// (see
	// clusterTLS).
	c.EtcdClient = etcdnode.WithScheme(get("etcd-client-listen"), "https")
	c.EtcdPeer = etcdnode.WithScheme(get("etcd-peer-listen"), "https")
	if _, err := etcdnode.ParseURL(c.EtcdClient); err != nil {
		bad("etcd-client-listen", err)
	}
	if _, err := etcdnode.ParseURL(c.EtcdPeer); err != nil {
		bad("etcd-peer-listen", err)
	}
	c.EtcdInitialCluster = get("etcd-initial-cluster")
	if c.EtcdInitialCluster != "" {
		if names, _, err := etcdnode.ParseInitialCluster(c.EtcdInitialCluster); err != nil {
			bad("etcd-initial-cluster", err)
		} else {
			// The same default scheme as the listen addresses, so
			// "n1=10.0.0.1:2380" matches --etcd-peer-listen 10.0.0.1:2380.
			parts := strings.Split(c.EtcdInitialCluster, ",")
			for i, p := range parts {
				_, u, _ := strings.Cut(strings.TrimSpace(p), "=")
				parts[i] = names[i] + "=" + etcdnode.WithScheme(strings.TrimSpace(u), "https")
			}
			c.EtcdInitialCluster = strings.Join(parts, ",")
		}
	}
	for _, name := range []string{"etcd-join", "etcd-endpoints"} {
		v := get(name)
		if v == "" {
			continue
		}
		var urls []string
		for _, u := range strings.Split(v, ",") {
			if u = strings.TrimSpace(u); u == "" {
				continue
			}
			if _, err := etcdnode.ParseURL(u); err != nil {
				bad(name, err)
			}
			if name == "etcd-join" {
				// Members reached to join speak mutual TLS unless
				// written http://, like this node's own addresses.
				u = etcdnode.WithScheme(u, "https")
			}
			urls = append(urls, u)
		}
		if name == "etcd-join" {
			c.EtcdJoin = urls
		} else {
			c.EtcdEndpoints = urls
		}
	}
	n := 0
	for _, set := range []bool{c.EtcdInitialCluster != "", len(c.EtcdJoin) > 0, len(c.EtcdEndpoints) > 0} {
		if set {
			n++
		}
	}
	if n > 1 {
		bad("etcd-endpoints", errors.New("etcd-initial-cluster, etcd-join and etcd-endpoints exclude each other"))
	}
	for name, dst := range map[string]*string{"etcd-cacert": &c.EtcdCACert, "etcd-cert": &c.EtcdCert, "etcd-key": &c.EtcdKey} {
		if v := get(name); v != "" {
			if len(c.EtcdEndpoints) == 0 {
				bad(name, errors.New("only applies with etcd-endpoints"))
			}
			if *dst, err = filepath.Abs(v); err != nil {
				bad(name, err)
			}
		}
	}
	if (c.EtcdCert == "") != (c.EtcdKey == "") {
		bad("etcd-cert", errors.New("etcd-cert and etcd-key must be given together"))
	}
	if c.Join = get("join"); c.Join != "" {
		if err := checkHostPort(c.Join); err != nil {
			bad("join", err)
		}
		if get("join-token") == "" {
			bad("join-token", fmt.Errorf("required with join (or set %s)", envName("join-token")))
		}
		if c.EtcdInitialCluster != "" || len(c.EtcdEndpoints) > 0 {
			bad("join", errors.New("excludes etcd-initial-cluster and etcd-endpoints"))
		}
		if strings.HasPrefix(c.EtcdClient, "http://") || strings.HasPrefix(c.EtcdPeer, "http://") {
			bad("join", errors.New("a node that joins with a token speaks mutual TLS: etcd-client-listen and etcd-peer-listen must be https"))
		}
	}
	if v := get("join-token"); v != "" {
		if c.Join == "" {
			bad("join-token", errors.New("only applies with join"))
		}
		// The value is never echoed: it is a secret.
		if c.JoinToken, err = clustertls.ParseJoinToken(v); err != nil {
			bad("join-token", err)
		}
	}
	if c.JoinListen = get("join-listen"); c.JoinListen == "off" {
		c.JoinListen = ""
	} else if err := checkHostPort(c.JoinListen); err != nil {
		bad("join-listen", err)
	}
	c.PeerListen = get("peer-listen")
	if err := checkHostPort(c.PeerListen); err != nil {
		bad("peer-listen", err)
	} else if host, _, _ := net.SplitHostPort(c.PeerListen); host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
		bad("peer-listen", fmt.Errorf("%q: the other nodes connect to this address, so it must name this node's address, not all of them", c.PeerListen))
	}
	c.APIListenSet = raw["api-listen"] != nil
	if c.APIListen = get("api-listen"); c.APIListen == "off" {
		c.APIListen = ""
	} else if err := checkHostPort(c.APIListen); err != nil {
		bad("api-listen", err)
	}
	if raw["api-token-file"] != nil {
		if c.APITokenFile, err = filepath.Abs(get("api-token-file")); err != nil {
			bad("api-token-file", err)
		}
	} else if c.Data != "" {
		c.APITokenFile = filepath.Join(c.Data, "api-token")
	}
	c.APITLSCert, c.APITLSKey = get("api-tls-cert"), get("api-tls-key")
	if v := get("cluster-ca"); v != "" {
		if c.ClusterCA, err = filepath.Abs(v); err != nil {
			bad("cluster-ca", err)
		}
	}
	if d, err := time.ParseDuration(get("start-timeout")); err != nil || d <= 0 {
		bad("start-timeout", fmt.Errorf("%q is not a positive duration (like 90s or 5m)", get("start-timeout")))
	} else {
		c.StartTimeout = d
	}
	if c.Data != "" {
		pol := c.sharePathPolicy()
		for _, sh := range c.Shares {
			if err := pol.Check(sh.Path); err != nil {
				bad("share", fmt.Errorf("share %q: %w", sh.Name, err))
			}
		}
	}
	if (c.APITLSCert == "") != (c.APITLSKey == "") {
		bad("api-tls-cert", errors.New("api-tls-cert and api-tls-key must be given together"))
	}
	if c.DebugListen = get("debug-listen"); c.DebugListen != "" {
		if err := checkLoopback(c.DebugListen); err != nil {
			bad("debug-listen", err)
		}
	}
	if c.LogLevel, err = zerolog.ParseLevel(get("log-level")); err != nil || get("log-level") == "" {
		bad("log-level", fmt.Errorf("%q is not one of debug, info, warn, error", get("log-level")))
	}
	if c.LogFormat = get("log-format"); c.LogFormat != "json" && c.LogFormat != "console" {
		bad("log-format", fmt.Errorf("%q is not json or console", c.LogFormat))
	}
	return c, errors.Join(errs...)
}

// maxConnLimit bounds the connection caps one can set: each
// unauthenticated connection may hold a goroutine and up to 128 KiB of
// frame, so a million of them is already more memory than a node has.
const maxConnLimit = 1_000_000

// checkHostPort accepts host:port with a numeric port, as net.Listen does.
func checkHostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", s, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", s, port)
	}
	return nil
}

// checkAdvertise accepts an IP address, or IP:port with a port from 1 to
// 65535: clients connect to it, so it must be concrete.
func checkAdvertise(s string) error {
	host, port := s, ""
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		return fmt.Errorf("%q: want an IP address (not a wildcard) or IP:PORT", s)
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, port)
		}
	}
	return nil
}

// advertisedAddr is the SMB address a node records: advertise, with the
// listener's port if it names none, or the listener's address.
func advertisedAddr(advertise string, ln net.Addr) string {
	if advertise == "" {
		return ln.String()
	}
	if _, _, err := net.SplitHostPort(advertise); err == nil {
		return advertise
	}
	port := "445"
	if a, ok := ln.(*net.TCPAddr); ok {
		port = strconv.Itoa(a.Port)
	}
	return net.JoinHostPort(advertise, port)
}

// checkLoopback accepts host:port whose host is a loopback IP: profiles
// expose memory contents and cost CPU, and pprof has no authentication.
func checkLoopback(s string) error {
	if err := checkHostPort(s); err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(s)
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q: host must be a loopback IP address (127.0.0.1 or ::1)", s)
	}
	return nil
}

// checkNodeName accepts host-name characters only, so the derived NetBIOS
// name is always valid.
func checkNodeName(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if len(s) > 253 {
		return fmt.Errorf("%q is longer than 253 characters", s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return fmt.Errorf("%q: only letters, digits, '-', '_' and '.' are allowed", s)
		}
	}
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "-") {
		return fmt.Errorf("%q must start with a letter or digit", s)
	}
	return nil
}

// netbiosName derives the NetBIOS computer name: the first label of the
// node name, upper-cased, at most 15 characters (the 16th byte of a
// NetBIOS name is the suffix type).
func netbiosName(node string) string {
	n, _, _ := strings.Cut(node, ".")
	n = strings.ToUpper(n)
	if len(n) > 15 {
		n = n[:15]
	}
	return n
}

// parseShareSpec parses
// NAME=PATH[,ca][,encrypt][,readonly][,guest][,abe][,allow=ACCOUNT:RIGHT]...[,deny=ACCOUNT:RIGHT]...[,comment=TEXT].
// The comment must be last and runs to the end, so it may contain commas.
// PATH must be absolute and clean (namespace.CheckSharePath); the node's
// own files are checked later, by config.sharePathPolicy.
func parseShareSpec(spec string) (namespace.Share, error) {
	name, rest, ok := strings.Cut(spec, "=")
	if !ok {
		return namespace.Share{}, fmt.Errorf("share %q: want NAME=PATH[,options]", spec)
	}
	if err := namespace.ValidateShareName(name); err != nil {
		return namespace.Share{}, err
	}
	sh := namespace.Share{Name: name}
	path, opts, _ := strings.Cut(rest, ",")
	if path == "" {
		return namespace.Share{}, fmt.Errorf("share %q: empty path", name)
	}
	// A relative PATH is refused rather than resolved: the share is stored
	// for the whole cluster, where this process's working directory means
	// nothing, and a mistyped path should not publish whatever directory
	// sofsd happened to start in.
	sh.Path = path
	for opts != "" {
		if c, ok := strings.CutPrefix(opts, "comment="); ok {
			sh.Comment = c
			break
		}
		var opt string
		opt, opts, _ = strings.Cut(opts, ",")
		switch strings.ToLower(opt) {
		case "ca":
			sh.ContinuouslyAvailable = true
		case "encrypt":
			sh.EncryptData = true
		case "readonly":
			sh.ReadOnly = true
		case "guest":
			sh.Guest = true
		case "abe":
			sh.AccessBasedEnumeration = true
		default:
			// allow=ACCOUNT:RIGHT and deny=ACCOUNT:RIGHT add share
			// permissions (RIGHT is read, change or full).
			key, val, _ := strings.Cut(opt, "=")
			account, access, ok := strings.Cut(val, ":")
			if k := strings.ToLower(key); (k == "allow" || k == "deny") && ok {
				sh.Permissions = append(sh.Permissions, namespace.SharePermission{Account: account, Access: access, Deny: k == "deny"})
				continue
			}
			return namespace.Share{}, fmt.Errorf("share %q: unknown option %q (want ca, encrypt, readonly, guest, abe, allow=ACCOUNT:RIGHT, deny=ACCOUNT:RIGHT or comment=TEXT)", name, opt)
		}
	}
	// Domain accounts get their SIDs at start, from the directory
	// (resolveShareAccounts); the rest is checked now.
	if err := sh.ValidateForm(); err != nil {
		return namespace.Share{}, err
	}
	return sh, nil
}

// parseUserSpec parses NAME:PASSWORD; the password may contain ':'.
func parseUserSpec(spec string) (userSpec, error) {
	name, pw, ok := strings.Cut(spec, ":")
	if !ok {
		// Do not echo spec: it may be a password typed in the wrong place.
		return userSpec{}, errors.New("user: want NAME:PASSWORD")
	}
	if err := namespace.ValidateUserName(name); err != nil {
		return userSpec{}, err
	}
	if err := namespace.ValidatePassword(pw); err != nil {
		return userSpec{}, fmt.Errorf("user %q: %w", name, err)
	}
	return userSpec{Name: name, Password: pw}, nil
}

// pkiDir is DATA/pki, the node's cluster certificates and keys.
const pkiDir = clustertls.DirName

// Private files of a node in its data directory; no share may be, hold or
// lie inside one of them (sharePathPolicy).
var dataPrivate = []string{"etcd", "api-token", nodeFile, pkiDir}

// sharePathPolicy is this node's rule for share paths: not the data
// directory or above it, and not near the node's private files wherever
// the settings put them. A share strictly inside the data directory is
// allowed, so the quick start's --data /tmp/sofs --share
// share=/tmp/sofs/share keeps working.
func (c config) sharePathPolicy() namespace.SharePathPolicy {
	pol := namespace.SharePathPolicy{DataDir: c.Data}
	for _, f := range dataPrivate {
		pol.Private = append(pol.Private, filepath.Join(c.Data, f))
	}
	for _, f := range []string{c.APITokenFile, c.APITLSCert, c.APITLSKey, c.EtcdCACert, c.EtcdCert, c.EtcdKey, c.ClusterCA} {
		if f == "" {
			continue
		}
		if abs, err := filepath.Abs(f); err == nil {
			pol.Private = append(pol.Private, abs)
		}
	}
	return pol
}
