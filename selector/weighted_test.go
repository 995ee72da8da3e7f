package selector

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/seedforge/discovery/core"
)

// weightedList returns instances named a, b, c… with the given "weight"
// metadata; "-" leaves the key out.
func weightedList(weights ...string) []core.Instance {
	out := make([]core.Instance, len(weights))
	for i, w := range weights {
		out[i] = core.Instance{Service: "svc", Addr: string(rune('a' + i))}
		if w != "-" {
			out[i].Meta = core.Metadata{"weight": w}
		}
	}
	return out
}

func TestWeightedNginxOrder(t *testing.T) {
	tests := []struct {
		weights []string
		want    string // one or more periods of the schedule
	}{
		{[]string{"5", "1", "1"}, "aabacaa" + "aabacaa"},
		{[]string{"10", "2", "2"}, "aabacaa"},               // gcd 2
		{[]string{"1", "1", "1"}, "abcabc"},                 // equal: plain round robin
		{[]string{"4", "2", "1"}, "abacaba"},                // nginx: a b a c a b a
		{[]string{"3", "0", "1"}, "aaca"},                   // zero: never picked
		{[]string{"-", "x", "2"}, "cabc"},                   // missing and garbage: 1
		{[]string{"0", "0", "0"}, "abcabc"},                 // all zero: evenly
		{[]string{"-5", "-1", "0"}, "abcabc"},               // negative is 0
		{[]string{"0", "2"}, "bbb"},                         // only one with traffic
		{[]string{"2", "3"}, "babab"},                       // heavier first
		{[]string{"1000000000", "999999999"}, "abababab"},   // scaled, no panic
		{[]string{"9223372036854775807", "1"}, "aaaaaaaaa"}, // MaxInt64: no overflow
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.weights, ","), func(t *testing.T) {
			s := NewWeightedRoundRobin().(*weighted)
			s.Update(weightedList(tc.weights...))
			if got := scheduleOf(s, len(tc.want)); got != tc.want {
				t.Fatalf("schedule = %s, want %s", got, tc.want)
			}
		})
	}
}

// scheduleOf returns the first n entries of s's schedule, repeated, as the
// one-letter addresses of weightedList.
func scheduleOf(s *weighted, n int) string {
	snap := s.snap.Load()
	var b strings.Builder
	for i := range n {
		b.WriteString(snap.list[snap.schedule[i%len(snap.schedule)]].Addr)
	}
	return b.String()
}

// One goroutine on one P walks nginx's sequence in order, from wherever its
// cursor starts, with or without -race.
func TestWeightedRotates(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	s := NewWeightedRoundRobin().(*weighted)
	created := countCursors(s.seq)
	s.Update(weightedList("5", "1", "1"))
	got := strings.Join(sequence(t, s, 3*7), "")
	if created() != 1 {
		t.Fatalf("one goroutine used %d cursors, want 1", created())
	}
	const period = "aabacaa"
	if !strings.Contains(period+period+period+period, got) {
		t.Fatalf("sequence %s is not a walk of nginx's %s", got, period)
	}
	if got[:7] != got[7:14] || got[:7] != got[14:] {
		t.Fatalf("sequence %s does not repeat with period 7", got)
	}
}

// Shares follow the weights, from one goroutine or many: per-P cursors keep
// them exact to within two calls per cursor, since each cursor walks a
// contiguous stretch of the schedule and any stretch of this one holds each
// instance within 2 of its exact share. A zero weight gets nothing.
func TestWeightedShares(t *testing.T) {
	for _, goroutines := range []int{1, 8} {
		t.Run(fmt.Sprint(goroutines), func(t *testing.T) {
			s := NewWeightedRoundRobin().(*weighted)
			created := countCursors(s.seq)
			s.Update(weightedList("3", "1", "0", "6"))
			total := countParallel(t, s, goroutines, 1000)
			slack := 2 * int(created())
			for a, share := range map[string]int{"a": 300, "b": 100, "c": 0, "d": 600} {
				want := share * goroutines
				if n := total[a]; n < want-slack || n > want+slack || (share == 0 && n != 0) {
					t.Fatalf("%s: %d picks, want %d±%d (cursors): %v", a, n, want, slack, total)
				}
			}
		})
	}
}

// Check the schedule against a direct, step-by-step run of nginx's algorithm.
func TestWeightedMatchesNginx(t *testing.T) {
	for _, weights := range [][]int{{5, 1, 1}, {7, 3, 2, 9}, {1, 2, 3, 4, 5, 6}, {13, 1}, {100, 37, 1, 1}} {
		t.Run(fmt.Sprint(weights), func(t *testing.T) {
			sum := 0
			for _, w := range weights {
				sum += w
			}
			cur := make([]int, len(weights))
			var want []uint32
			for range sum * 3 {
				best := -1
				for i, w := range weights {
					cur[i] += w
					if best < 0 || cur[i] > cur[best] {
						best = i
					}
				}
				cur[best] -= sum
				want = append(want, uint32(best))
			}
			sched := smoothSchedule(weights)
			for i, w := range want {
				if got := sched[i%len(sched)]; got != w {
					t.Fatalf("step %d: schedule %d, nginx %d", i, got, w)
				}
			}
		})
	}
}

// Extreme ratios are scaled to fit the limits and keep every positive
// weight alive.
func TestWeightedScaling(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		exact   bool // the budget allows the ratio of the first two to be kept
	}{
		{"huge coprime", []int{1_000_000_007, 999_999_937, 3}, true},
		{"max int", []int{int(^uint(0) >> 1), int(^uint(0)>>1) - 1, 1}, true},
		// 2^20 entries over 2000 pairs: 524:1 is the best approximation.
		{"many", slices.Repeat([]int{1_000_003, 1}, 2000), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sched := smoothSchedule(tc.weights)
			if len(sched) == 0 || len(sched) > maxSchedulePeriod+len(tc.weights) {
				t.Fatalf("period %d", len(sched))
			}
			seen := make([]int, len(tc.weights))
			for _, i := range sched {
				seen[i]++
			}
			for i, n := range seen {
				if n == 0 {
					t.Fatalf("instance %d with weight %d never scheduled", i, tc.weights[i])
				}
			}
			if seen[0] < seen[1] {
				t.Fatalf("weight %d scheduled %d times, weight %d %d times", tc.weights[0], seen[0], tc.weights[1], seen[1])
			}
			if !tc.exact {
				return
			}
			if r, want := float64(seen[0])/float64(seen[1]), float64(tc.weights[0])/float64(tc.weights[1]); r < want*0.99 || r > want*1.01 {
				t.Fatalf("ratio %v, want about %v", r, want)
			}
		})
	}
}

// Beyond nginx's step budget the schedule comes from stride scheduling:
// exact shares per period, each instance's picks spread over the period.
func TestWeightedStride(t *testing.T) {
	var got strings.Builder
	for _, i := range strideSchedule([]uint32{0, 1, 2}, []int64{5, 1, 1}, 7) {
		got.WriteByte(byte('a' + i))
	}
	if got.String() != "aaabcaa" {
		t.Fatalf("stride schedule of 5,1,1 = %s, want aaabcaa", got.String())
	}

	weights := make([]int, 3000) // period 9000: 27M nginx steps
	for i := range weights {
		weights[i] = i%5 + 1
	}
	sched := smoothSchedule(weights)
	if len(sched) != 9000 {
		t.Fatalf("period %d, want 9000", len(sched))
	}
	total := make([]int, len(weights))
	firstHalf := make([]int, len(weights))
	for pos, i := range sched {
		total[i]++
		if pos < len(sched)/2 {
			firstHalf[i]++
		}
	}
	for i, w := range weights {
		if total[i] != w || firstHalf[i] < w/2-1 || firstHalf[i] > (w+1)/2+1 {
			t.Fatalf("instance %d, weight %d: %d picks per period, %d in its first half", i, w, total[i], firstHalf[i])
		}
	}
}

// A schedule too long to expand is walked through its indexes: one period
// from one goroutine gives every instance exactly its weight.
func TestWeightedLongSchedule(t *testing.T) {
	s := NewWeightedRoundRobin().(*weighted)
	list := instances(3000, func(i int) core.Metadata { return core.Metadata{"weight": fmt.Sprint(i%5 + 1)} })
	s.Update(list)
	if snap := s.snap.Load(); len(snap.schedule) != 9000 || snap.expanded != nil {
		t.Fatalf("period %d, expanded %d", len(snap.schedule), len(snap.expanded))
	}
	got := count(t, s, 9000, nil)
	for i := range list {
		if got[addr(i)] != i%5+1 {
			t.Fatalf("%s: %d picks in one period, want %d", addr(i), got[addr(i)], i%5+1)
		}
	}
}

// A random run of changes, through Apply and Update, across the size where
// nginx's schedule gives way to stride scheduling, with weight changes and
// changes of the weights' gcd: after each, the list holds what the model
// says and the schedule is exactly the one built from scratch over that
// list, whether the change was merged or rebuilt.
func TestWeightedChangesMatchRebuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 5))
	s := NewWeightedRoundRobin().(*weighted)
	model := map[string]core.Instance{}
	var addrs []string // model's keys, for deterministic picks
	weightMeta := func() core.Metadata {
		switch w := rng.IntN(12); {
		case w < 5:
			return core.Metadata{"weight": strconv.Itoa(w + 1)}
		case w < 7:
			return core.Metadata{"weight": strconv.Itoa(2 * (w - 4))} // even
		case w == 7:
			return core.Metadata{"weight": "0"}
		case w == 8:
			return nil // 1
		default:
			return core.Metadata{"weight": "3", "zone": strconv.Itoa(w)} // same weight, new metadata
		}
	}
	next := 0
	newInstance := func() core.Instance {
		next++
		return core.Instance{Service: "svc", Addr: addr(next), Meta: weightMeta()}
	}
	var initial []core.Instance
	for range 580 {
		in := newInstance()
		model[in.Addr] = in
		addrs = append(addrs, in.Addr)
		initial = append(initial, in)
	}
	s.Update(initial)
	merged, rebuilt := 0, 0
	for step := range 400 {
		prev := s.snap.Load()
		var up, rm []core.Instance
		grow := step/100%2 == 0 // swing the size across nginx's limit (n≈620)
		for range 1 + rng.IntN(4) {
			switch op := rng.IntN(10); {
			case op < 4 || grow && op < 7:
				in := newInstance()
				model[in.Addr] = in
				addrs = append(addrs, in.Addr)
				up = append(up, in)
			case op < 7 || !grow && op < 9:
				k := rng.IntN(len(addrs))
				rm = append(rm, model[addrs[k]])
				delete(model, addrs[k])
				addrs[k] = addrs[len(addrs)-1]
				addrs = addrs[:len(addrs)-1]
			default:
				// Possibly twice in one Apply: the last one wins.
				in := core.Instance{Service: "svc", Addr: addrs[rng.IntN(len(addrs))], Meta: weightMeta()}
				model[in.Addr] = in
				up = append(up, in)
			}
		}
		if step%5 == 0 { // Update with the whole list, in random order
			var all []core.Instance
			for _, i := range rng.Perm(len(addrs)) {
				all = append(all, model[addrs[i]])
			}
			s.Update(all)
		} else {
			s.Apply(up, rm)
		}
		snap := s.snap.Load()
		if prev.plan.mergeable() && snap.plan.mergeable() && prev.plan.gcd == snap.plan.gcd {
			merged++
		} else {
			rebuilt++
		}
		if len(snap.list) != len(model) {
			t.Fatalf("step %d: %d instances, model has %d", step, len(snap.list), len(model))
		}
		weights := make([]int, len(snap.list))
		for i, in := range snap.list {
			if want, ok := model[in.Addr]; !ok || !sameInstance(in, want) {
				t.Fatalf("step %d: %v listed, model has %v (%v)", step, in, want, ok)
			}
			weights[i] = in.Meta.Weight()
		}
		if want := smoothSchedule(weights); !slices.Equal(snap.schedule, want) {
			t.Fatalf("step %d: schedule (%d entries) differs from a rebuild (%d entries)", step, len(snap.schedule), len(want))
		}
	}
	if merged < 100 || rebuilt < 20 {
		t.Fatalf("%d changes merged, %d rebuilt: the run does not exercise both", merged, rebuilt)
	}
	t.Logf("%d changes merged, %d rebuilt", merged, rebuilt)
}
