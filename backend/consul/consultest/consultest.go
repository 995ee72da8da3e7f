//go:build consul

// Package consultest runs real Consul agents for tests: a -dev agent (one
// in-memory server) on free loopback ports, ready once it has a leader and
// has registered its own node, stopped by its PID.
//
// The agent binary is $CONSUL_BIN, else consul on PATH, else the one
// scripts/install-consul.sh builds and caches. Without one, tests are
// skipped with a message naming that script, except when $CI is set: then
// they fail.
package consultest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Version is the Consul version scripts/install-consul.sh builds by default.
const Version = "1.20.2"

// StopTimeout is how long Stop waits after SIGTERM before SIGKILL.
const StopTimeout = 10 * time.Second

// ReadyTimeout bounds the wait for a leader and the agent's node.
const ReadyTimeout = 60 * time.Second

// Binary returns the path of the consul agent binary.
func Binary() (string, error) {
	if p := os.Getenv("CONSUL_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("no consul agent: CONSUL_BIN=%s: %v (scripts/install-consul.sh builds one and prints its path)", p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("consul"); err == nil {
		return p, nil
	}
	version := os.Getenv("CONSUL_VERSION")
	if version == "" {
		version = Version
	}
	cache := os.Getenv("DISCOVERY_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", err
			}
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "seedforge-discovery")
	}
	p := filepath.Join(cache, "consul-"+version, "consul")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no consul agent: set CONSUL_BIN, put consul on PATH, or run scripts/install-consul.sh (builds Consul v%s into %s)", version, p)
	}
	return p, nil
}

// Require returns the binary's path, or skips t (fails it when $CI is set).
func Require(t testing.TB) string {
	t.Helper()
	p, err := Binary()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set and %v", err)
		}
		t.Skip(err)
	}
	return p
}

// Options shape an agent.
type Options struct {
	// HCL snippets passed with -hcl, e.g. `session_ttl_min = "1s"`.
	HCL []string
	// Token is the ACL token the readiness probe uses (the management
	// token of an agent with ACLs).
	Token string
	// HTTPS also opens an https port (configure TLS through HCL).
	HTTPS bool
}

// Agent is one running -dev agent.
type Agent struct {
	// Addr is the http host:port; HTTPSAddr the https one when asked for.
	Addr, HTTPSAddr string
	// Node is the agent's node name.
	Node string

	bin   string
	opts  Options
	ports map[string]int
	// For members of a Cluster (not -dev): the data directory, the server
	// count a server waits for (0 for the client agent), and the Serf LAN
	// address to join.
	dataDir string
	expect  int
	join    string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  *tailBuffer
}

// Start starts an agent for t and stops it when t ends, pass or fail; the
// agent's output is logged when t failed.
func Start(t testing.TB, opts Options) *Agent {
	t.Helper()
	bin := Require(t)
	a, err := start(bin, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Stop(); err != nil {
			t.Errorf("stop consul agent: %v", err)
		}
		if t.Failed() {
			t.Logf("consul agent %s output (tail):\n%s", a.Addr, a.Output())
		}
	})
	return a
}

// New starts an agent outside a test (TestMain); the caller must Stop it.
func New(opts Options) (*Agent, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	return start(bin, opts)
}

func start(bin string, opts Options) (*Agent, error) {
	var last error
	for range 3 { // a port picked free may be taken before the agent binds it
		ports, err := freePorts(opts.HTTPS, map[int]bool{})
		if err != nil {
			return nil, err
		}
		a := &Agent{bin: bin, opts: opts, ports: ports}
		a.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports["http"]))
		if opts.HTTPS {
			a.HTTPSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports["https"]))
		}
		a.Node = "consultest-" + strconv.Itoa(ports["http"])
		if last = a.launch(); last == nil {
			return a, nil
		}
	}
	return nil, last
}

// launch starts the process on a's ports and waits until it is ready.
func (a *Agent) launch() error {
	done, err := a.spawn()
	if err != nil {
		return err
	}
	if err := a.waitReady(done); err != nil {
		a.Stop()
		return fmt.Errorf("consul agent on %s: %v\n%s", a.Addr, err, a.Output())
	}
	return nil
}

// spawn starts the process on a's ports without waiting for it.
func (a *Agent) spawn() (<-chan struct{}, error) {
	p := a.ports
	args := []string{"agent", "-dev"}
	if a.dataDir != "" {
		args = []string{"agent", "-data-dir", a.dataDir, "-retry-join", a.join, "-retry-interval", "1s",
			// Raft at its fastest (production timing): elections in about a second.
			"-hcl", "performance { raft_multiplier = 1 }"}
		if a.expect > 0 {
			args = append(args, "-server", "-bootstrap-expect", strconv.Itoa(a.expect))
		}
	}
	args = append(args,
		"-bind", "127.0.0.1", "-client", "127.0.0.1", "-node", a.Node,
		"-http-port", strconv.Itoa(p["http"]),
		"-dns-port", "-1", "-grpc-port", "-1", "-grpc-tls-port", "-1",
		"-serf-lan-port", strconv.Itoa(p["serf_lan"]),
		"-serf-wan-port", strconv.Itoa(p["serf_wan"]),
		"-server-port", strconv.Itoa(p["server"]),
		"-log-level", "warn",
	)
	if a.opts.HTTPS {
		args = append(args, "-hcl", fmt.Sprintf("ports { https = %d }", p["https"]))
	}
	for _, h := range a.opts.HCL {
		args = append(args, "-hcl", h)
	}
	cmd := exec.Command(a.bin, args...)
	out := &tailBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	// The agent dies with the test binary, even if it panics or is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start consul agent: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	a.mu.Lock()
	a.cmd, a.done, a.out = cmd, done, out
	a.mu.Unlock()
	return done, nil
}

// waitReady polls until the agent has a leader and its node is registered
// with a passing serfHealth check (sessions need that), or the deadline.
func (a *Agent) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(ReadyTimeout)
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string, v any) error {
		req, _ := http.NewRequest("GET", "http://"+a.Addr+path, nil)
		if a.opts.Token != "" {
			req.Header.Set("X-Consul-Token", a.opts.Token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s: %s", path, resp.Status)
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("agent exited while starting")
		default:
		}
		var leader string
		var checks []struct{ CheckID, Status string }
		switch {
		case get("/v1/status/leader", &leader) != nil || leader == "":
			last = errors.New("no leader yet")
		case get("/v1/health/node/"+a.Node, &checks) != nil:
			last = errors.New("node not registered yet")
		default:
			for _, c := range checks {
				if c.CheckID == "serfHealth" && c.Status == "passing" {
					return nil
				}
			}
			last = errors.New("serfHealth not passing yet")
		}
		time.Sleep(20 * time.Millisecond) // polling interval; the deadline decides
	}
	return fmt.Errorf("not ready within %v: %v", ReadyTimeout, last)
}

// PID is the agent process's id, 0 when it is not running.
func (a *Agent) PID() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd == nil || a.cmd.Process == nil {
		return 0
	}
	return a.cmd.Process.Pid
}

// Stop ends the agent by its PID: SIGTERM, then SIGKILL after StopTimeout.
// Consul exits with status 1 on SIGTERM; that is not an error here.
func (a *Agent) Stop() error {
	a.mu.Lock()
	cmd, done := a.cmd, a.done
	a.cmd = nil
	a.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(StopTimeout):
	}
	cmd.Process.Kill()
	<-done
	return fmt.Errorf("consul agent %s (pid %d) ignored SIGTERM for %v; killed", a.Addr, cmd.Process.Pid, StopTimeout)
}

// Kill ends the agent with SIGKILL, as a crash would, and waits for it.
func (a *Agent) Kill() {
	a.mu.Lock()
	cmd, done := a.cmd, a.done
	a.cmd = nil
	a.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// Restart starts a fresh agent on the same ports (a -dev agent keeps its
// state in memory, so it comes back empty, with a new Raft index). It stops
// the running one first, if any.
func (a *Agent) Restart() error {
	if err := a.Stop(); err != nil {
		return err
	}
	return a.launch()
}

// Output is the tail of the agent's output.
func (a *Agent) Output() string {
	a.mu.Lock()
	out := a.out
	a.mu.Unlock()
	if out == nil {
		return ""
	}
	return out.String()
}

// Do sends one request to the agent's http API with token and decodes a
// JSON answer into v (when not nil). A []byte body is sent as is (a KV
// value), any other non-nil body as JSON. It is for test setup (ACL
// policies, raw writes) where the api package would add nothing.
func (a *Agent) Do(ctx context.Context, method, path, token string, body, v any) error {
	var rd *bytes.Reader
	if b, ok := body.([]byte); ok {
		rd = bytes.NewReader(b)
	} else if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+a.Addr+path, rd)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("X-Consul-Token", token)
	}
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		var b strings.Builder
		buf := make([]byte, 512)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(b.String()))
	}
	if v == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// freePorts picks the agent's ports on loopback, none of them in taken,
// which it extends; Serf's need TCP and UDP.
func freePorts(https bool, taken map[int]bool) (map[string]int, error) {
	ports := map[string]int{}
	names := []string{"http", "server", "serf_lan", "serf_wan"}
	if https {
		names = append(names, "https")
	}
	for _, name := range names {
		udp := strings.HasPrefix(name, "serf")
		for tries := 0; ; tries++ {
			if tries > 50 {
				return nil, fmt.Errorf("no free loopback port for %s", name)
			}
			p, err := freePort(udp)
			if err != nil {
				return nil, err
			}
			if !taken[p] {
				taken[p] = true
				ports[name] = p
				break
			}
		}
	}
	return ports, nil
}

func freePort(udp bool) (int, error) {
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := ln.Addr().(*net.TCPAddr).Port
		if !udp {
			ln.Close()
			return p, nil
		}
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		ln.Close()
		if err == nil {
			pc.Close()
			return p, nil
		}
	}
	return 0, errors.New("no port free for both TCP and UDP on loopback")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
