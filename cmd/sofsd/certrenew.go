package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"sofs.io/sofs/namespace/clustertls"
	"sofs.io/sofs/namespace/etcdnode"
	"sofs.io/sofs/namespace/nodejoin"
)

// certRenew is "sofsd cert renew --data DATA [settings]": it gives the node
// a new key and certificate now, with the node running or stopped
// (docs/operations.md, "Certificate rotation"). A node holding the CA key
// issues it itself; a node that joined with a token asks a member's join
// endpoint with a new token (join, join-token). The running node's etcd
// member, etcd client, open-state channel and join endpoint present the
// new certificate on their next connection; a restart makes every
// connection use it.
func certRenew(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, lookupEnv, os.Hostname)
	if err != nil {
		fmt.Fprintf(stderr, "sofsd cert renew: %v\n", err)
		return exitUsage
	}
	dir := filepath.Join(cfg.Data, pkiDir)
	if !clustertls.HasCA(dir) {
		fmt.Fprintf(stderr, "sofsd cert renew: %s holds no cluster CA: nothing to renew\n", dir)
		return exitFail
	}
	var hosts []string
	for _, u := range []string{cfg.EtcdClient, cfg.EtcdPeer} {
		pu, err := etcdnode.ParseURL(u)
		if err != nil {
			fmt.Fprintf(stderr, "sofsd cert renew: %v\n", err)
			return exitUsage
		}
		hosts = append(hosts, pu.Hostname())
	}
	hosts = append(hosts, cfg.NodeName)
	var cert *x509.Certificate
	if clustertls.HasCAKey(dir) {
		cert, err = clustertls.RenewNodeCert(dir, cfg.NodeName, hosts)
	} else {
		if cfg.Join == "" {
			fmt.Fprintf(stderr, "sofsd cert renew: this node holds no CA key (it joined with a token); give --join HOST:PORT of a member's join-listen and a new join token (SOFS_JOIN_TOKEN)\n")
			return exitUsage
		}
		cert, err = renewThroughMember(ctx, cfg, dir, hosts)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sofsd cert renew: %v\n", err)
		var refused *nodejoin.RefusedError
		if errors.As(err, &refused) {
			return exitJoinRefused
		}
		return exitFail
	}
	fmt.Fprintf(stdout, "renewed the certificate of node %s in %s: serial %x, valid until %s\n",
		cfg.NodeName, dir, cert.SerialNumber, cert.NotAfter.UTC().Format(time.RFC3339))
	return exitOK
}

// renewThroughMember gets a new certificate from a member's join endpoint
// with a join token, for a node without the CA key.
func renewThroughMember(ctx context.Context, cfg config, dir string, hosts []string) (*x509.Certificate, error) {
	b, err := clustertls.Load(dir)
	if err != nil {
		return nil, err
	}
	if clustertls.HashDER(b.CA.Raw) != cfg.JoinToken.CAHash {
		return nil, fmt.Errorf("the join token pins another CA than this node's %s", b.Paths.CACert())
	}
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	key, resp, err := nodejoin.Join(ctx, cfg.Join, cfg.JoinToken, cfg.NodeName, hosts, true)
	if err != nil {
		return nil, err
	}
	return clustertls.InstallRenewed(dir, resp.Cert, key)
}
