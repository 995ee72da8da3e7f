//go:build consul

package consul

import (
	"context"
	"testing"
	"time"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
)

// catalogTTL is the shortest record TTL that passes the suite reliably in
// catalog mode on a loaded 2-core machine under -race (see the report in
// TestCatalogTTLFloor's comment).
const catalogTTL = 500 * time.Millisecond

// kvTTL is the shortest kv record TTL the shared agent allows: sessions of
// session_ttl_min = 1s, which Consul expires after 2s.
const kvTTL = 2 * time.Second

func TestConformanceCatalog(t *testing.T) {
	a := sharedAgent(t)
	coretest.Run(t, coretest.Harness{
		NewDriver: func(t testing.TB) core.Driver { return newDriver(t, a, ModeCatalog, Config{}) },
		TTL:       catalogTTL,
		Service:   "catalog",
		Remove: func(t testing.TB, inst core.Instance) {
			must(t, a.Do(context.Background(), "PUT", "/v1/agent/service/deregister/"+ServiceID(inst.Service, inst.Addr), "", nil, nil))
		},
	})
}

func TestConformanceKV(t *testing.T) {
	a := sharedAgent(t)
	coretest.Run(t, coretest.Harness{
		NewDriver: func(t testing.TB) core.Driver { return newDriver(t, a, ModeKV, Config{}) },
		TTL:       kvTTL,
		Service:   "kv",
		Remove: func(t testing.TB, inst core.Instance) {
			must(t, a.Do(context.Background(), "DELETE", "/v1/kv/"+kvKey(inst.Service, inst.Addr), "", nil, nil))
		},
	})
}
