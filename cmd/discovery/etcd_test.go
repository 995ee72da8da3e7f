//go:build etcd

package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/seedforge/discovery/internal/faultproxy"
	"github.com/seedforge/discovery/internal/leaktest"
	"github.com/seedforge/discovery/internal/testserver"
)

func init() { buildTags = append(buildTags, "etcd") }

// TestEtcd runs the register/get/list/watch flow against an embedded etcd,
// then checks inactive instances, an unreachable cluster and passwords.
func TestEtcd(t *testing.T) {
	leaktest.Check(t)
	srv := testserver.StartEtcd(t)
	url := "etcd://" + srv.Endpoint() + "/discovery_cli"

	t.Run("flow", func(t *testing.T) { registryFlow(t, url, "Arith") })

	t.Run("inactive", func(t *testing.T) {
		// get shows an inactive instance, marked; list leaves it out.
		const active, inactive = "tcp@127.0.0.1:18001", "tcp@127.0.0.1:18002"
		var regs []*proc
		for _, a := range []struct{ addr, meta string }{{active, "weight=1"}, {inactive, "state=inactive"}} {
			p := startCLI(t, "register", "--json", url, "Echo", a.addr, "--meta", a.meta)
			waitFor(t, step, "registration of "+a.addr, func() bool {
				return strings.Contains(p.stdout.String(), `{"event":"registered","service":"Echo","addr":"`+a.addr+`","meta":{"`)
			})
			regs = append(regs, p)
		}
		r := runCLI(t, "get", url, "Echo")
		if r.code != 0 || !containsFields(r.stdout, active, "1", "-", "active", "-", "-") || !containsFields(r.stdout, inactive, "1", "-", "inactive", "-", "-") {
			t.Errorf("get: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
		}
		r = runCLI(t, "list", "--json", url, "Echo")
		if l := parseList(t, r); r.code != 0 || len(l) != 1 || l[0].Addr != active {
			t.Errorf("list --json: exit %d: %s", r.code, r.stdout)
		}
		for _, p := range regs {
			p.signal(t, os.Interrupt)
			if code := p.wait(t, step); code != 0 || !strings.Contains(p.stdout.String(), `{"event":"deregistered",`) {
				t.Errorf("register --json after SIGINT: exit %d:\n%s", code, p.stdout)
			}
		}
	})

	t.Run("unreachable", func(t *testing.T) { unreachable(t, "etcd://"+closedPort(t)+"/discovery_cli") })

	t.Run("pending", func(t *testing.T) {
		// etcd unreachable when register starts, for longer than --timeout:
		// "pending", then "registered" once etcd answers, without a restart.
		proxy, err := faultproxy.Start(srv.Endpoint())
		if err != nil {
			t.Fatal(err)
		}
		defer proxy.Close()
		proxy.Cut()
		const addr = "tcp@127.0.0.1:18003"
		p := startCLI(t, "register", "--json", "--timeout", "1s", "--health", "127.0.0.1:0", "etcd://"+proxy.Addr()+"/discovery_cli", "Late", addr)
		waitFor(t, step, "pending", func() bool { return strings.Contains(p.stdout.String(), `{"event":"pending","service":"Late"`) })
		ready := readinessURL(t, p)
		if code, body := httpGet(t, ready); code != http.StatusServiceUnavailable || !strings.Contains(body, `"state": "retrying"`) {
			t.Fatalf("/ready while pending: %d %s", code, body)
		}
		time.Sleep(2 * time.Second) // the outage outlasts --timeout twice over
		if strings.Contains(p.stdout.String(), `"registered"`) {
			t.Fatalf("registered while etcd was unreachable:\n%s", p.stdout)
		}
		proxy.Restore()
		waitFor(t, step, "registered after the outage", func() bool {
			return strings.Contains(p.stdout.String(), `{"event":"registered","service":"Late","addr":"`+addr+`"`)
		})
		if code, body := httpGet(t, ready); code != http.StatusOK || !strings.Contains(body, `"state": "registered"`) {
			t.Errorf("/ready once written: %d %s", code, body)
		}
		if r := runCLI(t, "get", url, "Late"); r.code != 0 || !strings.Contains(r.stdout, addr) {
			t.Errorf("get after the outage: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
		}
		p.signal(t, os.Interrupt)
		if code := p.wait(t, step); code != 0 || !strings.Contains(p.stdout.String(), `{"event":"deregistered",`) {
			t.Errorf("register after SIGINT: exit %d:\n%s%s", code, p.stdout, p.stderr)
		}
	})

	t.Run("refused says why", func(t *testing.T) {
		// The etcd client times out waiting for a connection and only logs
		// why; the error must carry it without --verbose.
		r := runCLI(t, "list", "--timeout", "2s", "etcd://"+closedPort(t)+"/discovery_cli", "Arith")
		wantError(t, r, exitFailure, "no answer within --timeout 2s", "connect: connection refused")
	})

	t.Run("password", func(t *testing.T) {
		// With auth enabled: a wrong password is refused (exit 1), the right
		// one works; neither is ever printed. Against nothing, the client
		// dials at once since a user name is given.
		const right, wrong = "R1ghtSecretPW", "Wr0ngSecretPW"
		enableAuth(t, srv.Endpoint(), right)
		refused := "etcd://root:" + wrong + "@" + srv.Endpoint() + "/discovery_cli"
		down := "etcd://root:" + wrong + "@" + closedPort(t) + "/discovery_cli?dial_timeout=1s"
		for _, u := range []string{refused, down} {
			for _, args := range [][]string{
				{"get", "--timeout", "5s", u, "Arith"},
				{"watch", "--timeout", "5s", u, "Arith"},
				{"register", "--timeout", "5s", u, "Arith", "tcp@127.0.0.1:18972"},
			} {
				r := runCLI(t, args...)
				wantError(t, r, exitFailure, "etcd://root:xxxxx@")
				t.Logf("%s: %s", args[0], r.stderr)
				if strings.Contains(r.stderr, wrong) {
					t.Errorf("%q printed the password: %s", args, r.stderr)
				}
			}
		}
		for _, u := range []string{refused, down} {
			r := runCLI(t, "get", "--verbose", "--timeout", "5s", u, "Arith")
			if r.code != exitFailure || strings.Contains(r.stdout+r.stderr, wrong) {
				t.Errorf("get --verbose: exit %d, printed the password or not an error:\n%s", r.code, r.stderr)
			}
		}

		good := "etcd://root:" + right + "@" + srv.Endpoint() + "/discovery_cli"
		reg := startCLI(t, "register", "--verbose", good, "Auth", "tcp@127.0.0.1:18972")
		waitFor(t, step, "register with the right password", func() bool { return strings.Contains(reg.stdout.String(), "registered Auth") })
		r := runCLI(t, "get", "--json", good, "Auth")
		if _, ok := find(parseList(t, r), "tcp@127.0.0.1:18972"); !ok {
			t.Errorf("get with the right password: %s", r.stdout)
		}
		reg.signal(t, os.Interrupt)
		if code := reg.wait(t, step); code != 0 {
			t.Errorf("register: exit %d", code)
		}
		if out := reg.stdout.String() + reg.stderr.String(); strings.Contains(out, right) || !strings.Contains(out, "root:xxxxx@") {
			t.Errorf("register output shows the password or not the redacted URL:\n%s", out)
		}
	})
}

// enableAuth turns on etcd's authentication with a root user.
func enableAuth(t *testing.T, endpoint, password string) {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), step)
	defer cancel()
	if _, err := c.UserAdd(ctx, "root", password); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
}

// readinessURL is the /ready address register --health printed on stderr.
func readinessURL(t *testing.T, p *proc) string {
	t.Helper()
	var u string
	waitFor(t, step, "the readiness address", func() bool {
		_, rest, ok := strings.Cut(p.stderr.String(), "readiness on ")
		u, _, _ = strings.Cut(rest, ",")
		return ok && strings.HasSuffix(u, "/ready")
	})
	return u
}

func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
