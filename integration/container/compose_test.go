package container

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cloudsoda "github.com/cloudsoda/go-smb2"

	"sofs.io/sofs/integration/harness"
)

// Bounds on each step, so a wedged engine or node fails the test instead of
// hanging it. A whole test takes about 15 s once the image exists; the
// image's static build takes 70-80 s on two cores with a cold build cache.
const (
	// buildTimeout bounds deploy/build-image.sh: a cold static build of
	// sofsd plus docker build.
	buildTimeout = 5 * time.Minute
	// dockerCheckTimeout bounds `docker info`, which hangs rather than
	// fails when the daemon's socket exists but nothing answers.
	dockerCheckTimeout = 30 * time.Second
	// composeTimeout bounds one docker-compose command other than stop
	// and down: creating the network, volumes and containers takes a few
	// seconds.
	composeTimeout = 2 * time.Minute
	// stopTimeout is the grace period given to a stopped container
	// (sofsd shuts down within about 30 s, usually well under 1 s).
	stopTimeout = 30
	// downTimeout bounds the teardown, which stops every container with a
	// 10 s grace period and removes the network and volumes.
	downTimeout = 2 * time.Minute
	// readyTimeout bounds the wait for every node's /readyz: the etcd
	// members find each other and elect a leader in 1-3 s.
	readyTimeout = 60 * time.Second
	// smbTimeout bounds one SMB session: dial, write or read, logoff.
	smbTimeout = 60 * time.Second
	// netAttempts is how many random private subnets are tried before
	// giving up when Docker reports an overlap with an existing network.
	netAttempts = 6
)

// imageEnv names a prebuilt image to test instead of building one.
const imageEnv = "SOFS_TEST_IMAGE"

// user is the SMB user the compose files create at first start.
const (
	smbUser     = "test"
	smbPassword = "container-test-123"
	shareName   = "share"
)

// imageBuild caches the one image a test binary builds; TestMain removes it.
var imageBuild struct {
	once sync.Once
	tag  string
	took time.Duration
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if imageBuild.tag != "" {
		ctx, cancel := context.WithTimeout(context.Background(), dockerCheckTimeout)
		if out, err := exec.CommandContext(ctx, "docker", "rmi", "--force", imageBuild.tag).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "container: docker rmi %s: %v\n%s", imageBuild.tag, err, out)
		}
		cancel()
	}
	os.Exit(code)
}

// requireDocker stops the test, through harness.MissingDependency (a
// failure in CI, a skip elsewhere), unless the Docker engine answers and
// docker-compose runs.
func requireDocker(t *testing.T) {
	t.Helper()
	harness.RequireTool(t, "docker")
	harness.RequireTool(t, "docker-compose")
	harness.RequireTool(t, "go")
	harness.RequireTool(t, "bash")
	ctx, cancel := context.WithTimeout(context.Background(), dockerCheckTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		harness.MissingDependency(t, "usable Docker engine: docker info: %v: %s", err, bytes.TrimSpace(out))
	}
	if out, err := exec.CommandContext(ctx, "docker-compose", "version", "--short").CombinedOutput(); err != nil {
		harness.MissingDependency(t, "usable docker-compose: %v: %s", err, bytes.TrimSpace(out))
	}
}

// image returns the tag of the image under test, building it with
// deploy/build-image.sh on first use.
func image(t *testing.T) string {
	t.Helper()
	if tag := os.Getenv(imageEnv); tag != "" {
		// docker-compose 1.x would try to pull a missing image from a
		// registry: make sure it exists here.
		ctx, cancel := context.WithTimeout(context.Background(), dockerCheckTimeout)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Id}}", tag).CombinedOutput(); err != nil {
			t.Fatalf("%s=%s: docker image inspect: %v: %s", imageEnv, tag, err, bytes.TrimSpace(out))
		}
		return tag
	}
	imageBuild.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		root, err := harness.ModuleRoot(ctx)
		if err != nil {
			imageBuild.err = err
			return
		}
		tag := "sofs:test-" + randomHex(t, 6)
		start := time.Now()
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "deploy", "build-image.sh"), tag)
		out, err := cmd.CombinedOutput()
		// Remove the tag in TestMain even after a failure: docker build
		// may have tagged the image before the script failed.
		imageBuild.tag = tag
		imageBuild.took = time.Since(start)
		if err != nil {
			imageBuild.err = fmt.Errorf("deploy/build-image.sh %s: %v\n%s", tag, err, out)
		}
	})
	if imageBuild.err != nil {
		t.Fatal(imageBuild.err)
	}
	t.Logf("image %s (built in %s)", imageBuild.tag, imageBuild.took.Round(100*time.Millisecond))
	return imageBuild.tag
}

// project is one docker-compose project brought up from a compose file of
// deploy/ under a unique name.
type project struct {
	t    *testing.T
	name string
	file string
	env  []string
	// prefix is the project network's first three octets.
	prefix string
}

// up builds the image if needed and brings up the compose file named file
// (in deploy/) as a new project whose nodes (the services in smbNodes)
// publish SMB and the API on free ports of 127.0.0.1. The project,
// its network and its volumes are removed when the test ends, whatever
// the outcome.
func up(t *testing.T, file string, smbNodes ...string) (*project, map[string]node) {
	t.Helper()
	requireDocker(t)
	tag := image(t)
	ctx, cancel := context.WithTimeout(context.Background(), composeTimeout)
	defer cancel()
	root, err := harness.ModuleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := &project{
		t:    t,
		name: "sofstest" + randomHex(t, 5),
		file: filepath.Join(root, "deploy", file),
	}
	env := []string{"SOFS_IMAGE=" + tag, "SOFS_USER=" + smbUser + ":" + smbPassword}
	for i := 1; i <= 3; i++ {
		// An empty port publishes on a free host port of 127.0.0.1.
		env = append(env, fmt.Sprintf("SOFS%d_SMB_PORT=", i), fmt.Sprintf("SOFS%d_API_PORT=", i))
	}
	t.Cleanup(p.down)

	start := time.Now()
	for attempt := 1; ; attempt++ {
		// The compose files put the nodes on a fixed /24; pick one at
		// random in 172.18.0.0-172.31.255.0 so parallel runs and other
		// Docker networks rarely collide, and retry when Docker says they
		// do.
		p.prefix = randomPrefix(t)
		p.env = append(slices.Clip(env), "SOFS_NET_PREFIX="+p.prefix)
		out, err := p.compose(ctx, "up", "--detach", "--no-build")
		if err == nil {
			break
		}
		if attempt < netAttempts && strings.Contains(out, "overlaps") {
			t.Logf("attempt %d: %s", attempt, strings.TrimSpace(out))
			// Remove what the failed attempt created before retrying.
			p.compose(ctx, "down", "--volumes", "--remove-orphans", "--timeout", "1")
			continue
		}
		t.Fatalf("docker-compose up: %v\n%s", err, out)
	}
	t.Logf("project %s up in %s", p.name, time.Since(start).Round(10*time.Millisecond))

	return p, p.ready(smbNodes...)
}

// ready finds the host ports the services publish and waits until each
// one's /readyz answers 200.
func (p *project) ready(svcs ...string) map[string]node {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	start := time.Now()
	// A restarted container gets new host ports: ask every time.
	ports := p.published(ctx)
	nodes := map[string]node{}
	for _, svc := range svcs {
		n := node{name: svc, smb: ports[svc]["445/tcp"], api: ports[svc]["4480/tcp"]}
		if n.smb == "" || n.api == "" {
			p.t.Fatalf("%s publishes %v; want 445/tcp and 4480/tcp", svc, ports[svc])
		}
		if err := waitReady(ctx, n.api); err != nil {
			p.t.Fatalf("%s (API %s) not ready within %s: %v", svc, n.api, readyTimeout, err)
		}
		nodes[svc] = n
	}
	p.t.Logf("%v ready in %s", svcs, time.Since(start).Round(10*time.Millisecond))
	return nodes
}

// compose runs docker-compose for the project and returns its combined
// output.
func (p *project) compose(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker-compose", append([]string{"--ansi", "never", "-p", p.name, "-f", p.file}, args...)...)
	cmd.Env = append(os.Environ(), p.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// published returns, for each service of the project, the host addresses
// that publish its container ports ("445/tcp" -> "127.0.0.1:PORT"); it
// fails the test if a port is published anywhere but on 127.0.0.1. It asks
// the engine directly: one docker-compose call per port would cost about
// 1.5 s each.
func (p *project) published(ctx context.Context) map[string]map[string]string {
	p.t.Helper()
	out, err := exec.CommandContext(ctx, "docker", "ps", "--all", "--quiet",
		"--filter", "label=com.docker.compose.project="+p.name).Output()
	if err != nil {
		p.t.Fatalf("docker ps: %v", err)
	}
	ids := strings.Fields(string(out))
	if len(ids) == 0 {
		p.t.Fatalf("docker ps: no containers in project %s", p.name)
	}
	out, err = exec.CommandContext(ctx, "docker", append([]string{"inspect"}, ids...)...).Output()
	if err != nil {
		p.t.Fatalf("docker inspect: %v", err)
	}
	var containers []struct {
		Config struct {
			Labels map[string]string
		}
		NetworkSettings struct {
			Ports map[string][]struct {
				HostIP   string `json:"HostIp"`
				HostPort string
			}
		}
	}
	if err := json.Unmarshal(out, &containers); err != nil {
		p.t.Fatalf("docker inspect: %v", err)
	}
	m := map[string]map[string]string{}
	for _, c := range containers {
		svc := c.Config.Labels["com.docker.compose.service"]
		m[svc] = map[string]string{}
		for port, bindings := range c.NetworkSettings.Ports {
			for _, b := range bindings {
				if b.HostIP != "127.0.0.1" {
					p.t.Fatalf("%s: port %s published on %q, want 127.0.0.1 only", svc, port, b.HostIP)
				}
				m[svc][port] = net.JoinHostPort(b.HostIP, b.HostPort)
			}
		}
	}
	return m
}

// stop stops one service's container gracefully (SIGTERM).
func (p *project) stop(svc string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), composeTimeout)
	defer cancel()
	start := time.Now()
	if out, err := p.compose(ctx, "stop", "--timeout", fmt.Sprint(stopTimeout), svc); err != nil {
		p.t.Fatalf("docker-compose stop %s: %v\n%s", svc, err, out)
	}
	p.t.Logf("stopped %s in %s", svc, time.Since(start).Round(10*time.Millisecond))
}

// start starts a stopped service's container again.
func (p *project) start(svc string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), composeTimeout)
	defer cancel()
	if out, err := p.compose(ctx, "start", svc); err != nil {
		p.t.Fatalf("docker-compose start %s: %v\n%s", svc, err, out)
	}
}

// down logs the containers' output if the test failed, then removes the
// project's containers, network and volumes.
func (p *project) down() {
	ctx, cancel := context.WithTimeout(context.Background(), downTimeout)
	defer cancel()
	if p.t.Failed() {
		out, _ := p.compose(ctx, "logs", "--no-color", "--tail", "60")
		p.t.Logf("docker-compose logs:\n%s", out)
	}
	start := time.Now()
	if out, err := p.compose(ctx, "down", "--volumes", "--remove-orphans", "--timeout", "10"); err != nil {
		p.t.Errorf("docker-compose down: %v\n%s", err, out)
		return
	}
	p.t.Logf("project %s down in %s", p.name, time.Since(start).Round(10*time.Millisecond))
}

// node is one sofs container as seen from the host.
type node struct {
	name string
	smb  string // published SMB address, 127.0.0.1:PORT
	api  string // published admin API address, 127.0.0.1:PORT
}

// waitReady polls the node's /readyz until it answers 200 or ctx ends.
func waitReady(ctx context.Context, api string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+api+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /readyz: %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// withShare runs f, described by what, on the share mounted through n in a
// new SMB session.
func withShare(t *testing.T, n node, what string, f func(*cloudsoda.Share) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), smbTimeout)
	defer cancel()
	d := &cloudsoda.Dialer{
		// A balance of at least 64 credits keeps this client on 1 MiB
		// reads and writes ([MS-SMB2] 3.1.5.2; see integration's Go
		// client test).
		MaxCreditBalance: 128,
		Negotiator:       cloudsoda.Negotiator{RequireMessageSigning: true},
		Initiator:        &cloudsoda.NTLMInitiator{User: smbUser, Password: smbPassword},
	}
	s, err := d.Dial(ctx, n.smb)
	if err != nil {
		t.Fatalf("%s: dial and session setup: %v", n.name, err)
	}
	defer s.Logoff()
	sh, err := s.WithContext(ctx).Mount(shareName)
	if err != nil {
		t.Fatalf("%s: mount %s: %v", n.name, shareName, err)
	}
	defer sh.Umount()
	start := time.Now()
	if err := f(sh); err != nil {
		t.Fatalf("%s: %v", n.name, err)
	}
	t.Logf("%s: %s in %s", n.name, what, time.Since(start).Round(time.Millisecond))
}

func writeVia(t *testing.T, n node, name string, data []byte) {
	t.Helper()
	withShare(t, n, "write "+name, func(sh *cloudsoda.Share) error {
		if err := sh.WriteFile(name, data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		return nil
	})
}

func readVia(t *testing.T, n node, name string, want []byte) {
	t.Helper()
	withShare(t, n, "read "+name, func(sh *cloudsoda.Share) error {
		got, err := sh.ReadFile(name)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("read %s: %d bytes differ from the %d written", name, len(got), len(want))
		}
		return nil
	})
}

// payload returns random bytes: more than one 1 MiB request and not a
// multiple of any chunk size, so a partial last chunk is checked too.
func payload(t *testing.T) []byte {
	b := make([]byte, 2<<20+123)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestComposeCluster brings up deploy/compose.yaml (three nodes, one shared
// volume), writes through one node and reads through the other two, stops
// a node and shows that the survivors still read and write, then starts
// it again and reads through it.
func TestComposeCluster(t *testing.T) {
	t.Parallel()
	p, n := up(t, "compose.yaml", "sofs1", "sofs2", "sofs3")
	// etcd between the containers is mutual TLS: this test process, on
	// the host, reaches the nodes' etcd ports over the project's bridge
	// but has no certificate from the cluster's CA.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := 11; i <= 13; i++ {
		host := fmt.Sprintf("%s.%d", p.prefix, i)
		if err := harness.EtcdStranger(ctx, t.TempDir(), "https://"+host+":2379", "https://"+host+":2380"); err != nil {
			t.Fatalf("node at %s: %v", host, err)
		}
	}
	checkWitness(t, p, "sofs1", "sofs2", "sofs3")
	a := payload(t)
	writeVia(t, n["sofs1"], "a.bin", a)
	readVia(t, n["sofs2"], "a.bin", a)
	readVia(t, n["sofs3"], "a.bin", a)

	p.stop("sofs1")
	readVia(t, n["sofs3"], "a.bin", a)
	b := payload(t)
	writeVia(t, n["sofs2"], "b.bin", b)
	readVia(t, n["sofs3"], "b.bin", b)

	// The stopped node restarts from its data volume and rejoins.
	p.start("sofs1")
	n = p.ready("sofs1")
	readVia(t, n["sofs1"], "b.bin", b)
}

// TestComposeWitness brings up deploy/compose-witness.yaml (two nodes and
// a quorum witness), writes through one node and reads through the other,
// then stops the writer: with the witness's vote the survivor keeps
// quorum and still reads and writes.
func TestComposeWitness(t *testing.T) {
	t.Parallel()
	p, n := up(t, "compose-witness.yaml", "sofs1", "sofs2")
	checkWitness(t, p, "sofs1", "sofs2")
	a := payload(t)
	writeVia(t, n["sofs1"], "a.bin", a)
	readVia(t, n["sofs2"], "a.bin", a)

	p.stop("sofs1")
	readVia(t, n["sofs2"], "a.bin", a)
	b := payload(t)
	writeVia(t, n["sofs2"], "b.bin", b)
	readVia(t, n["sofs2"], "b.bin", b)
}

// witnessTimeout bounds one rpcclient run against a node's SMB Witness.
const witnessTimeout = 30 * time.Second

// checkWitness asks the SMB Witness of the first of nodes for its
// interface list with Samba's rpcclient, over the project's bridge: it
// finds the witness port through the endpoint mapper on port 135 of the
// node's private address, as Windows clients do. Every node must be
// listed, available and witness-capable, under its advertised private
// address (compose services sofsN are at PREFIX.1N).
func checkWitness(t *testing.T, p *project, nodes ...string) {
	t.Helper()
	bin := harness.RequireTool(t, "rpcclient")
	ctx, cancel := context.WithTimeout(context.Background(), witnessTimeout)
	defer cancel()
	addr := func(svc string) string { return p.prefix + ".1" + strings.TrimPrefix(svc, "sofs") }
	// The witness serves authenticated users only: NTLM at integrity.
	out, err := exec.CommandContext(ctx, bin, "--use-kerberos=off", "-U", smbUser+"%"+smbPassword, "ncacn_ip_tcp:"+addr(nodes[0])+"[sign]", "-c", "GetInterfaceList").CombinedOutput()
	if err != nil {
		t.Fatalf("rpcclient GetInterfaceList on %s: %v\n%s", nodes[0], err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, svc := range nodes {
		if want := "*+ " + svc + " " + addr(svc) + " V2"; !slices.Contains(lines, want) {
			t.Fatalf("interface list lacks %q:\n%s", want, out)
		}
	}
	if len(lines) != len(nodes) {
		t.Fatalf("interface list has %d lines, want %d:\n%s", len(lines), len(nodes), out)
	}
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// randomPrefix returns the first three octets of a random /24 in
// 172.18.0.0/15-172.31.255.0/24: private addresses (RFC 1918) in the range
// Docker itself allocates bridge networks from, skipping 172.16 and 172.17
// (docker0's default).
func randomPrefix(t *testing.T) string {
	second, err := rand.Int(rand.Reader, big.NewInt(14))
	if err != nil {
		t.Fatal(err)
	}
	third, err := rand.Int(rand.Reader, big.NewInt(256))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("172.%d.%d", 18+second.Int64(), third.Int64())
}
