package etcdnode

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/internal/testport"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"127.0.0.1:2379", "http://127.0.0.1:2379"},
		{"http://127.0.0.1:2379", "http://127.0.0.1:2379"},
		{"https://node1:2380", "https://node1:2380"},
		{"[::1]:2379", "http://[::1]:2379"},
		{"", ""},
		{"ftp://x:1", ""},
		{"http://", ""},
		{"http://x:1/path", ""},
	} {
		u, err := ParseURL(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ParseURL(%q) = %v, want error", tc.in, u)
			}
			continue
		}
		if err != nil || u.String() != tc.want {
			t.Errorf("ParseURL(%q) = %v, %v; want %s", tc.in, u, err, tc.want)
		}
	}
}

// TestRestartKeepsData stops the member and starts it again from the same
// directory: what was written must still be there.
func TestRestartKeepsData(t *testing.T) {
	cfg := Config{
		Dir: t.TempDir() + "/etcd", ClientURL: testport.Loopback(t), PeerURL: testport.Loopback(t),
		Logger:       zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		ReadyTimeout: 20 * time.Second,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Client().Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n, err = Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	resp, err := n.Client().Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("after restart: %v", resp.Kvs)
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	ctx := t.Context()
	if _, err := Start(ctx, Config{}); err == nil {
		t.Error("empty Dir accepted")
	}
	if _, err := Start(ctx, Config{Dir: t.TempDir(), ClientURL: "ftp://x:1"}); err == nil {
		t.Error("bad client URL accepted")
	}
}
