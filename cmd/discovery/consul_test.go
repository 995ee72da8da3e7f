//go:build consul

package main

import (
	"os"
	"strings"
	"testing"

	"github.com/seedforge/discovery/backend/consul/consultest"
	"github.com/seedforge/discovery/internal/leaktest"
)

func init() { buildTags = append(buildTags, "consul") }

// TestConsul runs the register/get/list/watch flow against a real Consul
// agent (skipped without a consul binary unless CI is set), in both record
// layouts, then an unreachable agent.
func TestConsul(t *testing.T) {
	leaktest.Check(t)
	a := consultest.Start(t, consultest.Options{HCL: []string{`session_ttl_min = "1s"`}})
	t.Run("catalog", func(t *testing.T) { registryFlow(t, "consul://"+a.Addr, "Arith") })
	t.Run("kv", func(t *testing.T) { registryFlow(t, "consul://"+a.Addr+"/discovery_cli?mode=kv", "Arith") })
	t.Run("unreachable", func(t *testing.T) { unreachable(t, "consul://"+closedPort(t)) })
	t.Run("token", func(t *testing.T) {
		// The URL's user name is consul's ACL token: never printed, whether
		// the command fails or runs (this agent has ACLs off and ignores it).
		const token = "9f1c2e0a-5ec2-4d1e-b7a1-7e57d0ce5ec2"
		r := runCLI(t, "get", "--verbose", "consul://"+token+"@"+closedPort(t), "Arith")
		wantError(t, r, exitFailure, "consul://xxxxx@127.0.0.1:")
		reg := startCLI(t, "register", "--verbose", "consul://"+token+"@"+a.Addr, "Tok", "tcp@127.0.0.1:18972")
		waitFor(t, step, "register with a token", func() bool { return strings.Contains(reg.stdout.String(), "registered Tok") })
		reg.signal(t, os.Interrupt)
		if code := reg.wait(t, step); code != 0 {
			t.Errorf("register: exit %d", code)
		}
		for _, out := range []string{r.stderr, reg.stdout.String(), reg.stderr.String()} {
			if strings.Contains(out, token) {
				t.Errorf("the token was printed:\n%s", out)
			}
		}
		if !strings.Contains(reg.stdout.String(), "in consul://xxxxx@"+a.Addr) {
			t.Errorf("register does not name the redacted URL: %s", reg.stdout)
		}
	})
}
