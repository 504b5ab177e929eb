package dcerpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"sofs.io/sofs/auth/ntlm"
	"sofs.io/sofs/dcerpc/ndr"
	"sofs.io/sofs/dcerpc/srvsvc"
)

// sambaPython returns a python3 that can import Samba's bindings
// (python3-samba); Debian installs them for /usr/bin/python3 only. Without
// one the test skips, except in CI, where it fails.
func sambaPython(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import samba.dcerpc.epmapper").Run() == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("python3-samba is required in CI")
	}
	t.Skip("python3-samba not installed")
	return ""
}

// serveTCP runs a TCPServer with ifaces on ln until the test ends.
func serveTCP(t *testing.T, ln net.Listener, ifaces ...*Interface) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := NewTCPServer(TCPConfig{Interfaces: ifaces, Log: zerolog.New(zerolog.NewTestWriter(t))})
		if err := s.Serve(ctx, ln); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// listenEPM listens on host:135, the endpoint mapper's well-known port,
// which Samba's clients always ask. It needs root (or CAP_NET_BIND_SERVICE);
// without it the test skips, except in CI, which runs as root.
func listenEPM(t *testing.T, host string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "135"))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("endpoint mapper port: %v", err)
		}
		t.Skipf("endpoint mapper port: %v", err)
	}
	return ln
}

// TestSambaClientThroughEPM has Samba's own client library (python3-samba)
// find srvsvc through the endpoint mapper on port 135 and enumerate shares
// over ncacn_ip_tcp: ept_map must return a tower naming the right port, and
// bind, request and response must work over TCP. The mapper listens on
// 127.0.135.1, an address no other package's tests use.
func TestSambaClientThroughEPM(t *testing.T) {
	py := sambaPython(t)
	const host = "127.0.135.1"
	epm := listenEPM(t, host)
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	m := NewEndpointMapper()
	sv := SrvsvcInterface(fakeBackend{shares: []srvsvc.ShareInfo{
		{Name: "vms", Type: srvsvc.STypeDiskTree, Comment: "Hyper-V", Path: `C:\vms`},
	}})
	// Registered with the unspecified address: the tower must carry the
	// address the client reached the mapper on.
	m.Register(sv.Syntax, &net.TCPAddr{Port: ln.Addr().(*net.TCPAddr).Port})
	serveTCP(t, epm, m.Interface())
	serveTCP(t, ln, sv)

	script := `
import sys
from samba.dcerpc import srvsvc
from samba import credentials, param
lp = param.LoadParm()
creds = credentials.Credentials()
creds.guess(lp)
creds.set_anonymous()
c = srvsvc.srvsvc("ncacn_ip_tcp:" + sys.argv[1], lp, creds)
ctr = srvsvc.NetShareInfoCtr()
ctr.level = 1
ctr.ctr = srvsvc.NetShareCtr1()
info, total, resume = c.NetShareEnumAll("\\\\" + sys.argv[1], ctr, 0xffffffff, 0)
for s in info.ctr.array:
    print(s.name, s.comment)
`
	out, err := exec.Command(py, "-c", script, host).CombinedOutput()
	if err != nil {
		t.Fatalf("python3-samba srvsvc over ncacn_ip_tcp: %v\n%s", err, out)
	}
	if strings.TrimSpace(string(out)) != "vms Hyper-V" {
		t.Fatalf("shares listed: %q", out)
	}
}

func TestEptMapTowers(t *testing.T) {
	m := NewEndpointMapper()
	m.Register(srvsvcSyntax, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 4242})
	ask := func(iface SyntaxID, maxTowers uint32) []byte {
		w := ndr.NewWriter()
		w.Pointer(false) // object
		w.Pointer(true)
		tw := tcpTower(iface, net.IPv4(0, 0, 0, 0), 0)
		w.Uint32(uint32(len(tw)))
		w.Uint32(uint32(len(tw)))
		w.Raw(tw)
		w.Align(4)
		w.Raw(make([]byte, 20))
		w.Uint32(maxTowers)
		out, err := m.call(context.Background(), &Call{Opnum: opEptMap, Stub: w.Bytes()})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	out := ask(srvsvcSyntax, 4)
	want := tcpTower(srvsvcSyntax, net.IPv4(127, 0, 0, 9), 4242)
	// entry_handle(20) num_towers max_count offset actual_count referent
	// max_count tower_length, tower, padding, status
	if le32(out[20:]) != 1 || le32(out[32:]) != 1 || !bytes.Equal(out[48:48+len(want)], want) {
		t.Fatalf("ept_map response %x", out)
	}
	if st := le32(out[len(out)-4:]); st != 0 {
		t.Fatalf("status %#x", st)
	}
	// The port floor is big-endian: 4242 = 0x1092.
	if !bytes.Contains(want, []byte{1, 0, protoTCP, 2, 0, 0x10, 0x92}) {
		t.Fatalf("tower %x", want)
	}
	out = ask(ndr64Syntax, 4)
	if le32(out[20:]) != 0 || le32(out[len(out)-4:]) != eptNotRegistered {
		t.Fatalf("unregistered interface: %x", out)
	}
	out = ask(srvsvcSyntax, 0)
	if le32(out[20:]) != 0 {
		t.Fatalf("max_towers 0 returned towers: %x", out)
	}
}

func FuzzEptMapRequest(f *testing.F) {
	w := ndr.NewWriter()
	w.Pointer(true)
	w.Raw(srvsvcSyntax.UUID[:])
	w.Pointer(true)
	tw := tcpTower(srvsvcSyntax, net.IPv4(127, 0, 0, 1), 135)
	w.Uint32(uint32(len(tw)))
	w.Uint32(uint32(len(tw)))
	w.Raw(tw)
	w.Align(4)
	w.Raw(make([]byte, 20))
	w.Uint32(1)
	f.Add(w.Bytes())
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	m := NewEndpointMapper()
	m.Register(srvsvcSyntax, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := UnmarshalEptMapRequest(b)
		if err == nil {
			parseTower(q.Tower)
		}
		m.call(context.Background(), &Call{Opnum: opEptMap, Stub: b, Local: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}})
	})
}

// FuzzTCPStream feeds arbitrary bytes to a TCP association as a client's
// stream: the reader must end with an error or EOF, never panic or hang.
func FuzzTCPStream(f *testing.F) {
	f.Add(bindPDU(ptypeBind, 1, 5840, smbclientContexts()))
	f.Add(append(bindPDU(ptypeBind, 1, 5840, smbclientContexts()), requestPDU(2, pfcFirstFrag|pfcLastFrag, 0, srvsvc.OpNetrServerGetInfo, serverInfoStub(101))...))
	// A bind with an NTLMSSP verifier (NEGOTIATE_MESSAGE at integrity).
	bind := bindPDU(ptypeBind, 1, 5840, smbclientContexts())
	neg := []byte("NTLMSSP\x00\x01\x00\x00\x00\x15\x82\x08\x62\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	bind = append(bind, authTypeNTLM, authLevelIntegrity, 0, 0, 0, 0, 0, 0)
	bind = append(bind, neg...)
	binary.LittleEndian.PutUint16(bind[8:], uint16(len(bind)))
	binary.LittleEndian.PutUint16(bind[10:], uint16(len(neg)))
	f.Add(bind)
	f.Fuzz(func(t *testing.T, b []byte) {
		a := newAssoc([]*Interface{SrvsvcInterface(sofsBackend())}, "135", 1)
		a.emit = func([]byte) error { return nil }
		// With an acceptor, verifiers on binds, auth3 and requests are
		// parsed and checked rather than refused outright.
		a.ntlm = ntlm.NewServer(ntlm.Config{NetBIOSComputer: "FUZZ"})
		readPDUs(context.Background(), bytes.NewReader(b), func(h header, pdu []byte) error {
			pc, err := a.handle(h, pdu)
			if err != nil || pc == nil {
				return err
			}
			return a.run(context.Background(), pc, a.emit)
		})
	})
}
