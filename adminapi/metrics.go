package adminapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// httpMetrics are the API's own request metrics. Labels are the route
// pattern (never the raw path, which would let clients mint series) and
// the status code.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	bytes    *prometheus.CounterVec
}

func newHTTPMetrics(reg *prometheus.Registry) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sofs", Subsystem: "api", Name: "requests_total",
			Help: "Admin API requests by route pattern and HTTP status.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "sofs", Subsystem: "api", Name: "request_duration_seconds",
			Help:    "Admin API request latency by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sofs", Subsystem: "api", Name: "response_bytes_total",
			Help: "Admin API response body bytes by route pattern.",
		}, []string{"route"}),
	}
	var err error
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.duration, err = register(reg, m.duration); err != nil {
		return nil, err
	}
	if m.bytes, err = register(reg, m.bytes); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector already registered under
// the same description, so that two handlers built over one registry (as
// tests do) share their metrics rather than fail.
func register[C prometheus.Collector](reg *prometheus.Registry, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		var zero C
		return zero, err
	}
	return c, nil
}

func (m *httpMetrics) observe(route string, status int, d time.Duration, n int64) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
	m.bytes.WithLabelValues(route).Add(float64(n))
}

// promhttpHandler serves reg in the Prometheus exposition formats. A
// collector that fails is logged and skipped rather than failing the
// whole scrape.
func promhttpHandler(reg *prometheus.Registry, log zerolog.Logger) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:          promLogger{log},
		ErrorHandling:     promhttp.ContinueOnError,
		Registry:          reg, // promhttp_metric_handler_errors_total
		Timeout:           10 * time.Second,
		EnableOpenMetrics: true,
	})
}

type promLogger struct{ log zerolog.Logger }

func (p promLogger) Println(v ...any) { p.log.Error().Msg(fmt.Sprint(v...)) }
