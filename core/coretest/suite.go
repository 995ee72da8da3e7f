package coretest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/seedforge/discovery/internal/leaktest"

	"github.com/seedforge/discovery/core"
)

// Run runs every test that applies to the backend described by h.
func Run(t *testing.T, h Harness) {
	if h.NewDriver == nil {
		t.Fatal("coretest: Harness.NewDriver is required")
	}
	tests := []struct {
		name    string
		applies string // "registry" (TTL > 0), "static" (TTL == 0) or "all"
		fn      func(*testing.T, Harness)
	}{
		{"RegisterDeregister", "registry", testRegisterDeregister},
		{"WatchFirstValueAndOrder", "registry", testWatchOrder},
		{"MetadataRoundTrip", "registry", testMetadataRoundTrip},
		{"Coalescing", "registry", testCoalescing},
		{"CrashedInstanceExpires", "registry", testCrashExpires},
		{"ReRegisterAfterExternalDelete", "registry", testExternalDelete},
		{"Filters", "registry", testFilters},
		{"ManySubscribers", "registry", testManySubscribers},
		{"TPSPublished", "registry", testTPS},
		{"DeltaMatchesFull", "registry", testDeltaMatchesFull},
		{"BadInputAndClosed", "registry", testBadInput},
		{"StaticList", "static", testStatic},
		{"StaticUpdate", "static", testStaticUpdate},
		{"Services", "all", testServices},
		{"CloseEndsWatches", "all", testCloseEndsWatches},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if kind := map[bool]string{true: "registry", false: "static"}[h.TTL > 0]; tc.applies != "all" && tc.applies != kind {
				t.Skipf("applies to %s backends; this one is %s", tc.applies, kind)
			}
			// Registered first, so it runs after every client's Close.
			leaktest.Check(t)
			tc.fn(t, h)
		})
	}
}

func testRegisterDeregister(t *testing.T, h Harness) {
	svc := h.service(t)
	srv, cli := h.newClient(t), h.newClient(t)
	ctx := ctxFor(t, h.settle()+10*time.Second)
	a, b := inst(svc, 1, "weight", "2"), inst(svc, 2)
	for _, in := range []core.Instance{a, b} {
		if err := srv.reg.Register(ctx, in); err != nil {
			t.Fatalf("Register %s: %v", in.Addr, err)
		}
	}
	Poll(t, h.settle(), "both instances listed", instancesAre(ctx, cli.dis, svc, a.Addr, b.Addr))
	l, _ := cli.dis.Instances(ctx, svc)
	if l[0].Meta["weight"] != "2" {
		t.Fatalf("metadata lost: %s", metaString(l))
	}
	if err := srv.reg.Deregister(ctx, a); err != nil {
		t.Fatalf("Deregister: %v", err)
	}
	Poll(t, h.settle(), "deregistered instance gone", instancesAre(ctx, cli.dis, svc, b.Addr))
	// Registering twice is an update, not a second record.
	b2 := inst(svc, 2, "group", "blue")
	if err := srv.reg.Register(ctx, b2); err != nil {
		t.Fatalf("Register again: %v", err)
	}
	Poll(t, h.settle(), "updated metadata", func() error {
		l, err := cli.dis.Instances(ctx, svc)
		if err != nil || len(l) != 1 || l[0].Meta["group"] != "blue" {
			return fmt.Errorf("got %s err %v", metaString(l), err)
		}
		return nil
	})
	// Close deregisters everything it registered.
	srv.close()
	Poll(t, h.settle(), "closed registrar's instances gone", instancesAre(ctx, cli.dis, svc))
}

func testWatchOrder(t *testing.T, h Harness) {
	svc := h.service(t)
	srv, cli := h.newClient(t), h.newClient(t)
	ctx := ctxFor(t, 2*h.settle()+10*time.Second)
	ch, err := cli.dis.Watch(ctx, svc)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	Next(t, ch, h.settle(), "the first (empty) list", HasAddrs())
	a, b := inst(svc, 1), inst(svc, 2)
	must(t, srv.reg.Register(ctx, a))
	Next(t, ch, h.settle(), "a", HasAddrs(a.Addr))
	must(t, srv.reg.Register(ctx, b))
	Next(t, ch, h.settle(), "a and b, sorted", HasAddrs(a.Addr, b.Addr))
	// A data change alone must reach watchers (rpcx's zookeeper registry misses it).
	must(t, srv.reg.Register(ctx, inst(svc, 1, "state", "inactive")))
	Next(t, ch, h.settle(), "a marked inactive and filtered out", HasAddrs(b.Addr))
	must(t, srv.reg.Register(ctx, inst(svc, 1, "version", "2")))
	got := Next(t, ch, h.settle(), "a active again", HasAddrs(a.Addr, b.Addr))
	if got[0].Meta["version"] != "2" {
		t.Fatalf("metadata change not delivered: %s", metaString(got))
	}
	must(t, srv.reg.Deregister(ctx, b))
	Next(t, ch, h.settle(), "b gone", HasAddrs(a.Addr))
	// A second watcher joining late gets the current list first.
	ch2, err := cli.dis.Watch(ctx, svc)
	must(t, err)
	Next(t, ch2, h.settle(), "current list for a late subscriber", HasAddrs(a.Addr))
}

func testMetadataRoundTrip(t *testing.T, h Harness) {
	svc := h.service(t)
	srv, cli := h.newClient(t), h.newClient(t)
	ctx := ctxFor(t, h.settle()+10*time.Second)
	want := core.Metadata{"weight": "3", "group": "blue", "custom_key": "a b&c=d/é", "latitude": "48.85", "longitude": "2.35"}
	must(t, srv.reg.Register(ctx, core.Instance{Service: svc, Addr: addr(1), Meta: want}))
	ch, err := cli.dis.Watch(ctx, svc)
	must(t, err)
	got := Next(t, ch, h.settle(), "the instance", HasAddrs(addr(1)))
	for k, v := range want {
		if got[0].Meta[k] != v {
			t.Fatalf("meta %q = %q, want %q (all: %s)", k, got[0].Meta[k], v, metaString(got))
		}
	}
}

func testCoalescing(t *testing.T, h Harness) {
	svc := h.service(t)
	srv, cli := h.newClient(t), h.newClient(t)
	ctx := ctxFor(t, 2*h.settle()+10*time.Second)
	ch, err := cli.dis.Watch(ctx, svc)
	must(t, err)
	const n = 20
	// Nobody reads while n changes happen: the backend must not block, and
	// the reader then gets the newest list, never an older one after it.
	want := []string{}
	for i := range n {
		must(t, srv.reg.Register(ctx, inst(svc, i)))
		want = append(want, addr(i))
	}
	slices.Sort(want)
	deadline := time.After(h.settle())
	last := -1
	for last != n {
		select {
		case l := <-ch:
			if len(l) < last {
				t.Fatalf("stale list after a newer one: %d instances after %d", len(l), last)
			}
			last = len(l)
		case <-deadline:
			t.Fatalf("never saw all %d instances; last list had %d", n, last)
		}
	}
	select {
	case l := <-ch:
		t.Fatalf("a list arrived after the newest one: %v", Addrs(l))
	default:
	}
}

func testCrashExpires(t *testing.T, h Harness) {
	svc := h.service(t)
	cli := h.newClient(t)
	ctx := ctxFor(t, h.TTL+2*h.settle()+10*time.Second)
	// The crashing process writes through its own driver and never refreshes.
	d := h.NewDriver(t)
	crashed, alive := inst(svc, 1), inst(svc, 2)
	must(t, d.Put(ctx, crashed, h.TTL))
	srv := h.newClient(t)
	must(t, srv.reg.Register(ctx, alive))
	ch, err := cli.dis.Watch(ctx, svc)
	must(t, err)
	Next(t, ch, h.settle(), "both", HasAddrs(crashed.Addr, alive.Addr))
	if h.Crash != nil {
		h.Crash(t, d)
	} else {
		must(t, d.Close())
	}
	start := time.Now()
	Next(t, ch, h.TTL+h.settle(), "the crashed instance gone after its TTL", HasAddrs(alive.Addr))
	t.Logf("crashed instance left the list %v after the crash (ttl %v)", time.Since(start).Round(time.Millisecond), h.TTL)
	if h.Crash != nil {
		must(t, d.Close())
	}
}

func testExternalDelete(t *testing.T, h Harness) {
	if h.Remove == nil {
		t.Skip("harness has no Remove")
	}
	svc := h.service(t)
	srv, cli := h.newClient(t), h.newClient(t)
	ctx := ctxFor(t, 3*h.settle()+10*time.Second)
	a := inst(svc, 1, "group", "g")
	must(t, srv.reg.Register(ctx, a))
	ch, err := cli.dis.Watch(ctx, svc)
	must(t, err)
	Next(t, ch, h.settle(), "a", HasAddrs(a.Addr))
	h.Remove(t, a)
	Next(t, ch, h.settle(), "a removed by someone else", HasAddrs())
	// Core notices at its next refresh (TTL/3) and writes the record again.
	got := Next(t, ch, h.TTL/core.TTLPerInterval+h.settle(), "a registered again", HasAddrs(a.Addr))
	if got[0].Meta["group"] != "g" {
		t.Fatalf("re-registered without its metadata: %s", metaString(got))
	}
}

func testFilters(t *testing.T, h Harness) {
	svc := h.service(t)
	srv, cli := h.newClient(t), h.newClient(t)
	ctx := ctxFor(t, 2*h.settle()+10*time.Second)
	must(t, srv.reg.Register(ctx, inst(svc, 1, "group", "blue", "version", "1")))
	must(t, srv.reg.Register(ctx, inst(svc, 2, "group", "green", "version", "1")))
	must(t, srv.reg.Register(ctx, inst(svc, 3, "group", "blue", "version", "2")))
	must(t, srv.reg.Register(ctx, inst(svc, 4, "group", "blue", "state", "inactive")))
	Poll(t, h.settle(), "all active registered", instancesAre(ctx, cli.dis, svc, addr(1), addr(2), addr(3)))

	all, err := cli.dis.Instances(ctx, svc, core.IncludeInactive())
	must(t, err)
	if !slices.Equal(Addrs(all), []string{addr(1), addr(2), addr(3), addr(4)}) {
		t.Fatalf("IncludeInactive: %v", Addrs(all))
	}
	cases := []struct {
		name string
		opts []core.WatchOption
		want []string
	}{
		{"group", []core.WatchOption{core.WithGroup("blue")}, []string{addr(1), addr(3)}},
		{"version", []core.WatchOption{core.WithVersion("1")}, []string{addr(1), addr(2)}},
		{"group+version", []core.WatchOption{core.WithGroup("blue"), core.WithVersion("2")}, []string{addr(3)}},
		{"custom", []core.WatchOption{core.WithFilter(func(i core.Instance) bool { return i.Addr != addr(1) })}, []string{addr(2), addr(3)}},
		{"inactive kept", []core.WatchOption{core.WithGroup("blue"), core.IncludeInactive()}, []string{addr(1), addr(3), addr(4)}},
	}
	for _, c := range cases {
		ch, err := cli.dis.Watch(ctx, svc, c.opts...)
		must(t, err)
		// The first value itself must already be filtered.
		select {
		case l := <-ch:
			if !slices.Equal(Addrs(l), c.want) {
				t.Fatalf("%s: first value %v, want %v", c.name, Addrs(l), c.want)
			}
		case <-time.After(h.settle()):
			t.Fatalf("%s: no first value", c.name)
		}
		l, err := cli.dis.Instances(ctx, svc, c.opts...)
		must(t, err)
		if !slices.Equal(Addrs(l), c.want) {
			t.Fatalf("%s: Instances %v, want %v", c.name, Addrs(l), c.want)
		}
	}
}

func testManySubscribers(t *testing.T, h Harness) {
	svc := h.service(t)
	srv, cli := h.newClient(t), h.newClient(t)
	ctx := ctxFor(t, 2*h.settle()+10*time.Second)
	must(t, srv.reg.Register(ctx, inst(svc, 1)))
	const n = 200
	chans := make([]<-chan []core.Instance, n)
	for i := range chans {
		ch, err := cli.dis.Watch(ctx, svc)
		must(t, err)
		chans[i] = ch
	}
	must(t, srv.reg.Register(ctx, inst(svc, 2)))
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, ch := range chans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.After(h.settle())
			for {
				select {
				case l := <-ch:
					if len(l) == 2 {
						return
					}
				case <-deadline:
					errs <- errors.New("a subscriber never saw both instances")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func testTPS(t *testing.T, h Harness) {
	svc := h.service(t)
	srv, cli := h.newClient(t), h.newClient(t)
	ctx := ctxFor(t, 2*h.TTL+2*h.settle()+10*time.Second)
	must(t, srv.reg.Register(ctx, inst(svc, 1, "weight", "1")))
	for range 50 {
		srv.reg.Meter().Mark()
	}
	ch, err := cli.dis.Watch(ctx, svc)
	must(t, err)
	// Published with a refresh, at TTL/3 at the latest.
	got := Next(t, ch, h.TTL+h.settle(), "a tps value", func(l []core.Instance) bool {
		tps, ok := l[0].Meta.TPS()
		return len(l) == 1 && ok && tps > 0
	})
	if got[0].Meta["weight"] != "1" || got[0].Meta[core.MetaCallsTotal] != "50" {
		t.Fatalf("load publishing lost user metadata or call count: %s", metaString(got))
	}
}

func testBadInput(t *testing.T, h Harness) {
	svc := h.service(t)
	c := h.newClient(t)
	ctx := ctxFor(t, 10*time.Second)
	bad := []core.Instance{
		{Service: "", Addr: addr(1)},
		{Service: svc, Addr: "127.0.0.1:80"},
		{Service: svc, Addr: "@127.0.0.1:80"},
		{Service: "a/b", Addr: addr(1)},
	}
	for _, in := range bad {
		if err := c.reg.Register(ctx, in); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("Register(%+v) = %v, want ErrInvalid", in, err)
		}
	}
	if _, err := c.dis.Watch(ctx, ""); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("Watch(\"\") = %v, want ErrInvalid", err)
	}
	c.reg.Close()
	c.dis.Close()
	if err := c.reg.Register(ctx, inst(svc, 1)); !errors.Is(err, core.ErrClosed) {
		t.Errorf("Register after Close = %v, want ErrClosed", err)
	}
	if _, err := c.dis.Watch(ctx, svc); !errors.Is(err, core.ErrClosed) {
		t.Errorf("Watch after Close = %v, want ErrClosed", err)
	}
}

func testStatic(t *testing.T, h Harness) {
	c := h.newClient(t)
	ctx := ctxFor(t, h.settle()+5*time.Second)
	svc := serviceOf(h.Static)
	want := activeAddrs(h.Static)
	l, err := c.dis.Instances(ctx, svc)
	must(t, err)
	if !slices.Equal(Addrs(l), want) {
		t.Fatalf("Instances %v, want %v", Addrs(l), want)
	}
	ch, err := c.dis.Watch(ctx, svc)
	must(t, err)
	Next(t, ch, h.settle(), "the static list first", HasAddrs(want...))
	// Registration against a fixed list is accepted and changes nothing.
	if err := c.reg.Register(ctx, core.Instance{Service: svc, Addr: "tcp@10.9.9.9:1"}); err != nil {
		t.Fatalf("Register on a static backend: %v", err)
	}
	l, err = c.dis.Instances(ctx, svc)
	must(t, err)
	if !slices.Equal(Addrs(l), want) {
		t.Fatalf("after Register: %v, want %v", Addrs(l), want)
	}
}

func testStaticUpdate(t *testing.T, h Harness) {
	if h.Update == nil {
		t.Skip("the list is fixed")
	}
	c := h.newClient(t)
	ctx := ctxFor(t, 2*h.settle()+5*time.Second)
	svc := serviceOf(h.Static)
	ch, err := c.dis.Watch(ctx, svc)
	must(t, err)
	Next(t, ch, h.settle(), "the static list first", HasAddrs(activeAddrs(h.Static)...))
	one := []core.Instance{{Service: svc, Addr: "tcp@10.0.0.9:1"}}
	h.Update(t, c.d, one)
	Next(t, ch, h.settle(), "the updated list", HasAddrs("tcp@10.0.0.9:1"))
	h.Update(t, c.d, nil)
	Next(t, ch, h.settle(), "an empty list, delivered", HasAddrs())
	// Updates nobody reads coalesce into the newest.
	for i := range 10 {
		h.Update(t, c.d, []core.Instance{{Service: svc, Addr: h.updateAddr(i)}})
	}
	Next(t, ch, h.settle(), "the newest update", HasAddrs(h.updateAddr(9)))
}

func testCloseEndsWatches(t *testing.T, h Harness) {
	c := h.newClient(t)
	svc := serviceOf(h.Static)
	ctx, cancel := context.WithCancel(context.Background())
	ch1, err := c.dis.Watch(ctx, svc)
	must(t, err)
	ch2, err := c.dis.Watch(context.Background(), svc)
	must(t, err)
	cancel()
	drainUntilClosed(t, ch1, "watch whose context was cancelled")
	c.dis.Close()
	drainUntilClosed(t, ch2, "watch of a closed Discovery")
}

func drainUntilClosed(t *testing.T, ch <-chan []core.Instance, what string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, open := <-ch:
			if !open {
				return
			}
		case <-deadline:
			t.Fatalf("%s: channel not closed", what)
		}
	}
}

func serviceOf(list []core.Instance) string {
	if len(list) > 0 {
		return list[0].Service
	}
	return "static"
}

func activeAddrs(list []core.Instance) []string {
	var out []string
	for _, in := range list {
		if !in.Meta.Inactive() {
			out = append(out, in.Addr)
		}
	}
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
