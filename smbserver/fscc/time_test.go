package fscc

import (
	"math"
	"testing"
	"time"
)

func TestFileTimeVectors(t *testing.T) {
	cases := []struct {
		t  time.Time
		ft uint64
	}{
		// The Unix epoch is 11644473600 s after 1601-01-01 ([MS-DTYP] 2.3.3).
		{time.Unix(0, 0), 116444736000000000},
		{time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), 125911584000000000},
		{time.Date(1601, 1, 1, 0, 0, 0, 100, time.UTC), 1},
		{time.Date(2026, 11, 22, 5, 0, 0, 123456700, time.UTC), 134397972001234567},
	}
	for _, c := range cases {
		if got := FileTime(c.t); got != c.ft {
			t.Errorf("FileTime(%v) = %d, want %d", c.t, got, c.ft)
		}
		if got := TimeOf(c.ft); !got.Equal(c.t) {
			t.Errorf("TimeOf(%d) = %v, want %v", c.ft, got, c.t)
		}
	}
}

func TestFileTimeEdges(t *testing.T) {
	if FileTime(time.Time{}) != 0 {
		t.Error("zero time must map to 0")
	}
	if !TimeOf(0).IsZero() {
		t.Error("0 must map to the zero time")
	}
	if got := FileTime(time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)); got != 0 {
		t.Errorf("time before 1601 = %d, want 0", got)
	}
	if got := FileTime(time.Date(100000, 1, 1, 0, 0, 0, 0, time.UTC)); got != math.MaxInt64 {
		t.Errorf("far future = %d, want MaxInt64", got)
	}
	if got := TimeOf(math.MaxUint64); got.IsZero() {
		t.Error("TimeOf(max) must not be zero")
	}
}

func TestFileTimeRoundTrip(t *testing.T) {
	// Deterministic spread of instants, including sub-100ns parts that
	// must be truncated.
	for i := int64(0); i < 1000; i++ {
		in := time.Unix(i*300000007-10000000000, i*7919%1000000000).UTC()
		want := in.Truncate(100 * time.Nanosecond)
		if got := TimeOf(FileTime(in)); !got.Equal(want) {
			t.Fatalf("round trip of %v = %v, want %v", in, got, want)
		}
	}
}
