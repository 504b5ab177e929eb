package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"sofs.io/sofs/smbserver"
	"sofs.io/sofs/smbserver/wire"
)

// smbMetrics turns the SMB server's per-request observations into
// Prometheus series: requests by command and status, latency by command,
// bytes in and out. Label lookups are resolved once per command (and once
// per command/status pair), so observing a request allocates nothing.
type smbMetrics struct {
	requests *prometheus.CounterVec
	latency  [wire.NumCommands]prometheus.Observer
	bytesIn  prometheus.Counter
	bytesOut prometheus.Counter

	// limited counts connections refused or closed by the SMB server's
	// hygiene limits, by reason.
	limited *prometheus.CounterVec

	mu       sync.RWMutex
	counters map[uint64]prometheus.Counter // command<<32 | status
}

func newSMBMetrics(reg *prometheus.Registry, srv func() *smbserver.Server) *smbMetrics {
	m := &smbMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sofs_smb_requests_total",
			Help: "SMB2 requests handled, by command and NTSTATUS.",
		}, []string{"command", "status"}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sofs_smb_request_bytes_total",
			Help: "Bytes of SMB2 request messages handled (after decryption).",
		}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sofs_smb_response_bytes_total",
			Help: "Bytes of SMB2 response messages produced (before signing or encryption).",
		}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sofs_smb_connections_limited_total",
			Help: "SMB connections refused or closed by a connection limit, by reason: unauthenticated_total, unauthenticated_per_client, logon_timeout, frame_timeout.",
		}, []string{"reason"}),
		counters: make(map[uint64]prometheus.Counter),
	}
	for _, r := range []string{smbserver.LimitUnauthenticated, smbserver.LimitUnauthenticatedPerClient, smbserver.LimitLogonTimeout, smbserver.LimitFrameTimeout} {
		m.limited.WithLabelValues(r) // exported at 0 from the start
	}
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "sofs_smb_request_duration_seconds",
		Help: "Time spent handling SMB2 requests, by command (async waits included).",
		// 50 µs to ~100 s: cached metadata answers up to break timeouts.
		Buckets: prometheus.ExponentialBuckets(50e-6, 4, 11),
	}, []string{"command"})
	for c := range m.latency {
		m.latency[c] = latency.WithLabelValues(wire.Command(c).String())
	}
	reg.MustRegister(m.requests, latency, m.bytesIn, m.bytesOut, m.limited)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sofs_smb_unauthenticated_connections",
		Help: "SMB connections on this node that have not completed a SESSION_SETUP yet.",
	}, func() float64 {
		if s := srv(); s != nil {
			return float64(s.UnauthenticatedConns())
		}
		return 0
	}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sofs_smb_sessions",
		Help: "Authenticated SMB sessions on this node.",
	}, func() float64 {
		if s := srv(); s != nil {
			return float64(len(s.Sessions()))
		}
		return 0
	}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sofs_smb_open_files",
		Help: "Open files (disk shares) on this node.",
	}, func() float64 {
		if s := srv(); s != nil {
			return float64(len(s.OpenFiles()))
		}
		return 0
	}))
	return m
}

// ConnLimited implements smbserver.ConnObserver.
func (m *smbMetrics) ConnLimited(reason string) { m.limited.WithLabelValues(reason).Inc() }

// ObserveRequest implements smbserver.RequestObserver.
func (m *smbMetrics) ObserveRequest(command uint16, status uint32, elapsed time.Duration, in, out int) {
	if int(command) < len(m.latency) {
		m.latency[command].Observe(elapsed.Seconds())
	}
	m.counter(command, status).Inc()
	m.bytesIn.Add(float64(in))
	m.bytesOut.Add(float64(out))
}

func (m *smbMetrics) counter(command uint16, status uint32) prometheus.Counter {
	key := uint64(command)<<32 | uint64(status)
	m.mu.RLock()
	c := m.counters[key]
	m.mu.RUnlock()
	if c != nil {
		return c
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c = m.counters[key]; c == nil {
		c = m.requests.WithLabelValues(wire.Command(command).String(), fmt.Sprintf("0x%08x", status))
		m.counters[key] = c
	}
	return c
}

// etcdDialOptions counts and times every etcd round trip the node's
// client makes (namespace, membership, later handle state), so an operator
// can see what the cluster costs and spot a slow etcd.
func etcdDialOptions(reg *prometheus.Registry) []grpc.DialOption {
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sofs_etcd_requests_total",
		Help: "etcd round trips (unary gRPC calls), by method and result.",
	}, []string{"method", "result"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sofs_etcd_request_duration_seconds",
		Help:    "etcd round-trip time, by method.",
		Buckets: prometheus.ExponentialBuckets(100e-6, 4, 9),
	}, []string{"method"})
	reg.MustRegister(calls, latency)
	unary := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		start := time.Now()
		err := invoker(ctx, method, req, reply, cc, opts...)
		latency.WithLabelValues(method).Observe(time.Since(start).Seconds())
		result := "ok"
		if err != nil {
			result = "error"
		}
		calls.WithLabelValues(method, result).Inc()
		return err
	}
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(unary)}
}

// openStateMetrics counts and times the node-to-node calls of the
// cluster open state and the breaks that cross nodes
// (clusterstate.Observer): what cluster-wide semantics cost.
type openStateMetrics struct {
	calls   *prometheus.CounterVec
	latency *prometheus.HistogramVec
	breaks  prometheus.Counter
}

func newOpenStateMetrics(reg *prometheus.Registry) *openStateMetrics {
	m := &openStateMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sofs_peer_requests_total",
			Help: "Calls this node made to other nodes' open-state service, by method and result.",
		}, []string{"method", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sofs_peer_request_duration_seconds",
			Help:    "Round-trip time of calls to other nodes' open-state service, by method.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 4, 9),
		}, []string{"method"}),
		breaks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sofs_cross_node_breaks_total",
			Help: "Oplock and lease breaks this node, as open-state coordinator, sent to another node's opens.",
		}),
	}
	reg.MustRegister(m.calls, m.latency, m.breaks)
	return m
}

// Call implements clusterstate.Observer.
func (m *openStateMetrics) Call(method string, d time.Duration, err error) {
	m.latency.WithLabelValues(method).Observe(d.Seconds())
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.calls.WithLabelValues(method, result).Inc()
}

// RemoteBreaks implements clusterstate.Observer.
func (m *openStateMetrics) RemoteBreaks(n int) { m.breaks.Add(float64(n)) }
