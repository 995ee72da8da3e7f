package selector

import (
	"container/heap"
	"slices"
)

// Limits on the precomputed schedule. nginx's algorithm costs O(n) per
// schedule entry, so it builds the schedule while n*period stays within
// maxNginxSteps (about a millisecond); beyond, stride scheduling builds it
// in O(period·log n) and merges changes into it in O(period). The period is
// bounded to keep the schedule (4 bytes an entry) small.
const (
	maxNginxSteps     = 1 << 20
	maxSchedulePeriod = 1 << 20
)

// wrrPlan is what a schedule is built from: each instance's picks per
// period and how they are laid out.
type wrrPlan struct {
	weights []int64 // per instance: picks per period, 0 for none
	period  int64   // the sum of weights
	gcd     int64   // the raw weights were divided by it; 0 if scaled or all zero
	nginx   bool    // nginx's algorithm; otherwise stride scheduling
	equal   bool    // all positive weights equal: plain round robin
}

// mergeable says whether a change can be merged into the schedule instead
// of rebuilding it: a stride schedule over exact (not scaled) weights.
func (p wrrPlan) mergeable() bool { return !p.nginx && p.gcd > 0 }

// planWeights turns Metadata.Weight values into a plan: zero and negative
// weights get no picks unless all do (then all get one), the positive ones
// are divided by their gcd, and scaled down if the period would exceed
// maxSchedulePeriod.
func planWeights(raw []int) wrrPlan {
	p := wrrPlan{weights: make([]int64, len(raw))}
	var g int64
	for i, w := range raw {
		if w > 0 {
			p.weights[i] = int64(w)
			g = gcd(g, int64(w))
		}
	}
	if g == 0 { // all zero: spread evenly
		for i := range p.weights {
			p.weights[i] = 1
		}
		p.period, p.equal = int64(len(raw)), true
		return p
	}
	p.gcd = g
	n := 0
	for i, w := range p.weights {
		if w > 0 {
			p.weights[i] = w / g
			n++
		}
	}
	// A float sum cannot overflow, unlike the exact one with huge weights.
	var fsum float64
	for _, w := range p.weights {
		fsum += float64(w)
	}
	if budget := max(int64(maxSchedulePeriod), int64(n)); fsum > float64(budget) {
		p.gcd = 0 // scaled: the picks of one instance depend on the others'
		scale := float64(budget) / fsum
		var sg int64
		for i, w := range p.weights {
			if w > 0 {
				p.weights[i] = max(1, int64(float64(w)*scale))
				sg = gcd(sg, p.weights[i])
			}
		}
		for i := range p.weights {
			p.weights[i] /= sg
		}
	}
	p.equal = true
	var first int64
	for _, w := range p.weights {
		if w > 0 {
			p.period += w
			if first == 0 {
				first = w
			}
			p.equal = p.equal && w == first
		}
	}
	// nginx with equal weights is plain round robin in list order, which is
	// also what stride scheduling gives: no O(n²) build for large lists.
	p.nginx = !p.equal && p.period*int64(n) <= maxNginxSteps
	return p
}

// build computes the plan's schedule from scratch, as indexes of instances.
func (p wrrPlan) build() []uint32 {
	var idx []uint32
	var ws []int64
	for i, w := range p.weights {
		if w > 0 {
			idx = append(idx, uint32(i))
			ws = append(ws, w)
		}
	}
	switch {
	case len(idx) == 0:
		return nil
	case p.equal:
		return idx
	case p.nginx:
		return nginxSchedule(idx, ws, p.period)
	}
	return strideSchedule(idx, ws, p.period)
}

// smoothSchedule returns one period of the schedule of weights (Metadata
// weights), as indexes into weights, computed from scratch.
func smoothSchedule(weights []int) []uint32 { return planWeights(weights).build() }

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

// strideBefore says whether the k1-th pick of instance i1 (weight w1) comes
// before the k2-th pick of i2 (weight w2): (2k+1)/(2w) compared exactly in
// integers (both factors stay below 2^21 since the period is at most
// 2^20), ties to the earlier instance.
func strideBefore(k1, w1 int64, i1 uint32, k2, w2 int64, i2 uint32) bool {
	t1, t2 := (2*k1+1)*w2, (2*k2+1)*w1
	return t1 < t2 || t1 == t2 && i1 < i2
}

// strideHeap orders instances by the virtual time of their next pick.
type strideHeap struct {
	ws, picks []int64
	order     []int // heap of instance indexes
}

func (h *strideHeap) Len() int { return len(h.order) }
func (h *strideHeap) Less(a, b int) bool {
	i, j := h.order[a], h.order[b]
	return strideBefore(h.picks[i], h.ws[i], uint32(i), h.picks[j], h.ws[j], uint32(j))
}
func (h *strideHeap) Swap(a, b int) { h.order[a], h.order[b] = h.order[b], h.order[a] }
func (h *strideHeap) Push(any)      { panic("strideHeap: no push") }
func (h *strideHeap) Pop() any {
	h.order = h.order[:len(h.order)-1]
	return nil
}

// mergeStride turns the stride schedule of the previous list (old, over
// oldWeights) into the one of the new list (p), as strideSchedule would
// build it, in one pass: a pick's place depends only on its instance's
// weight, so the picks of instances that stay with the same weight keep
// their order (newIndex, old index → new index or -1, preserves the order
// of the instances that stay), and only the picks of new or re-weighted
// instances are sorted and merged in.
func mergeStride(old []uint32, oldWeights []int64, newIndex []int32, p wrrPlan) []uint32 {
	kept := make([]bool, len(p.weights))
	for i, j := range newIndex {
		if j >= 0 && oldWeights[i] == p.weights[j] {
			kept[j] = true
		}
	}
	type pick struct {
		k int64
		i uint32
	}
	var added []pick
	for j, w := range p.weights {
		if !kept[j] {
			for k := range w {
				added = append(added, pick{k, uint32(j)})
			}
		}
	}
	before := func(a, b pick) bool { return strideBefore(a.k, p.weights[a.i], a.i, b.k, p.weights[b.i], b.i) }
	slices.SortFunc(added, func(a, b pick) int {
		if before(a, b) {
			return -1
		}
		return 1 // never equal: two picks differ in instance or in k
	})
	out := make([]uint32, 0, p.period)
	picks := make([]int64, len(p.weights)) // old picks of each instance seen so far
	a := 0
	for _, oi := range old {
		j := newIndex[oi]
		if j < 0 || !kept[j] {
			continue
		}
		cur := pick{picks[j], uint32(j)}
		picks[j]++
		for a < len(added) && before(added[a], cur) {
			out = append(out, added[a].i)
			a++
		}
		out = append(out, uint32(j))
	}
	for _, pk := range added[a:] {
		out = append(out, pk.i)
	}
	return out
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
