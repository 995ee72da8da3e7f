package core

import (
	"fmt"
	"log/slog"
	"time"
)

// Defaults used where Options leaves a field zero.
const (
	DefaultTTL               = 30 * time.Second
	DefaultDeregisterTimeout = 5 * time.Second
	DefaultBackoffBase       = 200 * time.Millisecond
	DefaultBackoffCap        = 30 * time.Second
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
	// DeregisterTimeout bounds the deletes done by Close. Default 5s.
	DeregisterTimeout time.Duration
	// BackoffBase and BackoffCap shape the retry delays of re-registration
	// and of re-opening broken watches. Defaults 200ms and 30s.
	BackoffBase, BackoffCap time.Duration
	// Group and Version, when set, are default filters of every watch.
	Group, Version string
	// Logger receives the retries and errors. Default slog.Default().
	Logger *slog.Logger
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
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}
