//go:build etcd

package etcd

import (
	"errors"
	"testing"
	"time"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
)

// preservingSubscriber is a process that watches with self-preservation on.
func preservingSubscriber(t *testing.T, endpoint, base string, hold time.Duration) core.Discovery {
	t.Helper()
	d := newDriverT(t, Config{Endpoints: []string{endpoint}, BasePath: base})
	o := testOptions()
	o.SelfPreservation, o.SelfPreservationHold = 0.5, hold
	dis, err := core.NewDiscovery(d, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dis.Close() })
	return dis
}

func pollWatchStatus(t *testing.T, dis core.Discovery, what string, ok func(core.ServiceStatus) bool) core.ServiceStatus {
	t.Helper()
	var st core.ServiceStatus
	coretest.Poll(t, 10*time.Second, what, func() error {
		for _, s := range dis.WatchStatus() {
			if st = s; ok(s) {
				return nil
			}
		}
		return errors.New("not yet")
	})
	return st
}

// Revoking the lease of every record (a store-wide loss, as an expired
// session storm is) with self-preservation on: subscribers keep the 4
// instances until the servers write them again, and never see fewer.
func TestSelfPreservationLeaseRevoked(t *testing.T) {
	leakCheck(t)
	srv := startServer(t)
	raw := rawClient(t, srv.endpoint())
	const base = "/preserve"
	ctx := ctxT(t, time.Minute)
	server := newClient(t, Config{Endpoints: []string{srv.endpoint()}, BasePath: base})
	var addrs []string
	for port := 1; port <= 4; port++ {
		in := instance("S", port)
		addrs = append(addrs, in.Addr)
		if err := server.reg.Register(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	dis := preservingSubscriber(t, srv.endpoint(), base, time.Minute)
	ch, err := dis.Watch(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	seen := collect(ch)
	seen.waitFor(t, 10*time.Second, "all 4", equalTo(addrs...))

	if _, err := raw.Revoke(ctx, server.d.current().id); err != nil {
		t.Fatal(err)
	}
	pollWatchStatus(t, dis, "self-preservation holding", func(s core.ServiceStatus) bool { return s.Preserving })
	st := pollWatchStatus(t, dis, "hold ended by re-registration", func(s core.ServiceStatus) bool {
		return !s.Preserving && s.Instances == 4
	})
	if st.Holds != 1 {
		t.Fatalf("status after the store lost every record: %+v, want one hold", st)
	}
	seen.waitFor(t, 10*time.Second, "all 4", equalTo(addrs...))
	for _, l := range seen.all() {
		if len(l) < 2 {
			t.Fatalf("a subscriber saw %v while the store had lost its records; every list: %v", l, seen.all())
		}
	}
}

// A real scale-down (3 of 4 servers deregistered) still reaches subscribers,
// after the hold.
func TestSelfPreservationScaleDown(t *testing.T) {
	leakCheck(t)
	srv := startServer(t)
	const base = "/scaledown"
	const hold = time.Second
	ctx := ctxT(t, time.Minute)
	server := newClient(t, Config{Endpoints: []string{srv.endpoint()}, BasePath: base})
	var insts []core.Instance
	for port := 1; port <= 4; port++ {
		insts = append(insts, instance("S", port))
		if err := server.reg.Register(ctx, insts[port-1]); err != nil {
			t.Fatal(err)
		}
	}
	dis := preservingSubscriber(t, srv.endpoint(), base, hold)
	ch, err := dis.Watch(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	seen := collect(ch)
	seen.waitFor(t, 10*time.Second, "all 4", func(l []string) bool { return len(l) == 4 })
	start := time.Now()
	for _, in := range insts[1:] {
		if err := server.reg.Deregister(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	seen.waitFor(t, 10*time.Second, "the one left", equalTo(insts[0].Addr))
	if took := time.Since(start); took < hold {
		t.Fatalf("the scale-down arrived after %v, inside the %v hold", took, hold)
	}
	if st := pollWatchStatus(t, dis, "not holding", func(s core.ServiceStatus) bool { return !s.Preserving }); st.Holds != 1 || st.Instances != 1 {
		t.Fatalf("status after the scale-down: %+v", st)
	}
}
