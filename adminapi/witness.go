package adminapi

import (
	"errors"
	"net/http"

	"sofs.io/sofs/namespace"
)

func (a *api) listWitnessClients(w http.ResponseWriter, r *http.Request) *apiError {
	if a.witness == nil {
		return witnessOff()
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	cs, err := a.witness.Clients(ctx)
	if err != nil {
		return storeError(err)
	}
	if cs == nil {
		cs = []WitnessClient{}
	}
	writeJSON(w, http.StatusOK, WitnessClientList{Clients: cs})
	return nil
}

// moveWitnessClient records the move; the client is told (CLIENT_MOVE) by
// whichever witness serves its next AsyncNotify, so 202.
func (a *api) moveWitnessClient(w http.ResponseWriter, r *http.Request) *apiError {
	if a.witness == nil {
		return witnessOff()
	}
	id := r.PathValue("id")
	if e := checkNodeID(id); e != nil {
		return e
	}
	b, e := readBody(r)
	if e != nil {
		return e
	}
	var req WitnessMove
	if e := decodeJSON(b, &req); e != nil {
		return e
	}
	if req.Node == "" {
		return errorf(http.StatusBadRequest, CodeMissingField, "node", "node is required")
	}
	if e := checkNodeID(req.Node); e != nil {
		return e
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	c, err := a.witness.Move(ctx, id, req.Node)
	switch {
	case errors.Is(err, ErrWitnessClientNotFound):
		return errorf(http.StatusNotFound, CodeWitnessClientNotFound, "id", "witness client %q not found", id)
	case errors.Is(err, ErrNodeNotFound):
		return errorf(http.StatusNotFound, CodeNodeNotFound, "node", "node %q not found", req.Node)
	case err != nil:
		return storeError(err)
	}
	writeJSON(w, http.StatusAccepted, c)
	return nil
}

// moveWitnessShare records a share move for the share's registered clients;
// each is told (SHARE_MOVE) by whichever witness serves its next
// AsyncNotify, so 202.
func (a *api) moveWitnessShare(w http.ResponseWriter, r *http.Request) *apiError {
	if a.witness == nil {
		return witnessOff()
	}
	name, e := pathShareName(r)
	if e != nil {
		return e
	}
	b, e := readBody(r)
	if e != nil {
		return e
	}
	var req WitnessShareMove
	if e := decodeJSON(b, &req); e != nil {
		return e
	}
	if req.Node == "" {
		return errorf(http.StatusBadRequest, CodeMissingField, "node", "node is required")
	}
	if e := checkNodeID(req.Node); e != nil {
		return e
	}
	if len(req.Client) > maxWitnessClientName {
		return badValue("client", "client name longer than %d bytes", maxWitnessClientName)
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	if _, err := a.store.GetShare(ctx, name); errors.Is(err, namespace.ErrNotFound) {
		return shareNotFound(name)
	} else if err != nil {
		return storeError(err)
	}
	cs, err := a.witness.MoveShare(ctx, name, req.Client, req.Node)
	switch {
	case errors.Is(err, ErrNodeNotFound):
		return errorf(http.StatusNotFound, CodeNodeNotFound, "node", "node %q not found", req.Node)
	case err != nil:
		return storeError(err)
	}
	if cs == nil {
		cs = []WitnessClient{}
	}
	writeJSON(w, http.StatusAccepted, WitnessClientList{Clients: cs})
	return nil
}

// maxWitnessClientName bounds a client name in a share move: a computer
// name is at most 255 bytes as a DNS name.
const maxWitnessClientName = 255

func witnessOff() *apiError {
	return errorf(http.StatusNotImplemented, CodeNotImplemented, "", "the witness service is not running on this node (witness-listen)")
}
