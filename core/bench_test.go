package core_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedforge/discovery/backend/inprocess"
	"github.com/seedforge/discovery/core"
)

// fill writes n instances of svc straight into the store.
func fill(b *testing.B, d core.Driver, n int) {
	b.Helper()
	for i := range n {
		in := core.Instance{Service: "svc", Addr: fmt.Sprintf("tcp@10.%d.%d.%d:8972", i>>16, i>>8&255, i&255),
			Meta: core.Metadata{"weight": "1", "group": "g"}}
		if err := d.Put(context.Background(), in, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// subscribers opens subs watches (lists or changes) of a service of n
// instances. expect(want) must be called before the change it waits for,
// since a fast subscriber may see the list before the caller looks; then
// wait returns once every subscriber has had a list of want instances.
func subscribers(b *testing.B, dis core.Discovery, subs, n int, changes bool) (expect func(want int), wait func()) {
	b.Helper()
	ctx := b.Context()
	var target atomic.Int64
	target.Store(int64(n))
	seen := make(chan struct{}, subs)
	watch := func(length func() (int, bool)) {
		go func() {
			for {
				l, ok := length()
				if !ok {
					return
				}
				if int64(l) == target.Load() {
					seen <- struct{}{}
				}
			}
		}()
	}
	for range subs {
		if changes {
			ch, err := dis.WatchChanges(ctx, "svc")
			if err != nil {
				b.Fatal(err)
			}
			watch(func() (int, bool) { u, ok := <-ch; return u.List.Len(), ok })
		} else {
			ch, err := dis.Watch(ctx, "svc")
			if err != nil {
				b.Fatal(err)
			}
			watch(func() (int, bool) { l, ok := <-ch; return len(l), ok })
		}
	}
	return func(want int) { target.Store(int64(want)) }, func() {
		for range subs {
			select {
			case <-seen:
			case <-time.After(time.Minute):
				b.Fatalf("subscribers did not see %d instances", target.Load())
			}
		}
	}
}

// BenchmarkChange: one instance registered or deregistered in turn → every
// subscriber has the new list. Through Watch (full lists) and WatchChanges
// (Updates), on the inprocess backend.
func BenchmarkChange(b *testing.B) {
	for _, c := range []struct{ instances, subs int }{{10000, 1}, {10000, 100}, {1000, 1000}} {
		for _, mode := range []string{"watch", "changes"} {
			b.Run(fmt.Sprintf("%s/instances=%d/subscribers=%d", mode, c.instances, c.subs), func(b *testing.B) {
				benchChange(b, c.instances, c.subs, mode == "changes")
			})
		}
	}
}

func benchChange(b *testing.B, n, subs int, changes bool) {
	d := inprocess.Open(storeName())
	defer d.Close()
	fill(b, d, n)
	dis, err := core.NewDiscovery(d, core.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer dis.Close()
	expect, wait := subscribers(b, dis, subs, n, changes)
	wait()
	b.ReportAllocs()
	b.ResetTimer()
	toggle(b, d, n, expect, wait)
}

// toggle registers and deregisters one more instance in turn, b.N times,
// each time until every subscriber has the new list.
func toggle(b *testing.B, d core.Driver, n int, expect func(int), wait func()) {
	extra := core.Instance{Service: "svc", Addr: "tcp@192.168.0.1:8972", Meta: core.Metadata{"weight": "1"}}
	ctx := context.Background()
	var err error
	for i := range b.N {
		if i%2 == 0 {
			expect(n + 1)
			err = d.Put(ctx, extra, time.Hour)
		} else {
			expect(n)
			err = d.Delete(ctx, extra)
		}
		if err != nil {
			b.Fatal(err)
		}
		wait()
	}
}

// BenchmarkLargeService: 100,000 instances of one service: the first list a
// subscriber gets, the heap the watch holds per instance, and one change.
func BenchmarkLargeService(b *testing.B) {
	const n = 100000
	for _, mode := range []string{"watch", "changes"} {
		b.Run(mode+"/instances=100000", func(b *testing.B) {
			d := inprocess.Open(storeName())
			defer d.Close()
			fill(b, d, n)
			before := heap()
			dis, err := core.NewDiscovery(d, core.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer dis.Close()
			start := time.Now()
			expect, wait := subscribers(b, dis, 1, n, mode == "changes")
			wait()
			firstList := time.Since(start)
			perInstance := float64(heap()-before) / n
			b.ReportAllocs()
			b.ResetTimer()
			toggle(b, d, n, expect, wait)
			b.ReportMetric(float64(firstList.Milliseconds()), "ms-first-list")
			b.ReportMetric(perInstance, "heap-B/instance")
		})
	}
}

func heap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
