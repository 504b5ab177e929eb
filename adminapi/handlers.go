package adminapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"sofs.io/sofs/namespace"
)

func (a *api) healthz(w http.ResponseWriter, r *http.Request) *apiError {
	writeJSON(w, http.StatusOK, Status{Status: "ok"})
	return nil
}

func (a *api) readyz(w http.ResponseWriter, r *http.Request) *apiError {
	if a.ready != nil {
		if err := a.ready(); err != nil {
			return errorf(http.StatusServiceUnavailable, CodeNotReady, "", "not ready: %v", err)
		}
	}
	st := Status{Status: "ready"}
	if a.refused != nil {
		st.RefusedShares = a.refused()
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// ---- cluster and nodes ----

func (a *api) getCluster(w http.ResponseWriter, r *http.Request) *apiError {
	ctx, cancel := storeCtx(r)
	defer cancel()
	cl, err := a.store.Cluster(ctx)
	if errors.Is(err, namespace.ErrNotFound) {
		return errorf(http.StatusServiceUnavailable, CodeClusterNotInit, "", "the cluster record has not been created yet")
	}
	if err != nil {
		return storeError(err)
	}
	shares, refused, err := a.store.ListShares(ctx)
	if err != nil {
		return storeError(err)
	}
	users, err := a.store.ListUsers(ctx)
	if err != nil {
		return storeError(err)
	}
	nodes, e := a.nodes(r)
	if e != nil {
		return e
	}
	info := ClusterInfo{
		Name:          cl.Name,
		ServerGUID:    cl.ServerGUID.String(),
		Node:          a.nodeID,
		Nodes:         len(nodes),
		Shares:        len(shares),
		RefusedShares: len(refused),
		Users:         len(users),
	}
	if a.view != nil {
		info.NamespaceRevision = a.view.Revision()
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

// self describes this node when there is no membership yet.
func (a *api) self() NodeInfo {
	ready := a.ready == nil || a.ready() == nil
	return NodeInfo{ID: a.nodeID, State: NodeUp, Ready: ready, Self: true, SMBAddresses: []string{}}
}

func (a *api) nodes(r *http.Request) ([]NodeInfo, *apiError) {
	if a.members == nil {
		return []NodeInfo{a.self()}, nil
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	nodes, err := a.members.Nodes(ctx)
	if err != nil {
		return nil, storeError(err)
	}
	for i := range nodes {
		nodes[i] = a.fixNode(nodes[i])
	}
	return nodes, nil
}

func (a *api) fixNode(n NodeInfo) NodeInfo {
	n.Self = n.ID == a.nodeID
	if n.SMBAddresses == nil {
		n.SMBAddresses = []string{}
	}
	return n
}

// checkNodeID rejects ids that no node can have, before anything looks
// them up.
func checkNodeID(id string) *apiError {
	if id == "" || len(id) > 128 || strings.ContainsFunc(id, func(r rune) bool {
		return unicode.IsControl(r) || unicode.IsSpace(r) || r == '/' || r == unicode.ReplacementChar
	}) {
		return badValue("id", "%q is not a node id", id)
	}
	return nil
}

func (a *api) listNodes(w http.ResponseWriter, r *http.Request) *apiError {
	nodes, e := a.nodes(r)
	if e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, NodeList{Nodes: nodes})
	return nil
}

func (a *api) getNode(w http.ResponseWriter, r *http.Request) *apiError {
	id := r.PathValue("id")
	if e := checkNodeID(id); e != nil {
		return e
	}
	if a.members == nil {
		if id != a.nodeID {
			return errorf(http.StatusNotFound, CodeNodeNotFound, "id", "node %q not found", id)
		}
		writeJSON(w, http.StatusOK, a.self())
		return nil
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	n, err := a.members.Node(ctx, id)
	if errors.Is(err, ErrNodeNotFound) {
		return errorf(http.StatusNotFound, CodeNodeNotFound, "id", "node %q not found", id)
	}
	if err != nil {
		return storeError(err)
	}
	writeJSON(w, http.StatusOK, a.fixNode(n))
	return nil
}

func (a *api) drainNode(w http.ResponseWriter, r *http.Request) *apiError {
	return a.nodeAction(w, r, "drain", http.StatusAccepted, NodeController.Drain)
}

func (a *api) removeNode(w http.ResponseWriter, r *http.Request) *apiError {
	return a.nodeAction(w, r, "remove", http.StatusNoContent, NodeController.Remove)
}

// nodeAction runs a drain or remove, or answers 501 not_implemented until
// membership provides a NodeController.
func (a *api) nodeAction(w http.ResponseWriter, r *http.Request, what string, okStatus int,
	do func(NodeController, context.Context, string) error) *apiError {
	id := r.PathValue("id")
	if e := checkNodeID(id); e != nil {
		return e
	}
	nc, ok := a.members.(NodeController)
	if !ok {
		return errorf(http.StatusNotImplemented, CodeNotImplemented, "",
			"node %s needs cluster membership, which this version does not have yet", what)
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	switch err := do(nc, ctx, id); {
	case errors.Is(err, ErrNodeNotFound):
		return errorf(http.StatusNotFound, CodeNodeNotFound, "id", "node %q not found", id)
	case errors.Is(err, ErrNodeBusy):
		return errorf(http.StatusConflict, CodeNodeBusy, "id", "node %q is still serving; drain it first", id)
	case err != nil:
		return storeError(err)
	}
	if okStatus == http.StatusNoContent {
		w.WriteHeader(okStatus)
		return nil
	}
	n, err := a.members.Node(ctx, id)
	if err != nil {
		// The action was recorded; only the read-back failed.
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	writeJSON(w, okStatus, a.fixNode(n))
	return nil
}

// ---- shares ----

// checkShare validates a share definition field by field, so a 400 names
// the field at fault; namespace's Validate stays the final word.
func checkShare(sh namespace.Share) *apiError {
	if err := namespace.ValidateShareName(sh.Name); err != nil {
		return badValue("name", "%v", err)
	}
	switch {
	case sh.Path == "":
		return errorf(http.StatusBadRequest, CodeMissingField, "path", "path is required: an absolute path on the cluster shared volume")
	case strings.ContainsFunc(sh.Path, unicode.IsControl):
		return badValue("path", "path contains a control character")
	case !utf8.ValidString(sh.Path):
		return badValue("path", "path is not valid UTF-8")
	}
	if err := namespace.CheckSharePath(sh.Path); err != nil {
		return badValue("path", "%v", err)
	}
	if n := utf8.RuneCountInString(sh.Comment); n > namespace.MaxCommentLen {
		return badValue("comment", "comment has %d characters, more than %d", n, namespace.MaxCommentLen)
	}
	if strings.ContainsFunc(sh.Comment, unicode.IsControl) {
		return badValue("comment", "comment contains a control character")
	}
	if len(sh.Permissions) > namespace.MaxSharePermissions {
		return badValue("permissions", "%d permissions, at most %d", len(sh.Permissions), namespace.MaxSharePermissions)
	}
	for _, p := range sh.Permissions {
		if err := p.ValidateForm(); err != nil {
			return badValue("permissions", "%v", err)
		}
	}
	// Domain accounts may still lack their SIDs here: resolveAccounts
	// looks them up before the share is saved.
	if err := sh.ValidateForm(); err != nil {
		return badValue("", "%v", err)
	}
	return nil
}

// resolveAccounts fills in the SID of every domain account in sh's
// permissions that the request did not give, from the directory. A name
// the directory does not know is the client's mistake (400); a directory
// that cannot be asked refuses the save (503) rather than store a
// permission that would name nobody.
func (a *api) resolveAccounts(ctx context.Context, sh *namespace.Share) *apiError {
	for i, p := range sh.Permissions {
		if p.SID != "" || !namespace.IsDomainAccount(p.Account) {
			continue
		}
		if a.accounts == nil {
			return badValue("permissions", "%q is a domain account and this node has no directory to look it up (setting ldap-url); give its sid", p.Account)
		}
		sid, err := a.accounts.LookupSID(ctx, p.Account)
		switch {
		case errors.Is(err, ErrAccountNotFound):
			return errorf(http.StatusBadRequest, CodeAccountNotFound, "permissions", "%v", err)
		case err != nil:
			return &apiError{status: http.StatusServiceUnavailable, code: CodeDirectoryUnavailable, field: "permissions",
				msg: fmt.Sprintf("cannot look up %q: %v; the share was not saved (give the account's sid to save it without the directory)", p.Account, err), cause: err}
		}
		sh.Permissions[i].SID = sid
	}
	return nil
}

func pathShareName(r *http.Request) (string, *apiError) {
	name := r.PathValue("name")
	if err := namespace.ValidateShareName(name); err != nil {
		return "", badValue("name", "%v", err)
	}
	return name, nil
}

func shareNotFound(name string) *apiError {
	return errorf(http.StatusNotFound, CodeShareNotFound, "name", "share %q not found", name)
}

func (a *api) listShares(w http.ResponseWriter, r *http.Request) *apiError {
	ctx, cancel := storeCtx(r)
	defer cancel()
	list, refused, err := a.store.ListShares(ctx)
	if err != nil {
		return storeError(err)
	}
	out := make([]Share, len(list))
	for i, sh := range list {
		out[i] = shareOut(sh)
	}
	sl := ShareList{Shares: out}
	for _, r := range refused {
		a.log.Warn().Str("share", r.Name).Str("key", r.Key).Str("path", r.Path).Str("reason", r.Reason).Msg("stored share refused")
		sl.Refused = append(sl.Refused, RefusedShare{Name: r.Name, Path: r.Path, Reason: r.Reason})
	}
	writeJSON(w, http.StatusOK, sl)
	return nil
}

// shareRefused answers a request about a stored share the rules refuse.
func shareRefused(err error) *apiError {
	var re *namespace.RefusedShareError
	if !errors.As(err, &re) {
		return nil
	}
	return errorf(http.StatusConflict, CodeShareRefused, "name",
		"share %q is stored but refused (%s); replace it with PUT or remove it with DELETE", re.Share.Name, re.Share.Reason)
}

func (a *api) getShare(w http.ResponseWriter, r *http.Request) *apiError {
	name, e := pathShareName(r)
	if e != nil {
		return e
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	sh, err := a.store.GetShare(ctx, name)
	if errors.Is(err, namespace.ErrNotFound) {
		return shareNotFound(name)
	}
	if e := shareRefused(err); e != nil {
		return e
	}
	if err != nil {
		return storeError(err)
	}
	writeJSON(w, http.StatusOK, shareOut(sh))
	return nil
}

// decodeShareCreate decodes and checks a POST /shares body.
func decodeShareCreate(b []byte) (namespace.Share, *apiError) {
	var req ShareCreate
	if e := decodeJSON(b, &req); e != nil {
		return namespace.Share{}, e
	}
	if req.Name == "" {
		return namespace.Share{}, errorf(http.StatusBadRequest, CodeMissingField, "name", "name is required")
	}
	sh := namespace.Share{
		Name: req.Name, Path: req.Path, Comment: req.Comment,
		ContinuouslyAvailable: req.ContinuouslyAvailable, EncryptData: req.EncryptData,
		ReadOnly: req.ReadOnly, Guest: req.Guest, Permissions: permissionsIn(req.Permissions),
		AccessBasedEnumeration: req.AccessBasedEnumeration,
	}
	return sh, checkShare(sh)
}

// decodeShareUpdate decodes and checks a PUT /shares/{name} body for the
// share named name.
func decodeShareUpdate(b []byte, name string) (namespace.Share, *apiError) {
	var req ShareUpdate
	if e := decodeJSON(b, &req); e != nil {
		return namespace.Share{}, e
	}
	if req.Name != "" && !strings.EqualFold(req.Name, name) {
		return namespace.Share{}, badValue("name", "name %q differs from the share in the URL, %q; shares cannot be renamed", req.Name, name)
	}
	sh := namespace.Share{
		Name: name, Path: req.Path, Comment: req.Comment,
		ContinuouslyAvailable: req.ContinuouslyAvailable, EncryptData: req.EncryptData,
		ReadOnly: req.ReadOnly, Guest: req.Guest, Permissions: permissionsIn(req.Permissions),
		AccessBasedEnumeration: req.AccessBasedEnumeration,
	}
	return sh, checkShare(sh)
}

func (a *api) createShare(w http.ResponseWriter, r *http.Request) *apiError {
	b, e := readBody(r)
	if e != nil {
		return e
	}
	sh, e := decodeShareCreate(b)
	if e != nil {
		return e
	}
	if err := a.sharePaths.Check(sh.Path); err != nil {
		return badValue("path", "%v", err)
	}
	if e := a.resolveAccounts(r.Context(), &sh); e != nil {
		return e
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	// The store's PutShare creates or replaces, so creation is a check
	// then a put. The lock makes that atomic among this node's requests;
	// two nodes creating the same share at the same instant can still
	// both succeed (the later definition wins) until the namespace gains
	// a create-if-absent transaction.
	if err := a.createMu.lock(ctx); err != nil {
		return storeError(err)
	}
	defer a.createMu.unlock()
	switch _, err := a.store.GetShare(ctx, sh.Name); {
	case err == nil:
		return errorf(http.StatusConflict, CodeShareExists, "name", "share %q already exists", sh.Name)
	case errors.Is(err, namespace.ErrShareRefused):
		return shareRefused(err)
	case !errors.Is(err, namespace.ErrNotFound):
		return storeError(err)
	}
	if err := a.store.PutShare(ctx, sh); err != nil {
		return storeError(err)
	}
	w.Header().Set("Location", Prefix+"/shares/"+url.PathEscape(sh.Name))
	writeJSON(w, http.StatusCreated, shareOut(sh))
	return nil
}

func (a *api) updateShare(w http.ResponseWriter, r *http.Request) *apiError {
	name, e := pathShareName(r)
	if e != nil {
		return e
	}
	b, e := readBody(r)
	if e != nil {
		return e
	}
	sh, e := decodeShareUpdate(b, name)
	if e != nil {
		return e
	}
	if err := a.sharePaths.Check(sh.Path); err != nil {
		return badValue("path", "%v", err)
	}
	if e := a.resolveAccounts(r.Context(), &sh); e != nil {
		return e
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	cur, err := a.store.GetShare(ctx, name)
	var refused *namespace.RefusedShareError
	switch {
	case errors.Is(err, namespace.ErrNotFound):
		return shareNotFound(name)
	case errors.As(err, &refused):
		// A PUT is how a refused record is repaired: it is replaced
		// whole by a share that passes the rules.
		cur = namespace.Share{Name: name}
		if n := refused.Share.Name; strings.EqualFold(n, name) {
			cur.Name = n
		}
	case err != nil:
		return storeError(err)
	}
	// Keep the name as it was created; the URL may spell it otherwise.
	sh.Name = cur.Name
	if err := a.store.PutShare(ctx, sh); err != nil {
		return storeError(err)
	}
	writeJSON(w, http.StatusOK, shareOut(sh))
	return nil
}

func (a *api) deleteShare(w http.ResponseWriter, r *http.Request) *apiError {
	name, e := pathShareName(r)
	if e != nil {
		return e
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	err := a.store.DeleteShare(ctx, name)
	if errors.Is(err, namespace.ErrNotFound) {
		return shareNotFound(name)
	}
	if err != nil {
		return storeError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- users ----

func pathUserName(r *http.Request) (string, *apiError) {
	name := r.PathValue("name")
	if err := namespace.ValidateUserName(name); err != nil {
		return "", badValue("name", "%v", err)
	}
	return name, nil
}

func userNotFound(name string) *apiError {
	return errorf(http.StatusNotFound, CodeUserNotFound, "name", "user %q not found", name)
}

func checkPassword(pw string) *apiError {
	if pw == "" {
		return errorf(http.StatusBadRequest, CodeMissingField, "password", "password is required")
	}
	if err := namespace.ValidatePassword(pw); err != nil {
		return badValue("password", "%v", err)
	}
	return nil
}

// decodeUserCreate decodes and checks a POST /users body.
func decodeUserCreate(b []byte) (UserCreate, *apiError) {
	var req UserCreate
	if e := decodeJSON(b, &req); e != nil {
		return UserCreate{}, e
	}
	if req.Name == "" {
		return UserCreate{}, errorf(http.StatusBadRequest, CodeMissingField, "name", "name is required")
	}
	if err := namespace.ValidateUserName(req.Name); err != nil {
		return UserCreate{}, badValue("name", "%v", err)
	}
	return req, checkPassword(req.Password)
}

// decodePasswordChange decodes and checks a PUT /users/{name}/password body.
func decodePasswordChange(b []byte) (PasswordChange, *apiError) {
	var req PasswordChange
	if e := decodeJSON(b, &req); e != nil {
		return PasswordChange{}, e
	}
	return req, checkPassword(req.Password)
}

// findUser looks a user up by name, ignoring case as SMB does.
func (a *api) findUser(r *http.Request, name string) (User, *apiError) {
	ctx, cancel := storeCtx(r)
	defer cancel()
	users, err := a.store.ListUsers(ctx)
	if err != nil {
		return User{}, storeError(err)
	}
	for _, u := range users {
		if strings.ToLower(u.Name) == strings.ToLower(name) {
			return User{Name: u.Name, Created: u.Created}, nil
		}
	}
	return User{}, userNotFound(name)
}

func (a *api) listUsers(w http.ResponseWriter, r *http.Request) *apiError {
	ctx, cancel := storeCtx(r)
	defer cancel()
	users, err := a.store.ListUsers(ctx)
	if err != nil {
		return storeError(err)
	}
	out := make([]User, len(users))
	for i, u := range users {
		out[i] = User{Name: u.Name, Created: u.Created}
	}
	writeJSON(w, http.StatusOK, UserList{Users: out})
	return nil
}

func (a *api) getUser(w http.ResponseWriter, r *http.Request) *apiError {
	name, e := pathUserName(r)
	if e != nil {
		return e
	}
	u, e := a.findUser(r, name)
	if e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (a *api) createUser(w http.ResponseWriter, r *http.Request) *apiError {
	b, e := readBody(r)
	if e != nil {
		return e
	}
	req, e := decodeUserCreate(b)
	if e != nil {
		return e
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	err := a.store.PutUser(ctx, req.Name, req.Password)
	if errors.Is(err, namespace.ErrExists) {
		return errorf(http.StatusConflict, CodeUserExists, "name", "user %q already exists", req.Name)
	}
	if err != nil {
		return storeError(err)
	}
	u, e := a.findUser(r, req.Name)
	if e != nil {
		// Created, but deleted again before we could read it back.
		u = User{Name: req.Name}
	}
	w.Header().Set("Location", Prefix+"/users/"+url.PathEscape(req.Name))
	writeJSON(w, http.StatusCreated, u)
	return nil
}

func (a *api) setPassword(w http.ResponseWriter, r *http.Request) *apiError {
	name, e := pathUserName(r)
	if e != nil {
		return e
	}
	b, e := readBody(r)
	if e != nil {
		return e
	}
	req, e := decodePasswordChange(b)
	if e != nil {
		return e
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	err := a.store.SetPassword(ctx, name, req.Password)
	if errors.Is(err, namespace.ErrNotFound) {
		return userNotFound(name)
	}
	if err != nil {
		return storeError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *api) deleteUser(w http.ResponseWriter, r *http.Request) *apiError {
	name, e := pathUserName(r)
	if e != nil {
		return e
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	err := a.store.DeleteUser(ctx, name)
	if errors.Is(err, namespace.ErrNotFound) {
		return userNotFound(name)
	}
	if err != nil {
		return storeError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- sessions and open files ----

func (a *api) listSessions(w http.ResponseWriter, r *http.Request) *apiError {
	out := []SessionInfo{}
	if a.sessions != nil {
		for _, s := range a.sessions.Sessions() {
			if s.Node == "" {
				s.Node = a.nodeID
			}
			out = append(out, s)
		}
	}
	writeJSON(w, http.StatusOK, SessionList{Sessions: out})
	return nil
}

func (a *api) listOpenFiles(w http.ResponseWriter, r *http.Request) *apiError {
	out := []OpenFileInfo{}
	if c, ok := a.sessions.(ClusterOpenFileSource); ok {
		all, err := c.ClusterOpenFiles(r.Context())
		if err != nil {
			return errorf(http.StatusServiceUnavailable, CodeNotReady, "", "listing the cluster's open files: %v", err)
		}
		writeJSON(w, http.StatusOK, OpenFileList{OpenFiles: append(out, all...)})
		return nil
	}
	if a.sessions != nil {
		for _, f := range a.sessions.OpenFiles() {
			if f.Node == "" {
				f.Node = a.nodeID
			}
			out = append(out, f)
		}
	}
	writeJSON(w, http.StatusOK, OpenFileList{OpenFiles: out})
	return nil
}
