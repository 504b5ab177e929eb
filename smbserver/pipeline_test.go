package smbserver

import (
	"io"
	"testing"

	"sofs.io/sofs/smbserver/wire"
)

// pipelineFixture opens f.txt on a fuzzConn and returns READ and WRITE
// request frames of size bytes on it.
func pipelineFixture(t testing.TB, size int) (c *conn, read, write []byte, done func()) {
	c, done = fuzzConn(t, io.Discard)
	var sid uint64
	for id := range c.srv.sessions.m {
		sid = id
	}
	cr := wire.CreateRequest{DesiredAccess: 0x12019F, CreateDisposition: 3, Name: "f.txt", ImpersonationLevel: 2}
	msg := buildMessage(wire.CmdCreate, 1, sid, 1, 0, cr.AppendTo(make([]byte, wire.HeaderSize))[wire.HeaderSize:])
	if err := c.handleFrame(msg); err != nil {
		t.Fatal(err)
	}
	fid := wire.FileID{Persistent: 1, Volatile: 1}
	if c.srv.opens.get(1) == nil {
		t.Fatal("no open")
	}
	wr := wire.WriteRequest{DataOffset: wire.HeaderSize + 48, FileID: fid, Data: make([]byte, size)}
	write = buildMessage(wire.CmdWrite, 2, sid, 1, 0, wr.AppendTo(make([]byte, wire.HeaderSize))[wire.HeaderSize:])
	if err := c.handleFrame(write); err != nil {
		t.Fatal(err)
	}
	rd := wire.ReadRequest{Length: uint32(size), FileID: fid}
	read = buildMessage(wire.CmdRead, 3, sid, 1, 0, rd.AppendTo(make([]byte, wire.HeaderSize))[wire.HeaderSize:])
	return c, read, write, done
}

// runFrame sends frame again with the next MessageId (the credit window
// accepts each id once).
func runFrame(tb testing.TB, c *conn, frame []byte, mid *uint64) {
	*mid++
	putMID(frame, *mid)
	if err := c.handleFrame(frame); err != nil {
		tb.Fatal(err)
	}
}

func putMID(frame []byte, mid uint64) {
	for i := 0; i < 8; i++ {
		frame[wire.OffMessageID+i] = byte(mid >> (8 * i))
	}
}

// TestReadWriteAllocs drives READ and WRITE requests through the whole
// pipeline (decode, validation, credits, tracking, handler, response
// header, send) and checks the steady state allocates nothing per request,
// in smbserver or below it in csv (a WRITE's read-caching break check
// takes a no-allocation path when no other open caches reads).
func TestReadWriteAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	c, read, write, done := pipelineFixture(t, 4096)
	defer done()
	mid := uint64(3)
	for _, tc := range []struct {
		name  string
		frame []byte
		want  float64
	}{{"READ", read, 0}, {"WRITE", write, 0}} {
		n := testing.AllocsPerRun(200, func() { runFrame(t, c, tc.frame, &mid) })
		if n != tc.want {
			t.Errorf("%s: %v allocations per request, want %v", tc.name, n, tc.want)
		}
	}
}

func benchPipeline(b *testing.B, write bool) {
	for _, size := range []int{4 << 10, 64 << 10} {
		b.Run(sizeName(size), func(b *testing.B) {
			c, read, wr, done := pipelineFixture(b, size)
			defer done()
			frame := read
			if write {
				frame = wr
			}
			mid := uint64(3)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				runFrame(b, c, frame, &mid)
			}
		})
	}
}

func sizeName(n int) string { return itoa(n>>10) + "KiB" }

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// BenchmarkReadPipeline and BenchmarkWritePipeline measure one request
// through handleFrame (run with -benchmem).
func BenchmarkReadPipeline(b *testing.B)  { benchPipeline(b, false) }
func BenchmarkWritePipeline(b *testing.B) { benchPipeline(b, true) }
