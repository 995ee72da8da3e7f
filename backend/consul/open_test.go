//go:build consul

package consul_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/backend/consul"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/internal/leaktest"
)

// TestRootOpen goes through the root package, as users do: the consul
// scheme is compiled in with the tag, options are checked, the token stays
// out of errors, and a Client registers and lists in both modes.
func TestRootOpen(t *testing.T) {
	leaktest.Check(t)
	const token = "0c5d7a1e-5f6b-4e1a-b3d2-not-to-be-seen"
	_, err := discovery.Open("consul://" + token + "@127.0.0.1:8500/x?mode=kv&bogus=1")
	if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "bogus") || strings.Contains(err.Error(), token) {
		t.Fatalf("Open with an unknown option = %v; want ErrInvalid naming it, without the token", err)
	}
	addr := consul.SharedAgentAddr(t)
	for _, u := range []string{
		"consul://" + addr + "?ttl=2s",
		"consul://" + addr + "/rpcx_root?mode=kv&ttl=2s",
	} {
		c, err := discovery.Open(u)
		if err != nil {
			t.Fatalf("Open(%s): %v", u, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		inst := core.Instance{Service: "root-open", Addr: "tcp@127.0.0.1:36001", Meta: core.Metadata{"weight": "4"}}
		if err := c.Register(ctx, inst); err != nil {
			t.Fatalf("%s: Register: %v", u, err)
		}
		l, err := c.Instances(ctx, "root-open")
		if err != nil || len(l) != 1 || l[0].Addr != inst.Addr || l[0].Meta["weight"] != "4" {
			t.Fatalf("%s: Instances = %v, %v", u, l, err)
		}
		cancel()
		if err := c.Close(); err != nil {
			t.Fatalf("%s: Close: %v", u, err)
		}
	}
}
