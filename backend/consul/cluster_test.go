//go:build consul

package consul

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/seedforge/discovery/backend/consul/consultest"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/calltest"
	"github.com/seedforge/discovery/internal/leaktest"
)

// TestCluster runs the topology users run: three servers started with
// -bootstrap-expect 3 and a client agent that services register through,
// all on loopback; subscribers read from a server that is not the leader.
// In order: the Raft leader is killed -9 (registration and watches go on,
// no call fails); the client agent is killed -9 and started again (every
// registration comes back); then, with self-preservation on, the client
// agent dies while every server is alive: its node turns critical and a
// subscriber without self-preservation gets an empty list, but no call made
// through the subscriber with self-preservation fails.
func TestCluster(t *testing.T) {
	leaktest.Check(t)
	cl := consultest.StartCluster(t, 3)
	ctx := ctxFor(t, 3*time.Minute)
	svc := svcName(t)
	servers := calltest.Servers(t, 4)
	slices.Sort(servers) // the order core lists them in
	opts := core.Options{TTL: 2 * time.Second, BackoffBase: 20 * time.Millisecond, BackoffCap: 500 * time.Millisecond, Logger: testLogger(t)}
	register := func(addr string) {
		t.Helper()
		d := newDriver(t, cl.Client, ModeCatalog, Config{})
		reg, err := core.NewRegistrar(d, opts)
		must(t, err)
		t.Cleanup(func() { reg.Close() })
		must(t, reg.Register(ctx, core.Instance{Service: svc, Addr: addr}))
	}
	leader := cl.Leader(t)
	var reader *consultest.Agent // a server that stays up
	for _, s := range cl.Servers {
		if s != leader {
			reader = s
			break
		}
	}
	discovery := func(o core.Options) core.Discovery {
		t.Helper()
		dis, err := core.NewDiscovery(newDriver(t, reader, ModeCatalog, Config{WaitTime: 5 * time.Second}), o)
		must(t, err)
		t.Cleanup(func() { dis.Close() })
		return dis
	}
	listed := func(dis core.Discovery, want []string) func() error {
		return func() error {
			l, err := dis.Instances(ctx, svc)
			if err != nil {
				return err
			}
			if got := coretest.Addrs(l); !slices.Equal(got, want) {
				return fmt.Errorf("listed %v", got)
			}
			return nil
		}
	}
	for _, a := range servers[:3] {
		register(a)
	}
	plain := discovery(opts)
	flow := calltest.Start(t, plain, svc, 3)

	// 1. The Raft leader dies.
	killed := time.Now()
	leader.Kill()
	register(servers[3])
	registered := time.Since(killed)
	took := coretest.Poll(t, 30*time.Second, "the server registered after the leader died, listed", listed(plain, servers))
	t.Logf("leader %s killed: Register returned %v after, listed %v after; new leader %s %v after",
		leader.Node, registered.Round(time.Millisecond), (registered + took).Round(time.Millisecond),
		cl.Leader(t).Node, time.Since(killed).Round(time.Millisecond))
	flow.Stop()
	must(t, leader.Restart())

	// 2. The client agent dies and starts again: every registration is back.
	flow = calltest.Start(t, plain, svc, 4)
	killed = time.Now()
	cl.Client.Kill()
	critical := coretest.Poll(t, 30*time.Second, "the client agent's node critical", nodeIs(reader, cl.Client.Node, "critical"))
	restart := time.Now()
	must(t, cl.Client.Restart())
	restarted := time.Since(restart)
	coretest.Poll(t, 30*time.Second, "every registration back after the client agent restarted", listed(plain, servers))
	calls, failed, short := flow.Counts()
	t.Logf("client agent killed: its node critical %v after; restarted in %v; all %d registrations listed again %v after the kill; without self-preservation %d of %d calls failed, %d short lists",
		critical.Round(time.Millisecond), restarted.Round(time.Millisecond), len(servers), time.Since(killed).Round(time.Millisecond), failed, calls, short)

	// 3. Self-preservation on; the client agent dies while every server lives.
	sp := opts
	// Any loss of more than one instance in five is held: a list that comes
	// back in parts (TTL checks pass one by one after the restart) is held
	// until it is whole again.
	sp.SelfPreservation, sp.SelfPreservationHold = 0.2, time.Minute
	preserved := discovery(sp)
	coretest.Poll(t, 30*time.Second, "the self-preserving subscriber lists every server", listed(preserved, servers))
	flow = calltest.Start(t, preserved, svc, 4)
	cl.Client.Kill()
	coretest.Poll(t, 30*time.Second, "the client agent's node critical", nodeIs(reader, cl.Client.Node, "critical"))
	// The loss is real for a subscriber without self-preservation.
	coretest.Poll(t, 30*time.Second, "the plain subscriber's list emptied", listed(plain, nil))
	must(t, cl.Client.Restart())
	coretest.Poll(t, 30*time.Second, "every registration back", listed(plain, servers))
	flow.Stop()
}

// nodeIs polls a's view of node's serfHealth.
func nodeIs(a *consultest.Agent, node, status string) func() error {
	return func() error {
		got, err := a.NodeStatus(node)
		if err != nil {
			return err
		}
		if got != status {
			return fmt.Errorf("serfHealth %s", got)
		}
		return nil
	}
}
