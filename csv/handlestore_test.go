package csv

import (
	"context"
	"testing"
)

func TestMemoryHandleStore(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryHandleStore()
	for _, r := range []HandleRecord{{Persistent: 2, Owner: "a"}, {Persistent: 1, Owner: "a", Path: "x"}, {Persistent: 1, Owner: "b"}} {
		if err := s.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, HandleRecord{Persistent: 1, Owner: "a", Path: "y"}); err != nil {
		t.Fatal(err)
	}
	recs, _ := s.List(ctx, "a")
	if len(recs) != 2 || recs[0].Persistent != 1 || recs[0].Path != "y" || recs[1].Persistent != 2 {
		t.Fatalf("List(a) = %+v", recs)
	}
	for _, d := range []struct {
		owner string
		id    uint64
	}{{"a", 1}, {"a", 2}, {"b", 1}, {"b", 9}} {
		if err := s.Delete(ctx, d.owner, d.id); err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() != 0 {
		t.Fatalf("%d records left", s.Len())
	}
}
