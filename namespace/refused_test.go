package namespace

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestRefusedShareRecord: a stored share whose path the rules now refuse
// (written before they existed, or into etcd by hand) does not hide the
// good shares: ListShares returns them and reports the bad one, GetShare
// says why it is refused, the live view serves the others and lists it,
// and replacing the record repairs it.
func TestRefusedShareRecord(t *testing.T) {
	s := NewStore(startEtcd(t))
	ctx := testCtx(t)
	if err := s.PutShare(ctx, Share{Name: "good", Path: "/srv/good"}); err != nil {
		t.Fatal(err)
	}
	// Written around PutShare, as an old version or a hand would.
	if _, err := s.Client().Put(ctx, s.shareKey("etc"), `{"name":"Etc","path":"/etc"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client().Put(ctx, s.shareKey("junk"), `not json`); err != nil {
		t.Fatal(err)
	}
	view, err := NewView(ctx, s, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer view.Close()

	list, refused, err := s.ListShares(ctx)
	if err != nil {
		t.Fatalf("ListShares failed as a whole: %v", err)
	}
	if len(list) != 1 || list[0].Name != "good" {
		t.Fatalf("good shares %+v", list)
	}
	if len(refused) != 2 || refused[0].Name != "Etc" || refused[0].Path != "/etc" || !strings.Contains(refused[0].Reason, "system directory /etc") ||
		refused[1].Name != "junk" || refused[1].Reason == "" {
		t.Fatalf("refused %+v", refused)
	}
	_, err = s.GetShare(ctx, "etc")
	var re *RefusedShareError
	if !errors.As(err, &re) || !errors.Is(err, ErrShareRefused) || re.Share.Path != "/etc" {
		t.Fatalf("GetShare of the refused record: %v", err)
	}
	if _, ok := view.Share("etc"); ok {
		t.Fatal("the view serves the refused share")
	}
	if _, ok := view.Share("good"); !ok {
		t.Fatal("the view does not serve the good share")
	}
	if r := view.RefusedShares(); len(r) != 2 || r[0].Name != "Etc" {
		t.Fatalf("view's refused shares %+v", r)
	}

	// Repair: the record is replaced by a share that passes the rules.
	if err := s.PutShare(ctx, Share{Name: "Etc", Path: "/srv/etc-share"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteShare(ctx, "junk"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(view.RefusedShares()) != 0 && time.Now().Before(deadline) {
		select {
		case <-view.Changed():
		case <-time.After(time.Until(deadline)):
		}
	}
	if r := view.RefusedShares(); len(r) != 0 {
		t.Fatalf("refused after the repair: %+v", r)
	}
	if _, ok := view.Share("etc"); !ok {
		t.Fatal("repaired share not served")
	}
	if _, refused, _ := s.ListShares(ctx); len(refused) != 0 {
		t.Fatalf("ListShares still refuses %+v", refused)
	}
}
