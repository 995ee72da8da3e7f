//go:build zookeeper

package zookeeper_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/seedforge/discovery/backend/zookeeper"
	"github.com/seedforge/discovery/backend/zookeeper/zktest"
	"github.com/seedforge/discovery/core"
)

// BenchmarkPropagation measures, against one server in one run, alternating:
//
//   - raw: a plain client creates an ephemeral node; time until another
//     plain client's children watch fires (the floor ZooKeeper sets).
//   - raw-read: the same, until that client has also read the new children
//     and the new node's data, as any subscriber that wants the metadata
//     must (ZooKeeper events carry neither).
//   - driver: Registrar.Register of a new instance; time until a
//     Discovery.Watch subscriber in another process-like client receives a
//     list holding it (create, watch event, children and data read, core).
//
// It reports means and medians and the driver's ratios to both; it asserts
// nothing.
//
//	go test -tags zookeeper -run '^$' -bench Propagation -benchtime 300x ./backend/zookeeper/
func BenchmarkPropagation(b *testing.B) {
	srv := zktest.Start(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	writer, watcher := rawConn(b, srv.Addr(), ""), rawConn(b, srv.Addr(), "")
	for _, p := range []string{"/bench_raw", "/bench_raw/svc"} {
		if _, err := writer.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
			b.Fatal(err)
		}
	}
	reg := newClient(b, newDriver(b, zookeeper.Config{Servers: []string{srv.Addr()}, BasePath: "/bench", SessionTimeout: 4 * time.Second}), 4*time.Second)
	sub := newClient(b, newDriver(b, zookeeper.Config{Servers: []string{srv.Addr()}, BasePath: "/bench", SessionTimeout: 4 * time.Second}), 4*time.Second)
	ch, err := sub.dis.Watch(ctx, "svc")
	if err != nil {
		b.Fatal(err)
	}
	waitList := func(ok func([]core.Instance) bool) {
		for {
			select {
			case l := <-ch:
				if ok(l) {
					return
				}
			case <-time.After(10 * time.Second):
				b.Fatal("subscriber saw no change within 10s")
			}
		}
	}
	waitList(func(l []core.Instance) bool { return len(l) == 0 })
	meta := []byte("weight=1&group=bench")

	raws := make([]time.Duration, 0, b.N)
	rawReads := make([]time.Duration, 0, b.N)
	ours := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		addr := fmt.Sprintf("tcp@127.0.0.1:%d", 10000+i%50000)

		_, _, ev, err := watcher.ChildrenW("/bench_raw/svc")
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := writer.Create("/bench_raw/svc/"+addr, meta, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
			b.Fatal(err)
		}
		<-ev
		raws = append(raws, time.Since(start))
		children, _, err := watcher.Children("/bench_raw/svc")
		if err != nil || len(children) != 1 {
			b.Fatalf("children %v %v", children, err)
		}
		if _, _, err := watcher.Get("/bench_raw/svc/" + children[0]); err != nil {
			b.Fatal(err)
		}
		rawReads = append(rawReads, time.Since(start))
		if err := writer.Delete("/bench_raw/svc/"+addr, -1); err != nil {
			b.Fatal(err)
		}

		inst := core.Instance{Service: "svc", Addr: addr, Meta: core.Metadata{"weight": "1", "group": "bench"}}
		start = time.Now()
		if err := reg.reg.Register(ctx, inst); err != nil {
			b.Fatal(err)
		}
		waitList(func(l []core.Instance) bool { return len(l) == 1 && l[0].Addr == addr })
		ours = append(ours, time.Since(start))
		if err := reg.reg.Deregister(ctx, inst); err != nil {
			b.Fatal(err)
		}
		waitList(func(l []core.Instance) bool { return len(l) == 0 })
	}
	b.StopTimer()
	rawMean, readMean, oursMean := mean(raws), mean(rawReads), mean(ours)
	rawMed, readMed, oursMed := median(raws), median(rawReads), median(ours)
	b.ReportMetric(float64(rawMean.Nanoseconds()), "raw-mean-ns")
	b.ReportMetric(float64(readMean.Nanoseconds()), "raw-read-mean-ns")
	b.ReportMetric(float64(oursMean.Nanoseconds()), "driver-mean-ns")
	b.ReportMetric(float64(rawMed.Nanoseconds()), "raw-p50-ns")
	b.ReportMetric(float64(readMed.Nanoseconds()), "raw-read-p50-ns")
	b.ReportMetric(float64(oursMed.Nanoseconds()), "driver-p50-ns")
	b.ReportMetric(float64(oursMean)/float64(rawMean), "ratio-mean/raw")
	b.ReportMetric(float64(oursMed)/float64(rawMed), "ratio-p50/raw")
	b.ReportMetric(float64(oursMean)/float64(readMean), "ratio-mean/raw-read")
	b.ReportMetric(float64(oursMed)/float64(readMed), "ratio-p50/raw-read")
}

func mean(d []time.Duration) time.Duration {
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return sum / time.Duration(max(len(d), 1))
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
