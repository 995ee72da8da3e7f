package selector

import (
	"sync"
	"sync/atomic"

	"github.com/seedforge/discovery/core"
)

// NewWeightedRoundRobin returns nginx's smooth weighted round robin: over one
// period every instance is picked exactly weight times (after dividing all
// weights by their gcd), in nginx's order, interleaved rather than in bursts
// (weights 5,1,1 give a a b a c a a).
//
// Weights come from Metadata.Weight: missing or unparsable is 1, zero or
// negative is 0. A zero-weight instance gets no traffic while any instance has
// a positive weight; if all are zero, traffic is spread evenly. A duplicated
// address is one instance (the first).
//
// The schedule is computed when the list changes and Select walks it the
// way NewRoundRobin walks its list: each P (Go's scheduler slot) keeps its
// own position, starting at a random one, so Select costs what round robin's
// does and cores do not fight over a shared counter (a schedule of up to
// 8,192 entries is stored as the instances themselves, so Select reads one
// slice, exactly as round robin does). A goroutine sees the schedule's exact
// sequence; with several Ps each walks its own stretch of it, so every
// instance's share stays its weight's to within a call or two per P and
// instance. Cursors survive changes: a new schedule is walked on from the
// same positions.
//
// Large lists and huge weights: while n*period stays within 1M steps (about
// a millisecond of work) the schedule is nginx's to the letter, and a change
// recomputes it. Beyond (10,000 instances with weights 1-5 have a period of
// 30,000), it is built by stride scheduling instead: the k-th pick of an
// instance of weight w sits at (k+1/2)/w of the period, ties to the earlier
// instance, which gives every instance exactly its weight per period, as
// evenly spaced as nginx's; weights 5,1,1 would give a a a b c a a. Since a
// pick's place does not depend on the other instances, a change keeps the
// schedule: the picks of the instances that left are dropped and those of
// the instances that joined are merged in, in one pass over the list and
// the schedule (O(n + period), no sorting but of the new picks). When the period (the sum of the weights over their gcd) would
// exceed 2^20 entries, the weights are first scaled down proportionally (a
// positive weight stays at least 1): extreme ratios such as 1:10^9 are then
// approximated, to within about 2^-20 of the total, instead of making the
// schedule huge; such schedules, and changes of the weights' gcd, are
// rebuilt.
//
// It is Incremental; Update works the change out from the full list.
func NewWeightedRoundRobin() Selector { return &weighted{seq: newCursors()} }

type weighted struct {
	snap atomic.Pointer[wrrSnapshot]
	seq  *cursors
	mu   sync.Mutex // serialises changes
}

type wrrSnapshot struct {
	list     []core.Instance
	raw      []int    // Metadata.Weight of each instance of list
	plan     wrrPlan  // the weights the schedule was built from
	schedule []uint32 // indexes into list, one full period
	// expanded is the schedule as instances, when short enough: Select then
	// reads one slice as roundrobin does, without the indirection.
	expanded []core.Instance
}

// maxExpanded bounds the expanded schedule: 8,192 instances of 40 bytes.
const maxExpanded = 8192

func (w *weighted) Update(instances []core.Instance) {
	w.mu.Lock()
	defer w.mu.Unlock()
	prev := w.snap.Load()
	if prev == nil || len(prev.list) == 0 {
		w.rebuild(uniqueInstances(instances))
		return
	}
	upserted, removed := diffList(prev.list, instances)
	if len(upserted)+len(removed) > len(prev.list)/4 {
		w.rebuild(uniqueInstances(instances)) // as cheap as merging that much
		return
	}
	w.apply(prev, upserted, removed)
}

func (w *weighted) Apply(upserted, removed []core.Instance) {
	w.mu.Lock()
	defer w.mu.Unlock()
	prev := w.snap.Load()
	if prev == nil {
		prev = &wrrSnapshot{}
	}
	w.apply(prev, upserted, removed)
}

// rebuild computes the schedule of list from scratch; list is w's own.
func (w *weighted) rebuild(list []core.Instance) {
	s := &wrrSnapshot{list: list, raw: make([]int, len(list))}
	for i, in := range list {
		s.raw[i] = in.Meta.Weight()
	}
	s.plan = planWeights(s.raw)
	s.schedule = s.plan.build()
	w.publish(s)
}

// apply publishes prev changed by upserted and removed (see Incremental).
// Instances keep their places in the list and new ones go to its end, so
// the instances that stay keep their order, which is what lets a stride
// schedule be merged rather than rebuilt.
func (w *weighted) apply(prev *wrrSnapshot, upserted, removed []core.Instance) {
	gone := make(map[string]bool, len(removed))
	for _, in := range removed {
		gone[in.Addr] = true
	}
	changed := make(map[string]core.Instance, len(upserted))
	for _, in := range upserted {
		changed[in.Addr] = in // the last of an address wins, as if applied in turn
	}
	s := &wrrSnapshot{
		list: make([]core.Instance, 0, len(prev.list)+len(upserted)),
		raw:  make([]int, 0, len(prev.list)+len(upserted)),
	}
	newIndex := make([]int32, len(prev.list)) // -1: gone
	placed := make(map[string]bool, len(upserted))
	for i, in := range prev.list {
		raw := prev.raw[i]
		u, up := changed[in.Addr]
		switch {
		case up:
			in, raw = u, u.Meta.Weight()
			placed[in.Addr] = true
		case gone[in.Addr]:
			newIndex[i] = -1
			continue
		}
		newIndex[i] = int32(len(s.list))
		s.list = append(s.list, in)
		s.raw = append(s.raw, raw)
	}
	for _, in := range upserted {
		if !placed[in.Addr] {
			placed[in.Addr] = true
			in = changed[in.Addr]
			s.list = append(s.list, in)
			s.raw = append(s.raw, in.Meta.Weight())
		}
	}
	s.plan = planWeights(s.raw)
	if prev.plan.mergeable() && s.plan.mergeable() && prev.plan.gcd == s.plan.gcd {
		s.schedule = mergeStride(prev.schedule, prev.plan.weights, newIndex, s.plan)
	} else {
		s.schedule = s.plan.build()
	}
	w.publish(s)
}

func (w *weighted) publish(s *wrrSnapshot) {
	if len(s.schedule) <= maxExpanded {
		s.expanded = make([]core.Instance, len(s.schedule))
		for i, j := range s.schedule {
			s.expanded[i] = s.list[j]
		}
	}
	w.snap.Store(s)
}

func (w *weighted) Select(string) (Pick, error) {
	s := w.snap.Load()
	if s == nil || len(s.schedule) == 0 {
		return Pick{}, ErrNoInstances
	}
	if e := s.expanded; len(e) > 0 {
		return Pick{Instance: e[w.seq.next()%uint64(len(e))]}, nil
	}
	i := s.schedule[w.seq.next()%uint64(len(s.schedule))]
	return Pick{Instance: s.list[i]}, nil
}
