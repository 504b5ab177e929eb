package adminapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"
)

// Volumes registers and lists the cluster shared volumes (docs/operations.md,
// "Cluster shared volumes"). cmd adapts it from the namespace and the
// node's own checks; when Config.Volumes is nil the routes answer 501.
type Volumes interface {
	// CreateVolume registers volume name at path and stamps its identity
	// on the directory. Errors wrap ErrInvalidVolume (400 naming path) or
	// ErrVolumeExists (409).
	CreateVolume(ctx context.Context, name, path string) (VolumeInfo, error)
	// Volumes lists every volume as the answering node sees it.
	Volumes(ctx context.Context) ([]VolumeInfo, error)
}

// Errors of Volumes.CreateVolume.
var (
	ErrInvalidVolume = errors.New("invalid volume")
	ErrVolumeExists  = errors.New("volume exists")
)

// VolumeInfo is one volume and whether the answering node verified it.
type VolumeInfo struct {
	Name    string    `json:"name"`
	Path    string    `json:"path"`
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	// Verified is true when the directory at Path on the answering node
	// carries the volume's identity; Problem says why not.
	Verified bool   `json:"verified"`
	Problem  string `json:"problem,omitempty"`
}

// VolumeList is the body of GET /api/v1/volumes.
type VolumeList struct {
	Volumes []VolumeInfo `json:"volumes"`
}

// VolumeCreate is the body of POST /api/v1/volumes.
type VolumeCreate struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

func volumesOff() *apiError {
	return errorf(http.StatusNotImplemented, CodeNotImplemented, "", "this node does not manage volumes")
}

func (a *api) listVolumes(w http.ResponseWriter, r *http.Request) *apiError {
	if a.volumes == nil {
		return volumesOff()
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	vs, err := a.volumes.Volumes(ctx)
	if err != nil {
		return storeError(err)
	}
	if vs == nil {
		vs = []VolumeInfo{}
	}
	writeJSON(w, http.StatusOK, VolumeList{Volumes: vs})
	return nil
}

func (a *api) createVolume(w http.ResponseWriter, r *http.Request) *apiError {
	if a.volumes == nil {
		return volumesOff()
	}
	b, e := readBody(r)
	if e != nil {
		return e
	}
	var req VolumeCreate
	if e := decodeJSON(b, &req); e != nil {
		return e
	}
	switch {
	case req.Name == "":
		return errorf(http.StatusBadRequest, CodeMissingField, "name", "name is required")
	case req.Path == "":
		return errorf(http.StatusBadRequest, CodeMissingField, "path", "path is required: the directory where every node mounts the volume")
	case strings.ContainsFunc(req.Path, unicode.IsControl) || strings.ContainsFunc(req.Name, unicode.IsControl):
		return badValue("path", "name or path contains a control character")
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	vi, err := a.volumes.CreateVolume(ctx, req.Name, req.Path)
	switch {
	case errors.Is(err, ErrInvalidVolume):
		return badValue("path", "%v", err)
	case errors.Is(err, ErrVolumeExists):
		return errorf(http.StatusConflict, CodeVolumeExists, "name", "volume %q already exists", req.Name)
	case err != nil:
		return storeError(err)
	}
	writeJSON(w, http.StatusCreated, vi)
	return nil
}
