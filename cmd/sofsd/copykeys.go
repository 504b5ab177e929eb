package main

import (
	"context"
	"encoding/json"
	"fmt"

	"sofs.io/sofs/smbserver"
)

// castCopySource names the gather that finds which node issued a
// copychunk resume key or an offload token, and what it stands for: a
// client may copy into an open on another node than the source's
// (smbserver/copysource.go).
const castCopySource = "smb.copy-source"

// copySourceElsewhere is smbserver.Config.CopySourceElsewhere: every
// other node is asked, and the one that issued the key answers. Keys are
// random, so at most one node knows a key.
func (o *openState) copySourceElsewhere(ctx context.Context, q smbserver.CopySourceQuery) (smbserver.CopySource, error) {
	body, err := json.Marshal(q)
	if err != nil {
		return smbserver.CopySource{}, err
	}
	replies, gerr := o.node.Gather(ctx, castCopySource, body)
	for _, b := range replies {
		cs, err := decodeCopySource(b, q)
		if err != nil {
			return smbserver.CopySource{}, fmt.Errorf("a node's copy source: %w", err)
		}
		if cs.Found {
			return cs, nil
		}
	}
	// Not found anywhere that answered; a node that failed to answer
	// may have been the issuer, and its opens are going with it.
	return smbserver.CopySource{Conflict: -1}, gerr
}

// serveCopySources answers the other nodes' copy-source gathers from
// this node's keys.
func (o *openState) serveCopySources(srv *smbserver.Server) {
	o.node.HandleGather(castCopySource, func(_ context.Context, body []byte) ([]byte, error) {
		q, err := decodeCopySourceQuery(body)
		if err != nil {
			return nil, err
		}
		return json.Marshal(srv.ResolveCopySource(q))
	})
}
