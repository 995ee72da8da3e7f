// Package memwatch is the watch of the in-memory backends (inprocess, and
// the fixed lists behind p2p and multi): a change counter whose channel is
// closed on every change, and the Watcher.Next loop that waits on it.
package memwatch

import (
	"context"
	"sync"

	"github.com/seedforge/discovery/core"
)

// Changes counts the changes of one list. Its owner guards it with the lock
// it passes to Cursor.Next.
type Changes struct {
	version uint64
	changed chan struct{}
}

// Bump records a change and wakes every waiting watcher.
func (c *Changes) Bump() {
	c.version++
	if c.changed != nil {
		close(c.changed)
	}
	c.changed = make(chan struct{})
}

func (c *Changes) state() (uint64, <-chan struct{}) {
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.version, c.changed
}

// Cursor is one watcher's position in a list's changes.
type Cursor struct {
	seen    uint64
	started bool
}

// Source is what a watcher reads, all under the owner's lock.
type Source struct {
	Lock sync.Locker
	// Changes returns the counter to follow, or an error that ends the
	// watch (a store that is down).
	Changes func() (*Changes, error)
	// List returns a fresh copy of the list.
	List func() []core.Instance
	// Wake, Stop and Closed may be nil. Wake re-checks Changes (the store
	// went down); Stop and Closed end the watch with core.ErrClosed.
	Wake, Stop, Closed <-chan struct{}
}

// Next implements core.Watcher.Next: the list on the first call, then the
// list each time it changed, waiting in between.
func (c *Cursor) Next(ctx context.Context, s Source) ([]core.Instance, error) {
	for {
		s.Lock.Lock()
		ch, err := s.Changes()
		if err != nil {
			s.Lock.Unlock()
			return nil, err
		}
		v, changed := ch.state()
		if !c.started || v != c.seen {
			c.started, c.seen = true, v
			list := s.List()
			s.Lock.Unlock()
			return list, nil
		}
		s.Lock.Unlock()
		select {
		case <-changed:
		case <-s.Wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.Stop:
			return nil, core.ErrClosed
		case <-s.Closed:
			return nil, core.ErrClosed
		}
	}
}
