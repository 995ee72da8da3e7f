//go:build etcd

// Package etcd_test runs the etcd example end to end: an embedded etcd
// member, two example servers and the example client, each server and the
// client its own process, as a user would run them.
package etcd_test

import (
	"bytes"
	"context"
	"net"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/goleak"
)

func startEtcd(t *testing.T) string {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Dir = t.TempDir()
	u := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{u}, []url.URL{u}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{u}, []url.URL{u}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.TickMs, cfg.ElectionMs = 10, 100
	cfg.LogLevel = "fatal"
	cfg.EnableGRPCGateway = false
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd not ready")
	}
	return e.Clients[0].Addr().String()
}

func build(t *testing.T, pkgs ...string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	bins := map[string]string{}
	for _, p := range pkgs {
		out := filepath.Join(dir, filepath.Base(p))
		cmd := exec.Command("go", "build", "-tags", "etcd", "-o", out, "./"+p)
		cmd.Dir = filepath.Join("..", "..")
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

// server is one example server process.
type server struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan struct{}
}

func startServer(t *testing.T, bin string, args ...string) *server {
	t.Helper()
	s := &server{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("server %v output:\n%s", args, s.out.String())
		}
	})
	return s
}

// stop sends SIGTERM (the server deregisters) and waits for the process.
func (s *server) stop(t *testing.T) {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		t.Error("server did not stop on SIGTERM")
	}
}

// runClient runs the example client for n calls and returns its output.
func runClient(t *testing.T, bin, etcdAddr string, n int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-etcd", etcdAddr, "-n", strconv.Itoa(n), "-interval", "20ms").CombinedOutput()
	if err != nil {
		t.Fatalf("client: %v\n%s", err, out)
	}
	return string(out)
}

func TestExample(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for goleak.Find(ignore) != nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		goleak.VerifyNone(t, ignore)
	})
	bins := build(t, "examples/etcd/server", "examples/etcd/client")
	etcdAddr := startEtcd(t)
	a, b := freeAddr(t), freeAddr(t)
	sa := startServer(t, bins["examples/etcd/server"], "-etcd", etcdAddr, "-addr", a, "-update", "1s")
	startServer(t, bins["examples/etcd/server"], "-etcd", etcdAddr, "-addr", b, "-update", "1s", "-meta", "weight=2")

	// Both servers answer (round robin), once both registered.
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := runClient(t, bins["examples/etcd/client"], etcdAddr, 6)
		if strings.Contains(out, "(from tcp@"+a+")") && strings.Contains(out, "(from tcp@"+b+")") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the client never reached both servers:\n%s", out)
		}
	}
	// A stopped server deregisters: the client only reaches the other.
	sa.stop(t)
	out := runClient(t, bins["examples/etcd/client"], etcdAddr, 6)
	if strings.Contains(out, a) || strings.Count(out, "(from tcp@"+b+")") != 6 {
		t.Fatalf("after stopping %s:\n%s", a, out)
	}
}
