package harness

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"sofs.io/sofs/namespace/clustertls"
)

// strangerTimeout bounds each attempt of a process without the cluster's
// certificates; a refused connection fails at once, so this only matters
// for a server that hangs.
const strangerTimeout = 3 * time.Second

// EtcdStranger checks, as a process without the cluster's certificates
// would try, that the embedded etcd member at clientURL (https) lets
// nothing be read or written: not over plain HTTP, not over TLS without a
// client certificate, and not with a certificate from another CA. peerURL,
// when not empty, must refuse a TLS handshake without a cluster
// certificate. dir is an empty directory for the stranger's own CA. It
// returns a description of the first hole, or nil.
func EtcdStranger(ctx context.Context, dir, clientURL, peerURL string) error {
	cu, err := url.Parse(clientURL)
	if err != nil {
		return err
	}
	// Refusals only mean something if the member is there to refuse.
	for _, u := range []string{clientURL, peerURL} {
		if u == "" {
			continue
		}
		pu, err := url.Parse(u)
		if err != nil {
			return err
		}
		c, err := net.DialTimeout("tcp", pu.Host, strangerTimeout)
		if err != nil {
			return fmt.Errorf("%s does not accept TCP connections, so its refusals prove nothing: %w", u, err)
		}
		c.Close()
	}
	if err := clustertls.NewCA(dir, "stranger"); err != nil {
		return err
	}
	if _, err := clustertls.EnsureNodeCert(dir, "stranger", nil); err != nil {
		return err
	}
	stranger, err := clustertls.Load(dir)
	if err != nil {
		return err
	}
	foreign := stranger.ClientConfig()
	foreign.InsecureSkipVerify = true // an attacker need not trust the server
	for name, cc := range map[string]clientv3.Config{
		"plain HTTP":         {Endpoints: []string{"http://" + cu.Host}},
		"TLS without a cert": {Endpoints: []string{"https://" + cu.Host}, TLS: &tls.Config{InsecureSkipVerify: true}},
		"another CA's cert":  {Endpoints: []string{"https://" + cu.Host}, TLS: foreign},
	} {
		cc.DialTimeout = strangerTimeout
		cli, err := clientv3.New(cc)
		if err != nil {
			continue // refused at dial
		}
		rctx, cancel := context.WithTimeout(ctx, strangerTimeout)
		_, gerr := cli.Get(rctx, "/sofs/", clientv3.WithPrefix(), clientv3.WithLimit(1))
		_, perr := cli.Put(rctx, "/sofs/v1/intruder", "x")
		cancel()
		cli.Close()
		if gerr == nil {
			return fmt.Errorf("a client with %s read etcd at %s", name, clientURL)
		}
		if perr == nil {
			return fmt.Errorf("a client with %s wrote etcd at %s", name, clientURL)
		}
	}
	if peerURL == "" {
		return nil
	}
	pu, err := url.Parse(peerURL)
	if err != nil {
		return err
	}
	for name, tc := range map[string]*tls.Config{
		"no certificate":    {InsecureSkipVerify: true},
		"another CA's cert": foreign,
	} {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: strangerTimeout}, Config: tc}
		dctx, cancel := context.WithTimeout(ctx, strangerTimeout)
		c, err := d.DialContext(dctx, "tcp", pu.Host)
		cancel()
		if err != nil {
			continue
		}
		// With TLS 1.3 the server checks the client certificate after
		// the client's handshake returns; its verdict arrives on read.
		c.SetDeadline(time.Now().Add(strangerTimeout))
		_, rerr := c.Read(make([]byte, 1))
		c.Close()
		if ne, ok := rerr.(net.Error); ok && ne.Timeout() {
			return fmt.Errorf("the peer port %s kept a TLS connection with %s open", peerURL, name)
		}
	}
	return nil
}
