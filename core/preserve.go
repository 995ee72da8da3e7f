package core

import (
	"time"
)

// preservation is self-preservation (Options.SelfPreservation), all of it:
// when a list read successfully from the store suddenly lacks more than
// fraction of the instances of the recent baseline, the store more likely
// lost its records (a ZooKeeper session storm, a Consul agent that died)
// than the service lost its servers. Subscribers then keep the list they
// have for up to hold while the loss persists. If the instances come back
// the hold ends at once; if the loss is still there after hold, it was a
// real scale-down and is published.
//
// The baseline is the largest list published within the last hold, so a
// loss spread over several store events counts as one. Every field is
// guarded by the serviceWatch lock.
type preservation struct {
	fraction float64 // 0: off
	hold     time.Duration

	baseline   []Instance // sorted by address
	baselineAt time.Time

	holding bool
	since   time.Time
	pending []Instance // newest list read while holding
	timer   *time.Timer
	gen     uint64 // tells a stale timer from the current one
	holds   uint64 // holds started, for status and metrics
}

// admit reports whether next may replace the current list. It is called
// with the serviceWatch lock held, for every list after the first.
func (p *preservation) admit(sw *serviceWatch, next []Instance, now time.Time) bool {
	if p.fraction == 0 {
		return true
	}
	lost := missing(p.baseline, next)
	if len(p.baseline) == 0 || float64(lost) <= p.fraction*float64(len(p.baseline)) {
		if p.holding {
			sw.log.Info("discovery: self-preservation: instances are back; hold ended",
				"instances", len(next), "held_for", now.Sub(p.since).Round(time.Millisecond))
			p.end()
		}
		p.published(next, now)
		return true
	}
	if !p.holding {
		p.start(sw, now)
		sw.log.Warn("discovery: self-preservation: the store lost most instances at once; keeping the previous list",
			"instances_before", len(p.baseline), "instances_now", len(next), "lost", lost,
			"threshold", p.fraction, "hold", p.hold)
	}
	if now.Sub(p.since) >= p.hold {
		p.expire(sw, next, now)
		return true
	}
	p.pending = next
	return false
}

// start begins a hold; its timer publishes the pending list when the hold
// runs out with no further store event.
func (p *preservation) start(sw *serviceWatch, now time.Time) {
	p.holding, p.since = true, now
	p.holds++
	p.gen++
	gen := p.gen
	p.timer = time.AfterFunc(p.hold, func() {
		sw.mu.Lock()
		defer sw.mu.Unlock()
		if p.holding && p.gen == gen {
			list := p.pending
			p.expire(sw, list, time.Now())
			sw.setList(list)
		}
	})
}

// expire ends a hold whose loss persisted: next is a real scale-down.
func (p *preservation) expire(sw *serviceWatch, next []Instance, now time.Time) {
	sw.log.Warn("discovery: self-preservation: the loss outlasted the hold; publishing it",
		"instances_before", len(p.baseline), "instances_now", len(next), "held_for", now.Sub(p.since).Round(time.Millisecond))
	p.end()
	p.baseline, p.baselineAt = next, now
}

// published moves the baseline: a larger list, or one older than the window.
func (p *preservation) published(list []Instance, now time.Time) {
	if len(list) >= len(p.baseline) || now.Sub(p.baselineAt) > p.hold {
		p.baseline, p.baselineAt = list, now
	}
}

func (p *preservation) end() {
	p.holding, p.pending = false, nil
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

// missing counts the addresses of base (sorted) absent from next (sorted).
func missing(base, next []Instance) int {
	n, j := 0, 0
	for _, b := range base {
		for j < len(next) && next[j].Addr < b.Addr {
			j++
		}
		if j == len(next) || next[j].Addr != b.Addr {
			n++
		}
	}
	return n
}
