package fastclient

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"sofs.io/sofs/smbserver/wire"
)

// tamperProxy forwards one client connection to server and flips one byte
// near the end of every server frame of at least minFrame bytes (a large
// READ response, signed or sealed). It returns the address to dial.
func tamperProxy(t *testing.T, server string, minFrame int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		cc, err := ln.Accept()
		if err != nil {
			return
		}
		sc, err := net.Dial("tcp", server)
		if err != nil {
			cc.Close()
			return
		}
		// Either side ending ends both copies.
		wg.Go(func() { _, _ = io.Copy(sc, cc); sc.Close(); cc.Close() })
		defer cc.Close()
		defer sc.Close()
		var n [4]byte
		for {
			if _, err := io.ReadFull(sc, n[:]); err != nil {
				return
			}
			frame := make([]byte, binary.BigEndian.Uint32(n[:]))
			if _, err := io.ReadFull(sc, frame); err != nil {
				return
			}
			if len(frame) >= minFrame {
				frame[len(frame)-7] ^= 0x20
			}
			if _, err := cc.Write(append(n[:], frame...)); err != nil {
				return
			}
		}
	})
	return ln.Addr().String()
}

// TestTamperedResponseRejected: a READ response changed in flight fails
// the read, signed or sealed (signatures are checked on the caller's
// goroutine, not the reader's, so this guards that hand-off).
func TestTamperedResponseRejected(t *testing.T) {
	addr := startSofs(t, false)
	for _, m := range []mode{
		{name: "signing-gmac", share: "share", cfg: Config{RequireSigning: true}},
		{name: "signing-cmac", share: "share", cfg: Config{RequireSigning: true, SigningAlgorithms: []uint16{wire.SigningAESCMAC}}},
		{name: "encrypt-all", share: "share", cfg: Config{EncryptAll: true}},
	} {
		t.Run(m.name, func(t *testing.T) {
			const size = 256 << 10
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			m.cfg.User, m.cfg.Password = "test", "test123"
			c, err := Dial(ctx, tamperProxy(t, addr, size), m.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			tr, err := c.Mount(m.share)
			if err != nil {
				t.Fatal(err)
			}
			f, err := tr.Open("tamper-"+m.name, OpenSpec{Access: wire.GenericRead | wire.GenericWrite, Disposition: FileOverwriteIf})
			if err != nil {
				t.Fatal(err)
			}
			data := fill(9, size)
			if _, err := f.WriteAt(data, 0); err != nil {
				t.Fatal(err)
			}
			// Small reads pass through untouched: the proxy is transparent.
			if n, err := f.ReadAt(make([]byte, 4096), 0); err != nil || n != 4096 {
				t.Fatalf("untampered read: %d %v", n, err)
			}
			_, err = f.ReadAt(make([]byte, size), 0)
			if err == nil {
				t.Fatal("tampered READ response accepted")
			}
			var re *ResponseError
			if errors.As(err, &re) {
				t.Fatalf("tampered response read as a status: %v", err)
			}
			if !strings.Contains(err.Error(), "signature does not verify") && !strings.Contains(err.Error(), "decrypt") {
				t.Fatalf("tampered READ: %v", err)
			}
		})
	}
}
