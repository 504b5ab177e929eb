package adminapi

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// TokenSource supplies the bearer tokens the API accepts right now. During
// a rotation it returns both the old and the new token. It is called on
// every authenticated request, so it must be cheap and safe for concurrent
// use. An empty result locks everybody out (the API fails closed).
type TokenSource interface {
	Current() []string
}

// StaticTokens is a fixed TokenSource.
type StaticTokens []string

// Current implements TokenSource.
func (s StaticTokens) Current() []string { return s }

// tokenMatches reports whether got equals one of want, in time that does
// not depend on where they differ or on which one matched. Comparing
// SHA-256 digests also hides the tokens' lengths.
func tokenMatches(got string, want []string) bool {
	g := sha256.Sum256([]byte(got))
	ok := 0
	for _, w := range want {
		if w == "" {
			continue // an empty line in a token file is not a token
		}
		d := sha256.Sum256([]byte(w))
		ok |= subtle.ConstantTimeCompare(g[:], d[:])
	}
	return ok == 1
}

// TokenFile is a TokenSource reading a file with one token per line;
// blank lines and lines starting with '#' are ignored. The file is read
// again whenever its size, modification time or inode changes, so a token
// is rotated by adding the new token as a second line, moving clients to
// it, then deleting the old line: no restart. If the file cannot be read
// Current returns nothing and every request is refused.
type TokenFile struct {
	path string

	mu     sync.Mutex
	stamp  fileStamp
	tokens []string
}

type fileStamp struct {
	size  int64
	mtime time.Time
	sys   string // device and inode, where the platform has them
}

// NewTokenFile returns a TokenSource over the file at path. It reads the
// file once so that a missing or empty file is reported at start.
func NewTokenFile(path string) (*TokenFile, error) {
	t := &TokenFile{path: path}
	if _, err := t.reload(); err != nil {
		return nil, err
	}
	if len(t.tokens) == 0 {
		return nil, fmt.Errorf("token file %s holds no token", path)
	}
	return t, nil
}

// Current implements TokenSource.
func (t *TokenFile) Current() []string {
	toks, err := t.reload()
	if err != nil {
		return nil
	}
	return toks
}

func (t *TokenFile) reload() ([]string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fi, err := os.Stat(t.path)
	if err != nil {
		t.stamp, t.tokens = fileStamp{}, nil
		return nil, fmt.Errorf("token file: %w", err)
	}
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime(), sys: statSys(fi)}
	if st == t.stamp && t.tokens != nil {
		return t.tokens, nil
	}
	b, err := os.ReadFile(t.path)
	if err != nil {
		t.stamp, t.tokens = fileStamp{}, nil
		return nil, fmt.Errorf("token file: %w", err)
	}
	t.tokens = parseTokens(b)
	t.stamp = st
	return t.tokens, nil
}

func parseTokens(b []byte) []string {
	toks := []string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		toks = append(toks, line)
	}
	return toks
}

// NewToken returns a fresh random token: 32 bytes from crypto/rand in
// unpadded base64url (43 characters).
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// EnsureTokenFile creates the token file at path with a fresh token if it
// does not exist (mode 0600, created exclusively so that two starts cannot
// race), and reports whether it did. An existing file is left alone.
func EnsureTokenFile(path string) (created bool, err error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("token file: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, fmt.Errorf("token file: %w", err)
	}
	tok, err := NewToken()
	if err != nil {
		return false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("token file: %w", err)
	}
	_, werr := f.WriteString(tok + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(path)
		return false, fmt.Errorf("token file %s: %w", path, err)
	}
	return true, nil
}
