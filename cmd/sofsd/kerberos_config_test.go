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
