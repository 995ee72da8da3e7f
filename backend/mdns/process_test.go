//go:build mdns

package mdns_test

// Registrars in other processes: the test binary runs itself as a helper
// that registers one instance through discovery.Open("mdns://…") and keeps
// it registered until SIGTERM.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/leaktest"
)

const (
	helperEnv = "DISCOVERY_MDNS_HELPER" // "register": run as a registrar process
	// The URL every process opens: browse 200ms, answers within 100ms,
	// an instance unseen for 600ms is gone; records live 1s unrefreshed.
	processURL = "mdns://local?interface=lo&browse=200ms&query_timeout=100ms&ttl=1s"
	// settle as in the internal tests: 2 × (expiry + browse + query).
	processSettle = 1800 * time.Millisecond
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "register" {
		os.Exit(registrar(os.Getenv("DISCOVERY_MDNS_SERVICE"), os.Getenv("DISCOVERY_MDNS_ADDR")))
	}
	os.Exit(m.Run())
}

// registrar is the helper process: register, say so, wait for SIGTERM,
// deregister.
func registrar(service, addr string) int {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	c, err := discovery.Open(processURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Register(ctx, core.Instance{Service: service, Addr: addr, Meta: core.Metadata{"pid": fmt.Sprint(os.Getpid())}}); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	fmt.Println("registered", addr)
	<-stop
	if err := c.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	fmt.Println("deregistered", addr)
	return 0
}

type helper struct {
	cmd    *exec.Cmd
	addr   string
	lines  chan string // the helper's stdout; closed at its end
	exited chan error
	stderr syncBuffer
	done   bool
}

// syncBuffer is the helper's stderr, written by exec's copying goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startRegistrar runs a registrar process and waits until it has registered.
func startRegistrar(t *testing.T, service, addr string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=register", "DISCOVERY_MDNS_SERVICE="+service, "DISCOVERY_MDNS_ADDR="+addr)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, addr: addr, lines: make(chan string, 16), exited: make(chan error, 1)}
	cmd.Stderr = &h.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
		h.exited <- cmd.Wait() // after every read, as exec requires
	}()
	t.Cleanup(func() { h.stop(t) })
	h.expect(t, "registered "+addr)
	return h
}

// expect waits for the helper to print want.
func (h *helper) expect(t *testing.T, want string) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case l, ok := <-h.lines:
			if !ok {
				t.Fatalf("helper %s ended before printing %q; stderr:\n%s", h.addr, want, h.stderr.String())
			}
			if l == want {
				return
			}
		case <-deadline.C:
			t.Fatalf("helper %s did not print %q; stderr:\n%s", h.addr, want, h.stderr.String())
		}
	}
}

// stop sends SIGTERM to the helper's PID and waits for it to exit.
func (h *helper) stop(t *testing.T) {
	t.Helper()
	if h.done {
		return
	}
	h.done = true
	h.cmd.Process.Signal(syscall.SIGTERM)
	deregistered := false
	for l := range h.lines {
		deregistered = deregistered || l == "deregistered "+h.addr
	}
	if !deregistered {
		t.Errorf("helper %s did not deregister on SIGTERM; stderr:\n%s", h.addr, h.stderr.String())
	}
	select {
	case err := <-h.exited:
		if err != nil {
			t.Errorf("helper %s: %v; stderr:\n%s", h.addr, err, h.stderr.String())
		}
	case <-time.After(20 * time.Second):
		h.cmd.Process.Kill()
		t.Errorf("helper %s ignored SIGTERM", h.addr)
	}
}

// Two registrar processes and a discovery in this one: both are found; the
// one stopped with SIGTERM (it deregisters and exits) disappears, the other
// stays.
func TestRegistrarsInSeparateProcesses(t *testing.T) {
	if os.Getenv("DISCOVERY_MDNS_NETNS") != "1" {
		t.Skip("mDNS tests send multicast, so they run only inside a private network namespace: run scripts/test-mdns.sh")
	}
	leaktest.Check(t)
	const service = "Procs"
	c, err := discovery.Open(processURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()
	ch, err := c.Watch(ctx, service)
	if err != nil {
		t.Fatal(err)
	}
	coretest.Next(t, ch, processSettle, "the first, empty list", coretest.HasAddrs())

	a := startRegistrar(t, service, "tcp@127.0.0.1:21001")
	registered := time.Now()
	coretest.Next(t, ch, processSettle, "the first process's instance", coretest.HasAddrs(a.addr))
	joinA := time.Since(registered)
	b := startRegistrar(t, service, "tcp@127.0.0.1:21002")
	registered = time.Now()
	got := coretest.Next(t, ch, processSettle, "both processes' instances", coretest.HasAddrs(a.addr, b.addr))
	joinB := time.Since(registered)
	if got[0].Meta["pid"] != fmt.Sprint(a.cmd.Process.Pid) || got[1].Meta["pid"] != fmt.Sprint(b.cmd.Process.Pid) {
		t.Fatalf("metadata does not name the registering processes: %v", got)
	}

	stopped := time.Now()
	a.stop(t)
	coretest.Next(t, ch, processSettle, "only the second process's instance", coretest.HasAddrs(b.addr))
	leave := time.Since(stopped)
	t.Logf("%s: join seen %v and %v after the processes registered; leave seen %v after SIGTERM",
		processURL, joinA.Round(time.Millisecond), joinB.Round(time.Millisecond), leave.Round(time.Millisecond))
}
