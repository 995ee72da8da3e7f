package core_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedforge/discovery/backend/inprocess"
	"github.com/seedforge/discovery/core"
)

// brokenWatches wraps a real driver; its watches fail right after their
// first list, like a registry that accepts watches and then drops them.
type brokenWatches struct {
	core.Driver
	opens atomic.Int64
}

func (b *brokenWatches) Watch(ctx context.Context, service string) (core.Watcher, error) {
	b.opens.Add(1)
	w, err := b.Driver.Watch(ctx, service)
	if err != nil {
		return nil, err
	}
	return &breakAfterFirst{Watcher: w}, nil
}

type breakAfterFirst struct {
	core.Watcher
	served bool
}

func (w *breakAfterFirst) Next(ctx context.Context) ([]core.Instance, error) {
	if w.served {
		return nil, errors.New("watch dropped by the registry")
	}
	w.served = true
	return w.Watcher.Next(ctx)
}

// A watch that breaks at once is reopened with growing, jittered delays, not
// in a hot loop, and the subscriber keeps its list throughout.
func TestBrokenWatchBacksOff(t *testing.T) {
	leakCheck(t)
	name := storeName()
	reg, _ := newPair(t, name)
	ctx := context.Background()
	if err := reg.Register(ctx, core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	d := &brokenWatches{Driver: inprocess.Open(name)}
	defer d.Close()
	o := fastOptions() // backoff 10ms .. 100ms
	dis, err := core.NewDiscovery(d, o)
	if err != nil {
		t.Fatal(err)
	}
	defer dis.Close()
	ch, err := dis.Watch(ctx, "svc")
	if err != nil {
		t.Fatal(err)
	}
	waitList(t, ch, 5*time.Second, "tcp@127.0.0.1:1")

	const window = time.Second
	start := d.opens.Load()
	time.Sleep(window) // the measured window, not synchronisation
	opens := d.opens.Load() - start
	// With delays doubling from 10ms to a 100ms cap, one second holds about
	// 12 reopens; a hot loop would make thousands. A slow machine makes fewer.
	if opens > 40 {
		t.Fatalf("%d watch reopens in %v: no backoff", opens, window)
	}
	if opens < 2 {
		t.Fatalf("%d watch reopens in %v: a broken watch must be reopened", opens, window)
	}
	t.Logf("%d reopens in %v", opens, window)
	select {
	case l := <-ch:
		t.Fatalf("the repeated identical list was re-sent: %v", l)
	default:
	}
	if l, err := dis.Instances(ctx, "svc"); err != nil || len(l) != 1 {
		t.Fatalf("list lost while the watch kept breaking: %v %v", l, err)
	}
}

// notifying wraps a real driver and implements core.LossNotifier, the way a
// ZooKeeper driver reports an expired session.
type notifying struct {
	core.Driver
	fns []func()
}

func (n *notifying) OnLoss(f func()) { n.fns = append(n.fns, f) }
func (n *notifying) lose() {
	for _, f := range n.fns {
		f()
	}
}

// A driver that reports a loss gets its records written again at once,
// not at the next refresh (10s away here).
func TestLossNotifierReRegistersAtOnce(t *testing.T) {
	leakCheck(t)
	name := storeName()
	d := &notifying{Driver: inprocess.Open(name)}
	defer d.Close()
	reg, err := core.NewRegistrar(d, core.Options{TTL: 30 * time.Second, BackoffBase: 10 * time.Millisecond, BackoffCap: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	inst := core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:1", Meta: core.Metadata{"weight": "3"}}
	if err := reg.Register(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	store := inprocess.Lookup(name)
	store.Remove("svc", inst.Addr) // the store dropped it, e.g. session expiry
	d.lose()
	deadline := time.Now().Add(5 * time.Second) // the refresh would come at ~10s
	for {
		if l := store.Instances("svc"); len(l) == 1 && l[0].Meta["weight"] == "3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("record not written again after the driver reported its loss")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
