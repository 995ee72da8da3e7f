//go:build etcd

package main

import (
	"io"
	"net/http"
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

// discovery ui serves the dashboard of the registry; open only on loopback.
func TestUICommand(t *testing.T) {
	srv := testserver.StartEtcd(t)
	url := "etcd://" + srv.Endpoint() + "/discovery_cli"
	if r := runCLI(t, "ui", url, "--listen", "0.0.0.0:0"); r.code != exitUsage || !strings.Contains(r.stderr, "DISCOVERY_UI_TOKEN") {
		t.Errorf("ui on 0.0.0.0 without a token: exit %d: %s", r.code, r.stderr)
	}
	reg := startCLI(t, "register", "--json", url, "Echo", "tcp@127.0.0.1:18201")
	waitFor(t, step, "registration", func() bool { return strings.Contains(reg.stdout.String(), `"event":"registered"`) })
	ui := startCLI(t, "ui", url, "--listen", "127.0.0.1:0")
	var addr string
	waitFor(t, step, "the dashboard's address", func() bool {
		_, rest, ok := strings.Cut(ui.stdout.String(), " on http://")
		addr, _, _ = strings.Cut(rest, "/ui")
		return ok && addr != ""
	})
	waitFor(t, step, "Echo on the dashboard, found by enumeration", func() bool {
		res, err := http.Get("http://" + addr + "/ui/api/state")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode == 200 && strings.Contains(string(b), `"addr":"tcp@127.0.0.1:18201"`)
	})
}
