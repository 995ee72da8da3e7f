//go:build mdns

// Package mdns_test runs the mDNS example end to end: two Arith servers and a
// client, each its own process, finding each other by multicast DNS. It
// sends multicast, so it runs only inside a private network namespace
// (scripts/test-mdns.sh) and skips elsewhere.
package mdns_test

import (
	"os"
	"strings"
	"testing"

	"github.com/seedforge/discovery/internal/proctest"
)

const registry = "mdns://local?interface=lo&browse=200ms&query_timeout=100ms&ttl=3s"

func startServer(t *testing.T, bin, addr string) *proctest.Proc {
	t.Helper()
	p := proctest.Start(t, bin, "-addr", addr, "-registry", registry)
	proctest.WaitListening(t, addr)
	return p
}

func runClient(t *testing.T, bin string, args ...string) string {
	t.Helper()
	return proctest.Run(t, bin, append([]string{"-registry", registry}, args...)...)
}

func TestServersAndClient(t *testing.T) {
	if os.Getenv("DISCOVERY_MDNS_NETNS") != "1" {
		t.Skip("the mDNS example sends multicast, so it runs only inside a private network namespace: run scripts/test-mdns.sh")
	}
	// Offline: the namespace has no network, the module cache must do.
	bins := proctest.Build(t, proctest.BuildOptions{Tags: "mdns", Offline: true}, "examples/mdns/server", "examples/mdns/client")
	a, b := proctest.FreeAddr(t), proctest.FreeAddr(t)
	sa := startServer(t, bins["examples/mdns/server"], a)
	startServer(t, bins["examples/mdns/server"], b)

	out := runClient(t, bins["examples/mdns/client"], "-servers", "2", "-calls", "10")
	if !strings.Contains(out, "found 2 server(s)") || !strings.Contains(out, "tcp@"+a+":5") || !strings.Contains(out, "tcp@"+b+":5") {
		t.Fatalf("client did not spread 10 calls over both servers:\n%s", out)
	}
	t.Logf("two servers:\n%s", out)

	// A stopped server stops answering: a new client finds only the other.
	if err := sa.Stop(t); err != nil || !strings.Contains(sa.Output(), "stopped tcp@"+a) {
		t.Fatalf("server %s did not shut down cleanly (%v):\n%s", a, err, sa.Output())
	}
	out = runClient(t, bins["examples/mdns/client"], "-servers", "1", "-calls", "5")
	if !strings.Contains(out, "found 1 server(s)") || !strings.Contains(out, "tcp@"+b+":5]") || strings.Contains(out, a) {
		t.Fatalf("after stopping %s, want all calls on %s:\n%s", a, b, out)
	}
	t.Logf("after stopping %s:\n%s", a, out)
}
