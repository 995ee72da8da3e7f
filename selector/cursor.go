package selector

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// maxCursors bounds the rotations of one selector: more than there are Ps
// on most machines; beyond it a call gets a random position.
const maxCursors = 64

// cursors gives round robin positions without a shared counter. One atomic
// counter written by every core costs a cache-line transfer per call (about
// 25ns with just two cores here, more with more), so each P keeps its own
// cursor instead, as Envoy keeps one round robin per worker thread: a
// goroutine sees a strict rotation while it runs on the same P, and every
// cursor walks a contiguous stretch of the list (or schedule), so the total
// is even to within a call or two per cursor and instance.
//
// The cursors live in a fixed table; sync.Pool, the public per-P storage,
// only remembers which one a P last used. A cursor is held (one atomic flag
// on its own cache line) while it advances, so a cursor the pool hands to
// two Ps, or a cursor the pool dropped (the GC empties pools; the race
// detector drops items on purpose) and that is claimed again from the
// table, continues its own sequence: positions never jump, and a single
// goroutine sees a strict rotation whatever the pool does. Cursors start at
// random positions, so that clients started together do not all begin with
// the same instance.
type cursors struct {
	pool  sync.Pool // *cursor last used on this P
	table [maxCursors]cursor
}

type cursor struct {
	held atomic.Bool
	n    uint64 // written only while held
	_    [cacheLine - 16]byte
}

func newCursors() *cursors {
	c := &cursors{}
	for i := range c.table {
		c.table[i].n = rand.Uint64()
	}
	return c
}

// next returns this P's next position.
func (c *cursors) next() uint64 {
	cur, _ := c.pool.Get().(*cursor)
	if cur == nil || !cur.held.CompareAndSwap(false, true) {
		if cur = c.claim(); cur == nil {
			return rand.Uint64() // more callers at once than cursors
		}
	}
	n := cur.n
	cur.n++
	cur.held.Store(false)
	c.pool.Put(cur)
	return n
}

// claim holds the first free cursor of the table, or returns nil.
func (c *cursors) claim() *cursor {
	for i := range c.table {
		if c.table[i].held.CompareAndSwap(false, true) {
			return &c.table[i]
		}
	}
	return nil
}
