//go:build etcd

package main

import (
	"testing"

	"github.com/seedforge/discovery/internal/testserver"
)

// The same example on etcd: an embedded member, and the binary built with
// -tags etcd pointed at it with -registry.
func TestExampleEtcd(t *testing.T) {
	bin := buildExample(t, "etcd")
	out := runExample(t, bin, "-registry", "etcd://"+startEtcd(t)+"/services")
	t.Logf("\n%s", out)
}

func startEtcd(t *testing.T) string {
	t.Helper()
	return testserver.StartEtcd(t).Endpoint()
}
