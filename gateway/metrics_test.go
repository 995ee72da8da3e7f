package gateway_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/seedforge/discovery/gateway"
)

func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	url := newRegistry()
	startRPCX(t, url, "")
	_, hs := newGateway(t, gateway.Config{Discovery: open(t, url), MeterProvider: mp})
	waitOK(t, hs.URL+"/Arith/Mul", `{}`) // polls: may count 503s or 404s first
	var before metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &before); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		post(t, hs.URL+"/Arith/Mul", `{"A":1,"B":2}`)
	}
	post(t, hs.URL+"/Arith/Div", `{"A":1,"B":0}`)
	post(t, hs.URL+"/Made/Up", `{}`)
	var after metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &after); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		service, status string
		want            int64
	}{{"Arith", "200", 3}, {"Arith", "422", 1}, {"(unknown)", "404", 1}} {
		if got := requests(after, c.service, c.status) - requests(before, c.service, c.status); got != c.want {
			t.Errorf("%s{service=%s,status=%s} grew by %d, want %d", gateway.MetricRequests, c.service, c.status, got, c.want)
		}
	}
}

// requests is the value of the request counter for service and status.
func requests(rm metricdata.ResourceMetrics, service, status string) int64 {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != gateway.MetricRequests {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				s, _ := dp.Attributes.Value(attribute.Key("service"))
				st, _ := dp.Attributes.Value(attribute.Key("http.response.status_code"))
				if s.AsString() == service && st.AsString() == status {
					return dp.Value
				}
			}
		}
	}
	return 0
}
