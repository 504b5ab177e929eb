package adminapi

import "net/http"

// RouteKeys lists every registered route as "METHOD /path".
func RouteKeys() []string {
	out := make([]string, len(routes))
	for i, r := range routes {
		out[i] = r.method + " " + r.path
	}
	return out
}

// Exported for the fuzz target and its fake store.
type Backend = backend

func NewWithBackend(cfg Config, b Backend) (http.Handler, error) { return newAPI(cfg, b) }

var (
	DecodeShareCreate    = decodeShareCreate
	DecodeShareUpdate    = decodeShareUpdate
	DecodeUserCreate     = decodeUserCreate
	DecodePasswordChange = decodePasswordChange
)

// ErrStatus returns an apiError's HTTP status, or 0 for nil.
func ErrStatus(e *apiError) int {
	if e == nil {
		return 0
	}
	return e.status
}
