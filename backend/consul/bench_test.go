//go:build consul

package consul

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/seedforge/discovery/core"
)

// BenchmarkPropagation measures, in the same run against the same agent,
// how long a registration takes to reach a subscriber:
//
//	ours  core Registrar.Register → this driver's Put → the agent → this
//	      driver's blocking query → core's watch cache → a Watch channel
//	raw   the api client's own register (catalog: ServiceRegister with a
//	      passing TTL check; kv: Acquire with a session) → a plain
//	      blocking-query loop of the api client sees it
//
// and reports both means and their ratio (target ≤ 1.2). Before each
// measurement both watchers sit idle for longer than min_query_interval, so
// both are parked in a blocking query: this is the propagation of one
// change, not of a burst (bursts are paced by min_query_interval on
// purpose). The order of the two measurements alternates. ns/op is the sum
// of both measurements.
//
//	go test -tags consul -run '^$' -bench Propagation -benchtime 100x ./backend/consul/
func BenchmarkPropagation(b *testing.B) {
	a := sharedAgent(b)
	for _, mode := range []Mode{ModeCatalog, ModeKV} {
		b.Run(string(mode), func(b *testing.B) {
			b.StopTimer() // ns/op counts the two measurements of each op, nothing else
			quiet := log()
			ttl := time.Minute
			opts := core.Options{TTL: ttl, Logger: quiet}
			reg, err := core.NewRegistrar(newDriver(b, a, mode, Config{Logger: quiet}), opts)
			must(b, err)
			defer reg.Close()
			dis, err := core.NewDiscovery(newDriver(b, a, mode, Config{Logger: quiet}), opts)
			must(b, err)
			defer dis.Close()
			raw := rawAPI(b, a, "")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()

			oursSvc, rawSvc := "bench-ours-"+string(mode), "bench-raw-"+string(mode)
			ch, err := dis.Watch(ctx, oursSvc)
			must(b, err)
			rawSeen := make(chan int, 64)
			sid := ""
			if mode == ModeKV {
				sid, _, err = raw.Session().Create(&api.SessionEntry{Behavior: api.SessionBehaviorDelete, TTL: "30s", LockDelay: time.Millisecond}, nil)
				must(b, err)
				defer raw.Session().Destroy(sid, nil)
			}
			rawKey := "seedforge_test/" + rawSvc + "/tcp@127.0.0.1:38001"
			done := make(chan struct{})
			go func() { // the raw side's blocking-query loop
				defer close(done)
				var idx uint64
				for ctx.Err() == nil {
					q := (&api.QueryOptions{WaitIndex: idx, WaitTime: time.Minute}).WithContext(ctx)
					var n int
					var meta *api.QueryMeta
					var err error
					if mode == ModeCatalog {
						var e []*api.ServiceEntry
						e, meta, err = raw.Health().Service(rawSvc, "", true, q)
						n = len(e)
					} else {
						var p api.KVPairs
						p, meta, err = raw.KV().List("seedforge_test/"+rawSvc+"/", q)
						n = len(p)
					}
					if err != nil {
						return
					}
					if meta.LastIndex != idx {
						idx = meta.LastIndex
						select {
						case rawSeen <- n:
						case <-ctx.Done():
						}
					}
				}
			}()
			defer func() { cancel(); <-done }()
			waitRaw := func(n int) {
				for got := range rawSeen {
					if got == n {
						return
					}
				}
			}
			waitOurs := func(n int) {
				for l := range ch {
					if len(l) == n {
						return
					}
				}
			}
			waitRaw(0)
			waitOurs(0)

			inst := core.Instance{Service: oursSvc, Addr: "tcp@127.0.0.1:38002", Meta: core.Metadata{"weight": "1"}}
			rawReg := &api.AgentServiceRegistration{
				ID: rawSvc + "-1", Name: rawSvc, Address: "127.0.0.1", Port: 38001, Meta: map[string]string{"weight": "1"},
				Check: &api.AgentServiceCheck{CheckID: "service:" + rawSvc + "-1", TTL: ttl.String(), Status: api.HealthPassing},
			}
			measureRaw := func() time.Duration {
				start := time.Now()
				if mode == ModeCatalog {
					must(b, raw.Agent().ServiceRegister(rawReg))
				} else {
					ok, _, err := raw.KV().Acquire(&api.KVPair{Key: rawKey, Value: []byte("weight=1"), Session: sid}, nil)
					must(b, err)
					if !ok {
						b.Fatal("raw acquire refused")
					}
				}
				waitRaw(1)
				return time.Since(start)
			}
			measureOurs := func() time.Duration {
				start := time.Now()
				must(b, reg.Register(ctx, inst))
				waitOurs(1)
				return time.Since(start)
			}
			var ours, raws []time.Duration
			for i := range b.N {
				time.Sleep(DefaultMinQueryInterval + 50*time.Millisecond) // both watchers parked
				b.StartTimer()
				if i%2 == 0 {
					raws = append(raws, measureRaw())
					ours = append(ours, measureOurs())
				} else {
					ours = append(ours, measureOurs())
					raws = append(raws, measureRaw())
				}
				b.StopTimer()
				// Back to empty, untimed.
				must(b, reg.Deregister(ctx, inst))
				if mode == ModeCatalog {
					must(b, raw.Agent().ServiceDeregister(rawReg.ID))
				} else {
					_, err := raw.KV().Delete(rawKey, nil)
					must(b, err)
				}
				waitRaw(0)
				waitOurs(0)
			}
			mo, mr := mean(ours), mean(raws)
			b.ReportMetric(float64(mo.Microseconds()), "ours-µs/op")
			b.ReportMetric(float64(mr.Microseconds()), "raw-µs/op")
			b.ReportMetric(float64(mo)/float64(mr), "ratio")
			b.ReportMetric(float64(median(ours))/float64(median(raws)), "p50-ratio")
		})
	}
}

func log() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func mean(d []time.Duration) time.Duration {
	var s time.Duration
	for _, x := range d {
		s += x
	}
	return s / time.Duration(max(len(d), 1))
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
