//go:build etcd

package main

import (
	"strings"
	"testing"

	"github.com/seedforge/discovery/internal/testserver"
)

// drain and undrain from the command line, while another process owns the
// registration and refreshes it.
func TestDrainCommand(t *testing.T) {
	srv := testserver.StartEtcd(t)
	url := "etcd://" + srv.Endpoint() + "/discovery_cli?ttl=2s"
	const addr = "tcp@127.0.0.1:18101"
	p := startCLI(t, "register", "--json", url, "Echo", addr, "--meta", "weight=2")
	waitFor(t, step, "registration", func() bool { return strings.Contains(p.stdout.String(), `"event":"registered"`) })

	if r := runCLI(t, "drain", url, "Echo", addr); r.code != 0 || !strings.Contains(r.stdout, "drained Echo "+addr) {
		t.Fatalf("drain: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	waitFor(t, step, "the drained instance left out of list", func() bool {
		r := runCLI(t, "list", "--json", url, "Echo")
		return r.code == 0 && len(parseList(t, r)) == 0
	})
	if r := runCLI(t, "drain", url, "Echo", "tcp@127.0.0.1:1"); r.code != exitFailure || !strings.Contains(r.stderr, "no such instance") {
		t.Errorf("drain of an unknown instance: exit %d: %s", r.code, r.stderr)
	}
	if r := runCLI(t, "undrain", url, "Echo", addr); r.code != 0 {
		t.Fatalf("undrain: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	waitFor(t, step, "the undrained instance listed again", func() bool {
		r := runCLI(t, "list", "--json", url, "Echo")
		return r.code == 0 && len(parseList(t, r)) == 1
	})
}
