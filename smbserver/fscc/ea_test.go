package fscc

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestFullEARoundTrip(t *testing.T) {
	eas := []EA{
		{Name: "EAONE", Value: []byte("VALUE1")},
		{Flags: FileNeedEA, Name: "SECONDEA", Value: []byte("ValueTwo")},
		{Name: "X", Value: nil},
	}
	b, err := AppendFullEA([]byte{0xAA}, eas)
	if err != nil {
		t.Fatal(err)
	}
	// [MS-FSCC] 2.4.15: entry 1 is 8+5+1+6 = 20 bytes (already
	// aligned), entry 2 is 8+8+1+8 = 25 padded to 28, entry 3 is 10 bytes
	// and unpadded.
	w := newLayout(20 + 28 + 10)
	w.u32(0, 20)
	w.u8(5, 5)
	w.u16(6, 6)
	copy(w[8:], "EAONE\x00VALUE1")
	w.u32(20, 28)
	w.u8(24, FileNeedEA)
	w.u8(25, 8)
	w.u16(26, 8)
	copy(w[28:], "SECONDEA\x00ValueTwo")
	w.u8(48+5, 1)
	copy(w[56:], "X\x00")
	wantBytes(t, "full EA", b[1:], w)

	got, err := DecodeFullEA(b[1:])
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i].Flags != eas[i].Flags || got[i].Name != eas[i].Name || !bytes.Equal(got[i].Value, eas[i].Value) {
			t.Fatalf("entry %d: %+v want %+v", i, got[i], eas[i])
		}
	}
}

func TestDecodeFullEAErrors(t *testing.T) {
	one := func(next uint32, nameLen uint8, valueLen uint16, body string) []byte {
		l := newLayout(8)
		l.u32(0, next)
		l.u8(5, nameLen)
		l.u16(6, valueLen)
		return append(l, body...)
	}
	good := one(0, 1, 1, "A\x00v")
	if _, err := DecodeFullEA(good); err != nil {
		t.Fatalf("good: %v", err)
	}
	bad := map[string][]byte{
		"empty":             nil,
		"header only":       one(0, 1, 0, "")[:8],
		"empty name":        one(0, 0, 0, "\x00\x00"),
		"name beyond":       one(0, 10, 0, "AB\x00"),
		"value beyond":      one(0, 1, 100, "A\x00v"),
		"no terminator":     one(0, 1, 1, "ABv"),
		"NUL in name":       one(0, 2, 0, "A\x00\x00"),
		"next inside entry": append(one(8, 1, 1, "A\x00v\x00"), good...),
		"next misaligned":   append(one(13, 1, 1, "A\x00v\x00\x00"), good...),
		"next beyond":       append(one(64, 1, 1, "A\x00v\x00"), good...),
		"next to garbage":   append(one(12, 1, 1, "A\x00v\x00"), 1, 2, 3),
	}
	for what, b := range bad {
		if got, err := DecodeFullEA(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, %v; want ErrMalformed", what, got, err)
		}
	}
}

func TestAppendFullEAErrors(t *testing.T) {
	long := string(bytes.Repeat([]byte{'n'}, 256))
	for what, ea := range map[string]EA{
		"empty name": {},
		"long name":  {Name: long},
		"NUL name":   {Name: "a\x00b"},
		"long value": {Name: "v", Value: make([]byte, 0x10000)},
	} {
		b, err := AppendFullEA([]byte{1}, []EA{{Name: "ok"}, ea})
		if !errors.Is(err, ErrMalformed) || !reflect.DeepEqual(b, []byte{1}) {
			t.Errorf("%s: %v, % x", what, err, b)
		}
	}
}
