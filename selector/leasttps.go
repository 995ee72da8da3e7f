package selector

import (
	"math"
	"slices"
	"sync/atomic"

	"github.com/seedforge/discovery/core"
)

// NewLeastTPS returns a Selector that prefers instances with a low published
// load ("tps" metadata, Metadata.TPS): it draws two distinct instances at
// random and takes the one with the lower tps.
//
// It deliberately does not always take the single minimum. The published TPS
// is refreshed only every metering interval, so between two refreshes every
// client would see the same minimum and send all its traffic there; the next
// refresh shows that server overloaded and the herd moves on. Two random
// choices keep the bias toward lightly loaded servers while spreading the
// load, and the least loaded still gets the largest share.
//
// An instance that publishes no tps (or a negative or infinite one) is
// unknown, not idle: it is given the median of the known values, so it is
// neither flooded (as 0 would) nor starved. With no known value at all the
// choice is uniform.
func NewLeastTPS() Selector { return &leastTPS{} }

type leastTPS struct {
	snap atomic.Pointer[tpsSnapshot]
}

type tpsSnapshot struct {
	list []core.Instance
	tps  []float64 // parallel to list
}

func (l *leastTPS) Update(instances []core.Instance) {
	s := &tpsSnapshot{list: copyInstances(instances)}
	s.tps = make([]float64, len(s.list))
	var known []float64
	for i, inst := range s.list {
		t, ok := inst.Meta.TPS()
		if !ok || t < 0 || math.IsInf(t, 0) {
			s.tps[i] = math.NaN()
			continue
		}
		s.tps[i] = t
		known = append(known, t)
	}
	m := median(known)
	for i, t := range s.tps {
		if math.IsNaN(t) {
			s.tps[i] = m
		}
	}
	l.snap.Store(s)
}

func (l *leastTPS) Select(string) (Pick, error) {
	s := l.snap.Load()
	if s == nil || len(s.list) == 0 {
		return Pick{}, ErrNoInstances
	}
	k := 0
	if n := len(s.list); n > 1 {
		a, b := randomPair(n)
		k = a
		if s.tps[b] < s.tps[a] {
			k = b
		}
	}
	return Pick{Instance: s.list[k]}, nil
}

// median of v (sorted in place); 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	h := len(v) / 2
	if len(v)%2 == 0 {
		return (v[h-1] + v[h]) / 2
	}
	return v[h]
}
