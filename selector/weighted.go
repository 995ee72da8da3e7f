package selector

import (
	"sync/atomic"

	"github.com/seedforge/discovery/core"
)

// Limits on the precomputed schedule. Building it runs nginx's O(n) step once
// per schedule entry, so n*period is bounded to keep Update fast, and the
// period itself is bounded to keep the schedule (4 bytes an entry) small.
const (
	maxScheduleSteps  = 50_000_000
	maxSchedulePeriod = 1 << 20
)

// NewWeightedRoundRobin returns nginx's smooth weighted round robin: over one
// period every instance is picked exactly weight times (after dividing all
// weights by their gcd), in nginx's order, interleaved rather than in bursts
// (weights 5,1,1 give a a b a c a a).
//
// Weights come from Metadata.Weight: missing or unparsable is 1, zero or
// negative is 0. A zero-weight instance gets no traffic while any instance has
// a positive weight; if all are zero, traffic is spread evenly.
//
// Update runs nginx's algorithm for one period and stores the result, and
// Select walks that schedule the way NewRoundRobin walks its list: each P
// (Go's scheduler slot) keeps its own position, starting at a random one, so
// Select costs what round robin's does and cores do not fight over a shared
// counter. A goroutine that stays on one P sees nginx's exact sequence; with
// several Ps each walks its own rotation of it, so every instance's share
// stays its weight's to within one call per P and instance. When n*period
// would exceed 50M steps, or the period 2^20 entries, the weights are first
// scaled down proportionally (a positive weight stays at least 1): extreme
// ratios such as 1:10^9 are then approximated, to within about 1/period of
// the total, instead of making Update slow or the schedule huge.
func NewWeightedRoundRobin() Selector { return &weighted{seq: newCursors()} }

type weighted struct {
	snap atomic.Pointer[wrrSnapshot]
	seq  *cursors
}

type wrrSnapshot struct {
	list     []core.Instance
	schedule []uint32 // indexes into list, one full period
}

func (w *weighted) Update(instances []core.Instance) {
	s := &wrrSnapshot{list: copyInstances(instances)}
	weights := make([]int, len(s.list))
	for i, inst := range s.list {
		weights[i] = inst.Meta.Weight()
	}
	s.schedule = smoothSchedule(weights)
	w.snap.Store(s)
}

func (w *weighted) Select(string) (Pick, error) {
	s := w.snap.Load()
	if s == nil || len(s.schedule) == 0 {
		return Pick{}, ErrNoInstances
	}
	i := s.schedule[w.seq.next()%uint64(len(s.schedule))]
	return Pick{Instance: s.list[i]}, nil
}

// smoothSchedule returns one period of nginx's smooth weighted round robin
// (ngx_http_upstream_get_peer) over weights, as indexes into weights.
func smoothSchedule(weights []int) []uint32 {
	// Work on the instances that get traffic only.
	var idx []uint32
	var ws []int64
	for i, w := range weights {
		if w > 0 {
			idx = append(idx, uint32(i))
			ws = append(ws, int64(w))
		}
	}
	if len(idx) == 0 { // all zero: spread evenly
		for i := range weights {
			idx = append(idx, uint32(i))
			ws = append(ws, 1)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	period := normalise(ws, len(weights))
	if allEqual(ws) {
		// nginx with equal weights is plain round robin in list order; this
		// skips the O(n²) build for large lists of unweighted instances.
		return idx
	}

	sched := make([]uint32, period)
	cur := make([]int64, len(ws))
	for step := range sched {
		best := 0
		for i, w := range ws {
			cur[i] += w
			// Strictly greater: on a tie the earlier instance wins, as in nginx.
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= period
		sched[step] = idx[best]
	}
	return sched
}

// normalise divides ws (all > 0) by their gcd, scales them down if the
// schedule would be too costly, and returns the period (their sum).
func normalise(ws []int64, n int) int64 {
	divideByGCD(ws)
	budget := int64(min(maxScheduleSteps/n, maxSchedulePeriod))
	budget = max(budget, int64(len(ws)))
	// A float sum cannot overflow, unlike the exact one with huge weights.
	var fsum float64
	for _, w := range ws {
		fsum += float64(w)
	}
	if fsum > float64(budget) {
		scale := float64(budget) / fsum
		for i, w := range ws {
			ws[i] = max(1, int64(float64(w)*scale))
		}
		divideByGCD(ws)
	}
	var sum int64
	for _, w := range ws {
		sum += w
	}
	return sum
}

func divideByGCD(ws []int64) {
	var g int64
	for _, w := range ws {
		g = gcd(g, w)
	}
	if g > 1 {
		for i := range ws {
			ws[i] /= g
		}
	}
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func allEqual(ws []int64) bool {
	for _, w := range ws {
		if w != ws[0] {
			return false
		}
	}
	return true
}
