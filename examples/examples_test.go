package examples_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// build compiles the named example commands once into a temp dir.
func build(t *testing.T, pkgs ...string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	bins := map[string]string{}
	for _, p := range pkgs {
		out := filepath.Join(dir, strings.ReplaceAll(p, "/", "_"))
		cmd := exec.Command("go", "build", "-o", out, "./"+p)
		cmd.Dir = ".."
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", p, err, b)
		}
		bins[p] = out
	}
	return bins
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer runs bin in the background until the test ends; it is stopped
// by its PID, pass or fail.
func startServer(t *testing.T, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), out.String())
		}
	})
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func runClient(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, out)
	}
	return string(out)
}

func TestQuickstart(t *testing.T) {
	bins := build(t, "examples/quickstart")
	out := runClient(t, bins["examples/quickstart"])
	for _, want := range []string{"300 calls with weighted round robin", "tps=", "failed calls: 0"} {
		if !strings.Contains(out, want) {
			t.Fatalf("quickstart output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("\n%s", out)
}

func TestP2PAndMulti(t *testing.T) {
	bins := build(t, "examples/arithserver", "examples/p2p/client", "examples/multi/client")
	a, b := freePort(t), freePort(t)
	startServer(t, bins["examples/arithserver"], "-addr", a)
	startServer(t, bins["examples/arithserver"], "-addr", b)
	waitListening(t, a)
	waitListening(t, b)

	out := runClient(t, bins["examples/p2p/client"], "-registry", "p2p://tcp@"+a, "-calls", "5")
	if !strings.Contains(out, "4 * 10 = 40 (from tcp@"+a+")") {
		t.Fatalf("p2p client output:\n%s", out)
	}
	out = runClient(t, bins["examples/multi/client"], "-registry", fmt.Sprintf("multi://tcp@%s,tcp@%s", a, b), "-calls", "10")
	if !strings.Contains(out, "tcp@"+a+":5") || !strings.Contains(out, "tcp@"+b+":5") || !strings.Contains(out, "after Update to") {
		t.Fatalf("multi client output:\n%s", out)
	}
}
