package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// kind is how a setting's value is written.
type kind int

const (
	kindString kind = iota
	kindBool
	kindList // repeatable flag; list in the config file; ';'-separated in env
)

// setting is one configuration knob. The same name is the flag (--name),
// the config-file key (name) and, upper-cased with '-' as '_' and prefixed
// with SOFS_, the environment variable.
type setting struct {
	name string
	kind kind
	def  string // shown in --help; "" for none
	help string
}

// settings is the single table behind parsing, precedence and --help, so a
// setting cannot be documented in one place and missing in another.
var settings = []setting{
	{"config", kindString, "", "YAML config file whose keys are the setting names below"},
	{"data", kindString, "", "data directory (required): DATA/etcd holds the embedded etcd member, DATA/node.json the node id"},
	{"smb-listen", kindString, ":445", "TCP address SMB listens on"},
	{"advertise", kindString, "the smb-listen address", "address other nodes and witness clients are told to reach this node's SMB at: IP or IP:PORT, IPv4 or IPv6 (::1, [::1]:445) (port defaults to smb-listen's); needed when smb-listen is a wildcard (:445) or behind NAT or a container port map"},
	{"witness-listen", kindString, "off", "TCP address of the SMB Witness service (MS-SWN over DCE/RPC; port 0 picks a free one, which the endpoint mapper reports); \"off\" disables the witness and the endpoint mapper"},
	{"epm-listen", kindString, ":135", "TCP address of the DCE/RPC endpoint mapper that tells witness clients the witness port; Windows and Samba clients always ask port 135 (needs root or CAP_NET_BIND_SERVICE); used only with witness-listen; \"off\" disables it"},
	{"share", kindList, "", "share to create or update at start: NAME=PATH[,ca][,encrypt][,readonly][,guest][,abe][,allow=ACCOUNT:RIGHT][,deny=ACCOUNT:RIGHT][,comment=TEXT] (repeatable; abe hides what a user cannot read from listings; allow/deny set share permissions, RIGHT is read, change or full; comment= must come last and may contain commas)"},
	{"user", kindList, "", "user to create if absent: NAME:PASSWORD (repeatable; an existing user's password is never changed)"},
	{"require-signing", kindBool, "true", "require SMB signing on every session"},
	{"encrypt", kindBool, "false", "require SMB3 encryption on every share"},
	{"multichannel", kindBool, "true", "offer SMB3 multichannel (session binding over several connections)"},
	{"logon-timeout", kindString, "30s", "time a new SMB connection has to complete NEGOTIATE and a successful SESSION_SETUP; past it the connection is closed (metric reason logon_timeout)"},
	{"frame-timeout", kindString, "30s", "time an SMB frame may take to arrive once its first byte has, plus 1 s per 64 KiB of its length; a slower frame closes the connection (reason frame_timeout). Idle time between frames is not limited"},
	{"max-unauthenticated", kindString, "512", "SMB connections that have not logged on yet, on this node; more are closed when accepted (reason unauthenticated_total)"},
	{"max-unauthenticated-per-client", kindString, "64", "SMB connections that have not logged on yet, per client IP address; more are closed when accepted (reason unauthenticated_per_client). Raise it for many clients behind one NAT address"},
	{"keytab", kindString, "", "Kerberos keytab with the keys of this node's Active Directory computer account (its cifs/ SPNs); when set, domain users and computers log on with Kerberos (SMB, and the witness RPC) and the share and file ACLs see their domain SIDs (docs/operations.md); reread when the file changes"},
	{"ldap-url", kindString, "", "domain controller to look up domain account names in share permissions (allow=DOMAIN\\name:RIGHT): ldap://DC[:PORT] (bound with Kerberos and signed with its integrity layer) or ldaps://DC[:PORT] (TLS); the node binds as the keytab's computer account (needs keytab and krb5-conf). Names are resolved to SIDs when a share is saved; without it, domain accounts need their SID"},
	{"ldap-ca", kindString, "", "ldaps: PEM CA certificates that may sign the domain controller's TLS certificate (default: system roots)"},
	{"ldap-spn", kindString, "", "the domain controller's LDAP service principal, ldap/<DC's DNS name> (empty: ldap/<host of ldap-url>); its host part is also the name its TLS certificate must carry"},
	{"ldap-domain", kindString, "", "the domain's NetBIOS name, as written before the backslash in DOMAIN\\name (empty: the realm's first label); the realm's DNS name is accepted there too"},
	{"krb5-conf", kindString, "/etc/krb5.conf", "Kerberos configuration naming the realm's KDCs, for the directory lookups (ldap-url)"},
	{"ntlm", kindBool, "true", "accept NTLM logons of the users in sofs's user list; false leaves Kerberos only (needs keytab)"},
	{"node-name", kindString, "the host name", "node name; its first label, upper-cased and cut to 15 characters, is the NetBIOS server name"},
	{"etcd-client-listen", kindString, "127.0.0.1:2379", "embedded etcd client address (host:port or URL); also the address advertised to clients, so not 0.0.0.0. Without a scheme it is https: mutual TLS with the cluster CA in DATA/pki; http:// turns TLS off"},
	{"etcd-peer-listen", kindString, "127.0.0.1:2380", "embedded etcd peer address (host:port or URL); also the address advertised to peers, so not 0.0.0.0. https (mutual TLS) unless written http://"},
	{"etcd-initial-cluster", kindString, "", "form a new multi-member cluster on first start: NODE-NAME=PEER-URL,... listing every member by node name (this node's entry must match node-name and etcd-peer-listen); give the same value to every member and start them together. Ignored once DATA/etcd holds member data"},
	{"etcd-join", kindString, "", "join a running cluster on first start: CLIENT-URL[,CLIENT-URL...] of existing members; the node adds itself as a voting member. Ignored once DATA/etcd holds member data"},
	{"cluster-ca", kindString, "", "directory holding the cluster CA (ca.crt, ca.key) to copy into DATA/pki on a start that finds none there; for deployments that hand every member the same CA (the container set). Not needed by a node started alone, which creates its own"},
	{"join", kindString, "", "join a running cluster on first start with a join token: HOST:PORT of a member's join-listen. The node fetches its certificate (its key never leaves it) and the cluster CA over TLS pinned by the token, then adds itself as an etcd member through the members the cluster names. Needs join-token; replaces cluster-ca and etcd-join. Ignored once DATA/pki holds the CA"},
	{"join-token", kindString, "", "join token from 'sofsctl token create' (single-use, short-lived), for join; prefer the environment variable or the config file to the flag, which other users can see in the process list"},
	{"join-listen", kindString, "off", "TLS address (host:port; port 0 picks a free one) where nodes joining with a join token get their certificate; served only by a node that holds the cluster CA key (DATA/pki/ca.key), so not by nodes that joined with a token themselves; off unless set, so a node opens no port for joins it does not expect"},
	{"etcd-endpoints", kindString, "", "use an external etcd cluster instead of an embedded member: CLIENT-URL[,CLIENT-URL...] (https:// for TLS); excludes etcd-initial-cluster and etcd-join"},
	{"etcd-cacert", kindString, "", "external etcd: PEM CA bundle to verify the servers with (default: system roots for https endpoints)"},
	{"etcd-cert", kindString, "", "external etcd: PEM client certificate (with etcd-key)"},
	{"etcd-key", kindString, "", "external etcd: PEM private key of etcd-cert"},
	{"peer-listen", kindString, "127.0.0.1:4490", "node-to-node address of the cluster's open-state service (share modes, locks, leases across nodes; TLS, members only); advertised to the other nodes, so not 0.0.0.0; port 0 picks a free one"},
	{"api-listen", kindString, "127.0.0.1:4480", "admin REST API address (host:port; port 0 picks a free one; \"off\" disables the API)"},
	{"api-token-file", kindString, "DATA/api-token", "bearer tokens the API accepts, one per line; created with a random token at first start; rotate by adding the new line, moving clients, then removing the old one"},
	{"api-tls-cert", kindString, "", "PEM certificate: the API serves HTTPS when this and api-tls-key are set"},
	{"api-tls-key", kindString, "", "PEM private key for api-tls-cert"},
	{"debug-listen", kindString, "", "loopback address (127.0.0.1:PORT or [::1]:PORT) serving Go's /debug/pprof profiles, for performance work; unauthenticated, so loopback only; off when empty"},
	{"start-timeout", kindString, "2m", "time limit for start-up, from launch until SMB listens (a witness: until its etcd member is ready); past it sofsd exits with code 4. Covers a slow etcd WAL replay, so keep it well above etcd's 60 s limit"},
	{"log-level", kindString, "info", "log level: debug, info, warn, error"},
	{"log-format", kindString, "json", "log format: json or console"},
}

// envName returns the environment variable of a setting.
func envName(name string) string {
	return "SOFS_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

func lookupSetting(name string) (setting, bool) {
	for _, s := range settings {
		if s.name == name {
			return s, true
		}
	}
	return setting{}, false
}

// Sentinel results of parsing that are not errors.
var (
	errHelp    = errors.New("help requested")
	errVersion = errors.New("version requested")
)

// rawValues maps a setting name to its values from one source; a list has
// many, the others one.
type rawValues map[string][]string

// flagValue collects one flag's values.
type flagValue struct {
	s    setting
	into rawValues
}

func (f *flagValue) String() string { return "" }

func (f *flagValue) Set(v string) error {
	if f.s.kind == kindList {
		f.into[f.s.name] = append(f.into[f.s.name], v)
	} else {
		f.into[f.s.name] = []string{v}
	}
	return nil
}

// IsBoolFlag lets "--encrypt" mean "--encrypt=true".
func (f *flagValue) IsBoolFlag() bool { return f.s.kind == kindBool }

// gather reads every source and returns, per setting, the values of the
// source with the highest precedence: flag > env > file > default.
func gather(args []string, lookupEnv func(string) (string, bool)) (rawValues, error) {
	fromFlags := rawValues{}
	fs := flag.NewFlagSet("sofsd", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by run, help by printHelp
	for _, s := range settings {
		fs.Var(&flagValue{s: s, into: fromFlags}, s.name, s.help)
	}
	help := fs.Bool("help", false, "")
	fs.BoolVar(help, "h", false, "")
	version := fs.Bool("version", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, err
	}
	if *help {
		return nil, errHelp
	}
	if *version {
		return nil, errVersion
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (settings are given as --name=value)", fs.Arg(0))
	}

	fromEnv := rawValues{}
	for _, s := range settings {
		// An empty variable counts as unset, as shells make it easy to
		// export one by accident.
		v, ok := lookupEnv(envName(s.name))
		if !ok || v == "" {
			continue
		}
		if s.kind == kindList {
			fromEnv[s.name] = splitEnvList(v)
		} else {
			fromEnv[s.name] = []string{v}
		}
	}

	fromFile := rawValues{}
	cfgPath := first(fromFlags["config"], fromEnv["config"])
	if cfgPath != "" {
		var err error
		if fromFile, err = readConfigFile(cfgPath); err != nil {
			return nil, err
		}
	}

	out := rawValues{}
	for _, s := range settings {
		switch {
		case fromFlags[s.name] != nil:
			out[s.name] = fromFlags[s.name]
		case fromEnv[s.name] != nil:
			out[s.name] = fromEnv[s.name]
		case fromFile[s.name] != nil:
			out[s.name] = fromFile[s.name]
		}
	}
	return out, nil
}

// splitEnvList splits a list from the environment: entries are separated
// by newlines if there are any (so that ';' may appear in a password),
// otherwise by ';'.
func splitEnvList(v string) []string {
	sep := ";"
	if strings.Contains(v, "\n") {
		sep = "\n"
	}
	var out []string
	for _, e := range strings.Split(v, sep) {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

func first(lists ...[]string) string {
	for _, l := range lists {
		if len(l) > 0 {
			return l[len(l)-1]
		}
	}
	return ""
}

// readConfigFile parses the YAML config file. Keys are setting names; a
// list setting takes a YAML list or a single string.
func readConfigFile(path string) (rawValues, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, fmt.Errorf("config file %s: want a mapping of setting names to values: %w", path, err)
	}
	out := rawValues{}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, ok := lookupSetting(k)
		if !ok || k == "config" {
			return nil, fmt.Errorf("config file %s: unknown setting %q", path, k)
		}
		vals, err := fileValue(s, m[k])
		if err != nil {
			return nil, fmt.Errorf("config file %s: %s: %w", path, k, err)
		}
		out[k] = vals
	}
	return out, nil
}

func fileValue(s setting, raw json.RawMessage) ([]string, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case string:
		return []string{x}, nil
	case bool:
		if s.kind != kindBool {
			return nil, fmt.Errorf("want a string, got %v", x)
		}
		return []string{strconv.FormatBool(x)}, nil
	case float64:
		if s.kind != kindString {
			return nil, fmt.Errorf("want %s, got %v", kindWord(s.kind), x)
		}
		return []string{strconv.FormatFloat(x, 'f', -1, 64)}, nil
	case []any:
		if s.kind != kindList {
			return nil, fmt.Errorf("want %s, got a list", kindWord(s.kind))
		}
		out := make([]string, 0, len(x))
		for _, e := range x {
			str, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("list entries must be strings, got %v", e)
			}
			out = append(out, str)
		}
		return out, nil
	case nil:
		return nil, nil
	default:
		return nil, fmt.Errorf("want %s", kindWord(s.kind))
	}
}

func kindWord(k kind) string {
	switch k {
	case kindBool:
		return "true or false"
	case kindList:
		return "a list of strings"
	default:
		return "a string"
	}
}

// printHelp documents every setting with its flag, environment variable
// and default.
func printHelp(w io.Writer) {
	fmt.Fprint(w, `sofsd is the sofs node daemon: it runs an embedded etcd member and serves SMB3.

Usage: sofsd --data DIR [settings]
       sofsd witness --data DIR [settings]
       sofsd ca init --data DIR
       sofsd cert renew --data DIR [settings]

"sofsd witness" runs only a voting embedded etcd member (quorum witness):
no SMB and no API. Of the settings below it uses data, node-name,
etcd-client-listen, etcd-peer-listen, etcd-initial-cluster, etcd-join,
log-level and log-format; given api-listen explicitly (and optionally
api-tls-cert/api-tls-key) it serves only GET /healthz and GET /readyz
(ready while its member knows a leader), without a token.

"sofsd ca init" creates the cluster CA in DIR/pki, for members that form
a cluster together: copy DIR/pki/ca.crt and ca.key to every member's
DATA/pki before its first start. A node started alone creates its own.

"sofsd cert renew" gives the node a new key and certificate now, while it
runs or not; new connections use it at once. A node without the CA key
(one that joined with a token) needs join and join-token (a new token).

Every setting can be given as a flag, an environment variable or a key in
the config file; a flag wins over the environment, which wins over the file.

`)
	for _, s := range settings {
		arg := " VALUE"
		switch s.kind {
		case kindBool:
			arg = "[=true|false]"
		case kindList:
			arg = " VALUE (repeatable)"
		}
		fmt.Fprintf(w, "  --%s%s\n      env %s", s.name, arg, envName(s.name))
		if s.def != "" {
			fmt.Fprintf(w, ", default %s", s.def)
		}
		fmt.Fprintf(w, "\n      %s\n", s.help)
	}
	fmt.Fprint(w, `  --help, --version

In the environment, list settings are separated by ';', or by newlines if
the value contains any.
`)
}
