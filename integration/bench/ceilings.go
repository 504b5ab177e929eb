package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Ceilings measures what the machine can do without SMB, for context:
// loopback TCP throughput between a Go sender and receiver (1 and streams
// connections, 1 MiB writes) and memory copy bandwidth. addr is the
// loopback address the receiver listens on (host:port).
func Ceilings(ctx context.Context, addr string, streams int, d time.Duration) ([]Result, error) {
	var out []Result
	for _, n := range []int{1, streams} {
		r, err := loopbackTCP(ctx, addr, n, d)
		if err != nil {
			return out, err
		}
		out = append(out, r)
		if streams == 1 {
			break
		}
	}
	for _, size := range []int{1 << 20, 64 << 20} {
		out = append(out, memcpy(size, d))
	}
	return out, nil
}

func loopbackTCP(ctx context.Context, addr string, streams int, d time.Duration) (Result, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return Result{}, fmt.Errorf("bench: ceiling listener: %w", err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total int64
	for range streams {
		wg.Go(func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			n, _ := io.CopyBuffer(io.Discard, c, make([]byte, 1<<20))
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(d)
	start := time.Now()
	var swg sync.WaitGroup
	errs := make([]error, streams)
	for i := range streams {
		swg.Go(func() {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if _, err := c.Write(buf); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	swg.Wait()
	wg.Wait()
	el := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return Result{}, fmt.Errorf("bench: ceiling sender: %w", err)
	}
	return Result{Name: fmt.Sprintf("ceiling-loopback-tcp-%dconn", streams), Unit: "MiB/s", Bytes: total, Seconds: el.Seconds(),
		Value: float64(total) / (1 << 20) / el.Seconds(), Note: "Go sender -> receiver over 127.0.0.1, 1 MiB writes, no SMB"}, nil
}

// memcpy copies a size-byte buffer into another repeatedly for d.
func memcpy(size int, d time.Duration) Result {
	src, dst := make([]byte, size), make([]byte, size)
	for i := range src {
		src[i] = byte(i)
	}
	copy(dst, src) // fault the pages in
	var n int64
	start := time.Now()
	for time.Since(start) < d {
		for range max(1, (64<<20)/size) {
			copy(dst, src)
			n += int64(size)
		}
	}
	el := time.Since(start)
	return Result{Name: fmt.Sprintf("ceiling-memcpy-%dMiB", size>>20), Unit: "MiB/s", Bytes: n, Seconds: el.Seconds(),
		Value: float64(n) / (1 << 20) / el.Seconds(), Note: "Go copy() of one buffer into another, one core"}
}
