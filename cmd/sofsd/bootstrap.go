package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"

	"github.com/rs/zerolog"

	"sofs.io/sofs/namespace"
)

// applyShares creates or updates the shares given at start, creating their
// directories when missing. The path's string form was checked with the
// settings; here the directory as the file system resolves it (through
// any symbolic link on the way) must pass pol too, so /srv/x linked to
// /etc is not shared as /etc.
func applyShares(ctx context.Context, st *namespace.Store, shares []namespace.Share, pol namespace.SharePathPolicy, log zerolog.Logger) error {
	for _, sh := range shares {
		if err := os.MkdirAll(sh.Path, 0o755); err != nil {
			return fmt.Errorf("share %q: create directory: %w", sh.Name, err)
		}
		real, err := filepath.EvalSymlinks(sh.Path)
		if err != nil {
			return fmt.Errorf("share %q: resolve path: %w", sh.Name, err)
		}
		if err := pol.Check(real); err != nil {
			return fmt.Errorf("share %q: resolved path: %w", sh.Name, err)
		}
		if err := st.PutShare(ctx, sh); err != nil {
			return err
		}
		log.Info().Str("share", sh.Name).Str("path", sh.Path).Bool("ca", sh.ContinuouslyAvailable).
			Bool("encrypt", sh.EncryptData).Bool("readonly", sh.ReadOnly).Bool("guest", sh.Guest).Msg("share configured")
	}
	return nil
}

// applyUsers creates the users given at start. An existing user keeps its
// password: the flag is a bootstrap convenience, and silently resetting a
// password an operator changed would be a security surprise.
func applyUsers(ctx context.Context, st *namespace.Store, users []userSpec, log zerolog.Logger) error {
	for _, u := range users {
		err := st.PutUser(ctx, u.Name, u.Password)
		switch {
		case err == nil:
			log.Info().Str("user", u.Name).Msg("user created")
		case errors.Is(err, namespace.ErrExists):
			log.Info().Str("user", u.Name).Msg("user already exists; its password was left unchanged")
		default:
			return err
		}
	}
	return nil
}

// adminPasswordLen is the length of the generated admin password: 20
// characters from a 62-symbol alphabet is about 119 bits.
const adminPasswordLen = 20

const passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// ensureAdmin creates user "admin" with a random password when the
// namespace has no users and none were given, and prints the password once
// to out. Later starts find the user and print nothing. The password is
// never logged.
func ensureAdmin(ctx context.Context, st *namespace.Store, usersGiven bool, out io.Writer, log zerolog.Logger) error {
	if usersGiven {
		return nil
	}
	users, err := st.ListUsers(ctx)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return nil
	}
	pw, err := randomPassword(adminPasswordLen)
	if err != nil {
		return err
	}
	switch err := st.PutUser(ctx, "admin", pw); {
	case errors.Is(err, namespace.ErrExists):
		// Another node created it in the meantime; that node printed it.
		return nil
	case err != nil:
		return err
	}
	log.Warn().Str("user", "admin").Msg("no users were configured; created user admin with a generated password (printed once on stdout)")
	if _, err := fmt.Fprintf(out, "Created user \"admin\" with password %s - note it now, it will not be shown again.\n", pw); err != nil {
		return fmt.Errorf("print admin password: %w", err)
	}
	return nil
}

func randomPassword(n int) (string, error) {
	b := make([]byte, n)
	max := big.NewInt(int64(len(passwordAlphabet)))
	for i := range b {
		k, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("random password: %w", err)
		}
		b[i] = passwordAlphabet[k.Int64()]
	}
	return string(b), nil
}
