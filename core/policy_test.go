package core_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedforge/discovery/internal/leaktest"

	"github.com/seedforge/discovery/backend/inprocess"
	"github.com/seedforge/discovery/core"
)

var seq atomic.Int64

func storeName() string { return fmt.Sprintf("core-test-%d", seq.Add(1)) }

func fastOptions() core.Options {
	return core.Options{TTL: 300 * time.Millisecond, BackoffBase: 10 * time.Millisecond, BackoffCap: 100 * time.Millisecond}
}

func newPair(t *testing.T, name string) (core.Registrar, core.Discovery) {
	t.Helper()
	d := inprocess.Open(name)
	reg, err := core.NewRegistrar(d, fastOptions())
	if err != nil {
		t.Fatal(err)
	}
	dis, err := core.NewDiscovery(d, fastOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dis.Close(); reg.Close(); d.Close() })
	return reg, dis
}

func leakCheck(t *testing.T) { leaktest.Check(t) }

func waitList(t *testing.T, ch <-chan []core.Instance, within time.Duration, want ...string) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case l, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed waiting for %v", want)
			}
			var got []string
			for _, i := range l {
				got = append(got, i.Addr)
			}
			if slices.Equal(got, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no list %v within %v", want, within)
		}
	}
}

// An outage longer than the TTL: the records expire in the store, watchers
// keep their last list the whole time, and every registration comes back
// by itself once the store is reachable again.
func TestOutageKeepsListAndReRegisters(t *testing.T) {
	leakCheck(t)
	name := storeName()
	reg, _ := newPair(t, name)
	_, dis := newPair(t, name)
	ctx := context.Background()
	a := core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:1"}
	if err := reg.Register(ctx, a); err != nil {
		t.Fatal(err)
	}
	ch, err := dis.Watch(ctx, "svc")
	if err != nil {
		t.Fatal(err)
	}
	waitList(t, ch, 5*time.Second, a.Addr)

	store := inprocess.Lookup(name)
	store.SetDown(true)
	// Poll the store itself until the record expired behind the outage.
	deadline := time.Now().Add(5 * time.Second)
	for len(store.Instances("svc")) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("record did not expire during the outage")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Nothing was delivered during the outage: the reader still holds [a].
	select {
	case l := <-ch:
		t.Fatalf("a list was delivered during the outage: %v", l)
	default:
	}
	if l, err := dis.Instances(ctx, "svc"); err != nil || len(l) != 1 {
		t.Fatalf("Instances during outage = %v, %v; want the last known list", l, err)
	}
	store.SetDown(false)
	// The record comes back by itself. The reader may briefly get the empty
	// list the store truly held before the refresh loop wrote it again, but
	// it must end on [a]; a repeat of the list it holds is not re-sent.
	deadline = time.Now().Add(5 * time.Second)
	for len(store.Instances("svc")) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("registration not restored after the outage")
		}
		time.Sleep(10 * time.Millisecond)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		l, err := dis.Instances(ctx, "svc")
		if err == nil && len(l) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("discovery did not recover: %v %v", l, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// One store watch per service, however many subscribers; the last one
// leaving closes it.
func TestOneStoreWatchPerService(t *testing.T) {
	leakCheck(t)
	name := storeName()
	_, dis := newPair(t, name)
	store := inprocess.Lookup(name)
	ctx, cancel := context.WithCancel(context.Background())
	for range 1000 {
		if _, err := dis.Watch(ctx, "svc"); err != nil {
			t.Fatal(err)
		}
	}
	// The shared watch opens on its own goroutine: wait for it.
	deadline := time.Now().Add(5 * time.Second)
	for store.Watches("svc") == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := store.Watches("svc"); n != 1 {
		t.Fatalf("1000 subscribers opened %d store watches, want 1", n)
	}
	cancel()
	deadline = time.Now().Add(5 * time.Second)
	for store.Watches("svc") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("store watch still open after every subscriber left")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Close deregisters everything and leaves no goroutine behind.
func TestCloseDeregisters(t *testing.T) {
	leakCheck(t)
	name := storeName()
	d := inprocess.Open(name)
	reg, err := core.NewRegistrar(d, fastOptions())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := reg.Register(context.Background(), core.Instance{Service: "svc", Addr: fmt.Sprintf("tcp@127.0.0.1:%d", i+1)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if n := len(inprocess.Lookup(name).Instances("svc")); n != 0 {
		t.Fatalf("%d records left after Close", n)
	}
}

func TestOptionsValidation(t *testing.T) {
	d := inprocess.Open(storeName())
	defer d.Close()
	for _, o := range []core.Options{
		{TTL: -time.Second},
		{TTL: time.Second, Interval: time.Second},
		{TTL: time.Second, Interval: 2 * time.Second},
		{BackoffBase: time.Second, BackoffCap: time.Millisecond},
	} {
		if _, err := core.NewRegistrar(d, o); err == nil {
			t.Errorf("NewRegistrar(%+v) accepted", o)
		}
	}
}
