package core_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/seedforge/discovery/backend/inprocess"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
)

// metricsReader collects what core recorded through an SDK's manual reader.
type metricsReader struct {
	t *testing.T
	r *sdkmetric.ManualReader
}

// value returns the sum (counter) or value (gauge) of name for the points
// whose attribute key equals val, 0 when there is none.
func (m metricsReader) value(name, key, val string) int64 {
	var rm metricdata.ResourceMetrics
	if err := m.r.Collect(context.Background(), &rm); err != nil {
		m.t.Fatal(err)
	}
	var total int64
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			if mt.Name != name {
				continue
			}
			var points []metricdata.DataPoint[int64]
			switch d := mt.Data.(type) {
			case metricdata.Sum[int64]:
				points = d.DataPoints
			case metricdata.Gauge[int64]:
				points = d.DataPoints
			default:
				m.t.Fatalf("%s: unexpected data %T", name, mt.Data)
			}
			for _, p := range points {
				if v, ok := p.Attributes.Value(attribute.Key(key)); ok && v.AsString() == val {
					total += p.Value
				}
			}
		}
	}
	return total
}

func (m metricsReader) poll(what, name, key, val string, ok func(int64) bool) {
	m.t.Helper()
	coretest.Poll(m.t, 10*time.Second, what, func() error {
		if v := m.value(name, key, val); !ok(v) {
			return fmt.Errorf("%s{%s=%s} = %d", name, key, val, v)
		}
		return nil
	})
}

func atLeast(n int64) func(int64) bool { return func(v int64) bool { return v >= n } }
func exactly(n int64) func(int64) bool { return func(v int64) bool { return v == n } }

// TestMetrics drives real behaviour of the in-process store (an outage, a
// record deleted behind the owner's back, a mass loss) and reads every
// instrument through the SDK's manual reader.
func TestMetrics(t *testing.T) {
	leakCheck(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	m := metricsReader{t: t, r: reader}

	name := storeName()
	store := inprocess.Lookup(name)
	o := fastOptions()
	o.TTL, o.MeterProvider = 2*time.Second, mp
	o.SelfPreservation, o.SelfPreservationHold = 0.5, time.Hour
	d := inprocess.Open(name)
	reg, err := core.NewRegistrar(d, o)
	if err != nil {
		t.Fatal(err)
	}
	dis, err := core.NewDiscovery(d, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dis.Close(); reg.Close(); d.Close() })
	ctx := t.Context()
	for _, a := range four {
		if err := reg.Register(ctx, core.Instance{Service: "svc", Addr: a}); err != nil {
			t.Fatal(err)
		}
	}
	m.poll("4 registered", core.MetricRegistrations, "state", "registered", exactly(4))
	if _, err := dis.Watch(ctx, "svc"); err != nil {
		t.Fatal(err)
	}
	m.poll("4 instances watched", core.MetricInstances, "service", "svc", exactly(4))
	m.poll("a list delivered", core.MetricChanges, "service", "svc", atLeast(1))

	// An outage: refreshes fail, registrations retry, the watch reopens.
	store.SetDown(true)
	m.poll("refresh failures", core.MetricRefreshFailures, "service", "svc", atLeast(1))
	m.poll("all retrying", core.MetricRegistrations, "state", "retrying", exactly(4))
	m.poll("watch reopened", core.MetricWatchReopens, "service", "svc", atLeast(1))
	store.SetDown(false)
	m.poll("registered again", core.MetricRegistrations, "state", "registered", exactly(4))
	if v := m.value(core.MetricRegistrations, "state", "retrying"); v != 0 {
		t.Fatalf("%d still retrying", v)
	}

	// Every record deleted behind the owners' backs at once: the watch holds
	// the mass loss (self-preservation), the owners write them again.
	before := m.value(core.MetricReRegistrations, "service", "svc")
	for _, a := range four {
		store.Remove("svc", a)
	}
	m.poll("a self-preservation hold", core.MetricHolds, "service", "svc", exactly(1))
	m.poll("re-registrations", core.MetricReRegistrations, "service", "svc", atLeast(before+4))
	m.poll("4 instances again", core.MetricInstances, "service", "svc", exactly(4))

	// Closed: its gauges report nothing any more.
	dis.Close()
	reg.Close()
	if v := m.value(core.MetricRegistrations, "state", "registered"); v != 0 {
		t.Fatalf("a closed Registrar still reports %d registered", v)
	}
	if v := m.value(core.MetricInstances, "service", "svc"); v != 0 {
		t.Fatalf("a closed Discovery still reports %d instances", v)
	}
}
