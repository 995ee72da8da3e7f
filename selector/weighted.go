package selector

import (
	"container/heap"
	"sync/atomic"

	"github.com/seedforge/discovery/core"
)

// Limits on the precomputed schedule. nginx's algorithm costs O(n) per
// schedule entry, so it builds the schedule while n*period stays within
// maxNginxSteps (a few milliseconds); beyond, stride scheduling builds it in
// O(period·log n). The period is bounded to keep the schedule (4 bytes an
// entry) small.
const (
	maxNginxSteps     = 4 << 20
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
// counter (a schedule of up to 8,192 entries is stored as the instances
// themselves, so Select reads one slice, exactly as round robin does). A goroutine sees the schedule's exact sequence; with several Ps
// each walks its own stretch of it, so every instance's share stays its
// weight's to within a call or two per P and instance. Cursors survive
// Update: a new schedule is walked on from the same positions.
//
// Large lists and huge weights: while n*period stays within 4M steps the
// schedule is nginx's to the letter. Beyond (10,000 instances with weights
// 1-5 have a period of 30,000), it is built by stride scheduling instead:
// the k-th pick of an instance of weight w sits at (k+1/2)/w of the period,
// ties to the earlier instance, which gives every instance exactly its
// weight per period, as evenly spaced as nginx's, in O(period·log n);
// weights 5,1,1 would give a a a b c a a. When the period (the sum of the
// weights over their gcd) would exceed 2^20 entries, the weights are first
// scaled down proportionally (a positive weight stays at least 1): extreme
// ratios such as 1:10^9 are then approximated, to within about 2^-20 of the
// total, instead of making the schedule huge.
func NewWeightedRoundRobin() Selector { return &weighted{seq: newCursors()} }

type weighted struct {
	snap atomic.Pointer[wrrSnapshot]
	seq  *cursors
}

type wrrSnapshot struct {
	list     []core.Instance
	schedule []uint32 // indexes into list, one full period
	// expanded is the schedule as instances, when short enough: Select then
	// reads one slice as roundrobin does, without the indirection.
	expanded []core.Instance
}

// maxExpanded bounds the expanded schedule: 8,192 instances of 40 bytes.
const maxExpanded = 8192

func (w *weighted) Update(instances []core.Instance) {
	s := &wrrSnapshot{list: copyInstances(instances)}
	weights := make([]int, len(s.list))
	for i, inst := range s.list {
		weights[i] = inst.Meta.Weight()
	}
	s.schedule = smoothSchedule(weights)
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
	period := normalise(ws)
	if allEqual(ws) {
		// nginx with equal weights is plain round robin in list order; this
		// skips the O(n²) build for large lists of unweighted instances.
		return idx
	}
	if period*int64(len(ws)) > maxNginxSteps {
		return strideSchedule(idx, ws, period)
	}
	return nginxSchedule(idx, ws, period)
}

// nginxSchedule is one period of ngx_http_upstream_get_peer's choices.
func nginxSchedule(idx []uint32, ws []int64, period int64) []uint32 {
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

// strideSchedule places the k-th pick of instance i at virtual time
// (k+1/2)/ws[i] and lists the picks in time order, ties to the earlier
// instance: every instance gets exactly its weight per period, evenly spaced.
func strideSchedule(idx []uint32, ws []int64, period int64) []uint32 {
	h := &strideHeap{ws: ws, picks: make([]int64, len(ws)), order: make([]int, len(ws))}
	for i := range h.order {
		h.order[i] = i
	}
	heap.Init(h)
	sched := make([]uint32, 0, period)
	for h.Len() > 0 {
		i := h.order[0]
		sched = append(sched, idx[i])
		if h.picks[i]++; h.picks[i] == ws[i] {
			heap.Pop(h)
		} else {
			heap.Fix(h, 0)
		}
	}
	return sched
}

// strideHeap orders instances by the virtual time of their next pick,
// (2*picks+1)/(2*w), compared exactly in integers (both factors stay below
// 2^21 since the period is at most 2^20).
type strideHeap struct {
	ws, picks []int64
	order     []int // heap of instance indexes
}

func (h *strideHeap) Len() int { return len(h.order) }
func (h *strideHeap) Less(a, b int) bool {
	i, j := h.order[a], h.order[b]
	ti, tj := (2*h.picks[i]+1)*h.ws[j], (2*h.picks[j]+1)*h.ws[i]
	return ti < tj || ti == tj && i < j
}
func (h *strideHeap) Swap(a, b int) { h.order[a], h.order[b] = h.order[b], h.order[a] }
func (h *strideHeap) Push(any)      { panic("strideHeap: no push") }
func (h *strideHeap) Pop() any {
	h.order = h.order[:len(h.order)-1]
	return nil
}

// normalise divides ws (all > 0) by their gcd, scales them down if the
// period would exceed maxSchedulePeriod, and returns the period (their sum).
func normalise(ws []int64) int64 {
	divideByGCD(ws)
	budget := max(int64(maxSchedulePeriod), int64(len(ws)))
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
