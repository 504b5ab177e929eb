package namespace

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"sofs.io/sofs/namespace/clustertls"
)

// TestJoinTokens: a token is stored as its hash, consumed once, refused
// when reused, expired or guessed, and one of two racing joins wins.
func TestJoinTokens(t *testing.T) {
	s := NewStore(startEtcd(t))
	ctx := testCtx(t)
	t0 := time.Now().UTC()
	s.now = func() time.Time { return t0 }
	tok, err := clustertls.NewJoinToken([32]byte{1})
	if err != nil {
		t.Fatal(err)
	}
	exp, err := s.CreateJoinToken(ctx, tok, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(t0.Add(10 * time.Minute)) {
		t.Fatalf("expiry %v, want %v", exp, t0.Add(10*time.Minute))
	}
	resp, err := s.Client().Get(ctx, s.joinTokenKey(tok.ID))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("raw get: %v", err)
	}
	if raw := string(resp.Kvs[0].Value); strings.Contains(raw, tok.String()) || !strings.Contains(raw, tok.SecretHash()) ||
		strings.Contains(raw, tok.String()[19:51]) {
		t.Fatalf("stored record holds the secret or not its hash: %s", raw)
	}
	if resp.Kvs[0].Lease == 0 {
		t.Fatal("token record has no lease: it would never be removed")
	}
	wrong := tok.Secret
	wrong[0] ^= 1
	if err := s.ConsumeJoinToken(ctx, tok.ID, wrong[:], "n9"); !errors.Is(err, ErrTokenUnknown) {
		t.Fatalf("wrong secret: %v, want ErrTokenUnknown", err)
	}
	if err := s.ConsumeJoinToken(ctx, "0123456789ab", tok.Secret[:], "n9"); !errors.Is(err, ErrTokenUnknown) {
		t.Fatalf("unknown id: %v, want ErrTokenUnknown", err)
	}
	if err := s.ConsumeJoinToken(ctx, "../users/x", tok.Secret[:], "n9"); !errors.Is(err, ErrTokenUnknown) {
		t.Fatalf("malformed id: %v, want ErrTokenUnknown", err)
	}
	if err := s.ConsumeJoinToken(ctx, tok.ID, tok.Secret[:], "n3"); err != nil {
		t.Fatalf("first use: %v", err)
	}
	err = s.ConsumeJoinToken(ctx, tok.ID, tok.Secret[:], "n4")
	if !errors.Is(err, ErrTokenUsed) || !strings.Contains(err.Error(), `"n3"`) {
		t.Fatalf("second use: %v, want ErrTokenUsed naming n3", err)
	}

	// Expired: the clock passes the expiry.
	old, _ := clustertls.NewJoinToken([32]byte{1})
	if _, err := s.CreateJoinToken(ctx, old, time.Minute); err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return t0.Add(time.Minute) }
	if err := s.ConsumeJoinToken(ctx, old.ID, old.Secret[:], "n5"); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired: %v, want ErrTokenExpired", err)
	}

	for _, ttl := range []time.Duration{0, time.Millisecond, 25 * time.Hour} {
		if _, err := s.CreateJoinToken(ctx, old, ttl); err == nil {
			t.Errorf("ttl %s accepted", ttl)
		}
	}

	// Racing joins with one token: exactly one wins.
	race, _ := clustertls.NewJoinToken([32]byte{1})
	if _, err := s.CreateJoinToken(ctx, race, time.Hour); err != nil {
		t.Fatal(err)
	}
	const racers = 8
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.ConsumeJoinToken(ctx, race.ID, race.Secret[:], "racer")
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ErrTokenUsed):
			t.Errorf("racer: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d racing joins succeeded with one token, want 1", wins)
	}
}
