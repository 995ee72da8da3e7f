package selector

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"

	"github.com/seedforge/discovery/core"
)

// Tuning of the latency estimate, after Finagle's peak EWMA (also go-zero's).
const (
	// decayNanos is the EWMA's time constant: a sample's weight falls to 1/e
	// after 10s, whatever the call rate.
	decayNanos = 10e9
	// errPenaltyFloor is the smallest latency sample an error counts as: a
	// node failing fast must not look fast and attract all traffic.
	errPenaltyFloor = 100e6
	// errPenaltyCap bounds the penalty, which doubles with repeated errors,
	// so that time decay brings a node that recovers back to a 1ms estimate
	// in about 90s, however long it failed.
	errPenaltyCap = 10e9
)

// NewP2C returns a power-of-two-choices Selector: it draws two distinct
// instances at random and takes the one with the lower load, where load is a
// peak EWMA of latency times (in-flight calls + 1). It needs Pick.Done.
//
// The latency estimate jumps up at once on a slow sample (peak) and decays
// with time, also while the instance is not picked, so a node that was slow
// gets probed again later. An error counts as a sample of at least 100ms, and
// twice the current estimate on repeated errors (at most 10s); a context
// cancellation counts as the time spent only; a Business error is an answer
// and counts as a normal sample.
//
// Statistics are kept per address and survive Update and Apply (p2c is
// Incremental). A new address starts at the mean estimate of the others, so
// it gets a fair share at once rather than none (too high) or a flood (zero).
func NewP2C() Selector { return &p2c{clock: nanotime} }

type p2c struct {
	snap  atomic.Pointer[p2cSnapshot]
	clock func() int64 // nanotime; replaced in tests
	mu    sync.Mutex   // serialises Update, which carries nodes over
}

type p2cSnapshot struct {
	list  []core.Instance
	nodes []*p2cNode // parallel to list
}

// p2cNode is the per-address statistics. It is padded to a cache line so
// that Done on one node does not slow Select on its neighbours.
type p2cNode struct {
	inflight atomic.Int64
	cost     atomic.Uint64 // float64 bits: EWMA latency in ns at stamp
	stamp    atomic.Int64  // nanotime of the last sample
	clock    func() int64
	_        [cacheLine - 32]byte
}

func (p *p2c) Update(instances []core.Instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &p2cSnapshot{list: copyInstances(instances)}
	s.nodes = make([]*p2cNode, len(s.list))

	old := map[string]*p2cNode{}
	prev := p.snap.Load()
	if prev != nil {
		for i, n := range prev.nodes {
			old[prev.list[i].Addr] = n
		}
	}
	newNode := p.newNodes(prev)
	seen := make(map[string]*p2cNode, len(s.list))
	for i, inst := range s.list {
		n := old[inst.Addr]
		if n == nil {
			n = seen[inst.Addr] // the same address twice shares its stats
		}
		if n == nil {
			n = newNode()
		}
		seen[inst.Addr] = n
		s.nodes[i] = n
	}
	p.snap.Store(s)
}

// Apply implements Incremental: instances that stay keep their statistics
// and their place, without maps of the whole list being built.
func (p *p2c) Apply(upserted, removed []core.Instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	prev := p.snap.Load()
	if prev == nil {
		prev = &p2cSnapshot{}
	}
	gone := make(map[string]bool, len(removed))
	for _, in := range removed {
		gone[in.Addr] = true
	}
	changed := make(map[string]core.Instance, len(upserted))
	for _, in := range upserted {
		changed[in.Addr] = in
	}
	s := &p2cSnapshot{
		list:  make([]core.Instance, 0, len(prev.list)+len(upserted)),
		nodes: make([]*p2cNode, 0, len(prev.list)+len(upserted)),
	}
	placed := make(map[string]bool, len(upserted)) // upserted addresses already listed
	for i, in := range prev.list {
		if gone[in.Addr] {
			continue
		}
		if u, ok := changed[in.Addr]; ok {
			in = u
			placed[in.Addr] = true
		}
		s.list = append(s.list, in)
		s.nodes = append(s.nodes, prev.nodes[i])
	}
	newNode := p.newNodes(prev)
	for _, in := range upserted {
		if !placed[in.Addr] {
			placed[in.Addr] = true
			s.list = append(s.list, in)
			s.nodes = append(s.nodes, newNode())
		}
	}
	p.snap.Store(s)
}

// newNodes returns a maker of statistics for new addresses: they start at
// the mean estimate of prev's nodes, so that they get a fair share at once.
func (p *p2c) newNodes(prev *p2cSnapshot) func() *p2cNode {
	now := p.clock()
	var sum float64
	var known int
	if prev != nil {
		for _, n := range prev.nodes {
			if c := n.decayed(now); c > 0 {
				sum += c
				known++
			}
		}
	}
	return func() *p2cNode {
		n := &p2cNode{clock: p.clock}
		if known > 0 {
			n.cost.Store(math.Float64bits(sum / float64(known)))
			n.stamp.Store(now)
		}
		return n
	}
}

func (p *p2c) Select(string) (Pick, error) {
	s := p.snap.Load()
	if s == nil || len(s.list) == 0 {
		return Pick{}, ErrNoInstances
	}
	now := p.clock()
	k := 0
	if n := len(s.list); n > 1 {
		a, b := randomPair(n)
		k = a
		if s.nodes[b].load(now) < s.nodes[a].load(now) {
			k = b
		}
	}
	node := s.nodes[k]
	node.inflight.Add(1)
	return Pick{Instance: s.list[k], node: node, start: now}, nil
}

// load is the decayed latency estimate times (in-flight + 1). The +1 ns keeps
// in-flight counts meaningful while no latency is known yet.
func (n *p2cNode) load(now int64) float64 {
	return (n.decayed(now) + 1) * float64(n.inflight.Load()+1)
}

// decayed is the estimate at now: with no new samples it decays toward 0,
// which is what sends probe traffic back to a node that was slow.
func (n *p2cNode) decayed(now int64) float64 {
	return math.Float64frombits(n.cost.Load()) * decay(now-n.stamp.Load())
}

// decay is exp(-td/decayNanos). Samples are usually much closer together than
// the time constant, where a Taylor polynomial is exact to 1e-10 and saves
// math.Exp on the hot path.
func decay(td int64) float64 {
	if td <= 0 {
		return 1
	}
	x := float64(td) / decayNanos
	if x < 1.0/1024 {
		return 1 - x + x*x/2
	}
	return math.Exp(-x)
}

func (n *p2cNode) done(start int64, err error) {
	n.inflight.Add(-1)
	now := n.clock()
	rtt := float64(max(now-start, 0))
	// Business errors are answers; a cancelled or timed out call says only
	// that the node took at least rtt. Anything else is the node failing.
	failed := err != nil && !IsBusiness(err) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	// Lock-free update of cost; a concurrent sample can make the stamp
	// slightly off, which a heuristic estimate tolerates (go-zero does not
	// even retry).
	for {
		bits := n.cost.Load()
		w := decay(now - n.stamp.Load())
		cost := math.Float64frombits(bits) * w
		sample := rtt
		if failed {
			sample = min(max(rtt, errPenaltyFloor, 2*cost), errPenaltyCap)
		}
		if sample < cost {
			// Peak EWMA: slow samples are taken at once, fast ones averaged
			// in with a weight that depends on time, not on the call rate.
			sample = cost + sample*(1-w)
		}
		if n.cost.CompareAndSwap(bits, math.Float64bits(sample)) {
			n.stamp.Store(now)
			return
		}
	}
}
