package csv

import (
	"bytes"
	"testing"
	"time"
)

func TestMetaRoundTrip(t *testing.T) {
	created := time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)
	var buf [metaSize]byte
	b := encodeMeta(&buf, meta{attrs: AttrHidden | AttrReadonly | AttrDirectory, created: created, hasCreated: true})
	want := []byte{1, 1, 0, 0, 0x03, 0, 0, 0}
	if !bytes.Equal(b[:8], want) {
		t.Fatalf("header % x, want % x (DIRECTORY must not be stored)", b[:8], want)
	}
	m, ok := decodeMeta(b)
	if !ok || !m.hasCreated || !m.created.Equal(created) || m.attrs != AttrHidden|AttrReadonly {
		t.Fatalf("decode = %+v %v", m, ok)
	}
	// A later version with a longer record still yields the v1 prefix.
	longer := append(append([]byte{}, b...), 9, 9, 9)
	longer[0] = 2
	if m2, ok := decodeMeta(longer); !ok || m2.attrs != m.attrs {
		t.Fatalf("v2 record: %+v %v", m2, ok)
	}
	for _, bad := range [][]byte{nil, {1}, b[:15], append([]byte{0}, b[1:]...)} {
		if _, ok := decodeMeta(bad); ok {
			t.Errorf("decodeMeta(% x) accepted", bad)
		}
	}
}

func FuzzDecodeMeta(f *testing.F) {
	var buf [metaSize]byte
	f.Add(encodeMeta(&buf, meta{attrs: AttrArchive, created: time.Unix(1e9, 5), hasCreated: true}))
	f.Add([]byte{})
	f.Add([]byte{2, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, ok := decodeMeta(b)
		if !ok {
			return
		}
		if m.attrs&^persistedAttrs != 0 {
			t.Fatalf("decoded attrs %#x outside the persisted set", m.attrs)
		}
		// Re-encoding and decoding is stable.
		var out [metaSize]byte
		m2, ok := decodeMeta(encodeMeta(&out, m))
		if !ok || m2.attrs != m.attrs || m2.hasCreated != m.hasCreated || !m2.created.Equal(m.created) {
			t.Fatalf("round trip %+v -> %+v", m, m2)
		}
	})
}
