package fscc

import (
	"slices"
	"testing"
)

func getEA(names ...string) []byte {
	var b []byte
	for i, n := range names {
		size := getEAHeader + len(n) + 1
		next := 0
		if i < len(names)-1 {
			next = (size + 3) &^ 3
		}
		b = le.AppendUint32(b, uint32(next))
		b = append(b, byte(len(n)))
		b = append(b, n...)
		b = append(b, 0)
		for j := size; j < next; j++ {
			b = append(b, 0)
		}
	}
	return b
}

func TestDecodeGetEA(t *testing.T) {
	names, err := DecodeGetEA(getEA("ONE", "second.ea"))
	if err != nil || !slices.Equal(names, []string{"ONE", "second.ea"}) {
		t.Fatalf("DecodeGetEA = %q, %v", names, err)
	}
	for name, b := range map[string][]byte{
		"empty":          nil,
		"no NUL":         {0, 0, 0, 0, 2, 'A', 'B'},
		"empty name":     {0, 0, 0, 0, 0, 0, 0},
		"name overruns":  {0, 0, 0, 0, 9, 'A', 0},
		"next backwards": {2, 0, 0, 0, 1, 'A', 0},
		"next past end":  {64, 0, 0, 0, 1, 'A', 0},
	} {
		if _, err := DecodeGetEA(b); err == nil {
			t.Errorf("%s: accepted % x", name, b)
		}
	}
}

func TestValidEAName(t *testing.T) {
	for _, n := range []string{"A", "user.ea", "EA NAME", "x-1_2~3"} {
		if !ValidEAName(n) {
			t.Errorf("%q refused", n)
		}
	}
	for _, n := range []string{"", "a*b", "a:b", "a/b", "a\\b", "a\x01", "é", string(make([]byte, 256))} {
		if ValidEAName(n) {
			t.Errorf("%q accepted", n)
		}
	}
}

func TestAppendStreamInformation(t *testing.T) {
	streams := []Stream{{Size: 10, AllocationSize: 4096}, {Name: "Zone.Identifier", Size: 26, AllocationSize: 32}}
	b, over := AppendStreamInformation(nil, streams, 0)
	if over {
		t.Fatal("overflow without a limit")
	}
	// Entry 1: 24 + 14 ("::$DATA") = 38, padded to 40.
	if le.Uint32(b[0:]) != 40 || le.Uint32(b[4:]) != 14 || le.Uint64(b[8:]) != 10 || le.Uint64(b[16:]) != 4096 {
		t.Fatalf("first entry % x", b[:40])
	}
	if got, _ := DecodeUTF16(b[24:38]); got != "::$DATA" {
		t.Fatalf("first name %q", got)
	}
	second := b[40:]
	name := ":Zone.Identifier:$DATA"
	if le.Uint32(second[0:]) != 0 || int(le.Uint32(second[4:])) != 2*len(name) || len(second) != 24+2*len(name) {
		t.Fatalf("second entry % x", second)
	}
	if got, _ := DecodeUTF16(second[24:]); got != name {
		t.Fatalf("second name %q", got)
	}
	// A limit keeps whole entries only.
	b, over = AppendStreamInformation(nil, streams, 60)
	if !over || len(b) != 38 || le.Uint32(b) != 0 {
		t.Fatalf("limited: %d bytes, overflow %v", len(b), over)
	}
	if b, _ := AppendStreamInformation(nil, nil, 0); len(b) != 0 {
		t.Fatalf("empty list encodes to %d bytes", len(b))
	}
}

func FuzzDecodeGetEA(f *testing.F) {
	f.Add(getEA("ONE", "second.ea"))
	f.Add(getEA("X"))
	f.Add([]byte{4, 0, 0, 0, 1, 'A', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		names, err := DecodeGetEA(b)
		checkErr(t, err)
		if err != nil {
			return
		}
		if len(names) > len(b)/(getEAHeader+2) {
			t.Fatalf("%d names from %d bytes", len(names), len(b))
		}
		for _, n := range names {
			if n == "" || len(n) > 255 {
				t.Fatalf("name %q accepted", n)
			}
		}
	})
}
