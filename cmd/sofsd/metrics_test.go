package main

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"sofs.io/sofs/smbserver"
	"sofs.io/sofs/smbserver/wire"
)

func TestSMBMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newSMBMetrics(reg, func() *smbserver.Server { return nil })
	m.ObserveRequest(uint16(wire.CmdRead), uint32(wire.StatusSuccess), 3*time.Millisecond, 49, 1<<20)
	m.ObserveRequest(uint16(wire.CmdRead), uint32(wire.StatusSuccess), time.Millisecond, 49, 100)
	m.ObserveRequest(uint16(wire.CmdCreate), uint32(wire.StatusObjectNameNotFound), time.Millisecond, 120, 73)
	if got := testutil.ToFloat64(m.requests.WithLabelValues("READ", "0x00000000")); got != 2 {
		t.Fatalf("READ successes = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("CREATE", "0xc0000034")); got != 1 {
		t.Fatalf("CREATE not-found = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.bytesOut); got != 1<<20+100+73 {
		t.Fatalf("bytes out = %v", got)
	}
	n, err := testutil.GatherAndCount(reg, "sofs_smb_request_duration_seconds", "sofs_smb_sessions", "sofs_smb_open_files")
	if err != nil || n < 3 {
		t.Fatalf("gathered %d series, err %v", n, err)
	}
	m.ConnLimited(smbserver.LimitLogonTimeout)
	m.ConnLimited(smbserver.LimitLogonTimeout)
	if got := testutil.ToFloat64(m.limited.WithLabelValues("logon_timeout")); got != 2 {
		t.Fatalf("logon_timeout = %v, want 2", got)
	}
	if n, err := testutil.GatherAndCount(reg, "sofs_smb_connections_limited_total", "sofs_smb_unauthenticated_connections"); err != nil || n != 5 {
		t.Fatalf("hygiene series: %d, err %v; want 4 reasons and the gauge", n, err)
	}
	if allocs := testing.AllocsPerRun(100, func() {
		m.ObserveRequest(uint16(wire.CmdRead), uint32(wire.StatusSuccess), time.Millisecond, 49, 4096)
	}); allocs != 0 {
		t.Fatalf("observing a request allocates %v times", allocs)
	}
}
