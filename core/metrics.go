package core

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// The OpenTelemetry instruments of core, all in this file; the policies
// record through one-line calls. Names and units are documented in
// docs/operations.md. Nothing is recorded unless the application installs
// an SDK (Options.MeterProvider, or otel.SetMeterProvider).
const meterName = "github.com/seedforge/discovery/core"

// Metric names, as exported.
const (
	MetricRegistrations   = "discovery.registrations"
	MetricRefreshFailures = "discovery.registration.failures"
	MetricReRegistrations = "discovery.registration.rewrites"
	MetricWatchReopens    = "discovery.watch.reopens"
	MetricInstances       = "discovery.watch.instances"
	MetricChanges         = "discovery.watch.changes"
	MetricHolds           = "discovery.watch.preservation.holds"
)

// instruments are shared by every Registrar and Discovery made with one
// MeterProvider; the observable gauges read each one's status through a
// callback registered for its life.
type instruments struct {
	meter           metric.Meter
	registrations   metric.Int64ObservableGauge
	refreshFailures metric.Int64Counter
	reRegistrations metric.Int64Counter
	watchReopens    metric.Int64Counter
	instances       metric.Int64ObservableGauge
	changes         metric.Int64Counter
	holds           metric.Int64Counter
}

func newInstruments(mp metric.MeterProvider) *instruments {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(meterName)
	ins := &instruments{meter: m}
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	ins.registrations = gauge(MetricRegistrations, "{registration}", "Registrations of this process, by state: registered, retrying, refused.")
	ins.refreshFailures = counter(MetricRefreshFailures, "{write}", "Registry writes (refresh or registration) that failed and will be retried.")
	ins.reRegistrations = counter(MetricReRegistrations, "{registration}", "Records the registry lost (lease, session, deletion) and that are written again.")
	ins.watchReopens = counter(MetricWatchReopens, "{watch}", "Store watches that broke and are opened again after a backoff.")
	ins.instances = gauge(MetricInstances, "{instance}", "Instances of each watched service, as last delivered to subscribers.")
	ins.changes = counter(MetricChanges, "{list}", "Lists of a watched service published to its subscribers.")
	ins.holds = counter(MetricHolds, "{hold}", "Times self-preservation held back a mass loss of instances.")
	for _, err := range errs {
		if err != nil {
			// An SDK refusing an instrument must not break discovery:
			// count nothing rather than fail.
			otel.Handle(err)
			return newInstruments(noop.NewMeterProvider())
		}
	}
	return ins
}

func serviceAttrs(s string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("service", s)))
}

func (i *instruments) refreshFailed(svc string) {
	i.refreshFailures.Add(context.Background(), 1, serviceAttrs(svc))
}

func (i *instruments) reRegistered(svc string) {
	i.reRegistrations.Add(context.Background(), 1, serviceAttrs(svc))
}

func (i *instruments) watchReopened(svc string) {
	i.watchReopens.Add(context.Background(), 1, serviceAttrs(svc))
}

// changeDelivered takes the service's attribute option made once per watch
// (serviceWatch.attrs): building the set on each change cost three
// allocations on the path every change takes.
func (i *instruments) changeDelivered(attrs metric.MeasurementOption) {
	i.changes.Add(context.Background(), 1, attrs)
}

func (i *instruments) held(svc string) {
	i.holds.Add(context.Background(), 1, serviceAttrs(svc))
}

// observeRegistrations reports status's registrations by state until the
// returned function is called.
func (i *instruments) observeRegistrations(status func() []RegistrationStatus) func() {
	reg, err := i.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		counts := map[RegistrationState]int64{StateRegistered: 0, StateRetrying: 0, StateRefused: 0}
		for _, s := range status() {
			counts[s.State]++
		}
		for state, n := range counts {
			o.ObserveInt64(i.registrations, n, metric.WithAttributeSet(attribute.NewSet(attribute.String("state", string(state)))))
		}
		return nil
	}, i.registrations)
	return unregister(reg, err)
}

// observeInstances reports the instance count of each watched service until
// the returned function is called.
func (i *instruments) observeInstances(status func() []ServiceStatus) func() {
	reg, err := i.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, s := range status() {
			o.ObserveInt64(i.instances, int64(s.Instances), serviceAttrs(s.Service))
		}
		return nil
	}, i.instances)
	return unregister(reg, err)
}

func unregister(reg metric.Registration, err error) func() {
	if err != nil {
		otel.Handle(err)
		return func() {}
	}
	return func() {
		if err := reg.Unregister(); err != nil {
			otel.Handle(err)
		}
	}
}
