package core

import (
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Defaults used where Options leaves a field zero.
const (
	DefaultTTL               = 30 * time.Second
	DefaultDeregisterTimeout = 5 * time.Second
	DefaultBackoffBase       = 200 * time.Millisecond
	DefaultBackoffCap        = 30 * time.Second
	// DefaultSelfPreservationHold is how long a mass loss is held back when
	// SelfPreservation is on and no hold is given.
	DefaultSelfPreservationHold = 2 * time.Minute
	// TTLPerInterval is how many refresh intervals fit in a TTL by default:
	// a record survives two lost refreshes in a row.
	TTLPerInterval = 3
	// publishEvery forces a metadata write every N refreshes even when TPS
	// moved less than publishChange, so readers never see a stale value for long.
	publishEvery  = 6
	publishChange = 0.10
)

// Options tune the policies core applies on top of a Driver.
type Options struct {
	// TTL is how long a record outlives its last refresh. Default 30s.
	TTL time.Duration
	// Interval is the refresh period. Default TTL/3; must be below TTL.
	Interval time.Duration
	// DeregisterTimeout bounds the deletes done by Close as a whole: they run
	// in parallel under this one deadline. Default 5s.
	DeregisterTimeout time.Duration
	// BackoffBase and BackoffCap shape the retry delays of re-registration
	// and of re-opening broken watches. Defaults 200ms and 30s.
	BackoffBase, BackoffCap time.Duration
	// Group and Version, when set, are default filters of every watch.
	Group, Version string
	// SelfPreservation, between 0 and 1, turns self-preservation on: when a
	// list read from the store suddenly lacks more than this fraction of the
	// recent instances, subscribers keep their list for up to
	// SelfPreservationHold while the loss persists (a session storm or a dead
	// agent, not servers going away). 0, the default, is off.
	SelfPreservation float64
	// SelfPreservationHold bounds a hold. Default 2m when SelfPreservation is set.
	SelfPreservationHold time.Duration
	// Logger receives the retries and errors. Default slog.Default().
	Logger *slog.Logger
	// MeterProvider receives core's OpenTelemetry metrics (names in
	// docs/operations.md). Default otel.GetMeterProvider(): a no-op until
	// the application installs an SDK.
	MeterProvider metric.MeterProvider

	instruments *instruments // made by withDefaults from MeterProvider
	// Secrets are hidden from every log line and status error text
	// (core.Scrub). discovery.Open adds the URL's own (core.URLSecrets).
	Secrets []string
}

// withDefaults fills zero fields and rejects impossible values.
func (o Options) withDefaults() (Options, error) {
	if o.TTL < 0 || o.Interval < 0 || o.DeregisterTimeout < 0 || o.BackoffBase < 0 || o.BackoffCap < 0 {
		return o, fmt.Errorf("%w: durations must be positive (ttl=%v interval=%v)", ErrInvalid, o.TTL, o.Interval)
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.Interval == 0 {
		o.Interval = o.TTL / TTLPerInterval
	}
	if o.Interval >= o.TTL {
		return o, fmt.Errorf("%w: refresh interval %v must be shorter than ttl %v; use about ttl/3", ErrInvalid, o.Interval, o.TTL)
	}
	if o.DeregisterTimeout == 0 {
		o.DeregisterTimeout = DefaultDeregisterTimeout
	}
	if o.BackoffBase == 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffCap == 0 {
		o.BackoffCap = DefaultBackoffCap
	}
	if o.BackoffCap < o.BackoffBase {
		return o, fmt.Errorf("%w: backoff cap %v is below its base %v", ErrInvalid, o.BackoffCap, o.BackoffBase)
	}
	if o.SelfPreservation < 0 || o.SelfPreservation >= 1 || o.SelfPreservation != o.SelfPreservation {
		return o, fmt.Errorf("%w: self_preservation=%v must be a fraction in [0, 1), e.g. 0.5 (0 is off)", ErrInvalid, o.SelfPreservation)
	}
	if o.SelfPreservationHold < 0 {
		return o, fmt.Errorf("%w: self_preservation_hold=%v must be positive, e.g. 2m", ErrInvalid, o.SelfPreservationHold)
	}
	if o.SelfPreservationHold > 0 && o.SelfPreservation == 0 {
		return o, fmt.Errorf("%w: self_preservation_hold=%v needs self_preservation (a fraction such as 0.5) to take effect", ErrInvalid, o.SelfPreservationHold)
	}
	if o.SelfPreservation > 0 && o.SelfPreservationHold == 0 {
		o.SelfPreservationHold = DefaultSelfPreservationHold
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.instruments == nil {
		o.instruments = newInstruments(o.MeterProvider)
	}
	o.Logger = RedactLogger(o.Logger, o.Secrets)
	return o, nil
}
