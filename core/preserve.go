package core

import (
	"time"
)

// preservation is self-preservation (Options.SelfPreservation), all of it:
// when a list read successfully from the store suddenly has fewer than
// (1 - fraction) of the instances of the recent baseline, the store more
// likely lost its records (a ZooKeeper session storm, a revoked lease, a
// Consul agent that died) than the service lost its servers. Subscribers
// then keep the list they have for up to hold while the loss persists. If
// the instances come back the hold ends at once; if the loss is still there
// after hold, it was a real scale-down and is published.
//
// The baseline is the largest list published within the last hold, so a
// loss spread over several store events counts as one, and a hold gives the
// subscribers that list back. Every field is
// guarded by the serviceWatch lock. Metrics hook into start and end.
type preservation struct {
	fraction float64 // 0: off
	hold     time.Duration

	baseline   *Snapshot // the largest list published within the last hold
	baselineAt time.Time

	holding bool
	since   time.Time
	timer   *time.Timer
	gen     uint64 // tells a stale timer from the current one
	holds   uint64 // holds started, for status and metrics
}

// admit reports whether the store's new list may reach the subscribers.
// When it starts a hold, subscribers get the baseline back (the instances
// lost on the way there included). It is called with the serviceWatch lock
// held.
func (p *preservation) admit(sw *serviceWatch, next *Snapshot, now time.Time) bool {
	if p.fraction == 0 {
		return true
	}
	n, b := next.Len(), p.baseline.Len()
	if b == 0 || float64(b-n) <= p.fraction*float64(b) {
		if p.holding {
			sw.log.Info("discovery: self-preservation: instances are back; hold ended",
				"instances", n, "held_for", now.Sub(p.since).Round(time.Millisecond))
			p.end()
		}
		p.published(next, now)
		return true
	}
	if !p.holding {
		p.start(sw, now)
		sw.log.Warn("discovery: self-preservation: the store lost most instances at once; keeping the previous list",
			"instances_before", b, "instances_now", n, "threshold", p.fraction, "hold", p.hold)
		sw.publishFrom(p.baseline)
	}
	if now.Sub(p.since) >= p.hold {
		p.expire(sw, n, now)
		p.published(next, now)
		return true
	}
	return false
}

// start begins a hold; its timer publishes the store's list when the hold
// runs out with no further store event.
func (p *preservation) start(sw *serviceWatch, now time.Time) {
	p.holding, p.since = true, now
	p.holds++
	sw.ins.held(sw.service)
	p.gen++
	gen := p.gen
	p.timer = time.AfterFunc(p.hold, func() {
		sw.mu.Lock()
		defer sw.mu.Unlock()
		if p.holding && p.gen == gen {
			now := time.Now()
			p.expire(sw, sw.store.Len(), now)
			p.published(sw.store, now)
			sw.publishFrom(sw.store)
		}
	})
}

// expire ends a hold whose loss persisted: it is a real scale-down.
func (p *preservation) expire(sw *serviceWatch, n int, now time.Time) {
	sw.log.Warn("discovery: self-preservation: the loss outlasted the hold; publishing it",
		"instances_before", p.baseline.Len(), "instances_now", n, "held_for", now.Sub(p.since).Round(time.Millisecond))
	p.end()
	p.baseline = nil
}

// published moves the baseline: a larger list, or one older than the window.
func (p *preservation) published(list *Snapshot, now time.Time) {
	if list.Len() >= p.baseline.Len() || now.Sub(p.baselineAt) > p.hold {
		p.baseline, p.baselineAt = list, now
	}
}

func (p *preservation) end() {
	p.holding = false
	p.gen++
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
}

// stop cancels a pending hold when the watch ends.
func (p *preservation) stop() {
	if p.holding {
		p.end()
	}
}
