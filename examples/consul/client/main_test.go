//go:build consul

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	rpcxlog "github.com/smallnest/rpcx/log"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/backend/consul/consultest"
	"github.com/seedforge/discovery/examples/internal/arith"
	"github.com/seedforge/discovery/internal/leaktest"
	"github.com/seedforge/discovery/internal/proctest"
)

// rpcx's logger is a global that its goroutines read: set it once, before any.
func init() { rpcxlog.SetDummyLogger() }

// TestClient runs the example client against two Arith servers registered
// in a real Consul agent, in both modes: every call is answered, by both
// servers in turn.
func TestClient(t *testing.T) {
	a := consultest.Start(t, consultest.Options{HCL: []string{`session_ttl_min = "1s"`}})
	for _, mode := range []string{"kv", "catalog"} {
		t.Run(mode, func(t *testing.T) {
			leaktest.Check(t)
			url := registryURL(a.Addr, "/rpcx_test", mode)
			if mode == "kv" && url != "consul://"+a.Addr+"/rpcx_test?mode=kv" {
				t.Fatalf("registryURL = %s", url)
			}
			servers := map[string]bool{}
			for range 2 {
				s, err := arith.Start(url+"&ttl=3s", "127.0.0.1:0", "")
				if err != nil {
					t.Fatal(err)
				}
				servers[s.Addr] = true
				t.Cleanup(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					s.Stop(ctx)
				})
			}
			var out syncBuffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// The servers register once they listen, in the background: wait
			// until both are listed, so the client starts with both.
			reg, err := discovery.Open(url)
			if err != nil {
				t.Fatal(err)
			}
			defer reg.Close()
			for deadline := time.Now().Add(20 * time.Second); ; {
				l, err := reg.Instances(ctx, "Arith")
				if err == nil && len(l) == 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("servers not both registered: %v, %v", l, err)
				}
				time.Sleep(20 * time.Millisecond) // polling interval; the deadline decides
			}
			if err := run(ctx, url, 4, 10*time.Millisecond, &out); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 4 {
				t.Fatalf("want 4 answers, got:\n%s", out.String())
			}
			seen := map[string]bool{}
			for _, l := range lines {
				i := strings.Index(l, "served by ")
				if i < 0 || !strings.HasPrefix(l, "10 * ") {
					t.Fatalf("unexpected line %q", l)
				}
				seen[strings.TrimSuffix(l[i+len("served by "):], ")")] = true
			}
			for s := range servers {
				if !seen[s] {
					t.Errorf("server %s never answered (round robin over both expected):\n%s", s, out.String())
				}
			}
		})
	}
}

type syncBuffer = proctest.Buffer
