package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestDebugEndpointServesProfiles: the endpoint answers pprof's index and
// stops listening when stopped.
func TestDebugEndpointServesProfiles(t *testing.T) {
	c, err := parseConfig([]string{"--data=/d", "--debug-listen=127.0.0.1:0"}, envOf(nil), host)
	if err != nil || c.DebugListen != "127.0.0.1:0" {
		t.Fatalf("parseConfig: %+v, %v", c.DebugListen, err)
	}
	stop, addr, err := startDebugAddr(context.Background(), c.DebugListen, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Timeout: 10 * time.Second}
	resp, err := cl.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Fatalf("status %d, body %.200q", resp.StatusCode, body)
	}
	stop()
	if _, err := cl.Get("http://" + addr + "/debug/pprof/"); err == nil {
		t.Fatal("debug endpoint still answers after stop")
	}
}
