package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/csv/clusterstate"
	"sofs.io/sofs/namespace"
	"sofs.io/sofs/namespace/clustertls"
	"sofs.io/sofs/smbserver"
)

// openState is the node's part of the cluster-wide open state
// (csv/clusterstate): its slot for this run, its node-to-node listener,
// and the service that the SMB server's volumes use.
type openState struct {
	slot uint16
	addr string // advertised in the node record
	node *clusterstate.Node
}

// startOpenState takes a slot, listens for the other nodes and starts the
// service. It serves nothing until views arrive (followViews).
func startOpenState(ctx context.Context, cfg config, st *namespace.Store, reg *prometheus.Registry, log zerolog.Logger, onFenced func()) (*openState, error) {
	slot, err := st.NextSlot(ctx)
	if err != nil {
		return nil, err
	}
	secret, err := st.ClusterSecret(ctx)
	if err != nil {
		return nil, err
	}
	// With the cluster CA (etcd over TLS, the default), peers also need a
	// certificate it issued; without it (http:// etcd) the secret alone
	// proves membership.
	ccfg := clusterstate.Config{Slot: slot, Secret: secret, Logger: log, Observer: newOpenStateMetrics(reg), OnFenced: onFenced}
	pki := clustertls.Paths{Dir: filepath.Join(cfg.Data, clustertls.DirName)}
	if _, cerr := os.Stat(pki.Cert()); cerr == nil && clustertls.HasCA(pki.Dir) {
		// The node has its certificate from the cluster CA (embedded etcd
		// over TLS issues it at start).
		b, err := clustertls.LoadNode(cfg.Data)
		if err != nil {
			return nil, fmt.Errorf("node-to-node TLS: %w", err)
		}
		ccfg.ServerTLS, ccfg.ClientTLS = b.ServerConfig(), b.ClientConfig()
	} else {
		log.Warn().Msg("no cluster certificate for this node: the node-to-node channel proves membership with the cluster secret alone")
	}
	ln, err := net.Listen("tcp", cfg.PeerListen)
	if err != nil {
		return nil, fmt.Errorf("peer listen: %w", err)
	}
	ccfg.Listener = ln
	n, err := clusterstate.NewNode(ccfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return &openState{slot: slot, addr: ln.Addr().String(), node: n}, nil
}

// followViews hands the open-state service every change of the live
// members and of the elected coordinator, until ctx ends.
func (o *openState) followViews(ctx context.Context, members *namespace.Members, el *namespace.Election, log zerolog.Logger) {
	var last clusterstate.View
	for {
		mch, ech := members.Changed(), el.Changed()
		v := buildView(members.Nodes(), el.Current())
		if !sameView(v, last) {
			o.node.SetView(v)
			log.Debug().Int64("epoch", v.Epoch).Uint16("coordinator", v.Coordinator).Int("members", len(v.Members)).Msg("open-state view")
			last = v
		}
		select {
		case <-ctx.Done():
			return
		case <-mch:
		case <-ech:
		}
	}
}

// buildView is the live nodes that run the open-state service, and the
// coordinator if it is one of them (a coordinator whose node is gone is
// none: its key goes with its lease, and the survivors elect another).
func buildView(nodes []namespace.NodeStatus, c namespace.Coordinator) clusterstate.View {
	v := clusterstate.View{Members: make(map[uint16]string)}
	for _, n := range nodes {
		if n.Live && n.Slot != 0 && n.PeerAddress != "" {
			v.Members[n.Slot] = n.PeerAddress
		}
	}
	if _, ok := v.Members[c.Slot]; ok && c.Epoch != 0 {
		v.Epoch, v.Coordinator = c.Epoch, c.Slot
	}
	return v
}

func sameView(a, b clusterstate.View) bool {
	if a.Epoch != b.Epoch || a.Coordinator != b.Coordinator || len(a.Members) != len(b.Members) {
		return false
	}
	for s, addr := range a.Members {
		if b.Members[s] != addr {
			return false
		}
	}
	return true
}

// castCloseAppInstance names the cast that closes an application
// instance's durable opens on the other nodes ([MS-SMB2] 3.3.5.9.13:
// a clustered application failing over to another host reopens its files
// through whichever node that host reaches).
const castCloseAppInstance = "smb.close-app-instance"

type appInstanceCast struct {
	Share string   `json:"share"`
	Path  string   `json:"path"`
	App   [16]byte `json:"app"`
}

// closeAppInstanceElsewhere is smbserver.Config.CloseAppInstanceElsewhere.
func (o *openState) closeAppInstanceElsewhere(ctx context.Context, share, path string, app [16]byte) error {
	body, err := json.Marshal(appInstanceCast{Share: share, Path: path, App: app})
	if err != nil {
		return err
	}
	return o.node.Cast(ctx, castCloseAppInstance, body)
}

// serveAppInstanceCasts closes this node's opens of an application
// instance when another node asks.
func (o *openState) serveAppInstanceCasts(srv *smbserver.Server, log zerolog.Logger) {
	o.node.HandleCast(castCloseAppInstance, func(_ context.Context, body []byte) error {
		m, err := decodeAppInstanceCast(body)
		if err != nil {
			return err
		}
		if n := srv.CloseAppInstance(m.Share, m.Path, m.App); n > 0 {
			log.Info().Int("opens", n).Str("share", m.Share).Str("path", m.Path).Msg("closed an application instance's opens for another node")
		}
		return nil
	})
}

// castOpenFiles names the gather that lists a node's open files.
const castOpenFiles = "api.open-files"

// clusterSessions is the admin API's view of sessions and opens, with the
// open files of every node (Get-SmbOpenFile on any node of a scale-out
// file server lists them all).
type clusterSessions struct {
	sessionSource
	self string // this node's id
	node *clusterstate.Node
}

var _ adminapi.ClusterOpenFileSource = clusterSessions{}

// localOpenFiles is this node's open files, each naming the node.
func (c clusterSessions) localOpenFiles() []adminapi.OpenFileInfo {
	out := c.sessionSource.OpenFiles()
	for i := range out {
		out[i].Node = c.self
	}
	return out
}

// ClusterOpenFiles implements adminapi.ClusterOpenFileSource.
func (c clusterSessions) ClusterOpenFiles(ctx context.Context) ([]adminapi.OpenFileInfo, error) {
	out := c.localOpenFiles()
	replies, err := c.node.Gather(ctx, castOpenFiles, nil)
	if err != nil && len(replies) == 0 && ctx.Err() != nil {
		return nil, err
	}
	for _, b := range replies {
		theirs, err := decodeOpenFiles(b)
		if err != nil {
			return nil, fmt.Errorf("a node's open files: %w", err)
		}
		out = append(out, theirs...)
	}
	return out, nil
}

// serveOpenFiles answers the other nodes' open-file gathers.
func (c clusterSessions) serveOpenFiles() {
	c.node.HandleGather(castOpenFiles, func(context.Context, []byte) ([]byte, error) {
		return json.Marshal(c.localOpenFiles())
	})
}
