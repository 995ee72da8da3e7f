package gateway

import (
	"context"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Metric names, in OpenTelemetry's conventions.
const (
	MetricRequests = "discovery.gateway.requests"
	MetricDuration = "discovery.gateway.request.duration"
)

// unknownService labels calls to names the gateway does not follow, so that
// made-up names cannot grow the metrics' cardinality.
const unknownService = "(unknown)"

type instruments struct {
	requests metric.Int64Counter
	duration metric.Float64Histogram
}

func newInstruments(mp metric.MeterProvider) *instruments {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter("github.com/seedforge/discovery/gateway")
	requests, err1 := m.Int64Counter(MetricRequests, metric.WithUnit("{request}"),
		metric.WithDescription("Calls made through the gateway, by service and HTTP status."))
	duration, err2 := m.Float64Histogram(MetricDuration, metric.WithUnit("s"),
		metric.WithDescription("Time from the request to the answer, by service and HTTP status."))
	if err1 != nil || err2 != nil { // only for invalid names: a bug here
		return newInstruments(noop.NewMeterProvider())
	}
	return &instruments{requests: requests, duration: duration}
}

// observe records one call of service that answered status.
func (g *Gateway) observe(service string, status int, start time.Time) {
	g.mu.Lock()
	_, followed := g.routes[service]
	g.mu.Unlock()
	if _, configured := g.cfg.Services[service]; !followed && !configured {
		service = unknownService
	}
	attrs := metric.WithAttributes(attribute.String("service", service), attribute.String("http.response.status_code", strconv.Itoa(status)))
	g.metrics.requests.Add(context.Background(), 1, attrs)
	g.metrics.duration.Record(context.Background(), time.Since(start).Seconds(), attrs)
}
