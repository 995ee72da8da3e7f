//go:build zookeeper

package zookeeper_test

import (
	"testing"
	"time"

	"github.com/seedforge/discovery/backend/zookeeper"
	"github.com/seedforge/discovery/backend/zookeeper/zktest"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/faultproxy"
)

// A server started while ZooKeeper is unreachable (longer than the session
// timeout) is registered once ZooKeeper answers, without a restart, once.
func TestStartDuringOutage(t *testing.T) {
	srv := zktest.Start(t)
	p, err := faultproxy.Start(srv.Addr())
	must(t, err)
	t.Cleanup(func() { p.Close() })
	const session = 2 * time.Second
	coretest.StartDuringOutage(t, coretest.Harness{
		NewDriver: func(t testing.TB) core.Driver {
			return newDriver(t, zookeeper.Config{Servers: []string{p.Addr()}, BasePath: "/startorder", SessionTimeout: session})
		},
		TTL: session,
	}, coretest.Outage{
		Cut:     func(testing.TB) { p.Cut() },
		Restore: func(testing.TB) { p.Restore() },
		Longest: session,
		// go-zookeeper waits about a second between two rounds of its
		// server list.
		Reconnect: time.Second,
	})
}
