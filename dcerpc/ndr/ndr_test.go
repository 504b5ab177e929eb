package ndr

import (
	"bytes"
	"errors"
	"testing"
)

func TestStringRoundTripAndLayout(t *testing.T) {
	w := NewWriter()
	w.Uint8(0xAA) // misalign so that String must pad to 4
	w.String("IPC$")
	want := []byte{
		0xAA, 0, 0, 0, // octet, then padding to 4
		5, 0, 0, 0, // max count: 4 chars + NUL
		0, 0, 0, 0, // offset
		5, 0, 0, 0, // actual count
		'I', 0, 'P', 0, 'C', 0, '$', 0, 0, 0,
	}
	if !bytes.Equal(w.Bytes(), want) {
		t.Fatalf("encoding\n got %x\nwant %x", w.Bytes(), want)
	}
	r := NewReader(w.Bytes())
	if _, err := r.Uint8(); err != nil {
		t.Fatal(err)
	}
	s, err := r.String()
	if err != nil || s != "IPC$" {
		t.Fatalf("String() = %q, %v", s, err)
	}
	if r.Remaining() != 0 {
		t.Fatalf("%d bytes left", r.Remaining())
	}
}

func TestStringNonASCII(t *testing.T) {
	for _, s := range []string{"", "Ünïcödé", "emoji 😀 share"} {
		w := NewWriter()
		w.String(s)
		got, err := NewReader(w.Bytes()).String()
		if err != nil || got != s {
			t.Errorf("round trip %q: got %q, %v", s, got, err)
		}
	}
}

func TestStringRejects(t *testing.T) {
	le := func(v ...uint32) []byte {
		var b []byte
		for _, x := range v {
			b = append(b, byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
		}
		return b
	}
	cases := map[string]struct {
		b    []byte
		want error
	}{
		"huge actual count":  {le(0xFFFFFFFF, 0, 0xFFFFFFFF), ErrShort},
		"actual beyond max":  {append(le(1, 0, 2), 'a', 0, 0, 0), ErrInvalid},
		"nonzero offset":     {append(le(2, 1, 1), 0, 0), ErrInvalid},
		"no terminator":      {append(le(1, 0, 1), 'a', 0), ErrInvalid},
		"zero length":        {le(0, 0, 0), ErrInvalid},
		"truncated header":   {le(1, 0), ErrShort},
		"truncated contents": {append(le(3, 0, 3), 'a', 0), ErrShort},
	}
	for name, c := range cases {
		_, err := NewReader(c.b).String()
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", name, err, c.want)
		}
	}
}

func TestCountChecksRemaining(t *testing.T) {
	r := NewReader([]byte{3, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	if _, err := r.Count(4); !errors.Is(err, ErrShort) {
		t.Fatalf("3 elements of 4 bytes in 8: err = %v", err)
	}
	r = NewReader([]byte{2, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	if n, err := r.Count(4); err != nil || n != 2 {
		t.Fatalf("Count = %d, %v", n, err)
	}
}

func TestAlignmentAndPointers(t *testing.T) {
	w := NewWriter()
	w.Uint16(1)
	w.Pointer(true)
	w.Pointer(false)
	w.Pointer(true)
	want := []byte{1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 4, 0, 2, 0}
	if !bytes.Equal(w.Bytes(), want) {
		t.Fatalf("got %x want %x", w.Bytes(), want)
	}
	r := NewReader(w.Bytes())
	if v, err := r.Uint16(); err != nil || v != 1 {
		t.Fatal(v, err)
	}
	for _, want := range []bool{true, false, true} {
		if got, err := r.Pointer(); err != nil || got != want {
			t.Fatalf("Pointer = %v, %v; want %v", got, err, want)
		}
	}
	if _, err := r.Uint32(); !errors.Is(err, ErrShort) {
		t.Fatalf("read past end: %v", err)
	}
	r = NewReader([]byte{1, 2})
	if _, err := r.Uint8(); err != nil {
		t.Fatal(err)
	}
	if err := r.Align(4); !errors.Is(err, ErrShort) {
		t.Fatalf("Align past end: %v", err)
	}
}

func FuzzReader(f *testing.F) {
	w := NewWriter()
	w.Uint16(7)
	w.String("share")
	w.Pointer(true)
	f.Add(w.Bytes())
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(b)
		// Walk the buffer with every primitive until it runs out; the only
		// requirements are no panic and monotonic progress.
		for i := 0; i < len(b)+1; i++ {
			before := r.Offset()
			var err error
			switch i % 5 {
			case 0:
				_, err = r.String()
			case 1:
				_, err = r.Uint16()
			case 2:
				_, err = r.Count(2)
			case 3:
				_, err = r.Pointer()
			case 4:
				_, err = r.Uint8()
			}
			if r.Offset() < before || r.Offset() > len(b) {
				t.Fatalf("offset moved from %d to %d of %d", before, r.Offset(), len(b))
			}
			if err != nil && r.Remaining() == 0 {
				return
			}
		}
	})
}
