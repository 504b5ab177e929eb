package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func host() (string, error) { return "node1.example.com", nil }

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sofs.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPrecedence checks flag > env > file > default for every kind of
// setting, with lists replaced as a whole by the higher source.
func TestPrecedence(t *testing.T) {
	file := writeFile(t, `
data: /from/file
smb-listen: 127.0.0.1:1001
log-level: debug
require-signing: false
share:
  - fileshare=/srv/f
  - other=/srv/o,readonly
user: fileuser:pw
`)
	env := map[string]string{
		"SOFS_CONFIG":     file,
		"SOFS_SMB_LISTEN": "127.0.0.1:1002",
		"SOFS_LOG_LEVEL":  "warn",
		"SOFS_SHARE":      "envshare=/srv/e,ca;env2=/srv/e2",
	}
	flags := []string{"--smb-listen=127.0.0.1:1003", "--share", "flagshare=/srv/x", "--require-signing=true"}

	c, err := parseConfig(flags, envOf(env), host)
	if err != nil {
		t.Fatal(err)
	}
	if c.SMBListen != "127.0.0.1:1003" {
		t.Errorf("flag lost: smb-listen = %s", c.SMBListen)
	}
	if len(c.Shares) != 1 || c.Shares[0].Name != "flagshare" {
		t.Errorf("flag list did not replace env list: %+v", c.Shares)
	}
	if !c.RequireSigning {
		t.Error("flag --require-signing=true lost to file's false")
	}
	if c.LogLevel != zerolog.WarnLevel {
		t.Errorf("env lost to file: log-level = %v", c.LogLevel)
	}
	if c.Data != "/from/file" {
		t.Errorf("file value lost: data = %s", c.Data)
	}
	if len(c.Users) != 1 || c.Users[0] != (userSpec{"fileuser", "pw"}) {
		t.Errorf("file single-string list: %+v", c.Users)
	}

	// Without flags the environment wins.
	c, err = parseConfig(nil, envOf(env), host)
	if err != nil {
		t.Fatal(err)
	}
	if c.SMBListen != "127.0.0.1:1002" || len(c.Shares) != 2 || !c.Shares[0].ContinuouslyAvailable || c.RequireSigning {
		t.Errorf("env layer: listen=%s shares=%+v signing=%v", c.SMBListen, c.Shares, c.RequireSigning)
	}

	// Without env the file wins; --config given as a flag works too.
	c, err = parseConfig([]string{"--config", file}, envOf(nil), host)
	if err != nil {
		t.Fatal(err)
	}
	if c.SMBListen != "127.0.0.1:1001" || c.LogLevel != zerolog.DebugLevel || len(c.Shares) != 2 || c.Shares[1].ReadOnly != true {
		t.Errorf("file layer: %+v", c)
	}

	// Defaults.
	c, err = parseConfig([]string{"--data", "/d"}, envOf(nil), host)
	if err != nil {
		t.Fatal(err)
	}
	want := config{Data: "/d", SMBListen: ":445", RequireSigning: true, NodeName: "node1.example.com",
		EtcdClient: "https://127.0.0.1:2379", EtcdPeer: "https://127.0.0.1:2380", LogLevel: zerolog.InfoLevel, LogFormat: "json",
		StartTimeout: 2 * time.Minute}
	if c.Data != want.Data || c.SMBListen != want.SMBListen || c.RequireSigning != want.RequireSigning || c.Encrypt ||
		c.NodeName != want.NodeName || c.EtcdClient != want.EtcdClient || c.EtcdPeer != want.EtcdPeer ||
		c.LogLevel != want.LogLevel || c.LogFormat != want.LogFormat || c.Shares != nil || c.Users != nil ||
		c.StartTimeout != want.StartTimeout {
		t.Errorf("defaults = %+v, want %+v", c, want)
	}
	if !c.MultiChannel {
		t.Error("multichannel is off by default")
	}
	if c, err := parseConfig([]string{"--data", "/d", "--multichannel=false"}, envOf(nil), host); err != nil || c.MultiChannel {
		t.Errorf("--multichannel=false: %v, MultiChannel=%v", err, c.MultiChannel)
	}
	if got := netbiosName(c.NodeName); got != "NODE1" {
		t.Errorf("netbiosName = %q", got)
	}
	if got := netbiosName("a-very-long-host-name-indeed"); got != "A-VERY-LONG-HOS" {
		t.Errorf("netbiosName truncation = %q", got)
	}
	// A bare bool flag means true.
	if c, err := parseConfig([]string{"--data=/d", "--encrypt"}, envOf(nil), host); err != nil || !c.Encrypt {
		t.Errorf("--encrypt: %v %v", c.Encrypt, err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		file string
		want string
	}{
		{"no data", nil, nil, "", "--data: required"},
		{"bad listen", []string{"--data=/d", "--smb-listen=445"}, nil, "", "--smb-listen"},
		{"bad port", []string{"--data=/d", "--smb-listen=:99999"}, nil, "", "port"},
		{"bad bool env", []string{"--data=/d"}, map[string]string{"SOFS_ENCRYPT": "yes please"}, "", "--encrypt"},
		{"bad level", []string{"--data=/d", "--log-level=chatty"}, nil, "", "--log-level"},
		{"bad format", []string{"--data=/d", "--log-format=xml"}, nil, "", "--log-format"},
		{"bad share", []string{"--data=/d", "--share=IPC$=/x"}, nil, "", "reserved"},
		{"dup share", []string{"--data=/d", "--share=a=/x", "--share=A=/y"}, nil, "", "given twice"},
		{"share on root", []string{"--data=/d", "--share=a=/"}, nil, "", "root directory"},
		{"share on etc", []string{"--data=/d", "--share=a=/etc"}, nil, "", "system directory /etc"},
		{"unclean share", []string{"--data=/d", "--share=a=/srv/x/../../etc"}, nil, "", "not clean"},
		{"relative share", []string{"--data=/d", "--share=a=share"}, nil, "", "not absolute"},
		{"share on data", []string{"--data=/srv/sofs", "--share=a=/srv/sofs"}, nil, "", "data directory"},
		{"share above data", []string{"--data=/srv/sofs/n1", "--share=a=/srv/sofs"}, nil, "", "data directory"},
		{"share on etcd data", []string{"--data=/srv/sofs", "--share=a=/srv/sofs/etcd/member"}, nil, "", "private file /srv/sofs/etcd"},
		{"share on token", []string{"--data=/srv/sofs", "--share=a=/srv/sofs/api-token"}, nil, "", "private file"},
		{"share holds token file", []string{"--data=/srv/sofs", "--api-token-file=/srv/keys/token", "--share=a=/srv/keys"}, nil, "", "private file /srv/keys/token"},
		{"share in env", []string{"--data=/srv/sofs"}, map[string]string{"SOFS_SHARE": "a=/srv/sofs/node.json"}, "", "--share"},
		{"bad user", []string{"--data=/d", "--user=nopassword"}, nil, "", "NAME:PASSWORD"},
		{"bad node", []string{"--data=/d", "--node-name=my node"}, nil, "", "--node-name"},
		{"bad etcd", []string{"--data=/d", "--etcd-peer-listen=ftp://x:1"}, nil, "", "--etcd-peer-listen"},
		{"bad initial cluster", []string{"--data=/d", "--etcd-initial-cluster=a"}, nil, "", "--etcd-initial-cluster"},
		{"bad join", []string{"--data=/d", "--etcd-join=ftp://x:1"}, nil, "", "--etcd-join"},
		{"join and endpoints", []string{"--data=/d", "--etcd-join=127.0.0.1:1", "--etcd-endpoints=127.0.0.1:2"}, nil, "", "exclude each other"},
		{"logon timeout too short", []string{"--data=/d", "--logon-timeout=10ms"}, nil, "", "--logon-timeout"},
		{"frame timeout not a duration", []string{"--data=/d", "--frame-timeout=30"}, nil, "", "--frame-timeout"},
		{"zero cap", []string{"--data=/d", "--max-unauthenticated=0"}, nil, "", "--max-unauthenticated"},
		{"per-client cap in env", []string{"--data=/d"}, map[string]string{"SOFS_MAX_UNAUTHENTICATED_PER_CLIENT": "many"}, "", "--max-unauthenticated-per-client"},
		{"join without token", []string{"--data=/d", "--join=127.0.0.1:4491"}, nil, "", "--join-token: required"},
		{"token without join", []string{"--data=/d"}, map[string]string{"SOFS_JOIN_TOKEN": goodToken}, "", "only applies with join"},
		{"bad token", []string{"--data=/d", "--join=127.0.0.1:4491", "--join-token=sofs1.xyz"}, nil, "", "not a sofs join token"},
		{"join and initial cluster", []string{"--data=/d", "--join=127.0.0.1:4491", "--join-token=" + goodToken, "--etcd-initial-cluster=a=127.0.0.1:1"}, nil, "", "excludes etcd-initial-cluster"},
		{"join over http", []string{"--data=/d", "--join=127.0.0.1:4491", "--join-token=" + goodToken, "--etcd-client-listen=http://127.0.0.1:1"}, nil, "", "must be https"},
		{"bad join listen", []string{"--data=/d", "--join-listen=4491"}, nil, "", "--join-listen"},
		{"cacert without endpoints", []string{"--data=/d", "--etcd-cacert=/ca.pem"}, nil, "", "only applies with etcd-endpoints"},
		{"cert without key", []string{"--data=/d", "--etcd-endpoints=https://e:1", "--etcd-cert=/c.pem"}, nil, "", "together"},
		{"debug not loopback", []string{"--data=/d", "--debug-listen=0.0.0.0:6060"}, nil, "", "--debug-listen"},
		{"debug name", []string{"--data=/d", "--debug-listen=localhost:6060"}, nil, "", "loopback IP"},
		{"unknown flag", []string{"--data=/d", "--nope"}, nil, "", "nope"},
		{"stray arg", []string{"--data=/d", "extra"}, nil, "", "unexpected argument"},
		{"unknown key", nil, nil, "data: /d\nshrae: a=/b\n", "unknown setting \"shrae\""},
		{"list for string", nil, nil, "data: [/a, /b]\n", "data"},
		{"bad yaml", nil, nil, "data: [\n", "config file"},
		{"missing file", []string{"--config=/nonexistent/sofs.yaml"}, nil, "", "config file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append(args, "--config="+writeFile(t, tc.file))
			}
			_, err := parseConfig(args, envOf(tc.env), host)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestEtcdModes(t *testing.T) {
	c, err := parseConfig([]string{"--data=/d", "--node-name=n1", "--etcd-initial-cluster=n1=127.0.0.1:2380,n2=127.0.0.2:2380"}, envOf(nil), host)
	if err != nil || c.EtcdInitialCluster == "" {
		t.Fatalf("initial cluster: %+v %v", c, err)
	}
	c, err = parseConfig(nil, envOf(map[string]string{"SOFS_DATA": "/d", "SOFS_ETCD_JOIN": "127.0.0.1:2379, http://127.0.0.2:2379"}), host)
	if err != nil || len(c.EtcdJoin) != 2 {
		t.Fatalf("join: %+v %v", c.EtcdJoin, err)
	}
	c, err = parseConfig([]string{"--data=/d", "--etcd-endpoints=https://e1:2379,https://e2:2379", "--etcd-cacert=ca.pem",
		"--etcd-cert=/c.pem", "--etcd-key=/k.pem"}, envOf(nil), host)
	if err != nil || len(c.EtcdEndpoints) != 2 || !filepath.IsAbs(c.EtcdCACert) || c.EtcdKey != "/k.pem" {
		t.Fatalf("endpoints: %+v %v", c, err)
	}
	if args, ok := witnessCommand([]string{"witness", "--data=/d"}); !ok || len(args) != 1 {
		t.Fatalf("witnessCommand: %v %v", args, ok)
	}
}

// TestHelpDocumentsEverySetting runs the binary's entry point with --help.
func TestHelpDocumentsEverySetting(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"--help"}, envOf(nil), &out, &errOut); code != exitOK {
		t.Fatalf("--help exit %d", code)
	}
	for _, s := range settings {
		for _, w := range []string{"--" + s.name, envName(s.name), s.def} {
			if !strings.Contains(out.String(), w) {
				t.Errorf("--help lacks %q", w)
			}
		}
	}
	if code := run(t.Context(), []string{"--smb-listen=x"}, envOf(nil), &out, &errOut); code != exitUsage {
		t.Fatalf("usage error exit %d, want %d", code, exitUsage)
	}
	if !strings.Contains(errOut.String(), "--data: required") {
		t.Errorf("usage error output: %s", errOut.String())
	}
}

// goodToken is a well-formed join token for the settings tests.
const goodToken = "sofs1.0a1b2c3d4e5f.00112233445566778899aabbccddeeff.9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// TestJoinSettings: a join token from the environment is parsed, and a
// malformed one is refused without echoing it.
func TestJoinSettings(t *testing.T) {
	c, err := parseConfig([]string{"--data=/d", "--join=127.0.0.1:4491", "--join-listen=127.0.0.2:4491"},
		envOf(map[string]string{"SOFS_JOIN_TOKEN": goodToken}), host)
	if err != nil {
		t.Fatal(err)
	}
	if c.Join != "127.0.0.1:4491" || c.JoinToken.ID != "0a1b2c3d4e5f" || c.JoinToken.String() != goodToken || c.JoinListen != "127.0.0.2:4491" {
		t.Fatalf("join settings: %+v", c)
	}
	if c, err := parseConfig([]string{"--data=/d"}, envOf(nil), host); err != nil || c.JoinListen != "" {
		t.Fatalf("default join-listen %q (want off), %v", c.JoinListen, err)
	}
	secret := "sofs1.0a1b2c3d4e5f.00112233445566778899aabbccddeefX"
	_, err = parseConfig([]string{"--data=/d", "--join=127.0.0.1:4491", "--join-token=" + secret}, envOf(nil), host)
	if err == nil || strings.Contains(err.Error(), "00112233") {
		t.Fatalf("malformed token: %v (must fail without echoing it)", err)
	}
}
