package directory

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// testResolver returns a Resolver for realm SOFS.TEST whose DC is url,
// with a keytab holding SOFS1$'s key and a krb5.conf naming kdc.
func testResolver(t *testing.T, url, kdc string) *Resolver {
	t.Helper()
	dir := t.TempDir()
	kt := keytab.New()
	if err := kt.AddEntry("SOFS1$", "SOFS.TEST", "Mach1ne.Throwaway.Pass", time.Now(), 2, 18); err != nil {
		t.Fatal(err)
	}
	b, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ktPath, conf := filepath.Join(dir, "kt"), filepath.Join(dir, "krb5.conf")
	if err := os.WriteFile(ktPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	c := "[libdefaults]\n\tdefault_realm = SOFS.TEST\n\tudp_preference_limit = 1\n[realms]\n\tSOFS.TEST = {\n\t\tkdc = " + kdc + "\n\t}\n"
	if err := os.WriteFile(conf, []byte(c), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{URL: url, Keytab: ktPath, Krb5Conf: conf})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDefaults checks what New derives from the keytab and the URL: the
// computer account to bind as, the realm, SPN, TLS name, base DN and
// NetBIOS domain.
func TestDefaults(t *testing.T) {
	r := testResolver(t, "ldaps://dc1.sofs.test", "127.0.0.1:1")
	if r.Principal() != "SOFS1$@SOFS.TEST" || r.cfg.SPN != "ldap/dc1.sofs.test" || r.tls.ServerName != "dc1.sofs.test" ||
		r.cfg.BaseDN != "DC=sofs,DC=test" || r.cfg.Domain != "SOFS" || r.host != "dc1.sofs.test:636" {
		t.Errorf("derived %+v host %s", r.cfg, r.host)
	}
	for _, bad := range []string{"", "dc1", "http://dc1", "ldaps://"} {
		if _, err := New(Config{URL: bad, Keytab: "x", Krb5Conf: "y"}); err == nil {
			t.Errorf("URL %q accepted", bad)
		}
	}
}

// TestFilter checks the names accepted and the LDAP filters they become:
// only this domain's names, with the filter's special characters escaped
// so a name cannot widen the search.
func TestFilter(t *testing.T) {
	r := testResolver(t, "ldap://127.0.0.1", "127.0.0.1:1")
	for in, want := range map[string]string{
		`SOFS\alice`:             "(&(sAMAccountName=alice)(objectSid=*))",
		`sofs.test\Domain Users`: "(&(sAMAccountName=Domain Users)(objectSid=*))",
		`SOFS\a*)(x=y`:           `(&(sAMAccountName=a\2a\29\28x=y)(objectSid=*))`,
		"alice@sofs.test":        "(&(|(userPrincipalName=alice@sofs.test)(sAMAccountName=alice))(objectSid=*))",
		"alice@example.com":      "(&(userPrincipalName=alice@example.com)(objectSid=*))",
	} {
		got, err := r.filter(in)
		if err != nil || got != want {
			t.Errorf("filter(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{`OTHER\alice`, `SOFS\`, "alice", "@sofs.test", "alice@", "", strings.Repeat("a", maxName) + "@x"} {
		if _, err := r.filter(in); !errors.Is(err, ErrNotDomainName) {
			t.Errorf("filter(%q): %v, want ErrNotDomainName", in, err)
		}
	}
}

// TestUnreachable checks that a DC that cannot be reached is reported as
// ErrUnavailable, promptly, and that nothing is cached for it.
func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // a port nobody listens on: connection refused
	r := testResolver(t, "ldaps://"+addr, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := r.LookupSID(ctx, `SOFS\alice`); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("LookupSID with the DC down: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refused connection took %v", d)
	}
	if len(r.cache) != 0 {
		t.Errorf("a failed lookup was cached: %v", r.cache)
	}
}

// FuzzFilter checks that any account name either is refused or becomes a
// filter that go-ldap compiles and that keeps to one sAMAccountName or
// userPrincipalName match.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{`SOFS\alice`, "alice@sofs.test", `SOFS\a*)(|(x=*`, "a@b@c", `SOFS\\`, "\x00@\xff"} {
		f.Add(s)
	}
	r := &Resolver{cfg: Config{Domain: "SOFS", Realm: "SOFS.TEST"}}
	f.Fuzz(func(t *testing.T, name string) {
		flt, err := r.filter(name)
		if err != nil {
			if !errors.Is(err, ErrNotDomainName) {
				t.Fatalf("filter(%q): %v", name, err)
			}
			return
		}
		if _, err := compileFilter(flt); err != nil {
			t.Fatalf("filter(%q) = %q does not compile: %v", name, flt, err)
		}
		if strings.Count(flt, "(") != strings.Count(flt, ")") || strings.Count(flt, "objectSid=*") != 1 {
			t.Fatalf("filter(%q) = %q", name, flt)
		}
	})
}

func compileFilter(s string) (any, error) { return ldap.CompileFilter(s) }
