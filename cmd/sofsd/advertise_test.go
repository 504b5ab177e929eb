package main

import (
	"net"
	"testing"
)

// TestAdvertiseIPv6 checks that advertise takes IPv4 and IPv6 addresses,
// bare or with a port, refuses wildcards and names, and that the recorded
// SMB address of a bare IPv6 address is bracketed with the listener's
// port, which the witness then lists as an IPv6 interface.
func TestAdvertiseIPv6(t *testing.T) {
	for _, ok := range []string{"10.0.0.1", "10.0.0.1:445", "::1", "[::1]:445", "fd00::5"} {
		if err := checkAdvertise(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "::", "0.0.0.0", "[::]:445", "sofs1", "[::1]:0", "::1:445x"} {
		if err := checkAdvertise(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	ln := &net.TCPAddr{IP: net.IPv6unspecified, Port: 4450}
	for in, want := range map[string]string{"::1": "[::1]:4450", "[::1]:445": "[::1]:445", "10.0.0.1": "10.0.0.1:4450"} {
		if got := advertisedAddr(in, ln); got != want {
			t.Errorf("advertisedAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
