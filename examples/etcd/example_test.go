//go:build etcd

// Package etcd_test runs the etcd example end to end: an embedded etcd
// member, two example servers and the example client, each server and the
// client its own process, as a user would run them.
package etcd_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seedforge/discovery/internal/leaktest"
	"github.com/seedforge/discovery/internal/proctest"
	"github.com/seedforge/discovery/internal/testserver"
)

func startEtcd(t *testing.T) string {
	t.Helper()
	return testserver.StartEtcd(t).Endpoint()
}

func runClient(t *testing.T, bin, etcdAddr string, n int) string {
	t.Helper()
	return proctest.Run(t, bin, "-etcd", etcdAddr, "-n", strconv.Itoa(n), "-interval", "20ms")
}

func TestExample(t *testing.T) {
	leaktest.Check(t)
	bins := proctest.Build(t, proctest.BuildOptions{Tags: "etcd"}, "examples/etcd/server", "examples/etcd/client")
	etcdAddr := startEtcd(t)
	a, b := proctest.FreeAddr(t), proctest.FreeAddr(t)
	sa := proctest.Start(t, bins["examples/etcd/server"], "-etcd", etcdAddr, "-addr", a, "-update", "1s")
	proctest.Start(t, bins["examples/etcd/server"], "-etcd", etcdAddr, "-addr", b, "-update", "1s", "-meta", "weight=2")

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
	if err := sa.Stop(t); err != nil {
		t.Fatalf("server exit: %v", err)
	}
	out := runClient(t, bins["examples/etcd/client"], etcdAddr, 6)
	if strings.Contains(out, a) || strings.Count(out, "(from tcp@"+b+")") != 6 {
		t.Fatalf("after stopping %s:\n%s", a, out)
	}
}
