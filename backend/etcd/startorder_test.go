//go:build etcd

package etcd

import (
	"testing"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/faultproxy"
)

// proxied is a harness whose drivers all reach srv through one fault proxy.
func proxied(t *testing.T, base string) (coretest.Harness, *faultproxy.Proxy) {
	p := proxyTo(t, startServer(t))
	return coretest.Harness{
		NewDriver: func(t testing.TB) core.Driver {
			d, err := newDriver(Config{Endpoints: []string{p.Addr()}, BasePath: base, Logger: quietLogger()})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			return d
		},
		TTL: testTTL,
	}, p
}

// A server started while etcd is unreachable (longer than the dial timeout
// and the TTL) is registered once etcd answers, without a restart, once.
func TestStartDuringOutage(t *testing.T) {
	leakCheck(t)
	h, p := proxied(t, "/startorder")
	coretest.StartDuringOutage(t, h, coretest.Outage{
		Cut:       func(testing.TB) { p.Cut() },
		Restore:   func(testing.TB) { p.Restore() },
		Longest:   DefaultDialTimeout,
		Reconnect: reconnect.Backoff.MaxDelay,
	})
}

// Metadata changes racing with refreshes every few milliseconds: etcd ends
// with the last metadata set.
func TestMetadataOrder(t *testing.T) {
	leakCheck(t)
	h, _ := proxied(t, "/order")
	coretest.MetadataOrder(t, h)
}

// Close during an outage deletes the 20 records in parallel under one
// deregister_timeout.
func TestCloseDuringOutage(t *testing.T) {
	leakCheck(t)
	h, p := proxied(t, "/close")
	coretest.CloseDuringOutage(t, h, coretest.Outage{Cut: func(testing.TB) { p.Cut() }, Restore: func(testing.TB) { p.Restore() }})
}
