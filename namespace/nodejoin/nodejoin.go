// Package nodejoin is the exchange through which a new node, holding a
// join token, gets its certificate from a member of the cluster.
//
// The joining node creates its key and a certificate request (the key
// never leaves it) and POSTs the request with the token to a member's
// join endpoint over TLS. It trusts the endpoint only if the endpoint's
// chain contains the CA certificate whose hash the token carries
// (clustertls.PinnedClientConfig), so the token's secret is never sent to
// anyone but a holder of a certificate from the cluster's CA: someone
// reading or redirecting the traffic learns nothing and cannot join. The
// member consumes the token (single use, in one etcd transaction), signs
// the request and answers with the node certificate, the CA certificate
// and the client URLs of the cluster's etcd members, through which the
// new node adds itself as a member with its new certificate. The CA key
// is never sent.
//
// Wire format: POST Path, a JSON Request (at most MaxRequestSize bytes);
// the answer is a JSON Response with 200, or an ErrorBody with 4xx/5xx.
package nodejoin

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"sofs.io/sofs/namespace/clustertls"
)

// Path is the endpoint's only route.
const Path = "/sofs/v1/join"

// MaxRequestSize bounds a request body: a token and a certificate request
// of at most clustertls.MaxCSRSize bytes in base64, with room for JSON.
const MaxRequestSize = 32 << 10

// MaxResponseSize bounds what a joining node reads back: two
// certificates and a few URLs.
const MaxResponseSize = 64 << 10

// Request is what a joining node sends.
type Request struct {
	// Token is the join token as printed by 'sofsctl token create'.
	Token string `json:"token"`
	// CSR is the DER certificate request (base64 in JSON); its common
	// name is the node name.
	CSR []byte `json:"csr"`
	// Renew asks for a certificate for a node name that is already a
	// member (a joined node renewing its certificate); without it a name
	// taken by a member is refused.
	Renew bool `json:"renew,omitempty"`
}

// Response is the member's answer to an accepted request.
type Response struct {
	// CACert and Cert are DER certificates: the cluster CA and the new
	// node's.
	CACert []byte `json:"caCert"`
	Cert   []byte `json:"cert"`
	// EtcdClientURLs are the client URLs of the cluster's etcd members.
	EtcdClientURLs []string `json:"etcdClientURLs"`
}

// Error codes of ErrorBody.
const (
	CodeBadRequest   = "bad_request"
	CodeTokenUnknown = "token_unknown"
	CodeTokenExpired = "token_expired"
	CodeTokenUsed    = "token_used"
	CodeNameTaken    = "name_taken"
	CodeNoCAKey      = "no_ca_key"
	CodeInternal     = "internal"
)

// ErrorBody is the JSON of a refused request.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Decoded is a request that passed DecodeRequest.
type Decoded struct {
	Token clustertls.JoinToken
	// Name is the node name the certificate is for.
	Name  string
	CSR   []byte
	Renew bool
	csr   *x509.CertificateRequest
}

// DecodeRequest reads and checks a join request: at most MaxRequestSize
// bytes, exactly the fields of Request, a well-formed token, and a
// certificate request clustertls.ParseCSR accepts whose common name
// validName accepts. Every failure is an error to answer with
// CodeBadRequest; nothing in it allocates more than the bytes read.
func DecodeRequest(r io.Reader, validName func(string) error) (Decoded, error) {
	body, err := io.ReadAll(io.LimitReader(r, MaxRequestSize+1))
	if err != nil {
		return Decoded{}, fmt.Errorf("read request: %w", err)
	}
	if len(body) > MaxRequestSize {
		return Decoded{}, fmt.Errorf("request larger than %d bytes", MaxRequestSize)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req Request
	if err := dec.Decode(&req); err != nil {
		return Decoded{}, fmt.Errorf("request: %w", err)
	}
	if dec.More() {
		return Decoded{}, errors.New("request: data after the JSON object")
	}
	tok, err := clustertls.ParseJoinToken(req.Token)
	if err != nil {
		return Decoded{}, err
	}
	csr, err := clustertls.ParseCSR(req.CSR)
	if err != nil {
		return Decoded{}, err
	}
	name := csr.Subject.CommonName
	if err := validName(name); err != nil {
		return Decoded{}, fmt.Errorf("node name %q: %w", name, err)
	}
	return Decoded{Token: tok, Name: name, CSR: req.CSR, Renew: req.Renew, csr: csr}, nil
}

// ValidNodeName is sofsd's rule for node names (letters, digits, '-', '_'
// and '.', starting with a letter or digit, at most 253 bytes), for
// DecodeRequest.
func ValidNodeName(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if len(s) > 253 {
		return errors.New("longer than 253 characters")
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return errors.New("only letters, digits, '-', '_' and '.' are allowed")
		}
	}
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "-") || strings.HasPrefix(s, "_") {
		return errors.New("must start with a letter or digit")
	}
	return nil
}

// RefusedError is a request the member refused, with its code.
type RefusedError struct {
	Status  int
	Code    string
	Message string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("join refused by the cluster (%s): %s", e.Code, e.Message)
}

// TokenProblem reports whether the refusal is about the token (unknown,
// expired, used): the operator needs a new token, not a retry.
func (e *RefusedError) TokenProblem() bool {
	switch e.Code {
	case CodeTokenUnknown, CodeTokenExpired, CodeTokenUsed:
		return true
	}
	return false
}
