//go:build zookeeper

package zookeeper_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/seedforge/discovery/backend/zookeeper"
	"github.com/seedforge/discovery/backend/zookeeper/zktest"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/faultproxy"
)

// A session storm with self-preservation on: the one session that holds
// every instance's node is expired by the server (its connection cut for
// longer than the session timeout), so the store loses the whole service.
// A subscriber connected directly, with self_preservation=0.5, never sees
// more than half of them go; once the connection is back and the nodes are
// written again on a new session, the hold ends.
func TestSelfPreservationSessionExpired(t *testing.T) {
	leakCheck(t)
	srv := zktest.Start(t)
	raw := rawConn(t, srv.Addr(), "")
	ctx := ctxFor(t, 90*time.Second)
	const base = "/storm"
	p, err := faultproxy.Start(srv.Addr())
	must(t, err)
	t.Cleanup(func() { p.Close() })
	server := newClient(t, newDriver(t, zookeeper.Config{Servers: []string{p.Addr()}, BasePath: base, SessionTimeout: time.Second}), time.Second)
	var addrs []string
	for port := 4001; port <= 4003; port++ {
		in := core.Instance{Service: "svc", Addr: fmt.Sprintf("tcp@127.0.0.1:%d", port)}
		addrs = append(addrs, in.Addr)
		must(t, server.reg.Register(ctx, in))
	}
	d := newDriver(t, zookeeper.Config{Servers: []string{srv.Addr()}, BasePath: base})
	dis, err := core.NewDiscovery(d, core.Options{
		BackoffBase: 20 * time.Millisecond, BackoffCap: 500 * time.Millisecond, Logger: newTestLog(t).logger(),
		SelfPreservation: 0.5, SelfPreservationHold: time.Minute,
	})
	must(t, err)
	t.Cleanup(func() { dis.Close() })
	ch, err := dis.Watch(ctx, "svc")
	must(t, err)
	rec := record(t, ch)
	rec.waitFor(t, 10*time.Second, "all three", hasAddrs(addrs...))

	p.Cut()
	poll(t, 20*time.Second, "the server expiring the session and deleting every node", func() error {
		children, _, err := raw.Children(base + "/svc")
		if err != nil || len(children) > 0 {
			return fmt.Errorf("children %v err %v", children, err)
		}
		return nil
	})
	status := func() core.ServiceStatus {
		for _, s := range dis.WatchStatus() {
			if s.Service == "svc" {
				return s
			}
		}
		return core.ServiceStatus{}
	}
	coretest.Poll(t, 10*time.Second, "self-preservation holding", func() error {
		if st := status(); !st.Preserving || st.Instances != 3 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})

	p.Restore()
	rec.waitFor(t, 20*time.Second, "all three on the new session", hasAddrs(addrs...))
	coretest.Poll(t, 20*time.Second, "the hold ended", func() error {
		if st := status(); st.Preserving || st.Holds != 1 || st.Instances != 3 {
			return errors.New("not yet")
		}
		return nil
	})
	for _, l := range rec.all() {
		if len(l) < 2 {
			t.Fatalf("a list that lost more than half was delivered: %s", rec.history())
		}
	}
	t.Logf("subscriber: %s", rec.history())
}
