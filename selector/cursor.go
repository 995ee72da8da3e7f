package selector

import (
	"math/rand/v2"
	"sync"
)

// cursors gives round robin positions without a shared counter. One atomic
// counter written by every core costs a cache-line transfer per call (about
// 25ns with just two cores here, more with more), so each P keeps its own
// cursor instead, as Envoy keeps one round robin per worker thread: a
// goroutine sees a strict rotation while it runs on the same P, and every
// cursor spreads its calls evenly, so the total is even to within one call
// per cursor and instance.
//
// sync.Pool is the public per-P storage: Get hands a cursor to one caller
// only until Put, so it is advanced without atomics and without data races.
// A cursor the GC drops is replaced by one at a random position, which is
// also where every cursor starts, so that clients started together do not
// all begin with the same instance.
type cursors struct {
	pool sync.Pool
}

type cursor struct{ n uint64 }

func newCursors() *cursors {
	c := &cursors{}
	c.pool.New = func() any { return &cursor{n: rand.Uint64()} }
	return c
}

// next returns this P's next position.
func (c *cursors) next() uint64 {
	cur := c.pool.Get().(*cursor)
	n := cur.n
	cur.n++
	c.pool.Put(cur)
	return n
}
