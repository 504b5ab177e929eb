package fscc

import (
	"bytes"
	"errors"
	"testing"
)

func TestEncodeUTF16(t *testing.T) {
	// 'a', U+20AC, U+1F600 (surrogate pair D83D DE00).
	got := EncodeUTF16([]byte{0xEE}, "a€😀")
	want := []byte{0xEE, 0x61, 0x00, 0xAC, 0x20, 0x3D, 0xD8, 0x00, 0xDE}
	if !bytes.Equal(got, want) {
		t.Fatalf("EncodeUTF16 = % x, want % x", got, want)
	}
	if n := utf16Len("a€😀"); n != 8 {
		t.Fatalf("utf16Len = %d, want 8", n)
	}
	// Invalid UTF-8 becomes U+FFFD.
	if got := EncodeUTF16(nil, "\xff"); !bytes.Equal(got, []byte{0xFD, 0xFF}) {
		t.Fatalf("invalid UTF-8 encoded as % x", got)
	}
}

func TestDecodeUTF16(t *testing.T) {
	s, err := DecodeUTF16([]byte{0x61, 0x00, 0xAC, 0x20, 0x3D, 0xD8, 0x00, 0xDE})
	if err != nil || s != "a€😀" {
		t.Fatalf("DecodeUTF16 = %q, %v", s, err)
	}
	bad := map[string][]byte{
		"odd length":        {0x61, 0x00, 0x62},
		"lone high at end":  {0x61, 0x00, 0x3D, 0xD8},
		"high then non-low": {0x3D, 0xD8, 0x61, 0x00},
		"high then high":    {0x3D, 0xD8, 0x3D, 0xD8},
		"lone low":          {0x00, 0xDE, 0x61, 0x00},
		"low before high":   {0x00, 0xDE, 0x3D, 0xD8},
	}
	for name, b := range bad {
		if _, err := DecodeUTF16(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	if s, err := DecodeUTF16(nil); err != nil || s != "" {
		t.Fatalf("empty: %q, %v", s, err)
	}
}
