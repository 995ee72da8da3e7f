//go:build etcd

package etcd

import (
	"context"
	"testing"
	"time"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
)

func TestConformance(t *testing.T) {
	leakCheck(t)
	srv := startServer(t)
	raw := rawClient(t, srv.endpoint())
	// Connect the raw client now: its connection lives through the suite,
	// whose subtests each check for leaked goroutines.
	if _, err := raw.Get(ctxT(t, 5*time.Second), "warm-up"); err != nil {
		t.Fatal(err)
	}
	const base = "/conformance"
	coretest.Run(t, coretest.Harness{
		NewDriver: func(t testing.TB) core.Driver {
			d, err := newDriver(Config{Endpoints: []string{srv.endpoint()}, BasePath: base, Logger: quietLogger()})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			return d
		},
		TTL: testTTL,
		Remove: func(t testing.TB, inst core.Instance) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := raw.Delete(ctx, base+"/"+inst.Service+"/"+inst.Addr); err != nil {
				t.Fatalf("raw delete: %v", err)
			}
		},
	})
}
