// Package directory resolves Active Directory account names (DOMAIN\name
// or name@dns.domain) to SIDs, so that share permissions can name domain
// users, groups and computers the way an operator writes them on Windows.
//
// Lookups go to a domain controller over LDAP, bound with SASL GSSAPI
// (RFC 4752) as the node's own computer account, whose keys are in the
// node's keytab: no password and no extra service account. On plain LDAP
// the bind negotiates the Kerberos integrity layer, so every request and
// answer afterwards is signed with the session's key (what a DC that
// requires LDAP signing demands: Samba's default "ldap server require
// strong auth = yes", Windows' "LDAP server signing requirements"); over
// LDAPS TLS protects the connection and no SASL layer is used (Windows
// refuses one over TLS).
//
// Lookups are made when a permission is saved, not when a client
// connects: the SID is stored beside the name, so tree connects never wait
// on a DC and a DC outage later changes nothing.
package directory

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
	ldapgss "github.com/go-ldap/ldap/v3/gssapi"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/rs/zerolog"

	"sofs.io/sofs/smbserver/secdesc"
)

// ErrNotFound is wrapped by LookupSID when the directory has no such
// account: the name is wrong, not the DC.
var ErrNotFound = errors.New("no such account in the directory")

// ErrUnavailable is wrapped by LookupSID when no answer could be had:
// the DC is unreachable, refused the bind, or the node's keys are wrong.
var ErrUnavailable = errors.New("directory unavailable")

// ErrNotDomainName is wrapped by LookupSID for a name that is not a
// domain account name of this directory's domain.
var ErrNotDomainName = errors.New("not an account name of this domain")

// Limits and defaults; each is a bound on what one lookup may cost.
const (
	// DefaultTimeout bounds one lookup (dial, TLS, bind, search) when
	// the caller's context has no earlier deadline: an operator saving a
	// share waits for it, so it is short.
	DefaultTimeout = 15 * time.Second
	// DefaultCacheTTL is how long a resolved name is reused. Names of
	// accounts change rarely and SIDs never; the cache only spares the
	// DC repeated lookups of the same names when shares are saved.
	DefaultCacheTTL = 10 * time.Minute
	// maxCache bounds the cache: far more distinct names than any
	// cluster's share permissions use (64 entries per share).
	maxCache = 4096
	// maxName bounds an account name: sAMAccountName is at most 20
	// characters and a UPN at most 1024 bytes.
	maxName = 1024
)

// Config says where the directory is and which credentials reach it.
type Config struct {
	// URL is ldap://host[:port] (Kerberos integrity layer) or
	// ldaps://host[:port] (TLS). Required.
	URL string
	// SPN is the DC's LDAP service principal, ldap/<DC's DNS name>;
	// "" derives it from URL's host.
	SPN string
	// ServerName is the name the DC's TLS certificate must carry (LDAPS);
	// "" takes the host part of SPN.
	ServerName string
	// CAFile holds PEM certificates of the CAs that may sign the DC's
	// certificate (LDAPS); "" uses the system's roots.
	CAFile string
	// Keytab is the node's keytab. Required.
	Keytab string
	// Principal is the account in Keytab to bind as; "" picks the
	// computer account (a name ending in '$').
	Principal string
	// Realm is the Kerberos realm; "" takes Principal's realm.
	Realm string
	// Krb5Conf is the krb5.conf naming the realm's KDCs. Required.
	Krb5Conf string
	// BaseDN is the search base; "" derives DC=... from Realm.
	BaseDN string
	// Domain is the NetBIOS domain name accepted before a backslash; ""
	// takes Realm's first label (EXAMPLE.COM: EXAMPLE).
	Domain string
	// CacheTTL is how long a resolved name is reused; 0 means
	// DefaultCacheTTL.
	CacheTTL time.Duration
	Logger   zerolog.Logger
}

// Resolver looks up SIDs of domain accounts. It is safe for concurrent
// use.
type Resolver struct {
	cfg   Config
	host  string // host:port to dial
	ldaps bool
	tls   *tls.Config
	kt    string
	log   zerolog.Logger

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	sid string
	at  time.Time
}

// New checks cfg and returns a Resolver. It reads the keytab and CA file
// once to fail early on a wrong path; it does not contact the DC.
func New(cfg Config) (*Resolver, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("directory: URL %q: want ldaps://host[:port] or ldap://host[:port]", cfg.URL)
	}
	r := &Resolver{cfg: cfg, log: cfg.Logger, cache: map[string]cached{}}
	switch strings.ToLower(u.Scheme) {
	case "ldaps":
		r.ldaps = true
		r.host = withPort(u.Host, "636")
	case "ldap":
		r.host = withPort(u.Host, "389")
	default:
		return nil, fmt.Errorf("directory: URL %q: scheme %q, want ldaps or ldap", cfg.URL, u.Scheme)
	}
	if cfg.Keytab == "" || cfg.Krb5Conf == "" {
		return nil, errors.New("directory: a keytab and a krb5.conf are required")
	}
	kt, err := keytab.Load(cfg.Keytab)
	if err != nil {
		return nil, fmt.Errorf("directory: keytab %s: %w", cfg.Keytab, err)
	}
	if r.cfg.Principal == "" || r.cfg.Realm == "" {
		name, realm := machinePrincipal(kt)
		if name == "" {
			return nil, fmt.Errorf("directory: keytab %s holds no principal", cfg.Keytab)
		}
		if r.cfg.Principal == "" {
			r.cfg.Principal = name
		}
		if r.cfg.Realm == "" {
			r.cfg.Realm = realm
		}
	}
	if _, err := config.Load(cfg.Krb5Conf); err != nil {
		return nil, fmt.Errorf("directory: krb5.conf %s: %w", cfg.Krb5Conf, err)
	}
	if r.cfg.SPN == "" {
		h, _, _ := net.SplitHostPort(r.host)
		r.cfg.SPN = "ldap/" + h
	}
	if r.cfg.ServerName == "" {
		_, h, _ := strings.Cut(r.cfg.SPN, "/")
		r.cfg.ServerName = h
	}
	if r.cfg.BaseDN == "" {
		r.cfg.BaseDN = "DC=" + strings.Join(strings.Split(strings.ToLower(r.cfg.Realm), "."), ",DC=")
	}
	if r.cfg.Domain == "" {
		r.cfg.Domain, _, _ = strings.Cut(r.cfg.Realm, ".")
	}
	if r.cfg.CacheTTL <= 0 {
		r.cfg.CacheTTL = DefaultCacheTTL
	}
	r.tls = &tls.Config{ServerName: r.cfg.ServerName, MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("directory: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("directory: CA file %s holds no PEM certificate", cfg.CAFile)
		}
		r.tls.RootCAs = pool
	}
	r.kt = cfg.Keytab
	return r, nil
}

// machinePrincipal returns the keytab's computer account (NAME$) and its
// realm, or else its first principal.
func machinePrincipal(kt *keytab.Keytab) (name, realm string) {
	for _, e := range kt.Entries {
		n := e.Principal.Components
		if len(n) == 1 && strings.HasSuffix(n[0], "$") {
			return n[0], e.Principal.Realm
		}
		if name == "" && len(n) > 0 {
			name, realm = strings.Join(n, "/"), e.Principal.Realm
		}
	}
	return name, realm
}

func withPort(host, port string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(host, port)
}

// Principal returns the account the resolver binds as (for logs).
func (r *Resolver) Principal() string { return r.cfg.Principal + "@" + r.cfg.Realm }

// IsDomainName reports whether account is written as a domain account
// name (DOMAIN\name or name@domain) rather than a SID, a well-known name
// or a local user.
func IsDomainName(account string) bool {
	return strings.Contains(account, `\`) || strings.Contains(account, "@")
}

// LookupSID returns the SID (S-1-...) of account, DOMAIN\name (DOMAIN
// being this directory's NetBIOS domain name or its DNS name) or
// name@dns.domain (a user principal name).
func (r *Resolver) LookupSID(ctx context.Context, account string) (string, error) {
	filter, err := r.filter(account)
	if err != nil {
		return "", err
	}
	key := strings.ToLower(account)
	r.mu.Lock()
	c, ok := r.cache[key]
	r.mu.Unlock()
	if ok && time.Since(c.at) < r.cfg.CacheTTL {
		return c.sid, nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	sid, err := r.search(ctx, filter)
	if err != nil {
		return "", fmt.Errorf("directory: %s: %w", account, err)
	}
	r.mu.Lock()
	if len(r.cache) >= maxCache {
		// Dropping everything is crude but bounded, and the cache is a
		// convenience: a miss costs one more lookup.
		clear(r.cache)
	}
	r.cache[key] = cached{sid: sid, at: time.Now()}
	r.mu.Unlock()
	return sid, nil
}

// filter turns account into an LDAP filter, checking its domain.
func (r *Resolver) filter(account string) (string, error) {
	if account == "" || len(account) > maxName {
		return "", fmt.Errorf("directory: account name of %d bytes: %w", len(account), ErrNotDomainName)
	}
	if dom, name, ok := strings.Cut(account, `\`); ok {
		if name == "" || (!strings.EqualFold(dom, r.cfg.Domain) && !strings.EqualFold(dom, r.cfg.Realm)) {
			return "", fmt.Errorf("directory: %q: domain %q is not %s (%s): %w", account, dom, r.cfg.Domain, r.cfg.Realm, ErrNotDomainName)
		}
		return "(&(sAMAccountName=" + ldap.EscapeFilter(name) + ")(objectSid=*))", nil
	}
	if name, dom, ok := strings.Cut(account, "@"); ok && name != "" && dom != "" {
		// A UPN: the stored one, or the implicit sAMAccountName@realm
		// every account has ([MS-ADTS] 5.1.1.1.1).
		upn := ldap.EscapeFilter(account)
		if !strings.EqualFold(dom, r.cfg.Realm) {
			return "(&(userPrincipalName=" + upn + ")(objectSid=*))", nil
		}
		return "(&(|(userPrincipalName=" + upn + ")(sAMAccountName=" + ldap.EscapeFilter(name) + "))(objectSid=*))", nil
	}
	return "", fmt.Errorf("directory: %q: want DOMAIN\\name or name@domain: %w", account, ErrNotDomainName)
}

// search binds and runs one search. Every failure to get an answer wraps
// ErrUnavailable.
func (r *Resolver) search(ctx context.Context, filter string) (string, error) {
	conn, err := r.bind(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer conn.Close()
	req := ldap.NewSearchRequest(r.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, 0, false, filter, []string{"objectSid"}, nil)
	res, err := conn.Search(req)
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return "", fmt.Errorf("%w: search %s: %w", ErrUnavailable, filter, err)
	}
	if res == nil || len(res.Entries) == 0 {
		return "", ErrNotFound
	}
	if len(res.Entries) > 1 {
		// Two accounts answer to the name (a UPN equal to another's
		// sAMAccountName@realm): refuse rather than guess.
		return "", fmt.Errorf("%d accounts match: %w", len(res.Entries), ErrNotFound)
	}
	raw := res.Entries[0].GetRawAttributeValue("objectSid")
	sid, n, err := secdesc.DecodeSID(raw)
	if err != nil || n != len(raw) {
		return "", fmt.Errorf("%w: objectSid of %s is not a SID (%d bytes)", ErrUnavailable, res.Entries[0].DN, len(raw))
	}
	return sid.String(), nil
}

// bind connects to the DC and binds as the node's account: over LDAPS
// with no SASL layer (TLS protects the connection), over plain LDAP with
// the Kerberos integrity layer.
func (r *Resolver) bind(ctx context.Context) (*ldap.Conn, error) {
	deadline, _ := ctx.Deadline()
	d := &net.Dialer{Deadline: deadline}
	raw, err := d.DialContext(ctx, "tcp", r.host)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", r.host, err)
	}
	var conn *ldap.Conn
	var sc *saslConn
	if r.ldaps {
		tc := tls.Client(raw, r.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("TLS with %s: %w", r.host, err)
		}
		conn = ldap.NewConn(tc, true)
	} else {
		sc = &saslConn{Conn: raw}
		conn = ldap.NewConn(sc, false)
	}
	conn.Start()
	conn.SetTimeout(time.Until(deadline))
	// Closing the connection is how a cancelled context interrupts a
	// bind or search that go-ldap runs without one.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	ok := false
	defer func() {
		if !ok {
			stop()
			conn.Close()
		}
	}()
	kt, err := keytab.Load(r.kt)
	if err != nil {
		return nil, fmt.Errorf("keytab: %w", err)
	}
	kcfg, err := config.Load(r.cfg.Krb5Conf)
	if err != nil {
		return nil, fmt.Errorf("krb5.conf: %w", err)
	}
	kc := client.NewWithKeytab(r.cfg.Principal, r.cfg.Realm, kt, kcfg, client.DisablePAFXFAST(true))
	defer kc.Destroy()
	if err := kc.Login(); err != nil {
		return nil, fmt.Errorf("Kerberos logon as %s: %w", r.Principal(), err)
	}
	var gss ldap.GSSAPIClient = &ldapgss.Client{Client: kc}
	if sc != nil {
		gss = &saslClient{kc: kc, conn: sc}
	}
	if err := conn.GSSAPIBind(gss, r.cfg.SPN, ""); err != nil {
		return nil, fmt.Errorf("GSSAPI bind as %s to %s: %w", r.Principal(), r.cfg.SPN, err)
	}
	if sc != nil {
		sc.activate()
	}
	ok = true
	return conn, nil
}
