package witness

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/auth/ntlm"
	"sofs.io/sofs/dcerpc"
	"sofs.io/sofs/dcerpc/ndr"
	"sofs.io/sofs/integration/harness"
	"sofs.io/sofs/internal/testetcd"
	"sofs.io/sofs/namespace"
)

// epmHost is the loopback address this package's tests put the endpoint
// mapper on: rpcclient always asks port 135, and no other package's tests
// use this address.
const epmHost = "127.0.135.2"

// cluster is a witness service on epmHost over a real etcd, with nodes
// registered as sofsd registers them.
type cluster struct {
	store   *namespace.Store
	members *namespace.Members
	nodes   map[string]*namespace.Registration
	// smb holds each node's stand-in SMB listener, which the witness's
	// probes connect to; addr is its address.
	smb  map[string]net.Listener
	addr map[string]string
	svc  *Service
}

func startCluster(t *testing.T, nodes map[string]string) *cluster {
	t.Helper()
	ctx := context.Background()
	e := testetcd.Start(t)
	st := namespace.NewStore(e.Client())
	if _, err := st.InitCluster(ctx, "sofs"); err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(zerolog.NewTestWriter(t))
	c := &cluster{store: st, nodes: map[string]*namespace.Registration{}, smb: map[string]net.Listener{}, addr: map[string]string{}}
	for name, host := range nodes {
		c.register(t, name, c.listenSMB(t, name, host))
	}
	m, err := namespace.NewMembers(ctx, st, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	c.members = m
	c.svc = New(Config{Store: st, Members: m, NodeID: "node-a", Log: log,
		NTLM: ntlm.NewServer(ntlm.Config{NetBIOSComputer: "NODE-A", Users: testUsers{"test": "test123"}})})
	return c
}

// listenSMB opens a stand-in SMB listener for node name on host (or on
// the address it had before, after closeSMB).
func (c *cluster) listenSMB(t *testing.T, name, host string) string {
	t.Helper()
	addr := c.addr[name]
	if addr == "" {
		addr = host + ":0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.smb[name], c.addr[name] = ln, ln.Addr().String()
	t.Cleanup(func() { ln.Close() })
	return c.addr[name]
}

// register joins node name with SMB address addr (host:port).
func (c *cluster) register(t *testing.T, name, addr string) {
	t.Helper()
	r, err := c.store.Register(context.Background(), namespace.NodeRecord{
		ID: "node-" + name, Name: name, SMBAddresses: []string{addr}, State: namespace.NodeUp,
	}, namespace.RegisterOptions{Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[name] = r
	t.Cleanup(func() { r.Close(context.Background()) })
}

// serve runs the witness on epmHost, with the endpoint mapper on port 135.
func (c *cluster) serve(t *testing.T) {
	t.Helper()
	epm, err := net.Listen("tcp", net.JoinHostPort(epmHost, "135"))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("endpoint mapper port: %v", err)
		}
		t.Skipf("endpoint mapper port (needs root): %v", err)
	}
	wl, err := net.Listen("tcp", epmHost+":0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.svc.Serve(ctx, wl, epm) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// TestRPCClient runs Samba's rpcclient witness commands against the
// service, which it finds through the endpoint mapper: the interface list
// shows every node with its state, RegisterEx returns a handle, and
// AsyncNotify reports the client's node going down, then coming back.
func TestRPCClient(t *testing.T) {
	c := startCluster(t, map[string]string{"a": "127.0.136.1", "b": "127.0.136.2", "c": "127.0.136.3"})
	c.serve(t)
	r := harness.StartRPCClient(t, "ncacn_ip_tcp:"+epmHost, "test", "test123")

	r.Send("GetInterfaceList")
	got := map[string]string{}
	for range 3 {
		m := r.Expect(`^(\*)?([+\-?X]) (\S+) (\S+) V2$`, 30*time.Second)
		got[m[3]] = m[1] + m[2] + " " + m[4]
	}
	want := map[string]string{"a": "*+ 127.0.136.1", "b": "*+ 127.0.136.2", "c": "*+ 127.0.136.3"}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("interface list %v, want %v", got, want)
		}
	}

	r.Send("RegisterEx --net=sofs --ip=127.0.136.2 --share=nosuchshare --client=rpcclient")
	r.Expect(`WERR_INVALID_STATE|INVALID_STATE`, 30*time.Second)
	r.Send("RegisterEx --net=sofs --ip=127.0.136.2 --client=rpcclient --timeout=120")
	h := r.Expect(`^([0-9a-f]+:[0-9a-f-]{36})$`, 30*time.Second)[1]
	regs, err := c.store.ListWitnessRegistrations(context.Background())
	if err != nil || len(regs) != 1 || regs[0].NodeID != "node-b" || regs[0].Client != "rpcclient" || !strings.HasSuffix(h, regs[0].ID) {
		t.Fatalf("registrations %+v, %v; handle %s", regs, err, h)
	}

	r.Send("AsyncNotify " + h)
	// Node b leaves: its lease is revoked and its live record goes.
	if err := c.nodes["b"].Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Expect(`^Resource change with 1 messages$`, 30*time.Second)
	r.Expect(`^127\.0\.136\.2 -> Unavailable$`, 5*time.Second)

	r.Send("AsyncNotify " + h)
	c.register(t, "b", c.addr["b"])
	r.Expect(`^Resource change with 1 messages$`, 30*time.Second)
	r.Expect(`^127\.0\.136\.2 -> Available$`, 5*time.Second)

	r.Send("UnRegister " + h)
	r.Send("UnRegister " + h)
	// End of input makes rpcclient exit, flushing what it printed.
	r.CloseInput()
	r.Expect(`UnRegister failed, error: WERR_INVALID_PARAMETER`, 30*time.Second)
	if regs, err := c.store.ListWitnessRegistrations(context.Background()); err != nil || len(regs) != 0 {
		t.Fatalf("registrations left: %+v, %v", regs, err)
	}
}

// testUsers is a credential store of plain passwords.
type testUsers map[string]string

func (u testUsers) NTHash(user string) ([16]byte, bool) {
	pw, ok := u[strings.ToLower(user)]
	if !ok {
		return [16]byte{}, false
	}
	return namespace.NTHash(pw), true
}

// TestProbeSeesCrashBeforeLease checks the SMB port probe: when node c's
// SMB port closes while c still holds its lease (a crashed process before
// its lease expires), its client is told unavailable; when the port
// accepts again, available.
func TestProbeSeesCrashBeforeLease(t *testing.T) {
	c := startCluster(t, map[string]string{"a": "127.0.136.1", "c": "127.0.136.3"})
	c.serve(t)
	r := harness.StartRPCClient(t, "ncacn_ip_tcp:"+epmHost, "test", "test123")
	r.Send("RegisterEx --net=sofs --ip=127.0.136.3 --client=probe --timeout=120")
	h := r.Expect(`^([0-9a-f]+:[0-9a-f-]{36})$`, 30*time.Second)[1]
	r.Send("AsyncNotify " + h)
	c.smb["c"].Close()
	r.Expect(`^127\.0\.136\.3 -> Unavailable$`, 30*time.Second)
	if n, ok := c.members.Node("node-c"); !ok || !n.Live {
		t.Fatalf("node c lost its lease: %+v", n)
	}
	r.Send("AsyncNotify " + h)
	c.listenSMB(t, "c", "")
	r.Expect(`^127\.0\.136\.3 -> Available$`, 30*time.Second)
}

// TestRPCClientAuthLevels has rpcclient authenticate at the RPC level, with
// NTLMSSP and with SPNEGO, at packet integrity (signing) and privacy
// (sealing) ([MS-RPCE] 3.3.1.5.2): every signature and every sealed stub
// must verify on both sides for the interface list to come back. A wrong
// password is refused, and so are an anonymous client and one that
// authenticates only at connect level: the witness serves authenticated
// users at integrity or privacy, as Samba's does.
func TestRPCClientAuthLevels(t *testing.T) {
	c := startCluster(t, map[string]string{"a": "127.0.136.1"})
	c.serve(t)
	bin := harness.RequireTool(t, "rpcclient")
	for _, opts := range []string{"sign", "seal", "ntlm,sign", "ntlm,seal"} {
		out, err := exec.Command(bin, "-U", "test%test123", "ncacn_ip_tcp:"+epmHost+"["+opts+"]", "-c", "GetInterfaceList").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "*+ a 127.0.136.1 V2") {
			t.Errorf("[%s]: %v\n%s", opts, err, out)
		}
	}
	out, err := exec.Command(bin, "-U", "test%wrong", "ncacn_ip_tcp:"+epmHost+"[seal]", "-c", "GetInterfaceList").CombinedOutput()
	if err == nil || strings.Contains(string(out), "127.0.136.1") {
		t.Errorf("wrong password accepted: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"-N", "-U", "", "ncacn_ip_tcp:" + epmHost},
		{"-U", "test%test123", "ncacn_ip_tcp:" + epmHost + "[connect]"},
	} {
		out, err := exec.Command(bin, append(args, "-c", "GetInterfaceList")...).CombinedOutput()
		if err == nil || strings.Contains(string(out), "127.0.136.1") || !strings.Contains(string(out), "ACCESS_DENIED") {
			t.Errorf("%v: the witness answered, or not with access denied: %v\n%s", args, err, out)
		}
	}
	// The same rule for every operation, called directly.
	for _, call := range []dcerpc.Call{
		{Opnum: OpGetInterfaceList},
		{Opnum: OpGetInterfaceList, User: "test", AuthLevel: 4}, // packet level: not enough
		{Opnum: OpRegisterEx, AuthLevel: dcerpc.AuthLevelPrivacy},
		{Opnum: OpAsyncNotify},
	} {
		if _, err := c.svc.call(context.Background(), &call); !errors.Is(err, dcerpc.FaultAccessDenied) {
			t.Errorf("opnum %d as %q at level %d: %v, want an access-denied fault", call.Opnum, call.User, call.AuthLevel, err)
		}
	}
}

// TestClusapiSubset checks the MS-CMRP subset's refusals: calls without
// RPC authentication are access-denied faults, an unknown resource name
// is ERROR_RESOURCE_NOT_FOUND, an unknown handle a context mismatch.
func TestClusapiSubset(t *testing.T) {
	c := startCluster(t, map[string]string{"a": "127.0.136.1"})
	iface := c.svc.ClusapiInterface()
	ctx := context.Background()
	name := func(s string) []byte {
		w := ndr.NewWriter()
		w.String(s)
		return w.Bytes()
	}
	if _, err := iface.Call(ctx, &dcerpc.Call{Opnum: opOpenResource, Stub: name("sofs")}); !errors.Is(err, dcerpc.FaultAccessDenied) {
		t.Fatalf("unauthenticated OpenResource: %v", err)
	}
	out, err := iface.Call(ctx, &dcerpc.Call{Opnum: opOpenResource, Stub: name("nosuch"), User: "test", AuthLevel: dcerpc.AuthLevelIntegrity})
	if err != nil || binary.LittleEndian.Uint32(out) != errResourceNotFound {
		t.Fatalf("unknown resource: %x %v", out, err)
	}
	out, err = iface.Call(ctx, &dcerpc.Call{Opnum: opOpenResource, Stub: name("SOFS"), User: "test", AuthLevel: dcerpc.AuthLevelIntegrity})
	if err != nil || binary.LittleEndian.Uint32(out) != errSuccess || len(out) != 28 {
		t.Fatalf("cluster name resource: %x %v", out, err)
	}
	h := out[8:28]
	if _, err := iface.Call(ctx, &dcerpc.Call{Opnum: opOfflineResource, Stub: h, User: "test", AuthLevel: dcerpc.AuthLevelIntegrity}); err != nil {
		t.Fatal(err)
	}
	if off, err := c.store.WitnessResourceOffline(ctx, "sofs"); err != nil || !off {
		t.Fatalf("cluster resource offline = %v, %v", off, err)
	}
	out, err = iface.Call(ctx, &dcerpc.Call{Opnum: opGetResourceState, Stub: h, User: "test", AuthLevel: dcerpc.AuthLevelIntegrity})
	if err != nil || binary.LittleEndian.Uint32(out) != resourceOffline {
		t.Fatalf("state %x %v", out, err)
	}
	if _, err := iface.Call(ctx, &dcerpc.Call{Opnum: opCloseResource, Stub: h, User: "test", AuthLevel: dcerpc.AuthLevelIntegrity}); err != nil {
		t.Fatal(err)
	}
	if _, err := iface.Call(ctx, &dcerpc.Call{Opnum: opOnlineResource, Stub: h, User: "test", AuthLevel: dcerpc.AuthLevelIntegrity}); !errors.Is(err, dcerpc.FaultContextMismatch) {
		t.Fatalf("closed handle: %v", err)
	}
}

// waitObserver signals each AsyncNotify that starts waiting, so a test can
// change the cluster exactly when a client is listening.
type waitObserver struct{ waiting chan struct{} }

func (o waitObserver) Notified(string) {}
func (o waitObserver) Waiting(delta int) {
	if delta > 0 {
		o.waiting <- struct{}{}
	}
}

// witnessPy is a python3-samba client (Samba's own NDR, a second client no
// one here wrote): it binds to the witness port directly, without the
// endpoint mapper, so it needs no root. It prints the interface list, then
// registers for the address in argv[3] and prints the first notification.
const witnessPy = `
import sys
from samba.dcerpc import witness
from samba import credentials, param
lp = param.LoadParm()
creds = credentials.Credentials()
creds.guess(lp)
creds.set_username("test")
creds.set_password("test123")
creds.set_kerberos_state(credentials.DONT_USE_KERBEROS)
c = witness.witness("ncacn_ip_tcp:%s[%s,sign]" % (sys.argv[1], sys.argv[2]), lp, creds)
l = c.GetInterfaceList()
for i in l.interfaces:
    print("iface", i.group_name, i.ipv4, i.state, i.flags)
h = c.RegisterEx(witness.WITNESS_V2, "sofs", None, sys.argv[3], "pyclient", 0, 120)
print("registered", flush=True)
r = c.AsyncNotify(h)
print("notify", r.type, r.num)
for m in r.messages:
    for a in m.addr:
        print("move", a.ipv4, a.flags)
c.UnRegister(h)
`

// TestPythonSambaClientMove has python3-samba's witness client register for
// node a, then drains node a while the client waits: it must be told
// CLIENT_MOVE to node b, the only other node, as IPADDR_INFO_LIST entries
// that Samba's NDR decodes.
func TestPythonSambaClientMove(t *testing.T) {
	py := ""
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import samba.dcerpc.witness").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		harness.MissingDependency(t, "python3-samba")
	}
	c := startCluster(t, map[string]string{"a": "127.0.136.1", "b": "127.0.136.2"})
	obs := waitObserver{waiting: make(chan struct{}, 1)}
	c.svc.cfg.Observer = obs
	wl, err := net.Listen("tcp", "127.0.136.9:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.svc.Serve(ctx, wl, nil) }()
	t.Cleanup(func() { cancel(); <-done })

	_, port, _ := net.SplitHostPort(wl.Addr().String())
	cmd := exec.Command(py, "-c", witnessPy, "127.0.136.9", port, "127.0.136.1")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-obs.waiting:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the client never waited in AsyncNotify:\n%s", out.String())
	}
	if err := c.store.DrainNode(context.Background(), "node-a"); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("python3-samba witness client: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"iface a 127.0.136.1 1 5\n", "iface b 127.0.136.2 1 5\n",
		"notify 2 1\n", "move 127.0.136.2 9\n",
	} {
		if !strings.Contains(got, want) {
			t.Fatalf("output lacks %q:\n%s", want, got)
		}
	}
}

// TestRebalanceOnJoin registers two clients (two rpcclient processes) on
// node a while it is the only node; when node b joins, the newer of them is
// told CLIENT_MOVE to b, and the records show one client per node.
func TestRebalanceOnJoin(t *testing.T) {
	c := startCluster(t, map[string]string{"a": "127.0.136.1"})
	c.serve(t)
	var rs []*harness.RPCClient
	for i := range 2 {
		r := harness.StartRPCClient(t, "ncacn_ip_tcp:"+epmHost, "test", "test123")
		r.Send("RegisterEx --net=sofs --ip=127.0.136.1 --client=client" + strconv.Itoa(i) + " --timeout=120")
		h := r.Expect(`^([0-9a-f]+:[0-9a-f-]{36})$`, 30*time.Second)[1]
		r.Send("AsyncNotify " + h)
		rs = append(rs, r)
	}
	c.register(t, "b", c.listenSMB(t, "b", "127.0.136.2"))
	rs[1].Expect(`^Client move with 1 messages$`, 30*time.Second)
	rs[1].Expect(`^Flags 0x00000009 127\.0\.136\.2 Online`, 5*time.Second)
	regs, err := c.store.ListWitnessRegistrations(context.Background())
	if err != nil || len(regs) != 2 || regs[0].NodeID != "node-a" || regs[1].NodeID != "node-b" || regs[0].MoveTo != "" {
		t.Fatalf("registrations after the join: %+v, %v", regs, err)
	}
}

// registerDirect registers through the service's call path, as a client's
// RegisterEx (ex) or Register would, and returns the handle.
func registerDirect(t *testing.T, s *Service, ex bool, ip string, flags, keepAlive uint32) Handle {
	t.Helper()
	n, cl := "sofs", "direct"
	op, version := OpRegister, uint32(VersionV1)
	stub := func() []byte {
		w := ndr.NewWriter()
		w.Uint32(version)
		for _, p := range []*string{&n, &ip, &cl} {
			w.Pointer(true)
			w.String(*p)
		}
		return w.Bytes()
	}()
	if ex {
		op, version = OpRegisterEx, VersionV2
		stub = registerExStub(version, &n, nil, &ip, &cl, flags, keepAlive)
	}
	out, err := s.call(context.Background(), &dcerpc.Call{Opnum: uint16(op), Stub: stub, User: "test", AuthLevel: dcerpc.AuthLevelIntegrity})
	if err != nil || len(out) != 24 || binary.LittleEndian.Uint32(out[20:]) != errSuccess {
		t.Fatalf("register: %x %v", out, err)
	}
	var h Handle
	copy(h.UUID[:], out[4:20])
	return h
}

// TestAsyncNotifyKeepAlive checks the AsyncNotify pending timer ([MS-SWN]
// 3.1.5.2): a v2 registration's call fails with ERROR_TIMEOUT when its
// keep-alive has passed since the call began, at once for a keep-alive of
// 0 and not before 1 s for 1; a v1 registration has no keep-alive and
// waits on.
func TestAsyncNotifyKeepAlive(t *testing.T) {
	c := startCluster(t, map[string]string{"a": "127.0.136.1"})
	ip := "127.0.136.1"
	for _, ka := range []uint32{0, 1} {
		h := registerDirect(t, c.svc, true, ip, 0, ka)
		ctx, cancel := context.WithTimeout(context.Background(), keepAlive(ka)+5*time.Second)
		start := time.Now()
		n, status, err := c.svc.asyncNotify(ctx, h)
		took := time.Since(start)
		cancel()
		if err != nil || n != nil || status != errTimeout {
			t.Fatalf("keep-alive %d: %+v, %#x, %v", ka, n, status, err)
		}
		if min := keepAlive(ka); took < min {
			t.Fatalf("keep-alive %d s timed out after %v", ka, took)
		}
	}
	h := registerDirect(t, c.svc, false, ip, 0, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if n, status, err := c.svc.asyncNotify(ctx, h); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("v1 registration: %+v, %#x, %v; want a call still waiting", n, status, err)
	}
}

// countObserver signals every AsyncNotify that starts waiting, without
// ever blocking the call (up to its buffer, far more than a test makes).
type countObserver struct{ waiting chan struct{} }

func (o countObserver) Notified(string) {}
func (o countObserver) Waiting(delta int) {
	if delta > 0 {
		o.waiting <- struct{}{}
	}
}

// witnessMovesPy registers twice for argv[3] with python3-samba's client
// (Samba's NDR decodes every message type): h1 names share argv[4], h2
// names no share and asks for IP notifications. It then prints what h1's
// one AsyncNotify and h2's three return.
const witnessMovesPy = `
import sys
from samba.dcerpc import witness
from samba import credentials, param
lp = param.LoadParm()
creds = credentials.Credentials()
creds.guess(lp)
creds.set_username("test")
creds.set_password("test123")
creds.set_kerberos_state(credentials.DONT_USE_KERBEROS)
c = witness.witness("ncacn_ip_tcp:%s[%s,sign]" % (sys.argv[1], sys.argv[2]), lp, creds)
h1 = c.RegisterEx(witness.WITNESS_V2, "sofs", sys.argv[4], sys.argv[3], "pyshare", 0, 120)
h2 = c.RegisterEx(witness.WITNESS_V2, "sofs", None, sys.argv[3], "pyip", witness.WITNESS_REGISTER_IP_NOTIFICATION, 120)
def show(name, r):
    print(name, "type", r.type, r.num, flush=True)
    for m in r.messages:
        if r.type == witness.WITNESS_NOTIFY_RESOURCE_CHANGE:
            print(name, "resource", m.name, m.type, flush=True)
        else:
            for a in m.addr:
                print(name, "addr", a.ipv4, a.ipv6, a.flags, flush=True)
show("h1", c.AsyncNotify(h1))
for i in range(3):
    show("h2", c.AsyncNotify(h2))
c.UnRegister(h1)
c.UnRegister(h2)
`

// TestPythonSambaShareMoveAndIPChange has python3-samba's witness client
// register twice for node a: once for share vms, once for IP
// notifications. An operator's share move sends SHARE_MOVE to node b's
// address to the share's registration only ([MS-SWN] 3.1.6.3); node a
// restarting on a new address sends the other RESOURCE_CHANGE unavailable,
// then IP_CHANGE with the new address online and the old one offline
// (3.1.6.4), then RESOURCE_CHANGE available for the new address.
func TestPythonSambaShareMoveAndIPChange(t *testing.T) {
	py := ""
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import samba.dcerpc.witness").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		harness.MissingDependency(t, "python3-samba")
	}
	c := startCluster(t, map[string]string{"a": "127.0.136.1", "b": "127.0.136.2"})
	ctx := context.Background()
	if err := c.store.PutShare(ctx, namespace.Share{Name: "vms", Path: t.TempDir(), ContinuouslyAvailable: true}); err != nil {
		t.Fatal(err)
	}
	obs := countObserver{waiting: make(chan struct{}, 16)}
	c.svc.cfg.Observer = obs
	wl, err := net.Listen("tcp", "127.0.136.9:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.svc.Serve(sctx, wl, nil) }()
	t.Cleanup(func() { cancel(); <-done })

	_, port, _ := net.SplitHostPort(wl.Addr().String())
	cmd := exec.Command(py, "-c", witnessMovesPy, "127.0.136.9", port, "127.0.136.1", "vms")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	waiting := func(what string) {
		t.Helper()
		select {
		case <-obs.waiting:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the client never waited in AsyncNotify (%s):\n%s", what, out.String())
		}
	}
	waiting("h1")
	moved, err := c.store.MoveWitnessShare(ctx, "VMS", "", "node-b")
	if err != nil || len(moved) != 1 || moved[0].Client != "pyshare" {
		t.Fatalf("share move changed %+v, %v", moved, err)
	}
	waiting("h2, first")
	if err := c.nodes["a"].Close(ctx); err != nil {
		t.Fatal(err)
	}
	waiting("h2, second")
	c.addr["a"] = ""
	c.register(t, "a", c.listenSMB(t, "a", "127.0.136.5"))
	waiting("h2, third")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("python3-samba witness client: %v\n%s", err, out.String())
	}
	want := strings.Join([]string{
		"h1 type 3 1",
		"h1 addr 127.0.136.2 0000:0000:0000:0000:0000:0000:0000:0000 9",
		"h2 type 1 1",
		"h2 resource 127.0.136.1 255",
		"h2 type 4 1",
		"h2 addr 127.0.136.5 0000:0000:0000:0000:0000:0000:0000:0000 9",
		"h2 addr 127.0.136.1 0000:0000:0000:0000:0000:0000:0000:0000 17",
		"h2 type 1 1",
		"h2 resource 127.0.136.5 1",
	}, "\n") + "\n"
	if got := out.String(); got != want {
		t.Fatalf("client printed:\n%s\nwant:\n%s", got, want)
	}
	regs, err := c.store.ListWitnessRegistrations(ctx)
	if err != nil || len(regs) != 0 {
		t.Fatalf("registrations left: %+v, %v", regs, err)
	}
}

// TestInterfaceListIPv6 checks that a node advertising an IPv6 address
// (::1 here) is listed with it in the IPV6 field, the IPV4 field zero and
// WITNESS_INFO_IPv6_VALID set ([MS-SWN] 2.2.2.5), that a client can
// register for that address, and that a move to the node names it as an
// IPv6 IPADDR_INFO (2.2.2.2).
func TestInterfaceListIPv6(t *testing.T) {
	c := startCluster(t, map[string]string{"a": "127.0.136.1"})
	c.register(t, "six", "[::1]:445")
	timeout := time.After(10 * time.Second)
	for {
		// Changed first: a change between it and Nodes is not missed.
		changed := c.members.Changed()
		if len(c.members.Nodes()) == 2 {
			break
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("node six never showed: %+v", c.members.Nodes())
		}
	}
	out, err := c.svc.call(context.Background(), &dcerpc.Call{Opnum: OpGetInterfaceList, User: "test", AuthLevel: dcerpc.AuthLevelIntegrity})
	if err != nil {
		t.Fatal(err)
	}
	// Header: referent, count, referent, max count; then 552-byte
	// entries: name (520), version, state, 2 pad, IPV4, IPV6, flags.
	const entry = 552
	le := binary.LittleEndian.Uint32
	if len(out) != 16+2*entry+4 || le(out[4:]) != 2 {
		t.Fatalf("interface list of %d bytes: %x", len(out), out[:16])
	}
	six := out[16+entry : 16+2*entry]
	if got := le(six[548:]); got != ifIPv6Valid|ifWitness {
		t.Fatalf("flags %#x", got)
	}
	if !bytes.Equal(six[528:532], make([]byte, 4)) || !net.IP(six[532:548]).Equal(net.IPv6loopback) {
		t.Fatalf("IPV4 %x IPV6 %x", six[528:532], six[532:548])
	}
	if a := out[16:]; le(a[548:]) != ifIPv4Valid|ifWitness || !bytes.Equal(a[528:532], []byte{127, 0, 136, 1}) {
		t.Fatalf("IPv4 node's entry: flags %#x IPV4 %x", le(a[548:]), a[528:532])
	}

	h := registerDirect(t, c.svc, true, "::1", 0, 120)
	reg, err := c.store.GetWitnessRegistration(context.Background(), dcerpc.FormatGUID(h.UUID))
	if err != nil || reg.NodeID != "node-six" || reg.IPAddress != "::1" {
		t.Fatalf("registration for ::1: %+v, %v", reg, err)
	}
	h = registerDirect(t, c.svc, true, "127.0.136.1", 0, 120)
	if _, err := c.store.MoveWitnessClient(context.Background(), dcerpc.FormatGUID(h.UUID), "node-six"); err != nil {
		t.Fatal(err)
	}
	n, status, err := c.svc.asyncNotify(context.Background(), h)
	if err != nil || status != errSuccess || n == nil || n.Type != NotifyClientMove {
		t.Fatalf("move to node six: %+v, %#x, %v", n, status, err)
	}
	msg := n.messageBuffer()
	if len(msg) != 36 || le(msg[12:]) != ipAddrV6|ipAddrOnline || !bytes.Equal(msg[16:20], make([]byte, 4)) || !net.IP(msg[20:36]).Equal(net.IPv6loopback) {
		t.Fatalf("IPADDR_INFO_LIST %x", msg)
	}
}
