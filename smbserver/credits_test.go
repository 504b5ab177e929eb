package smbserver

import "testing"

func TestCreditWindow(t *testing.T) {
	w := newCreditWindow(16)
	if err := w.consume(0, 1); err != nil {
		t.Fatalf("first id: %v", err)
	}
	if err := w.consume(0, 1); err == nil {
		t.Fatal("reused id 0 accepted")
	}
	if err := w.consume(1, 1); err == nil {
		t.Fatal("ungranted id 1 accepted")
	}
	if g := w.grant(10); g != 10 {
		t.Fatalf("granted %d, want 10", g)
	}
	// ids 1..10 now valid; consume out of order and multi-credit.
	if err := w.consume(5, 3); err != nil {
		t.Fatalf("multi-credit: %v", err)
	}
	if err := w.consume(6, 1); err == nil {
		t.Fatal("id inside a consumed multi-credit range accepted")
	}
	if err := w.consume(9, 3); err == nil {
		t.Fatal("range past the window accepted")
	}
	for _, id := range []uint64{1, 2, 3, 4, 8, 9, 10} {
		if err := w.consume(id, 1); err != nil {
			t.Fatalf("id %d: %v", id, err)
		}
	}
	if w.outstanding() != 0 {
		t.Fatalf("outstanding %d, want 0", w.outstanding())
	}
	// The window never exceeds max, and an empty window always gets one.
	if g := w.grant(100); g != 16 {
		t.Fatalf("granted %d, want cap 16", g)
	}
	if g := w.grant(5); g != 0 {
		t.Fatalf("granted %d beyond cap", g)
	}
	if err := w.consume(1<<63, 2); err == nil {
		t.Fatal("huge id accepted")
	}
}
