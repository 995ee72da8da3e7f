//go:build zookeeper

package zookeeper_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/seedforge/discovery/backend/zookeeper"
	"github.com/seedforge/discovery/backend/zookeeper/zktest"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/internal/calltest"
)

// TestEnsembleLeaderKilled: a 3-server ensemble on loopback; servers
// register and clients watch and call through selector.Call. The leader is
// killed with SIGKILL: no registration is lost, no subscriber sees a list
// with an instance missing, no call fails, and a registration made right
// after the kill reaches every subscriber once a new leader is elected.
func TestEnsembleLeaderKilled(t *testing.T) {
	leakCheck(t)
	ens := zktest.StartEnsemble(t, 3)
	ctx := ctxFor(t, 90*time.Second)
	const base = "/ensemble"
	// The session timeout outlasts an election (a few ticks of 200ms), so
	// sessions move to a surviving server instead of expiring.
	cfg := zookeeper.Config{Servers: ens.Addrs(), BasePath: base, SessionTimeout: 6 * time.Second}
	servers := calltest.Servers(t, 4)
	var drivers []core.Driver
	register := func(addr string) {
		d := newDriver(t, cfg)
		drivers = append(drivers, d)
		must(t, newClient(t, d, 2*time.Second).reg.Register(ctx, core.Instance{Service: "svc", Addr: addr}))
	}
	for _, a := range servers[:3] {
		register(a)
	}
	var flows []*calltest.Flow
	var subs []*client
	for range 2 {
		d := newDriver(t, cfg)
		drivers = append(drivers, d)
		c := newClient(t, d, 2*time.Second)
		subs = append(subs, c)
		flows = append(flows, calltest.Start(t, c.dis, "svc", 3))
	}

	leader := ens.Leader()
	onLeader := 0
	for _, d := range drivers {
		if zookeeper.Server(d) == ens.Servers[leader].Addr() {
			onLeader++
		}
	}
	t.Logf("killing leader %s; %d of our %d clients are connected to it", ens.Servers[leader].Addr(), onLeader, len(drivers))
	killed := time.Now()
	ens.Servers[leader].Kill()

	// A server registering right after the kill is listed by every
	// subscriber once the ensemble has a new leader.
	register(servers[3])
	registered := time.Since(killed)
	for i, c := range subs {
		took := poll(t, 30*time.Second, fmt.Sprintf("subscriber %d lists the server registered after the kill", i), func() error {
			l, err := c.dis.Instances(ctx, "svc")
			if err != nil {
				return err
			}
			if got := addrs(l); !slices.Equal(got, slices.Sorted(slices.Values(servers))) {
				return fmt.Errorf("listed %v", got)
			}
			return nil
		})
		t.Logf("subscriber %d listed it %v after the kill (Register returned after %v)", i, (registered + took).Round(time.Millisecond), registered.Round(time.Millisecond))
	}
	newLeader := ens.Leader()
	t.Logf("new leader %s, %v after the kill", ens.Servers[newLeader].Addr(), time.Since(killed).Round(time.Millisecond))

	// Calls go on for two session timeouts after the kill: every session
	// moved to a surviving server, none expired, no registration was lost.
	time.Sleep(time.Until(killed.Add(2 * cfg.SessionTimeout))) // the scenario: time passing after the kill
	raw := rawConn(t, ens.Servers[newLeader].Addr(), "")
	children, _, err := raw.Children(base + "/svc")
	must(t, err)
	if len(children) != len(servers) {
		t.Fatalf("after the kill the ensemble holds %v, want the %d registrations", children, len(servers))
	}
	for _, d := range drivers {
		if s := zookeeper.State(d); s != zk.StateHasSession {
			t.Errorf("a client is in state %v after the kill", s)
		}
	}
	for _, f := range flows {
		f.Stop()
	}
}
