package selector

import (
	"math/rand/v2"
	"sync/atomic"

	"github.com/seedforge/discovery/core"
)

// NewRandom returns a Selector that picks uniformly at random.
func NewRandom() Selector { return &random{} }

type random struct {
	list atomic.Pointer[[]core.Instance]
}

func (r *random) Update(instances []core.Instance) {
	l := copyInstances(instances)
	r.list.Store(&l)
}

func (r *random) Select(string) (Pick, error) {
	p := r.list.Load()
	if p == nil || len(*p) == 0 {
		return Pick{}, ErrNoInstances
	}
	l := *p
	// The top-level math/rand/v2 functions use the runtime's per-thread
	// generator: no lock, no allocation.
	return Pick{Instance: l[rand.IntN(len(l))]}, nil
}

// randomPair draws two distinct indexes below n (n >= 2) uniformly, for the
// two-choice selectors.
func randomPair(n int) (a, b int) {
	a = rand.IntN(n)
	b = rand.IntN(n - 1)
	if b >= a {
		b++
	}
	return a, b
}
