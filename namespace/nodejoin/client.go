package nodejoin

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"sofs.io/sofs/namespace/clustertls"
)

// Join asks the member at addr (host:port of its join endpoint) for a
// certificate for node name on hosts, with token. It returns the new key
// (created here, never sent) and the member's answer; install them with
// clustertls.InstallJoined. A refusal is a *RefusedError.
func Join(ctx context.Context, addr string, token clustertls.JoinToken, name string, hosts []string, renew bool) (*ecdsa.PrivateKey, Response, error) {
	csr, key, err := clustertls.NewCSR(name, hosts)
	if err != nil {
		return nil, Response{}, err
	}
	body, err := json.Marshal(Request{Token: token.String(), CSR: csr, Renew: renew})
	if err != nil {
		return nil, Response{}, fmt.Errorf("join: encode request: %w", err)
	}
	tr := &http.Transport{TLSClientConfig: clustertls.PinnedClientConfig(token.CAHash), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+Path, bytes.NewReader(body))
	if err != nil {
		return nil, Response{}, fmt.Errorf("join: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: tr}).Do(hreq)
	if err != nil {
		return nil, Response{}, fmt.Errorf("join through %s: %w", addr, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return nil, Response{}, fmt.Errorf("join through %s: read answer: %w", addr, err)
	}
	if len(b) > MaxResponseSize {
		return nil, Response{}, fmt.Errorf("join through %s: answer larger than %d bytes", addr, MaxResponseSize)
	}
	if resp.StatusCode != http.StatusOK {
		var eb ErrorBody
		if err := json.Unmarshal(b, &eb); err != nil || eb.Error.Code == "" {
			return nil, Response{}, fmt.Errorf("join through %s: HTTP %d: %.200q", addr, resp.StatusCode, b)
		}
		return nil, Response{}, &RefusedError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	var out Response
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, Response{}, fmt.Errorf("join through %s: answer: %w", addr, err)
	}
	if len(out.CACert) == 0 || len(out.Cert) == 0 {
		return nil, Response{}, fmt.Errorf("join through %s: answer without certificates", addr)
	}
	// The CA in the answer must be the one the token pins, not merely
	// one the channel was built on.
	if clustertls.HashDER(out.CACert) != token.CAHash {
		return nil, Response{}, fmt.Errorf("join through %s: the CA certificate sent does not match the token's hash", addr)
	}
	return key, out, nil
}
