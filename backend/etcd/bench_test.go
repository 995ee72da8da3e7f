//go:build etcd

package etcd

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seedforge/discovery/core"
)

// TestManySubscribersOneWatch: 1,000 subscribers to one service in one
// process hold one watch, and one watch stream, on the etcd server, as
// counted by the server itself.
func TestManySubscribersOneWatch(t *testing.T) {
	leakCheck(t)
	srv := startServer(t)
	ctx := ctxT(t, time.Minute)
	c := newClient(t, Config{Endpoints: []string{srv.endpoint()}, BasePath: "/many"})
	a, b := instance("S", 1), instance("S", 2)
	if err := c.reg.Register(ctx, a); err != nil {
		t.Fatal(err)
	}
	watchers, streams := serverWatchers(t), serverGauge(t, "etcd_debugging_mvcc_watch_stream_total")
	const n = 1000
	chans := make([]<-chan []core.Instance, n)
	for i := range chans {
		ch, err := c.dis.Watch(ctx, "S")
		if err != nil {
			t.Fatal(err)
		}
		chans[i] = ch
	}
	waitAll(t, chans, hasAddrs(a.Addr))
	// The watch is live: a change reaches every subscriber through it.
	if err := c.reg.Register(ctx, b); err != nil {
		t.Fatal(err)
	}
	waitAll(t, chans, hasAddrs(a.Addr, b.Addr))
	if got := serverWatchers(t) - watchers; got != 1 {
		t.Fatalf("%d subscribers hold %d etcd watchers, want 1", n, got)
	}
	// The registrar's watch on its own keys, in the same client, may already
	// have opened the stream the subscribers' watch shares.
	if got := serverGauge(t, "etcd_debugging_mvcc_watch_stream_total") - streams; got > 1 {
		t.Fatalf("%d subscribers hold %d new etcd watch streams, want at most 1", n, got)
	}
}

func waitAll(t testing.TB, chans []<-chan []core.Instance, ok func([]core.Instance) bool) {
	t.Helper()
	var wg sync.WaitGroup
	failed := make(chan string, len(chans))
	for _, ch := range chans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			timer := time.NewTimer(20 * time.Second)
			defer timer.Stop()
			for {
				select {
				case l := <-ch:
					if ok(l) {
						return
					}
				case <-timer.C:
					failed <- "a subscriber never got the expected list"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(failed)
	for f := range failed {
		t.Fatal(f)
	}
}

func serverGauge(t testing.TB, name string) int {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return int(f.GetMetric()[0].GetGauge().GetValue())
		}
	}
	t.Fatalf("%s not found in the metrics", name)
	return 0
}

// BenchmarkPropagation times, on one server in one run, side by side:
//
//   - ours: from Register returning to a subscriber (core.Discovery over
//     this driver, in another client) receiving the list with the instance;
//   - raw: from a raw client's Put returning to a raw watch's event;
//   - and the same two from the start of the call (…-e2e), write included;
//   - driver: from Register returning to this driver's Watcher.Next, called
//     directly (no core), returning the list with the instance: the
//     driver's own share of ours.
//
// ratio = ours/raw, e2e-ratio = ours-e2e/raw-e2e, driver-ratio = driver/raw
// (means), and p50-ratio = the ratio of the medians of ours and raw.
// Arrival is stamped as each receive returns, before its value is checked:
// the check's cost belongs to neither side.
func BenchmarkPropagation(b *testing.B) {
	srv := startServer(b)
	ctx := ctxT(b, time.Hour)
	cfg := Config{Endpoints: []string{srv.endpoint()}, BasePath: "/prop"}
	server, subscriber := newClient(b, cfg), newClient(b, cfg)
	ch, err := subscriber.dis.Watch(ctx, "P")
	if err != nil {
		b.Fatal(err)
	}
	recv(b, ch, 10*time.Second, "the first (empty) list", hasAddrs())
	raw, rawWatcher := rawClient(b, srv.endpoint()), rawClient(b, srv.endpoint())
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rawCh := rawWatcher.Watch(wctx, "/raw/", clientv3.WithPrefix())
	inst := instance("P", 1, "weight", "1")
	key := "/raw/P/" + inst.Addr
	bare := newDriverT(b, cfg)
	w, err := bare.Watch(ctx, "Q")
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Next(ctx); err != nil {
		b.Fatal(err)
	}
	q := instance("Q", 1, "weight", "1")
	nextUntil := func(n int) {
		for {
			l, err := w.Next(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if len(l) == n {
				return
			}
		}
	}

	var ours, theirs, oursE2E, theirsE2E, driver time.Duration
	var oursEach, theirsEach []time.Duration // for medians: a GC pause or a descheduled thread moves a mean
	b.ResetTimer()
	for range b.N {
		called := time.Now()
		if err := server.reg.Register(ctx, inst); err != nil {
			b.Fatal(err)
		}
		returned := time.Now()
		seen := nextAt(b, ch, hasAddrs(inst.Addr))
		ours += seen.Sub(returned)
		oursEach = append(oursEach, seen.Sub(returned))
		oursE2E += seen.Sub(called)
		if err := server.reg.Deregister(ctx, inst); err != nil {
			b.Fatal(err)
		}
		recv(b, ch, 10*time.Second, "no instance", hasAddrs())

		called = time.Now()
		if _, err := raw.Put(ctx, key, inst.Meta.Encode()); err != nil {
			b.Fatal(err)
		}
		returned = time.Now()
		seen = rawEvent(b, rawCh)
		theirs += seen.Sub(returned)
		theirsEach = append(theirsEach, seen.Sub(returned))
		theirsE2E += seen.Sub(called)
		if _, err := raw.Delete(ctx, key); err != nil {
			b.Fatal(err)
		}
		rawEvent(b, rawCh)

		if err := server.reg.Register(ctx, q); err != nil {
			b.Fatal(err)
		}
		returned = time.Now()
		nextUntil(1)
		driver += time.Since(returned)
		if err := server.reg.Deregister(ctx, q); err != nil {
			b.Fatal(err)
		}
		nextUntil(0)
	}
	b.StopTimer()
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
	b.ReportMetric(per(ours), "ours-ns/op")
	b.ReportMetric(per(theirs), "raw-ns/op")
	b.ReportMetric(float64(ours)/float64(theirs), "ratio")
	b.ReportMetric(per(oursE2E), "ours-e2e-ns/op")
	b.ReportMetric(per(theirsE2E), "raw-e2e-ns/op")
	b.ReportMetric(float64(oursE2E)/float64(theirsE2E), "e2e-ratio")
	b.ReportMetric(per(driver), "driver-ns/op")
	b.ReportMetric(float64(driver)/float64(theirs), "driver-ratio")
	b.ReportMetric(float64(median(oursEach).Nanoseconds()), "ours-p50-ns")
	b.ReportMetric(float64(median(theirsEach).Nanoseconds()), "raw-p50-ns")
	b.ReportMetric(float64(median(oursEach))/float64(median(theirsEach)), "p50-ratio")
	b.ReportMetric(float64(quantile(oursEach, 0.9).Nanoseconds()), "ours-p90-ns")
	b.ReportMetric(float64(quantile(theirsEach, 0.9).Nanoseconds()), "raw-p90-ns")
}

// nextAt receives from ch until a list passes ok and returns when it
// arrived, taken before the list is checked.
func nextAt(b *testing.B, ch <-chan []core.Instance, ok func([]core.Instance) bool) time.Time {
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case l, open := <-ch:
			at := time.Now()
			if !open {
				b.Fatal("watch closed")
			}
			if ok(l) {
				return at
			}
		case <-timeout.C:
			b.Fatal("no list in time")
		}
	}
}

func median(d []time.Duration) time.Duration { return quantile(d, 0.5) }

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	return d[int(q*float64(len(d)-1))]
}

// rawEvent receives one event from the raw watch and returns when it
// arrived, taken before it is checked.
func rawEvent(b *testing.B, ch clientv3.WatchChan) time.Time {
	select {
	case resp, ok := <-ch:
		at := time.Now()
		if !ok || resp.Err() != nil || len(resp.Events) == 0 {
			b.Fatalf("raw watch: %v %v", ok, resp.Err())
		}
		return at
	case <-time.After(10 * time.Second):
		b.Fatal("raw watch: no event")
	}
	return time.Time{}
}

// BenchmarkLargeService: a service of 10,000 and 20,000 instances on etcd.
// first-list times the first full list a new subscriber (core.Discovery over
// a new driver) gets, and the heap it then holds per instance; change times
// one instance put or deleted with the raw client → a WatchChanges
// subscriber has it, and what that allocates.
func BenchmarkLargeService(b *testing.B) {
	for _, n := range []int{10000, 20000} {
		srv := startServer(b)
		ctx := ctxT(b, time.Hour)
		raw := rawClient(b, srv.endpoint())
		const base = "/big"
		fillBig(b, ctx, raw, base, n)
		b.Run(fmt.Sprintf("first-list/instances=%d", n), func(b *testing.B) { benchFirstList(b, srv, base, n) })
		b.Run(fmt.Sprintf("change/instances=%d", n), func(b *testing.B) { benchBigChange(b, srv, raw, base, n) })
		srv.stop()
	}
}

func fillBig(b *testing.B, ctx context.Context, raw *clientv3.Client, base string, n int) {
	var ops []clientv3.Op
	flush := func() {
		if _, err := raw.Txn(ctx).Then(ops...).Commit(); err != nil {
			b.Fatal(err)
		}
		ops = ops[:0]
	}
	for i := range n {
		meta := core.Metadata{"weight": "1", "group": "blue", "version": "1.4.2", "tps": "120.5"}
		addr := fmt.Sprintf("tcp@10.%d.%d.%d:8972", i>>16, (i>>8)&255, i&255)
		ops = append(ops, clientv3.OpPut(base+"/Big/"+addr, meta.Encode()))
		if len(ops) == 128 { // etcd's default limit of operations per transaction
			flush()
		}
	}
	if len(ops) > 0 {
		flush()
	}
}

func benchFirstList(b *testing.B, srv *testServer, base string, n int) {
	ctx := ctxT(b, time.Hour)
	var total time.Duration
	var heap int64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		d, err := newDriver(Config{Endpoints: []string{srv.endpoint()}, BasePath: base, Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		dis, err := core.NewDiscovery(d, testOptions())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		ch, err := dis.Watch(ctx, "Big")
		if err != nil {
			b.Fatal(err)
		}
		list := <-ch
		total += time.Since(start)
		b.StopTimer()
		if len(list) != n {
			b.Fatalf("first list has %d instances, want %d", len(list), n)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap += int64(after.HeapAlloc) - int64(before.HeapAlloc)
		runtime.KeepAlive(list)
		dis.Close()
		d.Close()
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/first-list")
	b.ReportMetric(float64(heap)/float64(b.N)/float64(n), "heap-B/instance")
}

func benchBigChange(b *testing.B, srv *testServer, raw *clientv3.Client, base string, n int) {
	ctx := ctxT(b, time.Hour)
	key := base + "/Big/tcp@192.168.0.1:8972"
	if _, err := raw.Delete(ctx, key); err != nil { // left by a shorter run
		b.Fatal(err)
	}
	d := newDriverT(b, Config{Endpoints: []string{srv.endpoint()}, BasePath: base})
	dis, err := core.NewDiscovery(d, testOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer dis.Close()
	ch, err := dis.WatchChanges(ctx, "Big")
	if err != nil {
		b.Fatal(err)
	}
	if u := <-ch; u.List.Len() != n {
		b.Fatalf("first list has %d instances, want %d", u.List.Len(), n)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		want := n
		if i%2 == 0 {
			_, err = raw.Put(ctx, key, "weight=1")
			want = n + 1
		} else {
			_, err = raw.Delete(ctx, key)
		}
		if err != nil {
			b.Fatal(err)
		}
		for u := range ch {
			if u.List.Len() == want {
				break
			}
		}
	}
}
