package selector

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedforge/discovery/core"
)

// fakeClock is a nanotime that moves only when told.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() int64              { return c.ns.Load() }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newTestP2C() (*p2c, *fakeClock) {
	c := &fakeClock{}
	c.ns.Store(int64(time.Hour)) // not 0, like a real clock
	p := NewP2C().(*p2c)
	p.clock = c.now
	return p, c
}

// serve runs n sequential calls; latency gives each address's call time.
func serve(t *testing.T, p *p2c, c *fakeClock, n int, latency func(addr string) (time.Duration, error)) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		pick, err := p.Select("")
		if err != nil {
			t.Fatal(err)
		}
		d, callErr := latency(pick.Instance.Addr)
		c.advance(d)
		pick.Done(callErr)
		got[pick.Instance.Addr]++
	}
	return got
}

func TestP2CAvoidsSlowNode(t *testing.T) {
	tests := []struct {
		name string
		slow func() (time.Duration, error)
	}{
		{"slow", func() (time.Duration, error) { return 50 * time.Millisecond, nil }},
		{"failing fast", func() (time.Duration, error) { return time.Microsecond, errors.New("refused") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, c := newTestP2C()
			p.Update(instances(4, nil))
			got := serve(t, p, c, 4000, func(a string) (time.Duration, error) {
				if a == addr(0) {
					return tc.slow()
				}
				return time.Millisecond, nil
			})
			// Fair would be 1000 each.
			for i := 1; i < 4; i++ {
				if got[addr(0)]*5 > got[addr(i)] {
					t.Fatalf("slow node got %d picks, fast %s %d: %v", got[addr(0)], addr(i), got[addr(i)], got)
				}
			}
			t.Logf("picks: %v", got)
		})
	}
}

// A slow node is probed again once its estimate has decayed.
func TestP2CRecovers(t *testing.T) {
	p, c := newTestP2C()
	p.Update(instances(2, nil))
	serve(t, p, c, 100, func(a string) (time.Duration, error) {
		if a == addr(0) {
			return time.Second, nil
		}
		return time.Millisecond, nil
	})
	c.advance(2 * time.Minute)
	got := serve(t, p, c, 1000, func(string) (time.Duration, error) { return time.Millisecond, nil })
	if got[addr(0)] < 300 {
		t.Fatalf("recovered node got %d of 1000 picks", got[addr(0)])
	}
}

func TestP2CInFlight(t *testing.T) {
	p, _ := newTestP2C()
	p.Update(instances(2, nil))
	// An unfinished call steers traffic away.
	var held []Pick
	for range 2 {
		pk, _ := p.Select("")
		held = append(held, pk)
	}
	for _, n := range p.snap.Load().nodes {
		if n.inflight.Load() != 1 {
			t.Fatalf("with 2 calls on 2 idle nodes, in-flight = %d, want 1 each", n.inflight.Load())
		}
	}
	for _, pk := range held {
		pk.Done(nil)
	}

	p.Update(instances(3, nil))

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 1000 {
				pk, err := p.Select("")
				if err != nil {
					t.Error(err)
					return
				}
				if i%3 == 0 {
					pk.Done(errors.New("boom"))
				} else {
					pk.Done(nil)
				}
			}
		})
	}
	wg.Wait()
	for i, n := range p.snap.Load().nodes {
		if got := n.inflight.Load(); got != 0 {
			t.Fatalf("node %d: in-flight %d after all Done, want 0", i, got)
		}
	}
}

func TestP2CStatsSurviveUpdate(t *testing.T) {
	p, c, list := withSlowFirst(t)
	old := p.snap.Load().nodes[0]
	cost := old.decayed(c.now())

	// Same addresses in another order, plus a new one.
	p.Update(append(instances(4, nil)[3:], list[2], list[0], list[1]))
	s := p.snap.Load()
	if s.nodes[2] != old {
		t.Fatal("node of an address still present was not kept")
	}
	if s.nodes[2].decayed(c.now()) != cost {
		t.Fatal("kept node lost its estimate")
	}
	// The new node starts at the mean: neither ignored nor flooded.
	var sum float64
	for _, n := range s.nodes[1:] {
		sum += n.decayed(c.now())
	}
	if got, want := s.nodes[0].decayed(c.now()), sum/3; math.Abs(got-want) > want*1e-9 {
		t.Fatalf("new node estimate %v, want the mean %v", got, want)
	}
}

func TestP2CNewNodesGetTraffic(t *testing.T) {
	p, c := newTestP2C()
	p.Update(instances(2, nil))
	got := serve(t, p, c, 1000, func(string) (time.Duration, error) { return time.Millisecond, nil })
	if got[addr(0)] < 300 || got[addr(1)] < 300 {
		t.Fatalf("fresh nodes with equal latency: %v", got)
	}
}

func TestP2CDoneErrors(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		minCost float64 // ns
		maxCost float64
	}{
		{"success", nil, 1e6, 1e6},
		{"business", Business(errors.New("not found")), 1e6, 1e6},
		{"cancelled", context.Canceled, 1e6, 1e6},
		{"deadline", context.DeadlineExceeded, 1e6, 1e6},
		{"failure", errors.New("refused"), errPenaltyFloor, errPenaltyFloor},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, c := newTestP2C()
			p.Update(instances(1, nil))
			pk, _ := p.Select("")
			c.advance(time.Millisecond)
			pk.Done(tc.err)
			if got := p.snap.Load().nodes[0].decayed(c.now()); got < tc.minCost || got > tc.maxCost {
				t.Fatalf("estimate after %v: %v ns, want in [%v, %v]", tc.err, got, tc.minCost, tc.maxCost)
			}
		})
	}
	// Repeated errors double the penalty, up to the cap.
	p, c := newTestP2C()
	p.Update(instances(1, nil))
	for range 20 {
		pk, _ := p.Select("")
		pk.Done(errors.New("refused"))
	}
	if got := p.snap.Load().nodes[0].decayed(c.now()); got != errPenaltyCap {
		t.Fatalf("estimate after 20 errors: %v, want the cap %v", got, float64(errPenaltyCap))
	}
}

// Apply keeps the statistics of the instances that stay, replaces metadata
// in place, drops the removed and starts new ones at the mean estimate.
func TestP2CApplyKeepsStats(t *testing.T) {
	p, c, list := withSlowFirst(t)
	before := p.snap.Load()
	slow, cost := before.nodes[0], before.nodes[0].decayed(c.now())
	var sum float64
	for _, n := range before.nodes {
		sum += n.decayed(c.now())
	}

	changed := list[0]
	changed.Meta = core.Metadata{"weight": "3"}
	p.Apply([]core.Instance{changed, instances(4, nil)[3]}, []core.Instance{list[1]})
	s := p.snap.Load()
	if got := addrsOfList(s.list); !slices.Equal(got, []string{addr(0), addr(2), addr(3)}) {
		t.Fatalf("list after Apply: %v", got)
	}
	if s.nodes[0] != slow || s.nodes[0].decayed(c.now()) != cost || s.list[0].Meta["weight"] != "3" {
		t.Fatal("the changed instance lost its statistics or kept its old metadata")
	}
	if s.nodes[1] != before.nodes[2] {
		t.Fatal("an untouched instance lost its statistics")
	}
	if got, want := s.nodes[2].decayed(c.now()), sum/3; math.Abs(got-want) > want*1e-9 {
		t.Fatalf("new node estimate %v, want the mean %v", got, want)
	}
}

func addrsOfList(l []core.Instance) []string {
	out := make([]string, len(l))
	for i, in := range l {
		out[i] = in.Addr
	}
	return out
}

// withSlowFirst returns a p2c over three instances that has served 300
// calls, the first instance answering in 40ms and the others in 1ms.
func withSlowFirst(t *testing.T) (*p2c, *fakeClock, []core.Instance) {
	p, c := newTestP2C()
	list := instances(3, nil)
	p.Update(list)
	serve(t, p, c, 300, func(a string) (time.Duration, error) {
		if a == addr(0) {
			return 40 * time.Millisecond, nil
		}
		return time.Millisecond, nil
	})
	return p, c, list
}
