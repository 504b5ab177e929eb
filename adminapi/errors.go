package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Stable error codes. Programs (sofsctl among them) switch on these; the
// messages that go with them are for people and may change.
const (
	CodeUnauthorized          = "unauthorized"
	CodeMalformedJSON         = "malformed_json"
	CodeUnknownField          = "unknown_field"
	CodeInvalidField          = "invalid_field" // wrong JSON type
	CodeInvalidValue          = "invalid_value" // right type, unacceptable value
	CodeMissingField          = "missing_field"
	CodeBodyTooLarge          = "body_too_large"
	CodeUnsupportedMediaType  = "unsupported_media_type"
	CodeNotFound              = "not_found" // no such endpoint
	CodeMethodNotAllowed      = "method_not_allowed"
	CodeShareNotFound         = "share_not_found"
	CodeShareExists           = "share_exists"
	CodeShareRefused          = "share_refused" // stored, but refused by the rules (its path)
	CodeVolumeExists          = "volume_exists"
	CodeUserNotFound          = "user_not_found"
	CodeUserExists            = "user_exists"
	CodeNodeNotFound          = "node_not_found"
	CodeNodeBusy              = "node_busy"
	CodeWitnessClientNotFound = "witness_client_not_found"
	CodeClusterNotInit        = "cluster_not_initialized"
	CodeNotImplemented        = "not_implemented"
	CodeMetricsDisabled       = "metrics_disabled"
	CodeNotReady              = "not_ready"
	CodeStoreUnavailable      = "store_unavailable"
	CodeAccountNotFound       = "account_not_found"
	CodeDirectoryUnavailable  = "directory_unavailable"
	CodeInternal              = "internal_error"
)

// apiError is an error with its HTTP status and stable code.
type apiError struct {
	status int
	code   string
	msg    string
	field  string
	cause  error // logged, never sent
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errorf(status int, code, field, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, field: field, msg: fmt.Sprintf(format, args...)}
}

func badValue(field, format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, CodeInvalidValue, field, format, args...)
}

// storeError turns an error from the store into a response: a timeout or
// cancellation means etcd is unreachable (503); anything else is ours
// (500). Client mistakes never get here: handlers check values before
// calling the store and map ErrNotFound and ErrExists themselves.
func storeError(err error) *apiError {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &apiError{status: http.StatusServiceUnavailable, code: CodeStoreUnavailable,
			msg: "the cluster store did not answer in time", cause: err}
	}
	return &apiError{status: http.StatusInternalServerError, code: CodeInternal,
		msg: "internal error; see the node's log", cause: err}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own types are marshalled; none can fail.
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal_error","message":"encode response"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	b = append(b, '\n')
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sofs"`)
	}
	writeJSON(w, e.status, ErrorBody{Error: ErrorDetail{Code: e.code, Message: e.msg, Field: e.field}})
}
