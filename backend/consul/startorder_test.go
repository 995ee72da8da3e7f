//go:build consul

package consul

import (
	"testing"
	"time"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/faultproxy"
)

// A server started while its Consul agent is unreachable is registered once
// the agent answers, without a restart, once; in both modes.
func TestStartDuringOutage(t *testing.T) {
	a := sharedAgent(t)
	for _, c := range []struct {
		mode Mode
		ttl  time.Duration
	}{{ModeCatalog, catalogTTL}, {ModeKV, kvTTL}} {
		t.Run(string(c.mode), func(t *testing.T) {
			p, err := faultproxy.Start(a.Addr)
			must(t, err)
			t.Cleanup(func() { p.Close() })
			coretest.StartDuringOutage(t, coretest.Harness{
				NewDriver: func(t testing.TB) core.Driver {
					cfg := testConfig(a, c.mode, Config{})
					cfg.Address = p.Addr()
					d, err := New(cfg)
					must(t, err)
					return d
				},
				TTL:     c.ttl,
				Service: "startorder-" + string(c.mode),
			}, coretest.Outage{
				Cut:     func(testing.TB) { p.Cut() },
				Restore: func(testing.TB) { p.Restore() },
			})
		})
	}
}
