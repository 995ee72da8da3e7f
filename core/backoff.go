package core

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff yields jittered exponential delays: attempt n waits a random time
// in [d/2, d] with d = min(Cap, Base*2^n). The jitter spreads the retries of
// many processes after a shared outage, so a registry that comes back is not
// hit by all of them at once. The zero value is not usable: set Base and Cap.
type Backoff struct {
	Base, Cap time.Duration
	attempt   int
}

// Next returns the delay before the next attempt.
func (b *Backoff) Next() time.Duration {
	d := b.Base
	for i := 0; i < b.attempt && d < b.Cap; i++ {
		d *= 2
	}
	d = min(d, b.Cap)
	b.attempt++
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// Reset starts over from Base.
func (b *Backoff) Reset() { b.attempt = 0 }

// jitter returns d changed by a random amount of up to ±10%, so refreshes of
// instances started together drift apart.
func jitter(d time.Duration) time.Duration {
	spread := d / 10
	if spread <= 0 {
		return d
	}
	return d - spread + rand.N(2*spread+1)
}

// Sleep waits d or until ctx ends; it reports whether the full wait passed.
// For drivers' own paced loops (a backoff between reconnects).
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
