//go:build etcd

package etcd

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/seedforge/discovery/core"
)

// TestWatchResumesAfterCut: a connection cut breaks the shared stream; the
// watch resumes from its next revision on a new one. A change made during
// the cut arrives as a change, with no error and no list read again; one
// seen before the cut does not come again; the watch is live afterwards.
func TestWatchResumesAfterCut(t *testing.T) {
	leakCheck(t)
	srv := startServer(t)
	raw := rawClient(t, srv.endpoint())
	p := proxyTo(t, srv)
	const base = "/resume"
	ctx := ctxT(t, time.Minute)
	prefix := base + "/S/"
	a, x, b, c := instance("S", 1), instance("S", 2), instance("S", 3), instance("S", 4)
	if _, err := raw.Put(ctx, prefix+a.Addr, ""); err != nil {
		t.Fatal(err)
	}
	d := newDriverT(t, Config{Endpoints: []string{p.Addr()}, BasePath: base})
	w, err := d.Watch(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	dw := w.(core.DeltaWatcher)
	if first, err := w.Next(ctx); err != nil || !slices.Equal(addrsOf(first), []string{a.Addr}) {
		t.Fatalf("first Next: %v %v", addrsOf(first), err)
	}
	for _, want := range []core.Instance{x, b, c} {
		switch want.Addr {
		case b.Addr:
			p.Cut()
			if _, err := raw.Put(ctx, prefix+b.Addr, ""); err != nil {
				t.Fatal(err)
			}
			p.Restore()
		default:
			if _, err := raw.Put(ctx, prefix+want.Addr, ""); err != nil {
				t.Fatal(err)
			}
		}
		nctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		ch, err := dw.NextChange(nctx)
		cancel()
		if err != nil || len(ch.Put) != 1 || ch.Put[0].Addr != want.Addr || len(ch.Deleted) != 0 {
			t.Fatalf("NextChange = %+v, %v; want %s put", ch, err, want.Addr)
		}
	}
}

// TestServicesShareOneStream: the watches of many services of one driver,
// and the watch on its own keys, cost etcd one stream, a watcher each;
// closing one cancels its watcher and leaves the stream to the others;
// closing the last closes the stream.
func TestServicesShareOneStream(t *testing.T) {
	leakCheck(t)
	srv := startServer(t)
	ctx := ctxT(t, time.Minute)
	watchers, streams := serverWatchers(t), serverGauge(t, "etcd_debugging_mvcc_watch_stream_total")
	d := newDriverT(t, Config{Endpoints: []string{srv.endpoint()}, BasePath: "/share"})
	reg, err := core.NewRegistrar(d, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(ctx, instance("Own", 1)); err != nil { // its own keys' watch
		t.Fatal(err)
	}
	dis, err := core.NewDiscovery(d, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dis.Close() })
	const n = 20
	cancels := make([]context.CancelFunc, n)
	for i := range n {
		sctx, cancel := context.WithCancel(ctx)
		cancels[i] = cancel
		ch, err := dis.Watch(sctx, fmt.Sprintf("S%d", i))
		if err != nil {
			t.Fatal(err)
		}
		recv(t, ch, 10*time.Second, "the first (empty) list", hasAddrs())
	}
	gauges := func(wantWatchers, wantStreams int) func() error {
		return func() error {
			w := serverWatchers(t) - watchers
			s := serverGauge(t, "etcd_debugging_mvcc_watch_stream_total") - streams
			if w != wantWatchers || s != wantStreams {
				return fmt.Errorf("%d watchers on %d streams, want %d on %d", w, s, wantWatchers, wantStreams)
			}
			return nil
		}
	}
	poll(t, 10*time.Second, "one watcher per service and one for the own keys, one stream", gauges(n+1, 1))
	cancels[0]()
	poll(t, 10*time.Second, "one service's watch cancelled, the stream kept", gauges(n, 1))
	for _, cancel := range cancels[1:] {
		cancel()
	}
	poll(t, 10*time.Second, "the services' watches cancelled, the own keys' kept", gauges(1, 1))
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "the last watch gone, and the stream with it", gauges(0, 0))
}
