//go:build mdns

// Package mdns_test runs the mDNS example end to end: two Arith servers and a
// client, each its own process, finding each other by multicast DNS. It
// sends multicast, so it runs only inside a private network namespace
// (scripts/test-mdns.sh) and skips elsewhere.
package mdns_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const registry = "mdns://local?interface=lo&browse=200ms&query_timeout=100ms&ttl=3s"

// build compiles the example commands; GOPROXY=off because the namespace
// has no network: everything must already be in the module cache.
func build(t *testing.T, pkgs ...string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	bins := map[string]string{}
	for _, p := range pkgs {
		out := filepath.Join(dir, filepath.Base(p))
		cmd := exec.Command("go", "build", "-tags", "mdns", "-o", out, "./"+p)
		cmd.Dir = filepath.Join("..", "..")
		cmd.Env = append(os.Environ(), "GOPROXY=off")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", p, err, b)
		}
		bins[p] = out
	}
	return bins
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// server runs the example server until stop is called (or the test ends),
// and waits until it serves.
type server struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan struct{}
}

func startServer(t *testing.T, bin, addr string) *server {
	t.Helper()
	s := &server{cmd: exec.Command(bin, "-addr", addr, "-registry", registry), done: make(chan struct{})}
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("server %s output:\n%s", addr, s.out.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("server on %s does not listen:\n%s", addr, s.out.String())
		}
		time.Sleep(20 * time.Millisecond) // polling; the deadline decides
	}
}

// stop sends SIGTERM to the server's PID and waits for it to exit.
func (s *server) stop(t *testing.T) {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		t.Errorf("server ignored SIGTERM")
	}
}

func runClient(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"-registry", registry}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("client %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestServersAndClient(t *testing.T) {
	if os.Getenv("DISCOVERY_MDNS_NETNS") != "1" {
		t.Skip("the mDNS example sends multicast, so it runs only inside a private network namespace: run scripts/test-mdns.sh")
	}
	bins := build(t, "examples/mdns/server", "examples/mdns/client")
	a, b := freeAddr(t), freeAddr(t)
	sa := startServer(t, bins["examples/mdns/server"], a)
	startServer(t, bins["examples/mdns/server"], b)

	out := runClient(t, bins["examples/mdns/client"], "-servers", "2", "-calls", "10")
	if !strings.Contains(out, "found 2 server(s)") || !strings.Contains(out, "tcp@"+a+":5") || !strings.Contains(out, "tcp@"+b+":5") {
		t.Fatalf("client did not spread 10 calls over both servers:\n%s", out)
	}
	t.Logf("two servers:\n%s", out)

	// A stopped server stops answering: a new client finds only the other.
	sa.stop(t)
	if !strings.Contains(sa.out.String(), "stopped tcp@"+a) {
		t.Fatalf("server %s did not shut down cleanly:\n%s", a, sa.out.String())
	}
	out = runClient(t, bins["examples/mdns/client"], "-servers", "1", "-calls", "5")
	if !strings.Contains(out, "found 1 server(s)") || !strings.Contains(out, "tcp@"+b+":5]") || strings.Contains(out, a) {
		t.Fatalf("after stopping %s, want all calls on %s:\n%s", a, b, out)
	}
	t.Logf("after stopping %s:\n%s", a, out)
}
