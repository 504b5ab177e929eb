package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/namespace/etcdnode"
)

// TestWitnessHealth checks the witness's two endpoints; a Node without a
// member never has a leader, so it is alive but not ready.
func TestWitnessHealth(t *testing.T) {
	h := witnessHealth(&etcdnode.Node{})
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/readyz": http.StatusServiceUnavailable, "/api/v1/nodes": http.StatusNotFound} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("GET %s = %d, want %d", path, rec.Code, want)
		}
	}
}

// TestFencingListener: while fenced, a new connection is closed at once;
// unfenced, it is handed to the server.
func TestFencingListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fenced := new(atomic.Bool)
	fenced.Store(true)
	fl := fencingListener{Listener: ln, log: zerolog.Nop(), admit: func() error {
		if fenced.Load() {
			return errNotRegistered
		}
		return nil
	}}
	defer fl.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := fl.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c1, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c1.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c1.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("fenced: read %d, %v; want EOF", n, err)
	}
	fenced.Store(false)
	c2, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("unfenced connection not accepted")
	}
}
