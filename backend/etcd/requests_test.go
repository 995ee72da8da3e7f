//go:build etcd

package etcd

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
)

// TestRequestsPerInterval: one process with 2,000 registrations makes at most
// 5 requests to etcd per refresh interval, as etcd itself counts them (every
// gRPC message its server received: unary calls, lease keep-alives, watch
// requests), and an external delete of one of its keys is still repaired
// within one interval.
func TestRequestsPerInterval(t *testing.T) {
	leakCheck(t)
	srv := startServer(t)
	raw := rawClient(t, srv.endpoint())
	ctx := ctxT(t, 2*time.Minute)
	const base, n = "/requests", 2000
	d := newDriverT(t, Config{Endpoints: []string{srv.endpoint()}, BasePath: base})
	// A 6s lease: a 2s one can expire when this two-core machine stalls for
	// seconds under other suites, and then every key is written again.
	opts := testOptions()
	opts.TTL = 6 * time.Second
	reg, err := core.NewRegistrar(d, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	// Each registration is one transaction (TestWriteIsOneRequest); 2,000
	// took ~10 s under -race on two cores, from 64 goroutines, when they
	// were two round trips.
	registering := time.Now()
	regCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	coretest.RegisterMany(t, regCtx, reg, n, func(i int) core.Instance { return instance("S", 10000+i) })
	cancel()
	t.Logf("%d registrations written in %v", n, time.Since(registering).Round(time.Millisecond))
	interval := opts.TTL / core.TTLPerInterval

	// Keys written before the watch on them was established are read once,
	// in their first refresh.
	coretest.RequestsPerInterval(t, interval, 3*opts.TTL, 5, func() map[string]int {
		_, by := serverRequests(t)
		return by
	})

	// Deleted by someone else: back within one interval (plus the refresh
	// jitter and slack for the loaded machine), on our lease.
	key := base + "/S/" + instance("S", 10042).Addr
	if _, err := raw.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	poll(t, interval+interval/10+time.Second, "the deleted key written again", func() error {
		resp, err := raw.Get(ctx, key)
		if err != nil {
			return err
		}
		if len(resp.Kvs) != 1 || resp.Kvs[0].Lease != int64(d.current().id) {
			return fmt.Errorf("%d keys, not on our lease", len(resp.Kvs))
		}
		return nil
	})
	t.Logf("deleted key back after %v", time.Since(deleted).Round(time.Millisecond))
}

// serverRequests is the number of gRPC messages the embedded etcd servers of
// this process have received so far (grpc_server_msg_received_total), by
// method and in total: one per unary call, one per message on a stream.
func serverRequests(t testing.TB) (total int, byMethod map[string]int) {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byMethod = map[string]int{}
	for _, f := range families {
		if f.GetName() != "grpc_server_msg_received_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "grpc_method" {
					byMethod[l.GetValue()] += int(m.GetCounter().GetValue())
				}
			}
			total += int(m.GetCounter().GetValue())
		}
		return total, byMethod
	}
	t.Fatal("grpc_server_msg_received_total not found in the metrics")
	return 0, nil
}

// requestsSince is what serverRequests counted since an earlier reading.
func requestsSince(t testing.TB, total0 int, by0 map[string]int) (int, map[string]int) {
	total, by := serverRequests(t)
	for m, n := range by0 {
		if by[m] -= n; by[m] == 0 {
			delete(by, m)
		}
	}
	return total - total0, by
}

// TestWriteIsOneRequest: registering an instance, and writing it again with
// new metadata, is one request to etcd each (a transaction that compares the
// stored record with the last one written, which is how the operator's drain
// is kept), not a read followed by a write.
func TestWriteIsOneRequest(t *testing.T) {
	leakCheck(t)
	srv := startServer(t)
	ctx := ctxT(t, time.Minute)
	d := newDriverT(t, Config{Endpoints: []string{srv.endpoint()}, BasePath: "/onewrite"})
	opts := testOptions()
	opts.TTL = time.Minute // no refresh within the test
	reg, err := core.NewRegistrar(d, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	// The first registration also grants the lease and starts the watch
	// on the service's own keys.
	if err := reg.Register(ctx, instance("S", 1)); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		what string
		inst core.Instance
	}{
		{"a new instance", instance("S", 2, "weight", "1")},
		{"new metadata", instance("S", 2, "weight", "2")},
	} {
		total, by := serverRequests(t)
		if err := reg.Register(ctx, step.inst); err != nil {
			t.Fatal(err)
		}
		_, by = requestsSince(t, total, by)
		if by["Txn"] != 1 || by["Range"] != 0 || by["Put"] != 0 {
			t.Fatalf("%s: requests %v, want one Txn and no Range or Put", step.what, by)
		}
	}
}
