package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"sofs.io/sofs/integration/smbtest"
	"sofs.io/sofs/smbserver/wire"
)

// TestDurableDeleteOnCloseAcrossNodes is smb2.durable-open.delete_on_close1
// through two nodes: a durable open with delete-on-close and a batch
// oplock through one node writes a byte and loses its connection; the
// client connects again, this time to another node, and opens the name
// (open-if, share none, delete-on-close) at once. One server gives a new,
// empty file: the open breaks the disconnected durable open's oplock,
// nobody can answer the break, so the durable open is closed, which
// deletes the file. Here the holder's node does that close in steps
// (delete pending, release, removal, forget) while the other node's open
// waits; the open must see the outcome, never a step. When it did see
// them, it got STATUS_DELETE_PENDING in every round with the new open
// through the coordinator (and STATUS_DELETE_PENDING or
// STATUS_OBJECT_NAME_NOT_FOUND in a few rounds of 40 with other layouts).
func TestDurableDeleteOnCloseAcrossNodes(t *testing.T) {
	c, nodes := threeNodeShare(t)
	// The new open goes through the coordinator of the open state, where
	// it wakes with no round trip at each step of the holder's close
	// through another node: the layout where the race showed most.
	opener := coordinatorNode(t, nodes[0], nodes)
	holder := nodes[0]
	if holder == opener {
		holder = nodes[1]
	}
	t.Logf("holder through %s, new open through %s (the coordinator)", holder.Name, opener.Name)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	open := func(name string, durable bool) *wire.CreateRequest {
		req := openReq(name, smbtest.AccessReadWrite|accessDelete, shareNone)
		req.CreateOptions = fileDeleteOnClose
		req.RequestedOplockLevel = wire.OplockLevelBatch
		if durable {
			req.Contexts = []wire.CreateContext{{Name: wire.CreateContextDurableHandle, Data: make([]byte, 16)}}
		}
		return req
	}
	// Half the rounds connect to the opener after the drop, as
	// smbtorture does (the holder's node has usually seen the disconnect
	// by then); the others have that connection ready, so that the open
	// often arrives before the holder's node has seen it (the break then
	// goes to the lost connection).
	const rounds = 40
	var failed []string
	for i := range rounds {
		name := fmt.Sprintf("durable-doc-%d.dat", i)
		var b *client
		if i%2 == 1 {
			b = c.connect(ctx, opener)
		}
		a := c.connect(ctx, holder)
		cr, st, err := a.create(ctx, open(name, true))
		if err != nil || st != wire.StatusSuccess {
			t.Fatalf("round %d: durable delete-on-close open through %s: %v %v", i, holder.Name, st, err)
		}
		if cr.OplockLevel != wire.OplockLevelBatch || len(cr.Contexts) == 0 {
			t.Fatalf("round %d: open through %s granted oplock %#x with %d contexts, want a durable batch open", i, holder.Name, cr.OplockLevel, len(cr.Contexts))
		}
		w, err := a.c.Call(ctx, wire.CmdWrite, a.tid, &wire.WriteRequest{FileID: cr.FileID, Data: []byte{0}}, 0)
		if err != nil || w.Status() != wire.StatusSuccess {
			t.Fatalf("round %d: write through %s: %v %v", i, holder.Name, w.Status(), err)
		}
		// Drop the connection, leaving the durable handle in place.
		a.c.Close()
		if b == nil {
			b = c.connect(ctx, opener)
		}
		cr, st, err = b.create(ctx, open(name, false))
		switch {
		case err != nil:
			t.Fatalf("round %d: open through %s: %v", i, opener.Name, err)
		case st != wire.StatusSuccess:
			failed = append(failed, fmt.Sprintf("round %d: %v", i, st))
		case cr.CreateAction != 2 || cr.EndOfFile != 0: // FILE_CREATED
			failed = append(failed, fmt.Sprintf("round %d: action %d, size %d", i, cr.CreateAction, cr.EndOfFile))
		}
		if st == wire.StatusSuccess {
			if err := b.c.CloseFile(ctx, b.tid, cr.FileID); err != nil {
				t.Fatal(err)
			}
		}
		b.c.Close()
	}
	if len(failed) > 0 {
		t.Fatalf("the open through %s right after the holder's client on %s was lost did not get a new empty file (FILE_CREATED, size 0) in %d of %d rounds: %v", opener.Name, holder.Name, len(failed), rounds, failed)
	}
}
