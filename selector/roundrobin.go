package selector

import (
	"sync/atomic"

	"github.com/seedforge/discovery/core"
)

// NewRoundRobin returns a Selector that cycles through the instances in list
// order, starting at a random position. To scale with cores, each P (Go's
// scheduler slot) keeps its own rotation (see cursors): the share of every
// instance is equal to within a call per P, and a single goroutine sees a
// strict rotation while it stays on one P.
func NewRoundRobin() Selector { return &roundRobin{seq: newCursors()} }

type roundRobin struct {
	list atomic.Pointer[[]core.Instance]
	seq  *cursors
}

func (r *roundRobin) Update(instances []core.Instance) {
	l := copyInstances(instances)
	r.list.Store(&l)
}

func (r *roundRobin) Select(string) (Pick, error) {
	p := r.list.Load()
	if p == nil || len(*p) == 0 {
		return Pick{}, ErrNoInstances
	}
	l := *p
	return Pick{Instance: l[r.seq.next()%uint64(len(l))]}, nil
}
