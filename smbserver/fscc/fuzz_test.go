package fscc

import (
	"bytes"
	"errors"
	"testing"
	"unicode"
)

// checkErr fails the fuzz run when a decoder returns an error that does
// not wrap ErrMalformed: callers map errors by kind.
func checkErr(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrMalformed) {
		t.Fatalf("error %v does not wrap ErrMalformed", err)
	}
}

func FuzzDecodeBasicInfo(f *testing.F) {
	l := newLayout(40)
	l.u64(0, 0x01D0000000000001)
	l.u32(32, FileAttributeHidden)
	f.Add([]byte(l))
	f.Add([]byte(l[:39]))
	f.Fuzz(func(t *testing.T, b []byte) {
		bi, err := DecodeBasicInfo(b)
		checkErr(t, err)
		if err == nil && (len(b) < 40 || bi.FileAttributes != le.Uint32(b[32:])) {
			t.Fatalf("accepted %d bytes as %+v", len(b), bi)
		}
	})
}

func FuzzDecodeRenameInfo(f *testing.F) {
	name := EncodeUTF16(nil, `dir\new.txt`)
	f.Add(renameBuf(1, 0, uint32(len(name)), name), false)
	f.Add(renameBuf(0x43, 0, uint32(len(name)), name), true)
	f.Add(renameBuf(0, 0, 4, []byte{0x3D, 0xD8, 0x00, 0xDE}), false)
	f.Add(renameBuf(0, 0, 0xFFFFFFFE, name), true)
	f.Fuzz(func(t *testing.T, b []byte, ex bool) {
		ri, err := DecodeRenameInfo(b, ex)
		checkErr(t, err)
		if err != nil {
			return
		}
		// The name must re-encode to exactly the bytes it came from.
		n := int(le.Uint32(b[16:]))
		if got := EncodeUTF16(nil, ri.FileName); !bytes.Equal(got, b[20:20+n]) {
			t.Fatalf("name %q re-encodes to % x, sent % x", ri.FileName, got, b[20:20+n])
		}
	})
}

func FuzzDecodeDispositionInfo(f *testing.F) {
	f.Add([]byte{1}, false)
	f.Add([]byte{0x19, 0, 0, 0}, true)
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, b []byte, ex bool) {
		di, err := DecodeDispositionInfo(b, ex)
		checkErr(t, err)
		if err == nil && di.Delete != (di.Flags&DispositionDelete != 0) {
			t.Fatalf("Delete and Flags disagree: %+v", di)
		}
	})
}

func FuzzDecodeScalars(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, fn := range []func([]byte) (int64, error){DecodeEndOfFile, DecodeAllocation, DecodePosition, DecodeValidDataLength} {
			_, err := fn(b)
			checkErr(t, err)
			if (err == nil) != (len(b) >= 8) {
				t.Fatalf("%d bytes: err %v", len(b), err)
			}
		}
		_, err := DecodeMode(b)
		checkErr(t, err)
	})
}

func FuzzDecodeFullEA(f *testing.F) {
	seed, _ := AppendFullEA(nil, []EA{{Name: "EAONE", Value: []byte("VALUE1")}, {Flags: FileNeedEA, Name: "SECONDEA", Value: []byte("ValueTwo")}})
	f.Add(seed)
	f.Add([]byte{0, 0, 0, 0, 0, 1, 1, 0, 'A', 0, 'v'})
	f.Add([]byte{12, 0, 0, 0, 0, 1, 0, 0, 'A', 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		eas, err := DecodeFullEA(b)
		checkErr(t, err)
		if err != nil {
			return
		}
		if len(eas) > len(b)/8+1 {
			t.Fatalf("%d entries from %d bytes", len(eas), len(b))
		}
		// decode -> encode -> decode is stable.
		enc, err := AppendFullEA(nil, eas)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := DecodeFullEA(enc)
		if err != nil || len(again) != len(eas) {
			t.Fatalf("re-decode: %d entries, %v", len(again), err)
		}
		for i := range eas {
			if again[i].Flags != eas[i].Flags || again[i].Name != eas[i].Name || !bytes.Equal(again[i].Value, eas[i].Value) {
				t.Fatalf("entry %d changed: %+v -> %+v", i, eas[i], again[i])
			}
		}
	})
}

func FuzzDecodeUTF16(f *testing.F) {
	f.Add(EncodeUTF16(nil, "a€😀"))
	f.Add([]byte{0x3D, 0xD8})
	f.Add([]byte{0x61})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeUTF16(b)
		checkErr(t, err)
		if err == nil && !bytes.Equal(EncodeUTF16(nil, s), b) {
			t.Fatalf("% x decodes to %q which does not re-encode", b, s)
		}
	})
}

func FuzzMatch(f *testing.F) {
	for _, c := range matchCases {
		f.Add(c.pattern, c.name)
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		got := Match(pattern, name)
		if smallEnough(pattern, name) {
			if want := refMatch(pattern, name); got != want {
				t.Fatalf("Match(%q, %q) = %v, reference %v", pattern, name, got, want)
			}
		}
		if !HasWildcards(pattern) && pattern != "" && name != "" {
			// Without wildcards matching is case-insensitive equality.
			pr, nr := []rune(pattern), []rune(name)
			want := len(pr) == len(nr)
			for i := 0; want && i < len(pr); i++ {
				want = unicode.ToUpper(pr[i]) == unicode.ToUpper(nr[i])
			}
			if got != want {
				t.Fatalf("literal pattern %q vs %q: %v", pattern, name, got)
			}
		}
	})
}

func FuzzDirWriter(f *testing.F) {
	f.Add(uint8(FileIdBothDirectoryInformation), 200, "a.txt", "A~1.TXT", "b")
	f.Add(uint8(FileNamesInformation), 30, "", "", "long name here")
	f.Fuzz(func(t *testing.T, class uint8, max int, n1, short, n2 string) {
		w, err := NewDirWriter(class, max, nil)
		if err != nil {
			return
		}
		w.Add(&Info{Name: n1, ShortName: short}, 1)
		w.Add(&Info{Name: n2}, 2)
		if len(w.Bytes()) > max && w.Len() > 0 {
			t.Fatalf("%d bytes exceed the limit %d", len(w.Bytes()), max)
		}
		// Walk the chain: it must stay inside the buffer.
		b, off := w.Bytes(), 0
		for i := 0; i < w.Len(); i++ {
			next := int(le.Uint32(b[off:]))
			if next == 0 {
				if i != w.Len()-1 {
					t.Fatalf("chain ends at entry %d of %d", i, w.Len())
				}
				break
			}
			if next%8 != 0 || off+next >= len(b) {
				t.Fatalf("bad NextEntryOffset %d at %d", next, off)
			}
			off += next
		}
	})
}
