package nodejoin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/namespace"
	"sofs.io/sofs/namespace/clustertls"
)

// Tokens consumes join tokens; namespace.Store implements it.
type Tokens interface {
	ConsumeJoinToken(ctx context.Context, id string, secret []byte, node string) error
}

// Cluster tells the endpoint about the etcd members.
type Cluster interface {
	// EtcdMembers returns the names of the started members and the
	// client URLs of all of them.
	EtcdMembers(ctx context.Context) (names, clientURLs []string, err error)
}

// Server answers join requests. It needs the CA's key, so only a member
// that holds DATA/pki/ca.key serves joins.
type Server struct {
	CA      *clustertls.CA
	Tokens  Tokens
	Cluster Cluster
	Logger  zerolog.Logger
	// Timeout bounds one request's etcd work; 10 s if zero.
	Timeout time.Duration
}

// ServeHTTP implements http.Handler for Path.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		refuse(w, http.StatusNotFound, CodeBadRequest, "no such endpoint")
		return
	}
	if r.Method != http.MethodPost {
		refuse(w, http.StatusMethodNotAllowed, CodeBadRequest, "use POST")
		return
	}
	log := s.Logger.With().Str("client", r.RemoteAddr).Logger()
	req, err := DecodeRequest(r.Body, ValidNodeName)
	if err != nil {
		log.Warn().Err(err).Msg("join request refused: malformed")
		refuse(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	if hash := s.CA.Hash(); req.Token.CAHash != hash {
		// The joiner checked the chain against this hash, so it cannot
		// be talking to us with it; refuse rather than guess.
		refuse(w, http.StatusBadRequest, CodeBadRequest, "the token pins another CA than this cluster's")
		return
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	names, urls, err := s.Cluster.EtcdMembers(ctx)
	if err != nil {
		log.Error().Err(err).Msg("join: list etcd members")
		refuse(w, http.StatusServiceUnavailable, CodeInternal, "cannot list the cluster's members now; try again")
		return
	}
	// A second node under a member's name would take over its identity
	// (its handle records, its place in the membership); checked before
	// the token is spent, so a typo costs no token.
	if slices.Contains(names, req.Name) && !req.Renew {
		refuse(w, http.StatusConflict, CodeNameTaken, "node name "+req.Name+" is already a member of the cluster; pick another name, or remove that member first")
		return
	}
	if err := s.Tokens.ConsumeJoinToken(ctx, req.Token.ID, req.Token.Secret[:], req.Name); err != nil {
		code, status := CodeInternal, http.StatusServiceUnavailable
		switch {
		case errors.Is(err, namespace.ErrTokenUnknown):
			code, status = CodeTokenUnknown, http.StatusForbidden
		case errors.Is(err, namespace.ErrTokenExpired):
			code, status = CodeTokenExpired, http.StatusForbidden
		case errors.Is(err, namespace.ErrTokenUsed):
			code, status = CodeTokenUsed, http.StatusForbidden
		}
		log.Warn().Err(err).Str("token", req.Token.ID).Str("name", req.Name).Msg("join refused")
		refuse(w, status, code, err.Error())
		return
	}
	der, err := s.CA.SignCSR(req.csr)
	if err != nil {
		log.Error().Err(err).Str("name", req.Name).Msg("join: sign certificate")
		refuse(w, http.StatusInternalServerError, CodeInternal, "could not issue the certificate; the token is spent, create a new one")
		return
	}
	log.Info().Str("token", req.Token.ID).Str("name", req.Name).Bool("renew", req.Renew).Msg("issued a node certificate to a joining node")
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(Response{CACert: s.CA.Cert.Raw, Cert: der, EtcdClientURLs: urls})
}

func refuse(w http.ResponseWriter, status int, code, msg string) {
	var b ErrorBody
	b.Error.Code, b.Error.Message = code, msg
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(b)
}
