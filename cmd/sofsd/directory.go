package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/auth/directory"
	"sofs.io/sofs/namespace"
)

// newDirectory returns the resolver of domain account names, or nil when
// ldap-url is not set.
func newDirectory(cfg config, log zerolog.Logger) (*directory.Resolver, error) {
	if cfg.LDAPURL == "" {
		return nil, nil
	}
	r, err := directory.New(directory.Config{
		URL: cfg.LDAPURL, SPN: cfg.LDAPSPN, CAFile: cfg.LDAPCA, Domain: cfg.LDAPDomain,
		Keytab: cfg.Keytab, Krb5Conf: cfg.Krb5Conf, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	log.Info().Str("ldap", cfg.LDAPURL).Str("principal", r.Principal()).Msg("domain account names in share permissions are looked up in the directory")
	return r, nil
}

// resolveShareAccounts fills in the SIDs of the domain accounts named in
// the shares given at start. A name that cannot be resolved stops the
// start: a share saved with it would grant or refuse nobody, and quietly
// serving a share without the permission an operator wrote is worse than
// not starting.
func resolveShareAccounts(ctx context.Context, dir *directory.Resolver, shares []namespace.Share) error {
	for _, sh := range shares {
		for i, p := range sh.Permissions {
			if p.SID != "" || !namespace.IsDomainAccount(p.Account) {
				continue
			}
			if dir == nil {
				return fmt.Errorf("share %q: %q is a domain account; set ldap-url to look it up, or name it by SID", sh.Name, p.Account)
			}
			sid, err := dir.LookupSID(ctx, p.Account)
			if err != nil {
				return fmt.Errorf("share %q: %w", sh.Name, err)
			}
			sh.Permissions[i].SID = sid
		}
	}
	return nil
}

// accountResolver adapts the directory to the admin API, whose errors it
// translates.
type accountResolver struct{ dir *directory.Resolver }

func (a accountResolver) LookupSID(ctx context.Context, account string) (string, error) {
	sid, err := a.dir.LookupSID(ctx, account)
	switch {
	case err == nil:
		return sid, nil
	case errors.Is(err, directory.ErrNotFound), errors.Is(err, directory.ErrNotDomainName):
		return "", fmt.Errorf("%w: %w", adminapi.ErrAccountNotFound, err)
	default:
		return "", fmt.Errorf("%w: %w", adminapi.ErrDirectoryUnavailable, err)
	}
}
