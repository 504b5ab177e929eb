package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"sofs.io/sofs/namespace"
)

// nodeFile is DATA/node.json: the node's identity, which must survive
// restarts and renames because the cluster refers to nodes by id.
const nodeFile = "node.json"

// nodeInfo is the content of DATA/node.json.
type nodeInfo struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// loadOrCreateNode reads DATA/node.json, creating it with a new random id
// on first start. A changed node name is recorded; the id never changes.
func loadOrCreateNode(dataDir, name string) (nodeInfo, error) {
	path := filepath.Join(dataDir, nodeFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		n, err := decodeNodeInfo(b)
		if err != nil {
			return nodeInfo{}, fmt.Errorf("%s: %w", path, err)
		}
		if n.Name == name {
			return n, nil
		}
		n.Name = name
		return n, writeFileAtomic(path, n)
	case errors.Is(err, fs.ErrNotExist):
		var g namespace.GUID
		if _, err := rand.Read(g[:]); err != nil {
			return nodeInfo{}, fmt.Errorf("node id: %w", err)
		}
		n := nodeInfo{ID: g.String(), Name: name, Created: time.Now().UTC()}
		return n, writeFileAtomic(path, n)
	default:
		return nodeInfo{}, fmt.Errorf("read node identity: %w", err)
	}
}

// decodeNodeInfo decodes DATA/node.json: its id must be a GUID.
func decodeNodeInfo(b []byte) (nodeInfo, error) {
	var n nodeInfo
	if err := json.Unmarshal(b, &n); err != nil {
		return nodeInfo{}, err
	}
	var g namespace.GUID
	if err := g.UnmarshalText([]byte(n.ID)); err != nil {
		return nodeInfo{}, fmt.Errorf("id: %w", err)
	}
	return n, nil
}

// writeFileAtomic writes v as JSON through a temporary file and a rename,
// so a crash leaves the old file or the new one, never half of one.
func writeFileAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := f.Write(append(b, '\n'))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
