package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestKerberosSettings(t *testing.T) {
	host := func() (string, error) { return "node1", nil }
	c, err := parseConfig([]string{"--data", "/d"}, envOf(nil), host)
	if err != nil || !c.NTLM || c.Keytab != "" {
		t.Fatalf("defaults: NTLM=%v keytab=%q err=%v; want NTLM on, no keytab", c.NTLM, c.Keytab, err)
	}
	c, err = parseConfig([]string{"--data", "/d", "--keytab", "sofs.keytab", "--ntlm=false"}, envOf(nil), host)
	if err != nil {
		t.Fatal(err)
	}
	if c.NTLM || !filepath.IsAbs(c.Keytab) || filepath.Base(c.Keytab) != "sofs.keytab" {
		t.Errorf("--keytab sofs.keytab --ntlm=false: NTLM=%v keytab=%q", c.NTLM, c.Keytab)
	}
	c, err = parseConfig([]string{"--data", "/d"}, envOf(map[string]string{"SOFS_KEYTAB": "/etc/sofs/k", "SOFS_NTLM": "false"}), host)
	if err != nil || c.Keytab != "/etc/sofs/k" || c.NTLM {
		t.Errorf("environment: keytab=%q NTLM=%v err=%v", c.Keytab, c.NTLM, err)
	}
	// Without NTLM and without a keytab no one could log on.
	if _, err := parseConfig([]string{"--data", "/d", "--ntlm=false"}, envOf(nil), host); err == nil || !strings.Contains(err.Error(), "--ntlm") {
		t.Errorf("--ntlm=false without keytab: %v, want a --ntlm error", err)
	}
}

// TestDirectoryConfig checks the directory settings: ldap-url needs the
// keytab it binds with, and a --share naming domain accounts parses
// (their SIDs are looked up at start), while without a directory the
// start refuses them by name.
func TestDirectoryConfig(t *testing.T) {
	host := func() (string, error) { return "node1", nil }
	if _, err := parseConfig([]string{"--data", "/d", "--ldap-url", "ldap://dc1"}, envOf(nil), host); err == nil || !strings.Contains(err.Error(), "ldap-url") {
		t.Errorf("--ldap-url without keytab: %v, want an ldap-url error", err)
	}
	c, err := parseConfig([]string{"--data", "/d", "--keytab", "k", "--ldap-url", "ldap://dc1", "--ldap-domain", "CORP",
		"--share", `vms=/csv/vms,allow=CORP\HyperVHosts:full,deny=CORP\Domain Users:change,allow=alice@corp.example.com:read`}, envOf(nil), host)
	if err != nil {
		t.Fatal(err)
	}
	if c.LDAPURL != "ldap://dc1" || c.LDAPDomain != "CORP" || c.Krb5Conf != "/etc/krb5.conf" || len(c.Shares) != 1 || len(c.Shares[0].Permissions) != 3 {
		t.Fatalf("parsed %+v", c)
	}
	if p := c.Shares[0].Permissions[1]; p.Account != `CORP\Domain Users` || !p.Deny || p.Access != "change" {
		t.Errorf("deny entry %+v", p)
	}
	if err := resolveShareAccounts(t.Context(), nil, c.Shares); err == nil || !strings.Contains(err.Error(), "ldap-url") {
		t.Errorf("domain names without a directory: %v, want an ldap-url error", err)
	}
}
