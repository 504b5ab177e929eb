package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"sofs.io/sofs/adminapi"
)

// client talks to the API.
type client struct {
	base  *url.URL
	token string
	http  *http.Client
	ctx   context.Context
}

// apiError is an error answer from the API.
type apiError struct {
	status int
	detail adminapi.ErrorDetail
	body   []byte
}

func (e *apiError) Error() string {
	if e.detail.Code == "" {
		return fmt.Sprintf("HTTP %d: %s", e.status, strings.TrimSpace(string(e.body)))
	}
	msg := e.detail.Message
	if e.detail.Field != "" {
		msg += " (field " + e.detail.Field + ")"
	}
	return msg + " [" + e.detail.Code + "]"
}

func newClient(g globals) (*client, error) {
	u, err := url.Parse(g.api)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--api %q is not an http:// or https:// URL", g.api)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	tok := g.token
	if tok == "" && g.tokenFile != "" {
		if tok, err = readTokenFile(g.tokenFile); err != nil {
			return nil, usagef("%v", err)
		}
	}
	if tok == "" {
		return nil, usagef("no API token: give --token, SOFS_TOKEN, --token-file or SOFS_TOKEN_FILE")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if g.cacert != "" {
		pem, err := os.ReadFile(g.cacert)
		if err != nil {
			return nil, usagef("--cacert: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef("--cacert %s: no PEM certificate in it", g.cacert)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if g.timeout <= 0 {
		return nil, usagef("--timeout must be positive")
	}
	return &client{
		base:  u,
		token: tok,
		http:  &http.Client{Transport: tr, Timeout: g.timeout},
		ctx:   context.Background(),
	}, nil
}

// readTokenFile returns the first token in a token file (the format
// sofsd writes: one token per line, '#' comments).
func readTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			return line, nil
		}
	}
	return "", fmt.Errorf("token file %s holds no token", path)
}

// do sends a request to path (below /api/v1 unless it starts with '/')
// and decodes a JSON answer into out if out is non-nil. It returns the raw
// body too, for -o json. Non-2xx answers are *apiError.
func (c *client) do(method, path string, in, out any) ([]byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	// path's segments are already escaped (see seg).
	target := c.base.String() + adminapi.Prefix + path
	req, err := http.NewRequestWithContext(c.ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, c.base.Redacted(), unwrapURLError(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &apiError{status: resp.StatusCode, body: b}
		var eb adminapi.ErrorBody
		if json.Unmarshal(b, &eb) == nil {
			e.detail = eb.Error
		}
		return nil, e
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("%s %s: unexpected answer: %w", method, path, err)
		}
	}
	return b, nil
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// seg escapes one path segment.
func seg(s string) string { return url.PathEscape(s) }
