package cluster

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/integration/harness"
	"sofs.io/sofs/namespace"
)

// notifyWithin bounds waiting for a witness notification: at worst a lease
// TTL (5 s) for the cluster to see a node die, plus an election when the
// dead node led etcd. It is a liveness bound; the latencies are logged.
const notifyWithin = 30 * time.Second

// TestWitnessRPCClient runs Samba's rpcclient, an SMB Witness client no one
// here wrote, against a three-node cluster with the witness on. rpcclient
// finds the witness of n1 through n1's endpoint mapper on port 135. The
// interface list shows the three nodes; a client registered for n2 is told
// n2 is unavailable when n2 is killed with SIGKILL and available when it
// is back; a client registered for n3 is told to move when n3 drains, to
// the node the placement picks (fewest registrations: n1); an operator's
// sofsctl witness move sends CLIENT_MOVE to the node named, and sofsctl
// witness move-share sends SHARE_MOVE to a client registered for the share.
func TestWitnessRPCClient(t *testing.T) {
	c := newCluster(t)
	// Addresses of their own: the endpoint mappers need port 135.
	n1 := c.add("n1", "127.0.1.1", false)
	n2 := c.add("n2", "127.0.1.2", false)
	n3 := c.add("n3", "127.0.1.3", false)
	ic := harness.InitialCluster(n1, n2, n3)
	for _, n := range c.nodes {
		n.Args = []string{"--etcd-initial-cluster", ic, "--witness-listen", n.Addr + ":0", "--epm-listen", n.Addr + ":135"}
	}
	c.start(n1, n2, n3)
	for _, n := range c.nodes {
		c.waitState(n1, n.Name, adminapi.NodeUp, upWithin)
	}
	states, err := c.nodeStates(n1)
	if err != nil {
		t.Fatal(err)
	}

	// The witness serves authenticated users only (NTLM at integrity).
	c.mustCtl(n1, "user", "create", user, "--password", password)
	r := harness.StartRPCClient(t, "ncacn_ip_tcp:"+n1.Addr, user, password)
	r.Send("GetInterfaceList")
	got := map[string]string{}
	for range 3 {
		m := r.Expect(`^(\*)?([+\-?X]) (\S+) (\S+) V2$`, notifyWithin)
		got[m[3]] = m[1] + m[2] + " " + m[4]
	}
	for _, n := range c.nodes {
		if want := "*+ " + n.Addr; got[n.Name] != want {
			t.Fatalf("interface list %v: %s should be %q", got, n.Name, want)
		}
	}

	// Register for n2 and wait for news while n2 is killed.
	r.Send("RegisterEx --net=sofs --ip=" + n2.Addr + " --client=rpcclient-n2 --timeout=120")
	h2 := r.Expect(`^([0-9a-f]+:[0-9a-f-]{36})$`, notifyWithin)[1]
	r.Send("AsyncNotify " + h2)

	etcdTLS, err := n1.EtcdTLS()
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{n1.ClientURL()}, TLS: etcdTLS, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*notifyWithin)
	defer cancel()
	// The moment the cluster knows: n2's live record goes with its lease.
	gone := make(chan time.Time, 1)
	wc := cli.Watch(ctx, namespace.Prefix+"nodes/"+states["n2"].ID)
	go func() {
		for resp := range wc {
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypeDelete {
					gone <- time.Now()
					return
				}
			}
		}
	}()
	killed := time.Now()
	n2.Kill()
	r.Expect(`^Resource change with 1 messages$`, notifyWithin)
	r.Expect(`^`+strings.ReplaceAll(n2.Addr, ".", `\.`)+` -> Unavailable$`, notifyWithin)
	told := time.Now()
	// The witnesses probe n2's SMB port, which refuses connections as
	// soon as the process is gone, so the news usually comes before the
	// lease ends (5 s TTL); either way the cluster must see the lease go.
	select {
	case at := <-gone:
		t.Logf("RESOURCE_CHANGE unavailable %s after SIGKILL; n2's lease ended %s after SIGKILL",
			told.Sub(killed).Round(time.Millisecond), at.Sub(killed).Round(time.Millisecond))
	case <-ctx.Done():
		t.Fatal("n2's live record was never deleted after SIGKILL")
	}

	r.Send("AsyncNotify " + h2)
	c.start(n2)
	r.Expect(`^Resource change with 1 messages$`, notifyWithin)
	r.Expect(`^`+strings.ReplaceAll(n2.Addr, ".", `\.`)+` -> Available$`, notifyWithin)

	// Register for n3, then drain n3: CLIENT_MOVE to n1, which has no
	// registrations while n2 has one.
	r.Send("RegisterEx --net=sofs --ip=" + n3.Addr + " --client=rpcclient-n3 --timeout=120")
	h3 := r.Expect(`^([0-9a-f]+:[0-9a-f-]{36})$`, notifyWithin)[1]
	r.Send("AsyncNotify " + h3)
	c.mustCtl(n2, "node", "drain", states["n3"].ID)
	r.Expect(`^Client move with 1 messages$`, notifyWithin)
	r.Expect(`^Flags 0x00000009 `+strings.ReplaceAll(n1.Addr, ".", `\.`)+` Online`, notifyWithin)

	// An operator moves the n2 client to n1 (Move-SmbWitnessClient)
	// through n3's API: registrations are cluster state.
	var wl adminapi.WitnessClientList
	if err := json.Unmarshal(c.mustCtl(n3, "witness", "list"), &wl); err != nil {
		t.Fatal(err)
	}
	id2 := h2[strings.IndexByte(h2, ':')+1:]
	byID := map[string]adminapi.WitnessClient{}
	for _, wc := range wl.Clients {
		byID[wc.ID] = wc
	}
	if wc := byID[id2]; len(wl.Clients) != 2 || wc.Client != "rpcclient-n2" || wc.Node != states["n2"].ID || wc.State != "available" {
		t.Fatalf("witness clients %+v", wl.Clients)
	}
	r.Send("AsyncNotify " + h2)
	c.mustCtl(n3, "witness", "move", id2, "--node", states["n1"].ID)
	r.Expect(`^Client move with 1 messages$`, notifyWithin)
	r.Expect(`^Flags 0x00000009 `+strings.ReplaceAll(n1.Addr, ".", `\.`)+` Online`, notifyWithin)

	// A client registered for share "data" on n2 is told SHARE_MOVE
	// when an operator moves the share's clients to n1 through n3's
	// API; the registrations without a share are left alone.
	c.mustCtl(n3, "share", "create", "data", "--path", c.csv)
	r.Send("RegisterEx --net=sofs --ip=" + n2.Addr + " --share=data --client=rpcclient-share --timeout=120")
	h4 := r.Expect(`^([0-9a-f]+:[0-9a-f-]{36})$`, notifyWithin)[1]
	r.Send("AsyncNotify " + h4)
	var moved adminapi.WitnessClientList
	if err := json.Unmarshal(c.mustCtl(n3, "witness", "move-share", "data", "--node", states["n1"].ID), &moved); err != nil {
		t.Fatal(err)
	}
	if id4 := h4[strings.IndexByte(h4, ':')+1:]; len(moved.Clients) != 1 || moved.Clients[0].ID != id4 || moved.Clients[0].ShareMoveTo != states["n1"].ID {
		t.Fatalf("share move asked of %+v", moved.Clients)
	}
	r.Expect(`^Share move with 1 messages$`, notifyWithin)
	r.Expect(`^Flags 0x00000009 `+strings.ReplaceAll(n1.Addr, ".", `\.`)+` Online`, notifyWithin)

	// n1's witness served every notification above: two resource
	// changes, two client moves and a share move; the three
	// registrations are still there.
	m := metrics(t, n1)
	for _, want := range []string{
		`sofs_witness_notifications_total{type="resource_change"} 2`,
		`sofs_witness_notifications_total{type="client_move"} 2`,
		`sofs_witness_notifications_total{type="share_move"} 1`,
		"sofs_witness_registrations 3",
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("n1 /metrics lacks %q", want)
		}
	}

	r.Send("UnRegister " + h2)
	r.Send("UnRegister " + h3)
	r.Send("UnRegister " + h4)
	r.CloseInput()
	// rpcclient prints nothing for a successful UnRegister; the
	// registrations must be gone from etcd.
	deadline := time.Now().Add(notifyWithin)
	for {
		resp, err := cli.Get(ctx, namespace.Prefix+"witness/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err == nil && resp.Count == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("witness registrations left after UnRegister: %v %v", resp, err)
		}
		time.Sleep(pollEvery) // polling interval; the loop checks the count
	}
}

// metrics returns node n's /metrics page.
func metrics(t *testing.T, n *harness.ClusterNode) string {
	t.Helper()
	tok, err := os.ReadFile(n.TokenFile())
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("GET", n.APIURL()+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(strings.Split(string(tok), "\n")[0]))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}
